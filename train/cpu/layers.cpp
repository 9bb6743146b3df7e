#include "train/cpu/layers.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace gpuaccept::train::cpu {

GemmMeter& gemm_meter() {
  thread_local GemmMeter meter;
  return meter;
}

namespace {

void blas(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
          int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

template <class T>
void gemm(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb,
          T beta, T* c, int ldc) {
  auto& meter = gemm_meter();
  meter.flops += 2.0 * m * n * k;
  if (!meter.timed) {
    blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  meter.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class T>
void encoder_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, int B, int S, int C) {
  for (int i = 0; i < B * S; ++i) {
    const T* te = wte + static_cast<std::size_t>(tokens[i]) * C;
    const T* pe = wpe + static_cast<std::size_t>(i % S) * C;
    T* o = out + static_cast<std::size_t>(i) * C;
    for (int c = 0; c < C; ++c) o[c] = te[c] + pe[c];
  }
}

template <class T>
void encoder_backward(T* dwte, T* dwpe, const T* dout, const std::int32_t* tokens, int B, int S, int C) {
  // Serial: two rows may share a token (a race if parallel over rows).
  for (int i = 0; i < B * S; ++i) {
    const T* d = dout + static_cast<std::size_t>(i) * C;
    T* te = dwte + static_cast<std::size_t>(tokens[i]) * C;
    T* pe = dwpe + static_cast<std::size_t>(i % S) * C;
    for (int c = 0; c < C; ++c) {
      te[c] += d[c];
      pe[c] += d[c];
    }
  }
}

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C) {
  constexpr T eps = T(1e-5);
  for (int i = 0; i < N; ++i) {
    const T* x = inp + static_cast<std::size_t>(i) * C;
    T m = 0;
    for (int c = 0; c < C; ++c) m += x[c];
    m /= static_cast<T>(C);
    T v = 0;
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<T>(C);
    const T s = T(1) / std::sqrt(v + eps);
    T* o = out + static_cast<std::size_t>(i) * C;
    for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + b[c];
    mean[i] = m;
    rstd[i] = s;
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, int N, int C) {
  // dw and db sum over rows: serial over rows, the work per row is O(C).
  for (int i = 0; i < N; ++i) {
    const T* d = dout + static_cast<std::size_t>(i) * C;
    const T* x = inp + static_cast<std::size_t>(i) * C;
    T* dx = dinp + static_cast<std::size_t>(i) * C;
    const T m = mean[i], s = rstd[i];
    T dnorm_mean = 0, dnorm_norm_mean = 0;
    for (int c = 0; c < C; ++c) {
      const T norm = (x[c] - m) * s;
      const T dnorm = w[c] * d[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= static_cast<T>(C);
    dnorm_norm_mean /= static_cast<T>(C);
    for (int c = 0; c < C; ++c) {
      const T norm = (x[c] - m) * s;
      const T dnorm = w[c] * d[c];
      db[c] += d[c];
      dw[c] += norm * d[c];
      dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
}

template <class T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int N, int C, int OC) {
  gemm<T>(false, true, N, OC, C, T(1), inp, C, w, C, T(0), out, OC);
  if (!bias) return;
  for (int i = 0; i < N; ++i) {
    T* o = out + static_cast<std::size_t>(i) * OC;
    for (int j = 0; j < OC; ++j) o[j] += bias[j];
  }
}

template <class T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int C, int OC) {
  gemm<T>(false, false, N, C, OC, T(1), dout, OC, w, C, T(1), dinp, C);  // dinp += dout w
  gemm<T>(true, false, OC, C, N, T(1), dout, OC, inp, C, T(1), dw, C);   // dw += dout^T inp
  if (!dbias) return;
  for (int i = 0; i < N; ++i) {  // rows outer: contiguous, vectorised
    const T* d = dout + static_cast<std::size_t>(i) * OC;
    for (int j = 0; j < OC; ++j) dbias[j] += d[j];
  }
}

template <class T>
void attention_forward(T* out, T* att, const T* qkv, int B, int S, int C, int NH) {
  const int hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const T* q = qkv + static_cast<std::size_t>(b) * S * 3 * C + static_cast<std::size_t>(h) * hs;
      const T* k = q + C;
      const T* v = q + 2 * C;
      T* a = att + (static_cast<std::size_t>(b) * NH + h) * S * S;
      gemm<T>(false, true, S, S, hs, scale, q, 3 * C, k, 3 * C, T(0), a, S);  // scores = q k^T / sqrt(hs)
      for (int i = 0; i < S; ++i) {
        T* row = a + static_cast<std::size_t>(i) * S;
        T maxv = -std::numeric_limits<T>::infinity();
        for (int j = 0; j <= i; ++j) maxv = std::max(maxv, row[j]);
        T sum = 0;
        for (int j = 0; j <= i; ++j) {
          row[j] = std::exp(row[j] - maxv);
          sum += row[j];
        }
        const T inv = T(1) / sum;
        for (int j = 0; j <= i; ++j) row[j] *= inv;
        for (int j = i + 1; j < S; ++j) row[j] = 0;  // causal mask
      }
      T* o = out + static_cast<std::size_t>(b) * S * C + static_cast<std::size_t>(h) * hs;
      gemm<T>(false, false, S, hs, S, T(1), a, S, v, 3 * C, T(0), o, C);  // out = att v
    }
  }
}

template <class T>
void attention_backward(T* dqkv, T* scratch, const T* dout, const T* qkv, const T* att, int B, int S, int C, int NH) {
  const int hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const std::size_t off = static_cast<std::size_t>(b) * S * 3 * C + static_cast<std::size_t>(h) * hs;
      const T* q = qkv + off;
      const T* k = q + C;
      const T* v = q + 2 * C;
      T* dq = dqkv + off;
      T* dk = dq + C;
      T* dv = dq + 2 * C;
      const T* a = att + (static_cast<std::size_t>(b) * NH + h) * S * S;
      const T* d = dout + static_cast<std::size_t>(b) * S * C + static_cast<std::size_t>(h) * hs;
      gemm<T>(false, true, S, S, hs, T(1), d, C, v, 3 * C, T(0), scratch, S);  // datt = dout v^T
      gemm<T>(true, false, S, hs, S, T(1), a, S, d, C, T(1), dv, 3 * C);      // dv += att^T dout
      // Softmax backward; masked entries have att = 0 and get 0.
      for (int i = 0; i < S; ++i) {
        const T* arow = a + static_cast<std::size_t>(i) * S;
        T* drow = scratch + static_cast<std::size_t>(i) * S;
        T dot = 0;
        for (int j = 0; j <= i; ++j) dot += arow[j] * drow[j];
        for (int j = 0; j <= i; ++j) drow[j] = arow[j] * (drow[j] - dot) * scale;
        for (int j = i + 1; j < S; ++j) drow[j] = 0;
      }
      gemm<T>(false, false, S, hs, S, T(1), scratch, S, k, 3 * C, T(1), dq, 3 * C);  // dq += dscores k
      gemm<T>(true, false, S, hs, S, T(1), scratch, S, q, 3 * C, T(1), dk, 3 * C);   // dk += dscores^T q
    }
  }
}

namespace {
template <class T>
constexpr T kGeluScale = T(0.7978845608028654);  // sqrt(2/pi)

// tanh from one exp: libm's tanhf (through expm1f) took a fifth of a training step.
template <class T>
T fast_tanh(T u) {
  const T e = std::exp(T(-2) * std::abs(u));
  return std::copysign((T(1) - e) / (T(1) + e), u);
}
}  // namespace

template <class T>
void gelu_forward(T* out, const T* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = T(0.5) * x * (T(1) + fast_tanh(kGeluScale<T> * (x + T(0.044715) * x * x * x)));
  }
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T u = kGeluScale<T> * (x + T(0.044715) * x * x * x);
    const T t = fast_tanh(u);
    const T sech2 = T(1) - t * t;
    const T grad = T(0.5) * (T(1) + t) + T(0.5) * x * sech2 * kGeluScale<T> * (T(1) + T(3 * 0.044715) * x * x);
    dinp[i] += grad * dout[i];
  }
}

