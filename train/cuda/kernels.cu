// CUDA kernels of the GPT model's non-GEMM layers (train/cuda/kernels.hpp). C++17, no fmt.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "train/cuda/kernels.hpp"

namespace gpuaccept::train::cuda {

namespace {

using nv = __nv_bfloat16;

nv* as_nv(bf16* p) { return reinterpret_cast<nv*>(p); }
const nv* as_nv(const bf16* p) { return reinterpret_cast<const nv*>(p); }
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

unsigned blocks_for(std::size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

__device__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

__global__ void encoder_forward_kernel(nv* out, const int* tokens, const nv* wte, const nv* wpe, int B, int S, int C) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<std::size_t>(B) * S * C) return;
  const std::size_t row = i / C, c = i % C;
  const int t = static_cast<int>(row % S);
  out[i] = __float2bfloat16(__bfloat162float(wte[static_cast<std::size_t>(tokens[row]) * C + c]) +
                            __bfloat162float(wpe[static_cast<std::size_t>(t) * C + c]));
}

// One warp per row.
__global__ void layernorm_forward_kernel(nv* out, float* mean, float* rstd, const nv* inp, const nv* w, const nv* b,
                                         int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const nv* x = inp + static_cast<std::size_t>(row) * C;
  float s = 0;
  for (int c = lane; c < C; c += 32) s += __bfloat162float(x[c]);
  const float m = warp_sum(s) / C;
  float v = 0;
  for (int c = lane; c < C; c += 32) {
    const float d = __bfloat162float(x[c]) - m;
    v += d * d;
  }
  const float r = rsqrtf(warp_sum(v) / C + 1e-5f);
  nv* o = out + static_cast<std::size_t>(row) * C;
  for (int c = lane; c < C; c += 32)
    o[c] = __float2bfloat16((__bfloat162float(x[c]) - m) * r * __bfloat162float(w[c]) + __bfloat162float(b[c]));
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

// One warp per row, each block over a grid-stride share of the rows. The parameter gradients
// sum over all rows: with `block_sums` the block first adds its rows' contributions in shared
// memory (2 C floats) and then adds them to dw and db once per block, instead of one global
// atomic per row and channel, which serialises thousands of rows on each of C addresses.
__global__ void layernorm_backward_kernel(nv* dinp, float* dw, float* db, const nv* dout, const nv* inp, const nv* w,
                                          const float* mean, const float* rstd, int N, int C, bool block_sums) {
  extern __shared__ float sums[];  // block_sums: this block's dw, then db
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (block_sums) {
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) sums[c] = 0;
    __syncthreads();
  }
  float* dw_acc = block_sums ? sums : dw;
  float* db_acc = block_sums ? sums + C : db;
  for (int row = blockIdx.x * warps + warp; row < N; row += gridDim.x * warps) {
    const nv* d = dout + static_cast<std::size_t>(row) * C;
    const nv* x = inp + static_cast<std::size_t>(row) * C;
    nv* dx = dinp + static_cast<std::size_t>(row) * C;
    const float m = mean[row], r = rstd[row];
    float dnorm_mean = 0, dnorm_norm_mean = 0;
    for (int c = lane; c < C; c += 32) {
      const float norm = (__bfloat162float(x[c]) - m) * r;
      const float dnorm = __bfloat162float(w[c]) * __bfloat162float(d[c]);
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean = warp_sum(dnorm_mean) / C;
    dnorm_norm_mean = warp_sum(dnorm_norm_mean) / C;
    for (int c = lane; c < C; c += 32) {
      const float dc = __bfloat162float(d[c]);
      const float norm = (__bfloat162float(x[c]) - m) * r;
      const float dnorm = __bfloat162float(w[c]) * dc;
      atomicAdd(&db_acc[c], dc);
      atomicAdd(&dw_acc[c], norm * dc);
      dx[c] = __float2bfloat16(__bfloat162float(dx[c]) + (dnorm - dnorm_mean - norm * dnorm_norm_mean) * r);
    }
  }
  if (!block_sums) return;
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    atomicAdd(&dw[c], sums[c]);
    atomicAdd(&db[c], sums[C + c]);
  }
}

constexpr float kGeluScale = 0.7978845608028654f;

__global__ void gelu_forward_kernel(nv* out, const nv* inp, std::size_t n) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = __bfloat162float(inp[i]);
  out[i] = __float2bfloat16(0.5f * x * (1.0f + tanhf(kGeluScale * (x + 0.044715f * x * x * x))));
}

