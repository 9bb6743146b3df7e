#include "train/cpu/model.hpp"

#include <algorithm>
#include <cmath>

#include "train/cpu/layers.hpp"

namespace gpuaccept::train::cpu {

template <class T>
GptModel<T>::GptModel(const GptShape& shape, int batch, std::uint64_t seed)
    : shape_(shape), batch_(batch), layout_(param_layout(shape)) {
  params_.assign(layout_.total, T(0));
  grads_.assign(layout_.total, T(0));
  init_parameters<T>(shape, layout_, seed, params_);
  const std::size_t N = static_cast<std::size_t>(batch) * shape.seq_len, C = shape.channels;
  const std::size_t att = static_cast<std::size_t>(batch) * shape.heads * shape.seq_len * shape.seq_len;
  encoded_.resize(N * C);
  lnf_.resize(N * C);
  lnf_mean_.resize(N);
  lnf_rstd_.resize(N);
  probs_.resize(N * shape.vocab);
  losses_.resize(N);
  layers_.resize(static_cast<std::size_t>(shape.layers));
  for (auto& l : layers_) {
    l.ln1.resize(N * C); l.ln1_mean.resize(N); l.ln1_rstd.resize(N);
    l.qkv.resize(N * 3 * C); l.att.resize(att); l.atty.resize(N * C); l.res2.resize(N * C);
    l.ln2.resize(N * C); l.ln2_mean.resize(N); l.ln2_rstd.resize(N);
    l.fch.resize(N * 4 * C); l.fch_gelu.resize(N * 4 * C); l.res3.resize(N * C);
  }
  d_res_.resize(N * C); d_ln_.resize(N * C); d_qkv_.resize(N * 3 * C); d_atty_.resize(N * C);
  d_fch_.resize(N * 4 * C); d_gelu_.resize(N * 4 * C);
  d_scratch_.resize(static_cast<std::size_t>(shape.seq_len) * shape.seq_len);
  d_logits_.resize(N * shape.vocab);
  inputs_.resize(N);
  targets_.resize(N);
}

template <class T>
const T* GptModel<T>::p(int layer, LayerTensor t) const {
  return params_.data() + layout_.tensors[2 + static_cast<std::size_t>(layer) * layer_tensor_count + t].offset;
}
template <class T>
T* GptModel<T>::g(int layer, LayerTensor t) {
  return grads_.data() + layout_.tensors[2 + static_cast<std::size_t>(layer) * layer_tensor_count + t].offset;
}

template <class T>
double GptModel<T>::forward(const std::int32_t* inputs, const std::int32_t* targets) {
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, V = shape_.vocab, NH = shape_.heads;
  const int N = B * S;
  std::copy_n(inputs, N, inputs_.begin());
  std::copy_n(targets, N, targets_.begin());
  const T* wte = params_.data() + layout_.tensors[0].offset;
  const T* wpe = params_.data() + layout_.tensors[1].offset;
  encoder_forward(encoded_.data(), inputs, wte, wpe, B, S, C);
  const T* residual = encoded_.data();
  for (int l = 0; l < shape_.layers; ++l) {
    Layer& a = layers_[static_cast<std::size_t>(l)];
    layernorm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), residual, p(l, ln1_w), p(l, ln1_b), N, C);
    matmul_forward(a.qkv.data(), a.ln1.data(), p(l, qkv_w), p(l, qkv_b), N, C, 3 * C);
    attention_forward(a.atty.data(), a.att.data(), a.qkv.data(), B, S, C, NH);
    matmul_forward(a.res2.data(), a.atty.data(), p(l, proj_w), p(l, proj_b), N, C, C);
    residual_forward(a.res2.data(), a.res2.data(), residual, a.res2.size());
    layernorm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), a.res2.data(), p(l, ln2_w), p(l, ln2_b), N, C);
    matmul_forward(a.fch.data(), a.ln2.data(), p(l, fc_w), p(l, fc_b), N, C, 4 * C);
    gelu_forward(a.fch_gelu.data(), a.fch.data(), a.fch.size());
    matmul_forward(a.res3.data(), a.fch_gelu.data(), p(l, fcproj_w), p(l, fcproj_b), N, 4 * C, C);
    residual_forward(a.res3.data(), a.res3.data(), a.res2.data(), a.res3.size());
    residual = a.res3.data();
  }
  const auto& lnf_w = layout_.tensors[layout_.tensors.size() - 2];
  const auto& lnf_b = layout_.tensors.back();
  layernorm_forward(lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), residual, params_.data() + lnf_w.offset,
                    params_.data() + lnf_b.offset, N, C);
  matmul_forward<T>(probs_.data(), lnf_.data(), wte, nullptr, N, C, V);  // logits, tied head
  return softmax_crossentropy_forward(probs_.data(), losses_.data(), probs_.data(), targets, N, V);
}