template <class T>
void residual_forward(T* out, const T* a, const T* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
double softmax_crossentropy_forward(T* probs, T* losses, const T* logits, const std::int32_t* targets, int N, int V) {
  double total = 0;
  for (int i = 0; i < N; ++i) {
    const T* x = logits + static_cast<std::size_t>(i) * V;
    T* p = probs + static_cast<std::size_t>(i) * V;
    T maxv = x[0];
    for (int j = 1; j < V; ++j) maxv = std::max(maxv, x[j]);
    T sum = 0;
    for (int j = 0; j < V; ++j) {
      p[j] = std::exp(x[j] - maxv);
      sum += p[j];
    }
    const T inv = T(1) / sum;
    for (int j = 0; j < V; ++j) p[j] *= inv;
    losses[i] = -std::log(std::max(p[targets[i]], std::numeric_limits<T>::min()));
    total += static_cast<double>(losses[i]);
  }
  return total / N;
}

template <class T>
void softmax_crossentropy_backward(T* dlogits, const T* probs, const std::int32_t* targets, int N, int V, T scale) {
  for (int i = 0; i < N; ++i) {
    const T* p = probs + static_cast<std::size_t>(i) * V;
    T* d = dlogits + static_cast<std::size_t>(i) * V;
    for (int j = 0; j < V; ++j) d[j] = scale * p[j];
    d[targets[i]] -= scale;
  }
}

#define GPUACCEPT_TRAIN_INSTANTIATE(T)                                                                         \
  template void gemm<T>(bool, bool, int, int, int, T, const T*, int, const T*, int, T, T*, int);               \
  template void encoder_forward<T>(T*, const std::int32_t*, const T*, const T*, int, int, int);                \
  template void encoder_backward<T>(T*, T*, const T*, const std::int32_t*, int, int, int);                     \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int);                      \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int, int); \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int, int, int);                            \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int);                   \
  template void attention_forward<T>(T*, T*, const T*, int, int, int, int);                                    \
  template void attention_backward<T>(T*, T*, const T*, const T*, const T*, int, int, int, int);               \
  template void gelu_forward<T>(T*, const T*, std::size_t);                                                    \
  template void gelu_backward<T>(T*, const T*, const T*, std::size_t);                                         \
  template void residual_forward<T>(T*, const T*, const T*, std::size_t);                                      \
  template double softmax_crossentropy_forward<T>(T*, T*, const T*, const std::int32_t*, int, int);            \
  template void softmax_crossentropy_backward<T>(T*, const T*, const std::int32_t*, int, int, T);

GPUACCEPT_TRAIN_INSTANTIATE(float)
GPUACCEPT_TRAIN_INSTANTIATE(double)

}  // namespace gpuaccept::train::cpu
