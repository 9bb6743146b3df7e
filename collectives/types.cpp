#include "collectives/types.hpp"

namespace gpuaccept::collectives {

namespace {
constexpr DataType kAll[] = {DataType::int8,  DataType::uint8,  DataType::int32, DataType::uint32,
                             DataType::int64, DataType::uint64, DataType::fp16,  DataType::fp32,
                             DataType::fp64,  DataType::bf16};
}

std::string_view to_string(DataType t) {
  switch (t) {
    case DataType::int8: return "int8";
    case DataType::uint8: return "uint8";
    case DataType::int32: return "int32";
    case DataType::uint32: return "uint32";
    case DataType::int64: return "int64";
    case DataType::uint64: return "uint64";
    case DataType::fp16: return "fp16";
    case DataType::fp32: return "fp32";
    case DataType::fp64: return "fp64";
    case DataType::bf16: return "bf16";
  }
  return "?";
}

std::string_view nccl_tests_name(DataType t) {
  switch (t) {
    case DataType::fp16: return "half";
    case DataType::fp32: return "float";
    case DataType::fp64: return "double";
    case DataType::bf16: return "bfloat16";
    default: return to_string(t);
  }
}

std::optional<DataType> datatype_from_string(std::string_view text) {
  for (DataType t : kAll)
    if (to_string(t) == text || nccl_tests_name(t) == text) return t;
  return std::nullopt;
}

std::size_t size_of(DataType t) {
  switch (t) {
    case DataType::int8:
    case DataType::uint8: return 1;
    case DataType::fp16:
    case DataType::bf16: return 2;
    case DataType::int32:
    case DataType::uint32:
    case DataType::fp32: return 4;
    case DataType::int64:
    case DataType::uint64:
    case DataType::fp64: return 8;
  }
  return 0;
}

std::string_view to_string(RedOp op) {
  switch (op) {
    case RedOp::sum: return "sum";
    case RedOp::prod: return "prod";
    case RedOp::min: return "min";
    case RedOp::max: return "max";
    case RedOp::avg: return "avg";
  }
  return "?";
}

std::optional<RedOp> redop_from_string(std::string_view text) {
  for (RedOp op : {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::avg})
    if (to_string(op) == text) return op;
  return std::nullopt;
}

}  // namespace gpuaccept::collectives
