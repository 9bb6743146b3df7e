#include "train/cuda/trainer.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "kernels/cuda/cuda_check.hpp"

namespace gpuaccept::train::cuda {

namespace gpu = kernels::gpu;

CudaTrainer::CudaTrainer(const TrainConfig& config, const TokenSource& data, int rank, DeviceGradientReducer* reducer,
                         int device)
    : config_(config),
      data_(data),
      rank_(rank),
      ranks_(reducer ? reducer->ranks() : 1),
      reducer_(reducer),
      model_(config.shape, config.micro_batch, config.seed, device) {
  const auto n = static_cast<std::size_t>(config.micro_batch) * config.shape.seq_len;
  inputs_.resize(n);
  targets_.resize(n);
  const std::size_t bucket = std::max<std::size_t>(1, config.bucket_bytes / sizeof(float));
  buckets_.resize(plan_buckets(model_.layout(), bucket).size());
  model_.set_gemm_timing(true);
}

StepRecord CudaTrainer::step(int index) {
  StepRecord rec;
  const auto t0 = std::chrono::steady_clock::now();
  const auto compute = static_cast<cudaStream_t>(model_.stream());
  const bool reduce = reducer_ && ranks_ > 1;
  const auto comm = reduce ? static_cast<cudaStream_t>(reducer_->stream()) : nullptr;
  model_.zero_grad();
  // The loss is scaled so that the summed gradient is that of the mean over the global batch.
  const float loss_scale = 1.0F / static_cast<float>(config_.grad_accum * ranks_);
  const std::size_t bucket = std::max<std::size_t>(1, config_.bucket_bytes / sizeof(float));
  float* grads = model_.gradients();
  double loss = 0;
  std::size_t sent = 0;
  for (int micro = 0; micro < config_.grad_accum; ++micro) {
    data_.fill(first_sequence(config_, index, micro, ranks_, rank_), config_.micro_batch, config_.shape.seq_len,
               inputs_.data(), targets_.data());
    loss += model_.forward(inputs_.data(), targets_.data());
    const bool last = micro + 1 == config_.grad_accum;
    BucketPlanner planner(model_.layout().total, bucket);
    std::function<void(std::size_t, std::size_t)> ready;
    if (reduce && last)
      ready = [&](std::size_t begin, std::size_t end) {
        const auto b = planner.ready(begin, end);
        if (!b) return;
        if (sent == buckets_.size()) buckets_.emplace_back();  // never: sized from plan_buckets
        Bucket& e = buckets_[sent++];
        e.ready.record(compute);
        GA_CUDA_CHECK(cudaStreamWaitEvent(comm, e.ready.get(), 0));
        e.start.record(comm);
        reducer_->sum(grads + b->begin, b->size());
        e.stop.record(comm);
      };
    model_.backward(loss_scale, ready);
  }
  if (reduce) {
    backward_done_.record(compute);
    comm_done_.record(comm);
    GA_CUDA_CHECK(cudaStreamWaitEvent(compute, comm_done_.get(), 0));
  }
  loss /= config_.grad_accum;
  rec.loss = reduce ? reducer_->mean(loss) : loss;
  // Wait for the all-reduces through the reducer, which notices a failed peer, before anything
  // waits on the compute stream (which now depends on them).
  if (reduce) reducer_->synchronize();
  rec.grad_norm = model_.grad_norm();
  rec.lr = learning_rate(config_, index);
  model_.update(config_.adamw, rec.lr, index + 1);
  GA_CUDA_CHECK(cudaStreamSynchronize(compute));
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.gemm_seconds = model_.take_gemm_seconds();
  rec.buckets = static_cast<int>(sent);
  for (std::size_t i = 0; i < sent; ++i) rec.comm_seconds += gpu::elapsed_seconds(buckets_[i].start, buckets_[i].stop);
  if (sent > 0) {
    const double tail = gpu::elapsed_seconds(backward_done_, buckets_[sent - 1].stop);
    rec.comm_exposed_seconds = std::clamp(tail, 0.0, rec.comm_seconds);
  }
  return rec;
}

}  // namespace gpuaccept::train::cuda