__global__ void gelu_backward_kernel(nv* dinp, const nv* inp, const nv* dout, std::size_t n) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = __bfloat162float(inp[i]);
  const float t = tanhf(kGeluScale * (x + 0.044715f * x * x * x));
  const float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
  dinp[i] = __float2bfloat16(grad * __bfloat162float(dout[i]));
}

// One warp per row of scores.
__global__ void causal_softmax_forward_kernel(nv* att, std::size_t rows, int S, float scale) {
  const std::size_t row = blockIdx.x * static_cast<std::size_t>(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int i = static_cast<int>(row % S);
  nv* a = att + row * S;
  float mx = -INFINITY;
  for (int j = lane; j <= i; j += 32) mx = fmaxf(mx, scale * __bfloat162float(a[j]));
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j <= i; j += 32) sum += expf(scale * __bfloat162float(a[j]) - mx);
  const float inv = 1.0f / warp_sum(sum);
  for (int j = lane; j < S; j += 32)
    a[j] = __float2bfloat16(j <= i ? expf(scale * __bfloat162float(a[j]) - mx) * inv : 0.0f);
}

__global__ void causal_softmax_backward_kernel(nv* datt, const nv* att, std::size_t rows, int S, float scale) {
  const std::size_t row = blockIdx.x * static_cast<std::size_t>(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int i = static_cast<int>(row % S);
  nv* d = datt + row * S;
  const nv* a = att + row * S;
  float dot = 0;
  for (int j = lane; j <= i; j += 32) dot += __bfloat162float(a[j]) * __bfloat162float(d[j]);
  dot = warp_sum(dot);
  for (int j = lane; j < S; j += 32)
    d[j] = __float2bfloat16(j <= i ? scale * __bfloat162float(a[j]) * (__bfloat162float(d[j]) - dot) : 0.0f);
}

// One block per row.
__global__ void crossentropy_kernel(float* losses, nv* logits, int ld, const int* targets, int V, float scale) {
  const int row = blockIdx.x;
  nv* x = logits + static_cast<std::size_t>(row) * ld;
  __shared__ float shared[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, __bfloat162float(x[j]));
  mx = warp_max(mx);
  if (lane == 0) shared[warp] = mx;
  __syncthreads();
  mx = lane < warps ? shared[lane] : -INFINITY;
  mx = warp_max(mx);
  __syncthreads();
  float sum = 0;
  for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(__bfloat162float(x[j]) - mx);
  sum = warp_sum(sum);
  if (lane == 0) shared[warp] = sum;
  __syncthreads();
  sum = lane < warps ? shared[lane] : 0.0f;
  sum = warp_sum(sum);
  const int target = targets[row];
  if (threadIdx.x == 0) losses[row] = -((__bfloat162float(x[target]) - mx) - logf(sum));
  __syncthreads();
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    const float p = expf(__bfloat162float(x[j]) - mx) / sum;
    x[j] = __float2bfloat16(scale * (p - (j == target ? 1.0f : 0.0f)));
  }
}

__global__ void residual_kernel(nv* out, const nv* a, const nv* b, std::size_t n) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  out[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}

__global__ void add_bias_kernel(nv* out, const nv* bias, std::size_t n, int OC) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  out[i] = __float2bfloat16(__bfloat162float(out[i]) + __bfloat162float(bias[i % OC]));
}

// Blocks of 32 columns x kBiasRows row lanes: each thread sums a strided subset of the rows of
// its column, the block adds its lanes in shared memory and one atomic per column and block.
constexpr int kBiasRows = 8;
__global__ void bias_backward_kernel(float* dbias, const nv* dout, int N, int OC) {
  __shared__ float partial[kBiasRows][33];
  const int col = blockIdx.x * 32 + threadIdx.x;
  float sum = 0;
  if (col < OC)
    for (int row = blockIdx.y * kBiasRows + threadIdx.y; row < N; row += gridDim.y * kBiasRows)
      sum += __bfloat162float(dout[static_cast<std::size_t>(row) * OC + col]);
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y != 0 || col >= OC) return;
  for (int y = 1; y < kBiasRows; ++y) sum += partial[y][threadIdx.x];
  atomicAdd(&dbias[col], sum);
}

