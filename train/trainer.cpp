#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstring>

#include <cblas.h>

#include "train/cpu/layers.hpp"

namespace gpuaccept::train {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double learning_rate(const TrainConfig& c, int step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps) return c.lr * (step + 1) / c.warmup_steps;
  if (c.schedule == Schedule::constant) return c.lr;
  const int decay_steps = c.steps - c.warmup_steps;
  if (decay_steps <= 1) return c.lr;
  const double progress = static_cast<double>(step - c.warmup_steps) / (decay_steps - 1);
  const double min_lr = c.lr * c.min_lr_fraction;
  return min_lr + 0.5 * (c.lr - min_lr) * (1.0 + std::cos(3.141592653589793 * progress));
}

std::uint64_t first_sequence(const TrainConfig& c, int step, int micro, int ranks, int rank) {
  return ((static_cast<std::uint64_t>(step) * static_cast<std::uint64_t>(c.grad_accum) + static_cast<std::uint64_t>(micro)) *
              static_cast<std::uint64_t>(ranks) +
          static_cast<std::uint64_t>(rank)) *
         static_cast<std::uint64_t>(c.micro_batch);
}

CpuTrainer::CpuTrainer(const TrainConfig& config, const TokenSource& data, int rank, GradientReducer* reducer)
    : config_(config),
      data_(data),
      rank_(rank),
      ranks_(reducer ? reducer->ranks() : 1),
      reducer_(reducer),
      model_(config.shape, config.micro_batch, config.seed) {
  // Matrix products use `threads` OpenBLAS threads; the rest (O(N C) per layer against the
  // GEMMs' O(N C^2)) runs on the rank's own thread. No OpenMP here: its idle workers spin while
  // OpenBLAS's threads work and, on a busy node, made a step several times slower.
  openblas_set_num_threads(std::max(1, config.threads));
  const auto n = static_cast<std::size_t>(config.micro_batch) * config.shape.seq_len;
  inputs_.resize(n);
  targets_.resize(n);
}

StepRecord CpuTrainer::step(int index) {
  StepRecord rec;
  auto& meter = cpu::gemm_meter();
  meter.timed = true;
  const double gemm_before = meter.seconds;
  const auto t0 = std::chrono::steady_clock::now();
  model_.zero_grad();
  const bool reduce = reducer_ && ranks_ > 1;
  // The loss is scaled so that the summed gradient is that of the mean over the global batch.
  const float loss_scale = 1.0F / static_cast<float>(config_.grad_accum * ranks_);
  double loss = 0;
  const std::size_t bucket = std::max<std::size_t>(1, config_.bucket_bytes / sizeof(float));
  const std::size_t total = model_.layout().total;
  float* grads = model_.grads().data();
  for (int micro = 0; micro < config_.grad_accum; ++micro) {
    const std::uint64_t first = first_sequence(config_, index, micro, ranks_, rank_);
    data_.fill(first, config_.micro_batch, config_.shape.seq_len, inputs_.data(), targets_.data());
    loss += model_.forward(inputs_.data(), targets_.data());
    const bool last = micro + 1 == config_.grad_accum;
    BucketPlanner planner(total, bucket);
    std::function<void(std::size_t, std::size_t)> ready;
    if (reduce && last)
      ready = [&](std::size_t begin, std::size_t end) {
        const auto b = planner.ready(begin, end);
        if (!b) return;
        const auto c0 = std::chrono::steady_clock::now();
        reducer_->sum(grads + b->begin, b->size());
        const double s = seconds_since(c0);
        rec.comm_seconds += s;
        rec.comm_exposed_seconds += s;  // blocking MPI: nothing runs meanwhile
        ++rec.buckets;
      };
    model_.backward(loss_scale, ready);
  }
  loss /= config_.grad_accum;
  rec.loss = reduce ? reducer_->mean(loss) : loss;
  double norm2 = 0;
  for (const float gi : model_.grads()) norm2 += static_cast<double>(gi) * gi;
  rec.grad_norm = std::sqrt(norm2);
  rec.lr = learning_rate(config_, index);
  config_.adamw.update(model_.params(), model_.grads(), m_, v_, rec.lr, index + 1);
  rec.seconds = seconds_since(t0);
  rec.gemm_seconds = meter.seconds - gemm_before;
  return rec;
}

std::uint64_t fingerprint(std::span<const float> values) {
  std::uint64_t h = 1469598103934665603ULL;
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 4; ++i) {
      h ^= (bits >> (8 * i)) & 0xFFU;
      h *= 1099511628211ULL;
    }
  }
  return h;
}

}  // namespace gpuaccept::train
