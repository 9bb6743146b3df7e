// Element types of the compute benchmarks, named as users write them in campaigns.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace gpuaccept::kernels {

enum class DType { fp64, fp32, tf32, bf16, fp16 };
std::string_view to_string(DType t);
std::optional<DType> dtype_from_string(std::string_view text);
// Bytes of one stored element (tf32 is stored as fp32).
std::size_t size_of(DType t);

}  // namespace gpuaccept::kernels