template <class T>
void GptModel<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void GptModel<T>::backward(T loss_scale, const std::function<void(std::size_t, std::size_t)>& ready) {
  const int B = batch_, S = shape_.seq_len, C = shape_.channels, V = shape_.vocab, NH = shape_.heads;
  const int N = B * S;
  auto zero = [](std::vector<T>& v) { std::fill(v.begin(), v.end(), T(0)); };
  const T* wte = params_.data() + layout_.tensors[0].offset;
  T* dwte = grads_.data() + layout_.tensors[0].offset;
  T* dwpe = grads_.data() + layout_.tensors[1].offset;
  const auto& lnf_w = layout_.tensors[layout_.tensors.size() - 2];
  const auto& lnf_b = layout_.tensors.back();

  softmax_crossentropy_backward(d_logits_.data(), probs_.data(), targets_.data(), N, V, loss_scale / T(N));
  zero(d_ln_);
  matmul_backward<T>(d_ln_.data(), dwte, nullptr, d_logits_.data(), lnf_.data(), wte, N, C, V);
  zero(d_res_);
  const T* last = shape_.layers > 0 ? layers_.back().res3.data() : encoded_.data();
  layernorm_backward(d_res_.data(), grads_.data() + lnf_w.offset, grads_.data() + lnf_b.offset, d_ln_.data(), last,
                     params_.data() + lnf_w.offset, lnf_mean_.data(), lnf_rstd_.data(), N, C);
  if (ready) ready(lnf_w.offset, layout_.total);

  for (int l = shape_.layers - 1; l >= 0; --l) {
    Layer& a = layers_[static_cast<std::size_t>(l)];
    const T* residual = l == 0 ? encoded_.data() : layers_[static_cast<std::size_t>(l) - 1].res3.data();
    // res3 = res2 + fcproj: d_res_ is the gradient of both.
    zero(d_gelu_);
    matmul_backward(d_gelu_.data(), g(l, fcproj_w), g(l, fcproj_b), d_res_.data(), a.fch_gelu.data(), p(l, fcproj_w), N, 4 * C, C);
    zero(d_fch_);
    gelu_backward(d_fch_.data(), a.fch.data(), d_gelu_.data(), d_fch_.size());
    zero(d_ln_);
    matmul_backward(d_ln_.data(), g(l, fc_w), g(l, fc_b), d_fch_.data(), a.ln2.data(), p(l, fc_w), N, C, 4 * C);
    layernorm_backward(d_res_.data(), g(l, ln2_w), g(l, ln2_b), d_ln_.data(), a.res2.data(), p(l, ln2_w),
                       a.ln2_mean.data(), a.ln2_rstd.data(), N, C);
    // res2 = residual + proj: d_res_ is now the gradient of both.
    zero(d_atty_);
    matmul_backward(d_atty_.data(), g(l, proj_w), g(l, proj_b), d_res_.data(), a.atty.data(), p(l, proj_w), N, C, C);
    zero(d_qkv_);
    attention_backward(d_qkv_.data(), d_scratch_.data(), d_atty_.data(), a.qkv.data(), a.att.data(), B, S, C, NH);
    zero(d_ln_);
    matmul_backward(d_ln_.data(), g(l, qkv_w), g(l, qkv_b), d_qkv_.data(), a.ln1.data(), p(l, qkv_w), N, C, 3 * C);
    layernorm_backward(d_res_.data(), g(l, ln1_w), g(l, ln1_b), d_ln_.data(), residual, p(l, ln1_w),
                       a.ln1_mean.data(), a.ln1_rstd.data(), N, C);
    if (ready) ready(layout_.layer_begin(l), layout_.layer_end(l));
  }
  encoder_backward(dwte, dwpe, d_res_.data(), inputs_.data(), B, S, C);
  if (ready) ready(0, layout_.layer_begin(0));
}

template class GptModel<float>;
template class GptModel<double>;

void AdamW::update(std::span<float> params, std::span<const float> grads, std::vector<float>& m,
                   std::vector<float>& v, double lr, int step) const {
  if (m.size() != params.size()) m.assign(params.size(), 0.0F);
  if (v.size() != params.size()) v.assign(params.size(), 0.0F);
  const double c1 = 1.0 - std::pow(beta1, step), c2 = 1.0 - std::pow(beta2, step);
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float step_size = static_cast<float>(lr / c1), inv_c2 = static_cast<float>(1.0 / c2);
  const float fe = static_cast<float>(eps), decay = static_cast<float>(lr * weight_decay);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const float gi = grads[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    params[i] -= step_size * m[i] / (std::sqrt(v[i] * inv_c2) + fe) + decay * params[i];
  }
}

}  // namespace gpuaccept::train::cpu
