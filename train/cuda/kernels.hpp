// CUDA kernels of the GPT model's non-GEMM layers, bf16 activations and parameters with fp32
// arithmetic, and AdamW on fp32 master weights that refreshes the bf16 copy the model computes
// with. Host functions over device pointers, enqueued on `stream` (a cudaStream_t; null: the
// default stream). Plain C++17 header: bf16 values are their 16 bits (to_bf16 / from_bf16 on
// the host). Throws std::runtime_error on a launch error.
//
// The model on the GPU (train/cuda/model.hpp) runs its matrix products on cuBLASLt
// (train/cuda/gemm.hpp) and everything else here. The layers are checked against the CPU
// double-precision layers by tests/unit/gpu/test_train_kernels.cpp where a GPU is visible.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpuaccept::train::cuda {

using bf16 = std::uint16_t;  // the bits of a bfloat16

// Round to nearest even, as __float2bfloat16 does (NaN stays NaN).
bf16 to_bf16(float x);
float from_bf16(bf16 x);

void encoder_forward(bf16* out, const std::int32_t* tokens, const bf16* wte, const bf16* wpe, int B, int S, int C,
                     void* stream);
void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w, const bf16* b, int N,
                       int C, void* stream);
// dinp += ..., dw += ..., db += ... (fp32 gradients of the parameters, summed over rows).
void layernorm_backward(bf16* dinp, float* dw, float* db, const bf16* dout, const bf16* inp, const bf16* w,
                        const float* mean, const float* rstd, int N, int C, void* stream);
void gelu_forward(bf16* out, const bf16* inp, std::size_t n, void* stream);
// dinp = gelu'(inp) * dout (overwrites).
void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, std::size_t n, void* stream);
// Rows of S scores (rows x S, row i of each S x S block is query position i mod S): scaled,
// causally masked softmax, in place.
void causal_softmax_forward(bf16* att, std::size_t rows, int S, float scale, void* stream);
// d(scores) = scale * att * (datt - sum(att * datt)) per row, in place in datt.
void causal_softmax_backward(bf16* datt, const bf16* att, std::size_t rows, int S, float scale, void* stream);
// Softmax over V logits per row (rows ld apart, ld >= V: the model pads the row stride so that
// every row is aligned for the GEMMs), losses[i] = -log p[target], and dlogits = scale (p -
// onehot), written over the logits.
void crossentropy_forward_backward(float* losses, bf16* logits, int ld, const std::int32_t* targets, int N, int V,
                                   float scale, void* stream);
// out = a + b (out may alias a or b).
void residual_forward(bf16* out, const bf16* a, const bf16* b, std::size_t n, void* stream);
// out (N x OC, row-major) += bias in every row.
void add_bias(bf16* out, const bf16* bias, int N, int OC, void* stream);
// dbias += the sum of dout's N rows (dout N x OC).
void bias_backward(float* dbias, const bf16* dout, int N, int OC, void* stream);
// dwte[tokens[i]] += dout[i] and dwpe[i mod S] += dout[i] for each of the B * S rows (fp32,
// atomic: a token may repeat).
void encoder_backward(float* dwte, float* dwpe, const bf16* dout, const std::int32_t* tokens, int B, int S, int C,
                      void* stream);
// Attention heads between the model's row-major layout and the one the batched GEMMs want:
// split_heads gathers columns [h*hs, (h+1)*hs) of each row b*S+s of `in` (row stride ld_in) into
// out[((b*NH + h)*S + s)*hs + d]; merge_heads is its inverse (writes into rows of stride ld_out).
void split_heads(bf16* out, const bf16* in, int ld_in, int B, int S, int NH, int hs, void* stream);
void merge_heads(bf16* out, int ld_out, const bf16* in, int B, int S, int NH, int hs, void* stream);
// *sum += the sum of the squares of x (n values), in double.
void add_sum_of_squares(double* sum, const float* x, std::size_t n, void* stream);
// AdamW step `step` (from 1) on fp32 master weights; writes their bf16 copy to `params`.
void adamw(float* master, bf16* params, const float* grads, float* m, float* v, std::size_t n, float lr,
           float beta1, float beta2, float eps, float weight_decay, int step, void* stream);

}  // namespace gpuaccept::train::cuda
