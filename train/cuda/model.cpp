#include "train/cuda/model.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace gpuaccept::train::cuda {

namespace gpu = kernels::gpu;

namespace {

gpu::DeviceBuffer bf16s(std::size_t n) { return gpu::DeviceBuffer(n * sizeof(bf16)); }
gpu::DeviceBuffer floats(std::size_t n) { return gpu::DeviceBuffer(n * sizeof(float)); }

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

int GptModel::select_device(int device) {
  GA_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

GptModel::GptModel(const GptShape& shape, int batch, std::uint64_t seed, int device)
    : GptModel(shape, batch,
               [&] {
                 const auto layout = param_layout(shape);
                 std::vector<float> initial(layout.total);
                 init_parameters<float>(shape, layout, seed, initial);
                 return initial;
               }(),
               device) {}

GptModel::GptModel(const GptShape& shape, int batch, std::span<const float> initial, int device)
    : shape_(shape),
      batch_(batch),
      layout_(param_layout(shape)),
      logits_ld_((shape.vocab + 63) / 64 * 64),
      device_(select_device(device)) {
  if (const auto why = check_shape(shape); !why.empty()) throw std::invalid_argument(why);
  if (batch < 1) throw std::invalid_argument(fmt::format("batch must be positive (got {})", batch));
  if (initial.size() != layout_.total)
    throw std::invalid_argument(
        fmt::format("{} initial parameters for a model of {}", initial.size(), layout_.total));
  allocate();
  const std::size_t n = layout_.total;
  // The bf16 copy is the master weights rounded, as AdamW's kernel writes it after each step.
  std::vector<bf16> rounded(n);
  for (std::size_t i = 0; i < n; ++i) rounded[i] = to_bf16(initial[i]);
  const auto st = as_stream(stream());
  GA_CUDA_CHECK(cudaMemcpyAsync(master_.get(), initial.data(), n * sizeof(float), cudaMemcpyHostToDevice, st));
  GA_CUDA_CHECK(cudaMemcpyAsync(params_.get(), rounded.data(), n * sizeof(bf16), cudaMemcpyHostToDevice, st));
  GA_CUDA_CHECK(cudaMemsetAsync(m_.get(), 0, n * sizeof(float), st));
  GA_CUDA_CHECK(cudaMemsetAsync(v_.get(), 0, n * sizeof(float), st));
  GA_CUDA_CHECK(cudaMemsetAsync(grads_.get(), 0, n * sizeof(float), st));
  GA_CUDA_CHECK(cudaStreamSynchronize(st));  // `rounded` and `initial` may go now
}

void GptModel::allocate() {
  const std::size_t B = static_cast<std::size_t>(batch_), S = static_cast<std::size_t>(shape_.seq_len),
                    C = static_cast<std::size_t>(shape_.channels), NH = static_cast<std::size_t>(shape_.heads);
  const std::size_t N = B * S, att = B * NH * S * S, total = layout_.total;
  master_ = floats(total);
  params_ = bf16s(total);
  grads_ = floats(total);
  m_ = floats(total);
  v_ = floats(total);
  layers_.resize(static_cast<std::size_t>(shape_.layers));
  for (auto& l : layers_) {
    l.ln1 = bf16s(N * C);
    l.ln1_mean = floats(N);
    l.ln1_rstd = floats(N);
    l.qkv_heads = bf16s(3 * N * C);
    l.att = bf16s(att);
    l.atty = bf16s(N * C);
    l.res2 = bf16s(N * C);
    l.ln2 = bf16s(N * C);
    l.ln2_mean = floats(N);
    l.ln2_rstd = floats(N);
    l.fch = bf16s(4 * N * C);
    l.fch_gelu = bf16s(4 * N * C);
    l.res3 = bf16s(N * C);
  }
  tokens_ = gpu::DeviceBuffer(N * sizeof(std::int32_t));
  targets_ = gpu::DeviceBuffer(N * sizeof(std::int32_t));
  encoded_ = bf16s(N * C);
  lnf_ = bf16s(N * C);
  lnf_mean_ = floats(N);
  lnf_rstd_ = floats(N);
  logits_ = bf16s(N * static_cast<std::size_t>(logits_ld_));
  losses_ = floats(N);
  qkv_ = bf16s(3 * N * C);
  heads_ = bf16s(N * C);
  d_res_ = bf16s(N * C);
  d_ln_ = bf16s(N * C);
  d_qkv_ = bf16s(3 * N * C);
  d_atty_ = bf16s(N * C);
  d_fch_ = bf16s(4 * N * C);
  d_gelu_ = bf16s(4 * N * C);
  d_heads_ = bf16s(N * C);
  d_qkv_heads_ = bf16s(3 * N * C);
  d_att_ = bf16s(att);
  norm_ = gpu::DeviceBuffer(sizeof(double));
  host_losses_.resize(N);
}

const bf16* GptModel::p(const ParamTensor& t) const { return params_.as<bf16>() + t.offset; }
float* GptModel::g(const ParamTensor& t) { return grads_.as<float>() + t.offset; }
const bf16* GptModel::p(int layer, LayerTensor t) const {
  return p(layout_.tensors[2 + static_cast<std::size_t>(layer) * layer_tensor_count + t]);
}
float* GptModel::g(int layer, LayerTensor t) {
  return g(layout_.tensors[2 + static_cast<std::size_t>(layer) * layer_tensor_count + t]);
}

void GptModel::linear_forward(bf16* out, const bf16* inp, const bf16* w, const bf16* bias, int N, int C, int OC) {
  GemmShape s;  // out (N x OC) = inp (N x C) w^T, w is OC x C
  s.tb = true;
  s.m = N, s.n = OC, s.k = C;
  s.lda = C, s.ldb = C, s.ldc = OC;
  gemm_.run(s, 1.0F, inp, w, 0.0F, out, stream());
  if (bias) add_bias(out, bias, N, OC, stream());
}

void GptModel::linear_backward(bf16* dinp, float* dw, float* dbias, const bf16* dout, const bf16* inp, const bf16* w,
                               int N, int C, int OC) {
  GemmShape d;  // dinp (N x C) = dout (N x OC) w (OC x C)
  d.m = N, d.n = C, d.k = OC;
  d.lda = OC, d.ldb = C, d.ldc = C;
  gemm_.run(d, 1.0F, dout, w, 0.0F, dinp, stream());
  GemmShape wgrad;  // dw (OC x C) += dout^T (OC x N) inp (N x C), in fp32
  wgrad.ta = true;
  wgrad.m = OC, wgrad.n = C, wgrad.k = N;
  wgrad.lda = OC, wgrad.ldb = C, wgrad.ldc = C;
  wgrad.output = GemmOutput::float32;
  gemm_.run(wgrad, 1.0F, dout, inp, 1.0F, dw, stream());
  if (dbias) bias_backward(dbias, dout, N, OC, stream());
}

// Per (sequence, head), row-major: scores (S x S) = q k^T, att = causal softmax(scores / sqrt(hs)),
// y (S x hs) = att v; batched over B x NH with q, k, v, y each (B, NH, S, hs) contiguous.
void GptModel::attention_forward(Layer& a) {
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, NH = shape_.heads, hs = C / NH;
  const std::size_t NC = static_cast<std::size_t>(B) * S * C;
  bf16* q = a.qkv_heads.as<bf16>();
  bf16* k = q + NC;
  bf16* v = k + NC;
  const bf16* qkv = qkv_.as<bf16>();
  split_heads(q, qkv, 3 * C, B, S, NH, hs, stream());
  split_heads(k, qkv + C, 3 * C, B, S, NH, hs, stream());
  split_heads(v, qkv + 2 * C, 3 * C, B, S, NH, hs, stream());
  const std::int64_t head = static_cast<std::int64_t>(S) * hs, square = static_cast<std::int64_t>(S) * S;
  GemmShape scores;  // q (S x hs) k^T
  scores.tb = true;
  scores.m = S, scores.n = S, scores.k = hs;
  scores.lda = hs, scores.ldb = hs, scores.ldc = S;
  scores.batch = B * NH, scores.stride_a = head, scores.stride_b = head, scores.stride_c = square;
  gemm_.run(scores, 1.0F, q, k, 0.0F, a.att.get(), stream());
  causal_softmax_forward(a.att.as<bf16>(), static_cast<std::size_t>(B) * NH * S, S,
                         1.0F / std::sqrt(static_cast<float>(hs)), stream());
  GemmShape y;  // att (S x S) v (S x hs)
  y.m = S, y.n = hs, y.k = S;
  y.lda = S, y.ldb = hs, y.ldc = hs;
  y.batch = B * NH, y.stride_a = square, y.stride_b = head, y.stride_c = head;
  gemm_.run(y, 1.0F, a.att.as<bf16>(), v, 0.0F, heads_.get(), stream());
  merge_heads(a.atty.as<bf16>(), C, heads_.as<bf16>(), B, S, NH, hs, stream());
}

// dqkv (N x 3C, overwritten) from datty (N x C), as train/cpu/layers.cpp's attention_backward:
// datt = dy v^T, dv = att^T dy, dscores = softmax backward (with the 1/sqrt(hs) scale),
// dq = dscores k, dk = dscores^T q.
void GptModel::attention_backward(bf16* dqkv, const bf16* datty, Layer& a) {
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, NH = shape_.heads, hs = C / NH;
  const std::size_t NC = static_cast<std::size_t>(B) * S * C;
  const bf16* q = a.qkv_heads.as<bf16>();
  const bf16* k = q + NC;
  const bf16* v = k + NC;
  bf16* dq = d_qkv_heads_.as<bf16>();
  bf16* dk = dq + NC;
  bf16* dv = dk + NC;
  bf16* dy = d_heads_.as<bf16>();
  const bf16* att = a.att.as<bf16>();
  bf16* datt = d_att_.as<bf16>();
  split_heads(dy, datty, C, B, S, NH, hs, stream());
  const std::int64_t head = static_cast<std::int64_t>(S) * hs, square = static_cast<std::int64_t>(S) * S;
  const int batch = B * NH;

  GemmShape s1;  // datt (S x S) = dy (S x hs) v^T
  s1.tb = true;
  s1.m = S, s1.n = S, s1.k = hs;
  s1.lda = hs, s1.ldb = hs, s1.ldc = S;
  s1.batch = batch, s1.stride_a = head, s1.stride_b = head, s1.stride_c = square;
  gemm_.run(s1, 1.0F, dy, v, 0.0F, datt, stream());

  GemmShape s2;  // dv (S x hs) = att^T (S x S) dy (S x hs)
  s2.ta = true;
  s2.m = S, s2.n = hs, s2.k = S;
  s2.lda = S, s2.ldb = hs, s2.ldc = hs;
  s2.batch = batch, s2.stride_a = square, s2.stride_b = head, s2.stride_c = head;
  gemm_.run(s2, 1.0F, att, dy, 0.0F, dv, stream());

  causal_softmax_backward(datt, att, static_cast<std::size_t>(batch) * S, S, 1.0F / std::sqrt(static_cast<float>(hs)),
                          stream());

  GemmShape s3;  // dq (S x hs) = dscores (S x S) k (S x hs)
  s3.m = S, s3.n = hs, s3.k = S;
  s3.lda = S, s3.ldb = hs, s3.ldc = hs;
  s3.batch = batch, s3.stride_a = square, s3.stride_b = head, s3.stride_c = head;
  gemm_.run(s3, 1.0F, datt, k, 0.0F, dq, stream());

  GemmShape s4 = s2;  // dk (S x hs) = dscores^T (S x S) q (S x hs)
  gemm_.run(s4, 1.0F, datt, q, 0.0F, dk, stream());

  merge_heads(dqkv, 3 * C, dq, B, S, NH, hs, stream());
  merge_heads(dqkv + C, 3 * C, dk, B, S, NH, hs, stream());
  merge_heads(dqkv + 2 * C, 3 * C, dv, B, S, NH, hs, stream());
}

double GptModel::forward(const std::int32_t* inputs, const std::int32_t* targets) {
  GA_CUDA_CHECK(cudaSetDevice(device_));
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, V = shape_.vocab;
  const int N = B * S;
  const auto st = as_stream(stream());
  const std::size_t token_bytes = static_cast<std::size_t>(N) * sizeof(std::int32_t);
  GA_CUDA_CHECK(cudaMemcpyAsync(tokens_.get(), inputs, token_bytes, cudaMemcpyHostToDevice, st));
  GA_CUDA_CHECK(cudaMemcpyAsync(targets_.get(), targets, token_bytes, cudaMemcpyHostToDevice, st));
  const bf16* wte = p(layout_.tensors[0]);
  const bf16* wpe = p(layout_.tensors[1]);
  encoder_forward(encoded_.as<bf16>(), tokens_.as<std::int32_t>(), wte, wpe, B, S, C, stream());
  const bf16* residual = encoded_.as<bf16>();
  const std::size_t NC = static_cast<std::size_t>(N) * C;
  for (int l = 0; l < shape_.layers; ++l) {
    Layer& a = layers_[static_cast<std::size_t>(l)];
    layernorm_forward(a.ln1.as<bf16>(), a.ln1_mean.as<float>(), a.ln1_rstd.as<float>(), residual, p(l, ln1_w),
                      p(l, ln1_b), N, C, stream());
    linear_forward(qkv_.as<bf16>(), a.ln1.as<bf16>(), p(l, qkv_w), p(l, qkv_b), N, C, 3 * C);
    attention_forward(a);
    linear_forward(a.res2.as<bf16>(), a.atty.as<bf16>(), p(l, proj_w), p(l, proj_b), N, C, C);
    residual_forward(a.res2.as<bf16>(), a.res2.as<bf16>(), residual, NC, stream());
    layernorm_forward(a.ln2.as<bf16>(), a.ln2_mean.as<float>(), a.ln2_rstd.as<float>(), a.res2.as<bf16>(),
                      p(l, ln2_w), p(l, ln2_b), N, C, stream());
    linear_forward(a.fch.as<bf16>(), a.ln2.as<bf16>(), p(l, fc_w), p(l, fc_b), N, C, 4 * C);
    gelu_forward(a.fch_gelu.as<bf16>(), a.fch.as<bf16>(), 4 * NC, stream());
    linear_forward(a.res3.as<bf16>(), a.fch_gelu.as<bf16>(), p(l, fcproj_w), p(l, fcproj_b), N, 4 * C, C);
    residual_forward(a.res3.as<bf16>(), a.res3.as<bf16>(), a.res2.as<bf16>(), NC, stream());
    residual = a.res3.as<bf16>();
  }
  const auto& lnf_w = layout_.tensors[layout_.tensors.size() - 2];
  const auto& lnf_b = layout_.tensors.back();
  layernorm_forward(lnf_.as<bf16>(), lnf_mean_.as<float>(), lnf_rstd_.as<float>(), residual, p(lnf_w), p(lnf_b), N, C,
                    stream());
  GemmShape head;  // the tied head: logits (N x V, rows logits_ld_ apart) = lnf (N x C) wte^T
  head.tb = true;
  head.m = N, head.n = V, head.k = C;
  head.lda = C, head.ldb = C, head.ldc = logits_ld_;
  gemm_.run(head, 1.0F, lnf_.as<bf16>(), wte, 0.0F, logits_.get(), stream());
  // Losses, and d(mean loss)/d(logits) written over the logits; backward() applies its
  // loss_scale through the alpha of the head's two GEMMs.
  crossentropy_forward_backward(losses_.as<float>(), logits_.as<bf16>(), logits_ld_, targets_.as<std::int32_t>(), N, V,
                                1.0F / static_cast<float>(N), stream());
  GA_CUDA_CHECK(cudaMemcpyAsync(host_losses_.data(), losses_.get(), host_losses_.size() * sizeof(float),
                                cudaMemcpyDeviceToHost, st));
  GA_CUDA_CHECK(cudaStreamSynchronize(st));
  double total = 0;
  for (const float l : host_losses_) total += l;
  return total / N;
}

void GptModel::zero_grad() {
  GA_CUDA_CHECK(cudaMemsetAsync(grads_.get(), 0, layout_.total * sizeof(float), as_stream(stream())));
}

void GptModel::backward(float loss_scale, const std::function<void(std::size_t, std::size_t)>& ready) {
  GA_CUDA_CHECK(cudaSetDevice(device_));
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, V = shape_.vocab;
  const int N = B * S;
  const auto st = as_stream(stream());
  const bf16* wte = p(layout_.tensors[0]);
  float* dwte = g(layout_.tensors[0]);
  float* dwpe = g(layout_.tensors[1]);
  const auto& lnf_w = layout_.tensors[layout_.tensors.size() - 2];
  const auto& lnf_b = layout_.tensors.back();
  const bf16* dlogits = logits_.as<bf16>();

  // The tied head: dlnf (N x C) = loss_scale dlogits (N x V) wte (V x C); dwte += loss_scale
  // dlogits^T lnf.
  GemmShape dlnf;
  dlnf.m = N, dlnf.n = C, dlnf.k = V;
  dlnf.lda = logits_ld_, dlnf.ldb = C, dlnf.ldc = C;
  gemm_.run(dlnf, loss_scale, dlogits, wte, 0.0F, d_ln_.get(), stream());
  GemmShape dhead;
  dhead.ta = true;
  dhead.m = V, dhead.n = C, dhead.k = N;
  dhead.lda = logits_ld_, dhead.ldb = C, dhead.ldc = C;
  dhead.output = GemmOutput::float32;
  gemm_.run(dhead, loss_scale, dlogits, lnf_.as<bf16>(), 1.0F, dwte, stream());

  // d_res_ carries the gradient of the residual stream; layer-norm backward adds into it.
  GA_CUDA_CHECK(cudaMemsetAsync(d_res_.get(), 0, d_res_.bytes(), st));
  const bf16* last = shape_.layers > 0 ? layers_.back().res3.as<bf16>() : encoded_.as<bf16>();
  layernorm_backward(d_res_.as<bf16>(), g(lnf_w), g(lnf_b), d_ln_.as<bf16>(), last, p(lnf_w), lnf_mean_.as<float>(),
                     lnf_rstd_.as<float>(), N, C, stream());
  if (ready) ready(lnf_w.offset, layout_.total);

  const std::size_t NC = static_cast<std::size_t>(N) * C;
  for (int l = shape_.layers - 1; l >= 0; --l) {
    Layer& a = layers_[static_cast<std::size_t>(l)];
    const bf16* residual = l == 0 ? encoded_.as<bf16>() : layers_[static_cast<std::size_t>(l) - 1].res3.as<bf16>();
    // res3 = res2 + mlp: d_res_ is the gradient of both.
    linear_backward(d_gelu_.as<bf16>(), g(l, fcproj_w), g(l, fcproj_b), d_res_.as<bf16>(), a.fch_gelu.as<bf16>(),
                    p(l, fcproj_w), N, 4 * C, C);
    gelu_backward(d_fch_.as<bf16>(), a.fch.as<bf16>(), d_gelu_.as<bf16>(), 4 * NC, stream());
    linear_backward(d_ln_.as<bf16>(), g(l, fc_w), g(l, fc_b), d_fch_.as<bf16>(), a.ln2.as<bf16>(), p(l, fc_w), N, C,
                    4 * C);
    layernorm_backward(d_res_.as<bf16>(), g(l, ln2_w), g(l, ln2_b), d_ln_.as<bf16>(), a.res2.as<bf16>(), p(l, ln2_w),
                       a.ln2_mean.as<float>(), a.ln2_rstd.as<float>(), N, C, stream());
    // res2 = residual + attention: d_res_ is now the gradient of both.
    linear_backward(d_atty_.as<bf16>(), g(l, proj_w), g(l, proj_b), d_res_.as<bf16>(), a.atty.as<bf16>(), p(l, proj_w),
                    N, C, C);
    attention_backward(d_qkv_.as<bf16>(), d_atty_.as<bf16>(), a);
    linear_backward(d_ln_.as<bf16>(), g(l, qkv_w), g(l, qkv_b), d_qkv_.as<bf16>(), a.ln1.as<bf16>(), p(l, qkv_w), N, C,
                    3 * C);
    layernorm_backward(d_res_.as<bf16>(), g(l, ln1_w), g(l, ln1_b), d_ln_.as<bf16>(), residual, p(l, ln1_w),
                       a.ln1_mean.as<float>(), a.ln1_rstd.as<float>(), N, C, stream());
    if (ready) ready(layout_.layer_begin(l), layout_.layer_end(l));
  }
  encoder_backward(dwte, dwpe, d_res_.as<bf16>(), tokens_.as<std::int32_t>(), B, S, C, stream());
  if (ready) ready(0, layout_.layer_begin(0));
}

double GptModel::grad_norm() {
  const auto st = as_stream(stream());
  GA_CUDA_CHECK(cudaMemsetAsync(norm_.get(), 0, sizeof(double), st));
  add_sum_of_squares(norm_.as<double>(), grads_.as<float>(), layout_.total, stream());
  double sum = 0;
  GA_CUDA_CHECK(cudaMemcpyAsync(&sum, norm_.get(), sizeof sum, cudaMemcpyDeviceToHost, st));
  GA_CUDA_CHECK(cudaStreamSynchronize(st));
  return std::sqrt(sum);
}

void GptModel::update(const cpu::AdamW& opt, double lr, int step) {
  adamw(master_.as<float>(), params_.as<bf16>(), grads_.as<float>(), m_.as<float>(), v_.as<float>(), layout_.total,
        static_cast<float>(lr), static_cast<float>(opt.beta1), static_cast<float>(opt.beta2), static_cast<float>(opt.eps),
        static_cast<float>(opt.weight_decay), step, stream());
}

std::vector<float> GptModel::params() const {
  std::vector<float> host(layout_.total);
  const auto st = as_stream(stream());
  GA_CUDA_CHECK(cudaMemcpyAsync(host.data(), master_.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost, st));
  GA_CUDA_CHECK(cudaStreamSynchronize(st));
  return host;
}

std::vector<float> GptModel::grads() const {
  std::vector<float> host(layout_.total);
  const auto st = as_stream(stream());
  GA_CUDA_CHECK(cudaMemcpyAsync(host.data(), grads_.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost, st));
  GA_CUDA_CHECK(cudaStreamSynchronize(st));
  return host;
}

}  // namespace gpuaccept::train::cuda
