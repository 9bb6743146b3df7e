#include "kernels/dtype.hpp"

namespace gpuaccept::kernels {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::fp64: return "fp64";
    case DType::fp32: return "fp32";
    case DType::tf32: return "tf32";
    case DType::bf16: return "bf16";
    case DType::fp16: return "fp16";
    case DType::fp8: return "fp8";
    case DType::int8: return "int8";
  }
  return "?";
}

std::optional<DType> dtype_from_string(std::string_view text) {
  for (DType t : kAllDTypes)
    if (to_string(t) == text) return t;
  return std::nullopt;
}

std::size_t size_of(DType t) {
  switch (t) {
    case DType::fp64: return 8;
    case DType::fp32:
    case DType::tf32: return 4;
    case DType::bf16:
    case DType::fp16: return 2;
    case DType::fp8:
    case DType::int8: return 1;
  }
  return 0;
}

}  // namespace gpuaccept::kernels
