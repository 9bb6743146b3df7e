// The layers of the GPT model on the CPU, forward and backward, for float (training) and double
// (gradient checks against finite differences). Row-major tensors: N = batch * seq_len rows.
// Every backward function ADDS into its gradient outputs (so that gradient accumulation and
// the two uses of the tied embedding need no extra buffers); callers zero them when needed.
// Matrix products go through gemm() below (OpenBLAS), which counts their FLOPs and time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpuaccept::train::cpu {

// What the matrix products of this thread have cost so far.
struct GemmMeter {
  double seconds = 0;
  double flops = 0;
  bool timed = false;  // steady_clock around every call (off: FLOPs only)
};
GemmMeter& gemm_meter();

// Row-major C (m x n) = alpha op(A) op(B) + beta C, op = transpose when ta/tb.
template <class T>
void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
          T beta, T* c, int ldc);

template <class T>
void encoder_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, int B, int S, int C);
template <class T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const std::int32_t* tokens, int B, int S, int C);

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C);
template <class T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, int N, int C);

// out (N x OC) = inp (N x C) w^T + bias; w is OC x C; bias may be null.
template <class T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int N, int C, int OC);
template <class T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int C, int OC);

// Causal multi-head self-attention. qkv: N x 3C (q, k, v side by side, heads of C/NH columns);
// out: N x C; att: B x NH x S x S softmax probabilities (kept for the backward pass).
template <class T>
void attention_forward(T* out, T* att, const T* qkv, int B, int S, int C, int NH);
// scratch: S x S.
template <class T>
void attention_backward(T* dqkv, T* scratch, const T* dout, const T* qkv, const T* att, int B, int S, int C, int NH);

// GELU, tanh approximation (GPT-2's).
template <class T>
void gelu_forward(T* out, const T* inp, std::size_t n);
template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::size_t n);

template <class T>
void residual_forward(T* out, const T* a, const T* b, std::size_t n);

// Softmax over V logits per row and the cross-entropy of the targets: losses[i] = -log p[target].
// probs may alias logits. Returns the mean loss.
template <class T>
double softmax_crossentropy_forward(T* probs, T* losses, const T* logits, const std::int32_t* targets, int N, int V);
// dlogits = scale * (probs - onehot(target)) per row (overwrites).
template <class T>
void softmax_crossentropy_backward(T* dlogits, const T* probs, const std::int32_t* targets, int N, int V, T scale);

}  // namespace gpuaccept::train::cpu
