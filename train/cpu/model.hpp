// The GPT model on the CPU: parameters and gradients in one flat array each (train/gpt.hpp's
// layout), activations kept from forward() for backward(). float for training, double for the
// gradient checks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "train/gpt.hpp"

namespace gpuaccept::train::cpu {

template <class T>
class GptModel {
 public:
  // Parameters initialised as GPT-2 does (train/gpt.hpp's init_parameters), deterministic from
  // `seed` (the same on every rank).
  GptModel(const GptShape& shape, int batch, std::uint64_t seed);

  const GptShape& shape() const { return shape_; }
  int batch() const { return batch_; }
  const ParamLayout& layout() const { return layout_; }
  std::span<T> params() { return params_; }
  std::span<T> grads() { return grads_; }
  std::span<const T> params() const { return params_; }

  // inputs and targets: batch x seq_len tokens. Returns the mean cross-entropy loss.
  double forward(const std::int32_t* inputs, const std::int32_t* targets);
  void zero_grad();
  // Adds d(loss_scale * mean loss)/d(params) of the last forward() to grads(). `ready(begin, end)`
  // is called as each range of parameters gets its final gradient of this pass, in the order of
  // backward_ready_order(layout()): the final layer norm, each layer from the last to the first,
  // then the embeddings.
  void backward(T loss_scale, const std::function<void(std::size_t, std::size_t)>& ready = {});

 private:
  GptShape shape_;
  int batch_;
  ParamLayout layout_;
  std::vector<T> params_, grads_;
  struct Layer {  // activations of one layer
    std::vector<T> ln1, ln1_mean, ln1_rstd, qkv, att, atty, res2, ln2, ln2_mean, ln2_rstd, fch, fch_gelu, res3;
  };
  std::vector<T> encoded_, lnf_, lnf_mean_, lnf_rstd_, probs_, losses_;
  std::vector<Layer> layers_;
  std::vector<T> d_res_, d_ln_, d_qkv_, d_atty_, d_fch_, d_gelu_, d_scratch_, d_logits_, d_tmp_;
  std::vector<std::int32_t> inputs_, targets_;

  const T* p(int layer, LayerTensor t) const;
  T* g(int layer, LayerTensor t);
};

// AdamW (decoupled weight decay) over flat arrays; step counts from 1.
struct AdamW {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  void update(std::span<float> params, std::span<const float> grads, std::vector<float>& m,
              std::vector<float>& v, double lr, int step) const;
};

}  // namespace gpuaccept::train::cpu