__global__ void encoder_backward_kernel(float* dwte, float* dwpe, const nv* dout, const int* tokens, int B, int S, int C) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= static_cast<std::size_t>(B) * S * C) return;
  const std::size_t row = i / C, c = i % C;
  const float d = __bfloat162float(dout[i]);
  atomicAdd(&dwte[static_cast<std::size_t>(tokens[row]) * C + c], d);
  atomicAdd(&dwpe[(row % S) * C + c], d);
}

// Element i of the (B, NH, S, hs) order sits in row b*S + s, column h*hs + d of the row-major side.
__device__ std::size_t row_major_index(std::size_t i, int ld, int S, int NH, int hs) {
  const std::size_t d = i % hs;
  const std::size_t s = (i / hs) % S;
  const std::size_t h = (i / (static_cast<std::size_t>(hs) * S)) % NH;
  const std::size_t b = i / (static_cast<std::size_t>(hs) * S * NH);
  return (b * S + s) * ld + h * hs + d;
}

__global__ void split_heads_kernel(nv* out, const nv* in, int ld_in, std::size_t n, int S, int NH, int hs) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = in[row_major_index(i, ld_in, S, NH, hs)];
}

__global__ void merge_heads_kernel(nv* out, int ld_out, const nv* in, std::size_t n, int S, int NH, int hs) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[row_major_index(i, ld_out, S, NH, hs)] = in[i];
}

__global__ void sum_of_squares_kernel(double* sum, const float* x, std::size_t n) {
  double local = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    local += static_cast<double>(x[i]) * x[i];
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  __shared__ double warps[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = local;
  __syncthreads();
  if (threadIdx.x != 0) return;
  double block = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) block += warps[w];
  atomicAdd(sum, block);
}

__global__ void adamw_kernel(float* master, nv* params, const float* grads, float* m, float* v, std::size_t n,
                             float lr, float beta1, float beta2, float eps, float wd, float c1, float c2) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float g = grads[i];
  const float mi = beta1 * m[i] + (1.0f - beta1) * g;
  const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  const float p = master[i] - lr * (mi / c1) / (sqrtf(vi / c2) + eps) - lr * wd * master[i];
  master[i] = p;
  params[i] = __float2bfloat16(p);
}

}  // namespace

bf16 to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if (std::isnan(x)) return static_cast<bf16>((bits >> 16) | 0x40);
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<bf16>(bits >> 16);
}

float from_bf16(bf16 x) {
  const std::uint32_t bits = static_cast<std::uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void encoder_forward(bf16* out, const std::int32_t* tokens, const bf16* wte, const bf16* wpe, int B, int S, int C,
                     void* stream) {
  const std::size_t n = static_cast<std::size_t>(B) * S * C;
  encoder_forward_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), tokens, as_nv(wte), as_nv(wpe), B, S, C);
  check_launch("encoder_forward");
}

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* w, const bf16* b, int N,
                       int C, void* stream) {
  layernorm_forward_kernel<<<blocks_for(static_cast<std::size_t>(N), 8), 256, 0, as_stream(stream)>>>(
      as_nv(out), mean, rstd, as_nv(inp), as_nv(w), as_nv(b), N, C);
  check_launch("layernorm_forward");
}

void layernorm_backward(bf16* dinp, float* dw, float* db, const bf16* dout, const bf16* inp, const bf16* w,
                        const float* mean, const float* rstd, int N, int C, void* stream) {
  // Block sums when 2 C floats fit in the default 48 KiB of shared memory (C <= 6144); 256
  // blocks of 8 warps at most, so that each block has rows enough to sum.
  const std::size_t shared = 2 * static_cast<std::size_t>(C) * sizeof(float);
  const bool block_sums = shared <= 48 * 1024;
  const unsigned row_blocks = blocks_for(static_cast<std::size_t>(N), 8);
  const unsigned blocks = block_sums ? std::min(row_blocks, 256u) : row_blocks;
  layernorm_backward_kernel<<<blocks, 256, block_sums ? shared : 0, as_stream(stream)>>>(
      as_nv(dinp), dw, db, as_nv(dout), as_nv(inp), as_nv(w), mean, rstd, N, C, block_sums);
  check_launch("layernorm_backward");
}

void gelu_forward(bf16* out, const bf16* inp, std::size_t n, void* stream) {
  gelu_forward_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), as_nv(inp), n);
  check_launch("gelu_forward");
}

