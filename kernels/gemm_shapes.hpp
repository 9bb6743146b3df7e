// Named GEMM shapes that users ask for by name (the gemm benchmark's `shape` parameter):
//  - square-N for N = 1024, 2048, 4096, 8192, 16384 (the "square" set): m = n = k = N;
//  - the four GEMMs of one transformer layer of a 70B-class model (Llama-2-70B and
//    Llama-3-70B: hidden 8192, 64 query heads, 8 key/value heads of dimension 128, MLP 28672)
//    at T = 4096 and 8192 tokens (the "llama70b" set).
// A layer computes Y = X W^T with X of T x in and W of out x in, both row-major as a framework
// stores them; in column-major BLAS terms that is C (out x T) = op(A) B with A = W used
// transposed and B = X^T used as stored: m = out, n = T, k = in, "TN" (ta = t, tb = n).
//   qkv       m = 8192 + 2 * 8 * 128 = 10240  k = 8192   (Q, K and V projections fused)
//   attn-out  m = 8192                        k = 8192   (output projection)
//   mlp-up    m = 2 * 28672 = 57344           k = 8192   (gate and up projections fused)
//   mlp-down  m = 8192                        k = 28672  (down projection)
// docs/kernels.md has the table with FLOPs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/gemm.hpp"

namespace gpuaccept::kernels {

struct GemmShape {
  std::string name;  // "square-4096", "llama70b-qkv-t8192"
  std::string set;   // "square", "llama70b"
  std::int64_t m = 0, n = 0, k = 0;
  Transpose ta = Transpose::n;  // the layout the shape comes with (TN for the model's layers)
  Transpose tb = Transpose::n;
  std::string what;  // "Llama-70B QKV projection (fused), 4096 tokens"
};

// Every named shape, the square set first, in a fixed order.
const std::vector<GemmShape>& gemm_named_shapes();
// The shape of that name, or nullptr.
const GemmShape* find_gemm_shape(std::string_view name);
// The names of one set, in order ("square": square-1024 .. square-16384).
std::vector<std::string> gemm_shape_set(std::string_view set);

}  // namespace gpuaccept::kernels
