// Element types of the compute benchmarks, named as users write them in campaigns.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace gpuaccept::kernels {

// fp8 is OCP FP8 E4M3 (4 exponent bits, 3 mantissa bits), the format of forward-pass GEMMs;
// int8 GEMMs accumulate and store in int32.
enum class DType { fp64, fp32, tf32, bf16, fp16, fp8, int8 };
inline constexpr DType kAllDTypes[] = {DType::fp64, DType::fp32, DType::tf32, DType::bf16,
                                       DType::fp16, DType::fp8,  DType::int8};
std::string_view to_string(DType t);
std::optional<DType> dtype_from_string(std::string_view text);
// Bytes of one stored input element (tf32 is stored as fp32).
std::size_t size_of(DType t);

}  // namespace gpuaccept::kernels
