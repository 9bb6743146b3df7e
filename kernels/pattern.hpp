// Deterministic pseudo-random inputs that are never zero, computable element by element on
// the host and on the device alike, so that a reference can be computed for any sampled
// element without copying whole matrices back.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define GPUACCEPT_HD __host__ __device__
#else
#define GPUACCEPT_HD
#endif

namespace gpuaccept::kernels {

// SplitMix64 finaliser: a good 64-bit mix in a few instructions.
GPUACCEPT_HD inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A value in [-1, -0.5] or [0.5, 1]: never zero, never tiny, exactly representable in bf16
// and fp16 (8 bits of mantissa), so that every dtype sees the very same inputs.
GPUACCEPT_HD inline float pattern_value(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t h = mix64(seed ^ mix64(index));
  const float magnitude = 0.5f + static_cast<float>(h & 0x7Fu) / 256.0f;  // 0.5 .. 0.99609375
  return (h & 0x80u) ? -magnitude : magnitude;
}

// GEMM inputs per element type, in the input format's exact values (so that the host reference
// sees exactly what the library multiplies). kind: 0 = pattern_value (fp64 .. fp16), 1 = fp8
// E4M3 (+-0.5 .. +-0.9375 in steps of 1/16: 3 mantissa bits), 2 = int8 (+-1 .. +-32, so that
// an int32 accumulator cannot overflow below k = 2^21).
enum class InputKind : int { pattern = 0, fp8 = 1, int8 = 2 };
GPUACCEPT_HD inline float input_value(InputKind kind, std::uint64_t seed, std::uint64_t index) {
  if (kind == InputKind::pattern) return pattern_value(seed, index);
  const std::uint64_t h = mix64(seed ^ mix64(index));
  const bool negative = (h & 0x80u) != 0;
  const float magnitude = kind == InputKind::fp8 ? 0.5f + static_cast<float>(h & 0x7u) / 16.0f
                                                 : 1.0f + static_cast<float>(h & 0x1Fu);
  return negative ? -magnitude : magnitude;
}

}  // namespace gpuaccept::kernels
