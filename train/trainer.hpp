// Data-parallel training on the CPU: every rank holds the whole model, trains on its own slice
// of the global batch (train/data.hpp), and the gradients are summed across ranks in buckets
// as the backward pass of the last micro-batch finishes them (the final layer norm first, the
// embeddings last), then AdamW updates every replica identically.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "train/cpu/model.hpp"
#include "train/data.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::train {

enum class Schedule { constant, cosine };

struct TrainConfig {
  GptShape shape;
  int micro_batch = 4;     // sequences per rank per micro-step
  int grad_accum = 1;      // micro-steps per optimizer step
  int steps = 20;          // optimizer steps
  double lr = 1e-3;        // peak learning rate
  int warmup_steps = 0;    // linear warm-up from lr / warmup_steps
  Schedule schedule = Schedule::cosine;
  double min_lr_fraction = 0.1;  // cosine decays to lr * min_lr_fraction at the last step
  cpu::AdamW adamw;
  std::size_t bucket_bytes = std::size_t{25} << 20;  // gradient all-reduce bucket (DDP's default)
  std::uint64_t seed = 1;
  int threads = 1;  // OpenBLAS and OpenMP threads of this rank
};

// Learning rate of optimizer step `step` (0-based).
double learning_rate(const TrainConfig& c, int step);

// Global index of the first of the `micro_batch` sequences that rank `rank` of `ranks` trains on
// in micro-step `micro` of optimizer step `step` (train/data.hpp says why this order).
std::uint64_t first_sequence(const TrainConfig& c, int step, int micro, int ranks, int rank);

// Sums gradients over the data-parallel ranks; nothing to do on one rank.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int ranks() const = 0;
  virtual void sum(float* data, std::size_t count) = 0;  // in place, blocking
  virtual double mean(double value) = 0;                  // of a scalar over ranks
};

struct StepRecord {
  double seconds = 0;       // the whole optimizer step
  double loss = 0;          // mean loss of the step's global batch (before its update)
  double lr = 0;
  double grad_norm = 0;     // L2 norm of the summed gradient (that of the global batch's mean loss)
  double comm_seconds = 0;  // inside gradient all-reduces
  double comm_exposed_seconds = 0;  // of which the compute did not hide (CPU: all of it)
  double gemm_seconds = 0;  // inside matrix products
  int buckets = 0;
};

class CpuTrainer {
 public:
  // `reducer` may be null (one rank). `rank` selects this rank's slice of the global batch.
  CpuTrainer(const TrainConfig& config, const TokenSource& data, int rank, GradientReducer* reducer);
  StepRecord step(int index);
  std::span<const float> params() const { return model_.params(); }
  std::size_t param_count() const { return model_.layout().total; }
  cpu::GptModel<float>& model() { return model_; }

 private:
  TrainConfig config_;
  const TokenSource& data_;
  int rank_;
  int ranks_;
  GradientReducer* reducer_;
  cpu::GptModel<float> model_;
  std::vector<float> m_, v_;
  std::vector<std::int32_t> inputs_, targets_;
};

// FNV-1a over the bytes of the parameters: replicas that should be identical are compared by it.
std::uint64_t fingerprint(std::span<const float> values);

}  // namespace gpuaccept::train
