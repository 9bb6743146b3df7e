// Data types and reduction operators of the collectives, named as NCCL names them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace gpuaccept::collectives {

enum class DataType { int8, uint8, int32, uint32, int64, uint64, fp16, fp32, fp64, bf16 };
enum class RedOp { sum, prod, min, max, avg };

std::string_view to_string(DataType t);       // campaign name: "fp32", "int32", ...
std::string_view nccl_tests_name(DataType t); // as nccl-tests prints it: "float", "int32", ...
std::optional<DataType> datatype_from_string(std::string_view text);  // accepts both spellings
std::size_t size_of(DataType t);
std::string_view to_string(RedOp op);
std::optional<RedOp> redop_from_string(std::string_view text);

}  // namespace gpuaccept::collectives
