// The GPT model on one GPU, with the CPU model's interface and meaning (train/cpu/model.hpp):
// the same shape, parameter layout (train/gpt.hpp's ParamLayout), initialisation, forward pass
// returning the mean loss, backward pass that ADDS d(loss_scale * mean loss)/d(params) to the
// gradients and reports finished ranges in backward_ready_order(), so that gradient
// accumulation and bucketed all-reduces work as on the CPU.
//
// Precision (mixed, as llm.c and PyTorch AMP train): fp32 master weights, updated by AdamW with
// fp32 moments; a bf16 copy of the weights that the forward and backward passes compute with;
// bf16 activations and activation gradients; fp32 parameter gradients (the weight-gradient
// GEMMs write fp32 with beta = 1, the bias, layer-norm and embedding gradients add in fp32),
// so that accumulation over micro-batches and the all-reduce lose nothing to bf16.
//
// Every matrix product runs on cuBLASLt (train/cuda/gemm.hpp: bf16 in, fp32 accumulate): the
// four linear layers of each block and the tied output head, forward and backward, and the
// attention products as strided-batched GEMMs over (batch x heads), Q K^T and att V, with
// their backward products, after split_heads puts each head's columns in one contiguous
// matrix (llm.c's non-cuDNN path). Everything else is train/cuda/kernels.hpp.
//
// All work is enqueued on the model's own stream (stream()); forward() waits for it to read the
// loss back, grad_norm() and params() wait too, backward() and update() do not.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kernels/cuda/cuda_raii.hpp"
#include "train/cpu/model.hpp"
#include "train/cuda/gemm.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::train::cuda {

class GptModel {
 public:
  // Parameters from init_parameters(shape, seed), as the CPU model's: the same on every rank.
  GptModel(const GptShape& shape, int batch, std::uint64_t seed, int device);
  // Parameters given (layout order, param_layout(shape).total values): to compare with the
  // CPU model on the same weights.
  GptModel(const GptShape& shape, int batch, std::span<const float> initial, int device);

  const GptShape& shape() const { return shape_; }
  int batch() const { return batch_; }
  const ParamLayout& layout() const { return layout_; }
  void* stream() const { return stream_.get(); }  // a cudaStream_t

  // inputs and targets: host arrays of batch x seq_len tokens. Returns the mean cross-entropy
  // loss (waits for the pass to finish). Also leaves the gradient of the mean loss with
  // respect to the logits for backward() (the fused cross-entropy kernel computes both).
  double forward(const std::int32_t* inputs, const std::int32_t* targets);
  void zero_grad();
  // Adds d(loss_scale * mean loss)/d(params) of the last forward() to the gradients.
  // `ready(begin, end)` is called as soon as the work that finishes the gradients of
  // [begin, end) has been enqueued on stream() (not completed: record an event on stream() to
  // wait for it), in the order of backward_ready_order(layout()).
  void backward(float loss_scale, const std::function<void(std::size_t, std::size_t)>& ready = {});
  // L2 norm of the gradients (waits).
  double grad_norm();
  // One AdamW step (`step` from 1) on the master weights, refreshing the bf16 copy.
  void update(const cpu::AdamW& opt, double lr, int step);

  float* gradients() { return grads_.as<float>(); }  // device, layout order, fp32
  std::vector<float> params() const;                 // master weights, copied to the host
  std::vector<float> grads() const;                  // copied to the host

  // GEMM time on the GPU (CUDA events around each cuBLASLt call) since the last call; waits.
  void set_gemm_timing(bool on) { gemm_.set_timing(on); }
  double take_gemm_seconds() { return gemm_.take_seconds(); }

 private:
  // One block's activations, kept from forward for backward (bf16; layer-norm statistics fp32).
  struct Layer {
    kernels::gpu::DeviceBuffer ln1, ln1_mean, ln1_rstd;
    kernels::gpu::DeviceBuffer qkv_heads;  // q, k, v in (B, NH, S, hs) order, one after the other
    kernels::gpu::DeviceBuffer att;        // B x NH x S x S softmax probabilities
    kernels::gpu::DeviceBuffer atty, res2, ln2, ln2_mean, ln2_rstd, fch, fch_gelu, res3;
  };
  static int select_device(int device);

  void allocate();
  const bf16* p(int layer, LayerTensor t) const;
  float* g(int layer, LayerTensor t);
  const bf16* p(const ParamTensor& t) const;
  float* g(const ParamTensor& t);
  // out (N x OC) = inp (N x C) w^T + bias.
  void linear_forward(bf16* out, const bf16* inp, const bf16* w, const bf16* bias, int N, int C, int OC);
  // dinp = dout w (overwrites); dw += dout^T inp; dbias += column sums of dout.
  void linear_backward(bf16* dinp, float* dw, float* dbias, const bf16* dout, const bf16* inp, const bf16* w, int N,
                       int C, int OC);
  void attention_forward(Layer& a);
  void attention_backward(bf16* dqkv, const bf16* datty, Layer& a);

  // Declaration order is construction order: the device is selected before anything is
  // created on it.
  GptShape shape_;
  int batch_;
  ParamLayout layout_;
  int logits_ld_;  // the vocabulary rounded up to 64 (128 bytes): aligned rows for cuBLASLt
  int device_;
  kernels::gpu::Stream stream_;
  Gemm gemm_;
  kernels::gpu::DeviceBuffer master_, params_, grads_, m_, v_;
  std::vector<Layer> layers_;
  kernels::gpu::DeviceBuffer tokens_, targets_, encoded_, lnf_, lnf_mean_, lnf_rstd_, logits_, losses_;
  kernels::gpu::DeviceBuffer qkv_, heads_;                                    // forward scratch
  kernels::gpu::DeviceBuffer d_res_, d_ln_, d_qkv_, d_atty_, d_fch_, d_gelu_;  // backward scratch
  kernels::gpu::DeviceBuffer d_heads_, d_qkv_heads_, d_att_;
  kernels::gpu::DeviceBuffer norm_;  // one double
  std::vector<float> host_losses_;
};

}  // namespace gpuaccept::train::cuda