void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, std::size_t n, void* stream) {
  gelu_backward_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(dinp), as_nv(inp), as_nv(dout), n);
  check_launch("gelu_backward");
}

void causal_softmax_forward(bf16* att, std::size_t rows, int S, float scale, void* stream) {
  causal_softmax_forward_kernel<<<blocks_for(rows, 8), 256, 0, as_stream(stream)>>>(as_nv(att), rows, S, scale);
  check_launch("causal_softmax_forward");
}

void causal_softmax_backward(bf16* datt, const bf16* att, std::size_t rows, int S, float scale, void* stream) {
  causal_softmax_backward_kernel<<<blocks_for(rows, 8), 256, 0, as_stream(stream)>>>(as_nv(datt), as_nv(att), rows, S, scale);
  check_launch("causal_softmax_backward");
}

void crossentropy_forward_backward(float* losses, bf16* logits, int ld, const std::int32_t* targets, int N, int V,
                                   float scale, void* stream) {
  if (ld < V) throw std::invalid_argument("crossentropy_forward_backward: row stride shorter than a row");
  crossentropy_kernel<<<static_cast<unsigned>(N), 512, 0, as_stream(stream)>>>(losses, as_nv(logits), ld, targets, V, scale);
  check_launch("crossentropy_forward_backward");
}

void residual_forward(bf16* out, const bf16* a, const bf16* b, std::size_t n, void* stream) {
  residual_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), as_nv(a), as_nv(b), n);
  check_launch("residual_forward");
}

void add_bias(bf16* out, const bf16* bias, int N, int OC, void* stream) {
  const std::size_t n = static_cast<std::size_t>(N) * OC;
  add_bias_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), as_nv(bias), n, OC);
  check_launch("add_bias");
}

void bias_backward(float* dbias, const bf16* dout, int N, int OC, void* stream) {
  // Enough row groups to fill the GPU, few enough that the atomics stay cheap.
  const unsigned row_groups = std::min(32u, blocks_for(static_cast<std::size_t>(N), kBiasRows));
  const dim3 grid(blocks_for(static_cast<std::size_t>(OC), 32), row_groups), block(32, kBiasRows);
  bias_backward_kernel<<<grid, block, 0, as_stream(stream)>>>(dbias, as_nv(dout), N, OC);
  check_launch("bias_backward");
}

void encoder_backward(float* dwte, float* dwpe, const bf16* dout, const std::int32_t* tokens, int B, int S, int C,
                      void* stream) {
  const std::size_t n = static_cast<std::size_t>(B) * S * C;
  encoder_backward_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(dwte, dwpe, as_nv(dout), tokens, B, S, C);
  check_launch("encoder_backward");
}

void split_heads(bf16* out, const bf16* in, int ld_in, int B, int S, int NH, int hs, void* stream) {
  const std::size_t n = static_cast<std::size_t>(B) * NH * S * hs;
  split_heads_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), as_nv(in), ld_in, n, S, NH, hs);
  check_launch("split_heads");
}

void merge_heads(bf16* out, int ld_out, const bf16* in, int B, int S, int NH, int hs, void* stream) {
  const std::size_t n = static_cast<std::size_t>(B) * NH * S * hs;
  merge_heads_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(as_nv(out), ld_out, as_nv(in), n, S, NH, hs);
  check_launch("merge_heads");
}

void add_sum_of_squares(double* sum, const float* x, std::size_t n, void* stream) {
  const unsigned blocks = std::max(1u, std::min(1024u, blocks_for(n, 256)));
  sum_of_squares_kernel<<<blocks, 256, 0, as_stream(stream)>>>(sum, x, n);
  check_launch("add_sum_of_squares");
}

void adamw(float* master, bf16* params, const float* grads, float* m, float* v, std::size_t n, float lr,
           float beta1, float beta2, float eps, float weight_decay, int step, void* stream) {
  const float c1 = 1.0f - std::pow(beta1, static_cast<float>(step));
  const float c2 = 1.0f - std::pow(beta2, static_cast<float>(step));
  adamw_kernel<<<blocks_for(n, 256), 256, 0, as_stream(stream)>>>(master, as_nv(params), grads, m, v, n, lr, beta1,
                                                                  beta2, eps, weight_decay, c1, c2);
  check_launch("adamw");
}

}  // namespace gpuaccept::train::cuda
