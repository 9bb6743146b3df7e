// train: a GPT-style decoder-only transformer trained for real (train/), data-parallel over the
// step's ranks: every rank holds the whole model and trains on its slice of the global batch;
// gradients are summed in buckets as the backward pass finishes them (blocking MPI on the cpu
// backend; NCCL on a second CUDA stream, overlapped with the backward pass, on the cuda
// backend: bf16 compute with fp32 master weights, train/cuda/).
//
// Measures per rank: optimizer-step time (median, p99) over the `iterations` timed steps that
// follow `warmup` untimed ones (all of them train); tokens/s = global batch tokens / median step
// time (global) and / ranks (per device); model FLOPs per token from the shape
// (train/gpt.hpp: 72 L C^2 + 12 L S C + 6 C V); TFLOP/s per device; MFU against the system
// description's peak (absent without one); time in gradient all-reduces per step and the share
// of it hidden behind compute; share of the step in GEMMs; loss of the first and last step.
// Checks: the loss of the last step must be below loss_fraction x the loss of the first, every
// loss finite, and every rank's parameters bit-identical after training (replicas that drift
// mean a wrong all-reduce). Otherwise the step is incorrect.
// Needs: nothing on the cpu backend; a GPU of compute capability 8.0 or later per rank on the
// cuda backend (skipped, not failed, on an older one).
// Runs alone: mpirun -np 2 gpuaccept run with a campaign holding
//   benchmarks: [{benchmark: train, params: {preset: tiny, micro_batch: 4, warmup: 2, iterations: 58}}]
// and, on GPUs, `backend: cuda` and e.g. {preset: gpt2-124m, micro_batch: 8, warmup: 3, iterations: 20}.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "collectives/communicator.hpp"
#include "results/stats.hpp"
#include "suites/registry.hpp"
#include "suites/train_metrics.hpp"
#include "train/data.hpp"
#include "train/gpt.hpp"
#include "train/trainer.hpp"

#if defined(GPUACCEPT_HAVE_CUDA)
#include "train/cuda/trainer.hpp"
#endif

namespace gpuaccept::suites {
namespace {

// An in-place sum of `count` floats over the communicator's ranks: blocking on MPI, enqueued on
// the communicator's stream on NCCL when it is set non-blocking.
void allreduce_sum_in_place(collectives::Communicator& comm, float* data, std::size_t count) {
  collectives::CollectiveArgs args;
  args.op = collectives::CollectiveOp::allreduce;
  args.send = data;
  args.recv = data;
  args.count = count;
  args.type = collectives::DataType::fp32;
  args.redop = collectives::RedOp::sum;
  args.in_place = true;
  comm.collective(args);
}

double mean_over(const collectives::Group& group, double value) {
  double v[1] = {value};
  group.allreduce_sum(v);
  return v[0] / group.size();
}

// Gradient sums over the step's ranks through the communicator under test (MPI, host memory).
class CommunicatorReducer final : public train::GradientReducer {
 public:
  CommunicatorReducer(collectives::Communicator& comm, const collectives::Group& group) : comm_(comm), group_(group) {}
  int ranks() const override { return comm_.size(); }
  void sum(float* data, std::size_t count) override { allreduce_sum_in_place(comm_, data, count); }
  double mean(double value) override { return mean_over(group_, value); }

 private:
  collectives::Communicator& comm_;
  const collectives::Group& group_;
};

#if defined(GPUACCEPT_HAVE_CUDA)
// Gradient sums on the GPU through the NCCL communicator under test, enqueued on its stream
// without waiting, so that the CUDA trainer overlaps them with the backward pass.
class DeviceCommunicatorReducer final : public train::cuda::DeviceGradientReducer {
 public:
  DeviceCommunicatorReducer(collectives::Communicator& comm, const collectives::Group& group) : comm_(comm), group_(group) {
    if (!comm_.native_stream())
      throw collectives::CollectiveError(fmt::format("train: the {} communicator has no CUDA stream to overlap on", comm_.name()));
    comm_.set_blocking(false);
  }
  int ranks() const override { return comm_.size(); }
  void* stream() const override { return comm_.native_stream(); }
  void sum(float* data, std::size_t count) override { allreduce_sum_in_place(comm_, data, count); }
  void synchronize() override { comm_.synchronize(); }
  double mean(double value) override { return mean_over(group_, value); }

 private:
  collectives::Communicator& comm_;
  const collectives::Group& group_;
};
#endif

// Runs `f` on every rank and throws on all of them when it threw on any, so that a rank that
// failed (out of memory, a file it cannot read) does not leave the others waiting in the first
// all-reduce until the step's timeout.
template <class F>
void on_every_rank_or_none(const collectives::Group& group, const char* what, F&& f) {
  std::string error;
  try {
    f();
  } catch (const std::exception& e) {
    error = e.what();
  }
  double ok[1] = {error.empty() ? 1.0 : 0.0};
  group.allreduce_min(ok);
  if (ok[0] == 0)
    throw std::runtime_error(error.empty() ? fmt::format("another rank of the step failed to {}", what) : error);
}

// One optimizer step, and the replica's parameters at the end, whichever backend trains.
struct Training {
  std::function<train::StepRecord(int)> step;
  std::function<std::uint64_t()> fingerprint;
  std::size_t params = 0;
};

train::TrainConfig config_of(const Params& p) {
  train::TrainConfig c;
  c.shape = train_shape(p);
  c.micro_batch = static_cast<int>(param_int(p, "micro_batch"));
  c.grad_accum = static_cast<int>(param_int(p, "grad_accum"));
  c.steps = static_cast<int>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
  const double lr = param_real(p, "lr");
  c.lr = lr > 0 ? lr : train::find_preset(param_text(p, "preset"))->lr;
  c.warmup_steps = static_cast<int>(param_int(p, "lr_warmup"));
  c.schedule = param_text(p, "lr_schedule") == "constant" ? train::Schedule::constant : train::Schedule::cosine;
  c.min_lr_fraction = param_real(p, "min_lr_fraction");
  c.adamw.weight_decay = param_real(p, "weight_decay");
  c.bucket_bytes = static_cast<std::size_t>(param_int(p, "bucket_bytes"));
  c.seed = static_cast<std::uint64_t>(param_int(p, kSeedParam));
  return c;
}

RankOutcome train_and_report(const RunContext& ctx, const train::TrainConfig& cfg, const train::TokenSource& data,
                             collectives::Communicator* comm);

RankOutcome run(const RunContext& ctx) {
  auto cfg = config_of(ctx.params);
  cfg.threads = ctx.cpu_threads;
  const auto& token_file = param_text(ctx.params, "token_file");
  // Every rank reads the data, and they agree before any collective: a rank that cannot read
  // the file must not leave the others waiting in the first all-reduce until the timeout.
  std::optional<train::TokenSource> source;
  std::string data_error;
  try {
    if (token_file.empty()) source.emplace(cfg.shape.vocab, cfg.seed);
    else source.emplace(token_file, cfg.shape.vocab, cfg.shape.seq_len);
  } catch (const train::DataError& e) {
    data_error = e.what();
  }
  double data_ok[1] = {data_error.empty() ? 1.0 : 0.0};
  ctx.group.allreduce_min(data_ok);
  if (data_ok[0] == 0) throw train::DataError(data_error.empty() ? "another rank of the step could not read the token file" : data_error);
  const train::TokenSource& data = *source;

  if (ctx.backend == kernels::Backend::cuda) {
    // bf16 tensor-core GEMMs and the bf16 kernels need compute capability 8.0; every rank must
    // agree, or the others would wait for it in NCCL.
    const auto device = kernels::describe_device(ctx.backend, ctx.device);
    double capable[1] = {device.compute_capability >= 80 ? 1.0 : 0.0};
    ctx.group.allreduce_min(capable);
    if (capable[0] == 0) {
      RankOutcome skipped;
      skipped.status = Status::skipped;
      skipped.message = fmt::format("train on the cuda backend computes in bf16 and needs compute capability 8.0 or later "
                                    "(this rank's GPU {}: {}.{}, or another rank's is older)",
                                    device.name, device.compute_capability / 10, device.compute_capability % 10);
      return skipped;
    }
  }
  std::unique_ptr<collectives::Communicator> comm;
  if (ctx.size > 1) comm = collectives::open_communicator(ctx.backend, ctx.group, ctx.device);
  return train_and_report(ctx, cfg, data, comm.get());
}

RankOutcome train_and_report(const RunContext& ctx, const train::TrainConfig& cfg, const train::TokenSource& data,
                             collectives::Communicator* comm) {
  const auto& token_file = param_text(ctx.params, "token_file");
  Training training;
  std::unique_ptr<CommunicatorReducer> reducer;
  std::unique_ptr<train::CpuTrainer> cpu_trainer;
#if defined(GPUACCEPT_HAVE_CUDA)
  std::unique_ptr<DeviceCommunicatorReducer> device_reducer;
  std::unique_ptr<train::cuda::CudaTrainer> cuda_trainer;
#endif
  if (ctx.backend == kernels::Backend::cuda) {
#if defined(GPUACCEPT_HAVE_CUDA)
    if (comm) device_reducer = std::make_unique<DeviceCommunicatorReducer>(*comm, ctx.group);
    on_every_rank_or_none(ctx.group, "set up the model on its GPU", [&] {
      cuda_trainer = std::make_unique<train::cuda::CudaTrainer>(cfg, data, ctx.rank, device_reducer.get(), ctx.device);
    });
    training.step = [&](int s) { return cuda_trainer->step(s); };
    training.fingerprint = [&] { return train::fingerprint(cuda_trainer->params()); };
    training.params = cuda_trainer->param_count();
#else
    throw kernels::NotApplicable("this build has no CUDA backend");
#endif
  } else {
    if (comm) reducer = std::make_unique<CommunicatorReducer>(*comm, ctx.group);
    cpu_trainer = std::make_unique<train::CpuTrainer>(cfg, data, ctx.rank, reducer.get());
    training.step = [&](int s) { return cpu_trainer->step(s); };
    training.fingerprint = [&] { return train::fingerprint(cpu_trainer->params()); };
    training.params = cpu_trainer->param_count();
  }

  const int warmup = ctx.timing.warmup;
  std::vector<double> losses, step_s, comm_s, hidden, gemm_share;
  int buckets = 0;
  double grad_norm_start = 0;
  for (int s = 0; s < cfg.steps; ++s) {
    const auto rec = training.step(s);
    losses.push_back(rec.loss);
    buckets = rec.buckets;
    if (s == 0) grad_norm_start = rec.grad_norm;
    if (s < warmup) continue;
    step_s.push_back(rec.seconds);
    comm_s.push_back(rec.comm_seconds);
    hidden.push_back(rec.comm_seconds > 0 ? 1.0 - rec.comm_exposed_seconds / rec.comm_seconds : NAN);
    gemm_share.push_back(rec.gemm_seconds / rec.seconds);
  }

  RankOutcome out;
  out.iteration_seconds = step_s;
  const auto st = stats::summarize(step_s);
  const double tokens_per_step = static_cast<double>(cfg.micro_batch) * cfg.grad_accum * cfg.shape.seq_len * ctx.size;
  const double fpt = train::flops_per_token(cfg.shape);
  const double tps = tokens_per_step / st.median;
  const double tps_device = tps / ctx.size;
  auto& m = out.metrics;
  m["step_time"] = st.median;
  m["step_time_p99"] = st.p99;
  m["tokens_per_s"] = tps;
  m["tokens_per_s_per_device"] = tps_device;
  m["flops_per_token"] = fpt;
  m["tflops"] = fpt * tps_device / 1e12;
  std::string mfu_why;
  const auto mfu = train_mfu(fpt, tps_device, ctx.system, ctx.backend, &mfu_why);
  m["mfu"] = mfu ? *mfu : NAN;
  m["comm_time"] = ctx.size > 1 ? stats::median(comm_s) : 0.0;
  m["comm_hidden"] = ctx.size > 1 ? stats::median(hidden) : NAN;
  m["gemm_share"] = stats::median(gemm_share);
  m["loss_start"] = losses.front();
  m["loss_end"] = losses.back();
  m["grad_norm_start"] = grad_norm_start;
  m["params"] = static_cast<double>(training.params);
  m["buckets"] = buckets;

  Samples loss_curve{"loss", "nats", "run", "step", 1, losses.size(), losses};
  if (ctx.rank == 0) out.samples.push_back(std::move(loss_curve));

  // Every replica must hold the same parameters.
  const auto prints = ctx.group.allgather(training.fingerprint());
  const double fraction = param_real(ctx.params, "loss_fraction");
  if (std::any_of(losses.begin(), losses.end(), [](double l) { return !std::isfinite(l); })) {
    out.status = Status::incorrect;
    out.message = "the loss is not finite (training diverged)";
  } else if (std::any_of(prints.begin(), prints.end(), [&](std::uint64_t p) { return p != prints.front(); })) {
    out.status = Status::incorrect;
    out.message = fmt::format("parameters differ between ranks after training (fingerprint of this rank {:016x}, rank 0 {:016x})",
                              prints[static_cast<std::size_t>(ctx.rank)], prints.front());
  } else if (!(losses.back() < fraction * losses.front())) {
    out.status = Status::incorrect;
    out.message = fmt::format("the loss fell from {:.4g} to {:.4g} in {} steps, not below {} of its start ({:.4g})",
                              losses.front(), losses.back(), cfg.steps, fraction, fraction * losses.front());
  }
  if (ctx.rank == 0) {
    out.log = fmt::format(
        "# gpt {} layers C={} heads={} S={} V={}: {:.3g}M parameters, {:.4g} MFLOP/token; global batch {} x {} tokens "
        "({} ranks x {} x {} accumulation); {} data; loss {:.4g} -> {:.4g} in {} steps; MFU: {}\n",
        cfg.shape.layers, cfg.shape.channels, cfg.shape.heads, cfg.shape.seq_len, cfg.shape.vocab,
        static_cast<double>(training.params) / 1e6, fpt / 1e6, ctx.size * cfg.micro_batch * cfg.grad_accum,
        cfg.shape.seq_len, ctx.size, cfg.micro_batch, cfg.grad_accum, token_file.empty() ? "synthetic" : token_file,
        losses.front(), losses.back(), cfg.steps, mfu ? fmt::format("{:.3g}%", *mfu * 100) : mfu_why);
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "train";
  b.summary = "GPT-style transformer trained for real, data-parallel (forward, backward, AdamW): tokens/s, MFU, comm share; the loss must fall";
  std::vector<std::string> preset_names;
  for (const auto& p : train::presets()) preset_names.emplace_back(p.name);
  b.params = {
      {"preset", ParamType::text, std::string("tiny"), "model shape: tiny, mini (CPU), gpt2-124m, gpt2-350m (one GPU)", {}, {}, preset_names},
      {"layers", ParamType::integer, std::int64_t{0}, "transformer blocks (0: the preset's)", 0, 1000, {}},
      {"channels", ParamType::integer, std::int64_t{0}, "embedding width C (0: the preset's)", 0, 1e6, {}},
      {"heads", ParamType::integer, std::int64_t{0}, "attention heads, dividing C (0: the preset's)", 0, 1e4, {}},
      {"seq_len", ParamType::integer, std::int64_t{0}, "sequence length S (0: the preset's)", 0, 1e6, {}},
      {"vocab", ParamType::integer, std::int64_t{0}, "vocabulary V (0: the preset's)", 0, 1e7, {}},
      {"micro_batch", ParamType::integer, std::int64_t{4}, "sequences per rank per micro-step", 1, 1e6, {}},
      {"grad_accum", ParamType::integer, std::int64_t{1}, "micro-steps per optimizer step (gradient accumulation)", 1, 1e6, {}},
      {"lr", ParamType::real, 0.0, "peak learning rate (0: the preset's)", 0, 10, {}},
      {"lr_warmup", ParamType::integer, std::int64_t{0}, "optimizer steps of linear learning-rate warm-up", 0, 1e9, {}},
      {"lr_schedule", ParamType::text, std::string("cosine"), "after warm-up: cosine decay to lr x min_lr_fraction, or constant", {}, {}, {"cosine", "constant"}},
      {"min_lr_fraction", ParamType::real, 0.1, "cosine: the last step's learning rate / lr", 0, 1, {}},
      {"weight_decay", ParamType::real, 0.1, "AdamW decoupled weight decay", 0, 10, {}},
      {"token_file", ParamType::text, std::string(""), "llm.c .bin token file (uint16 tokens); empty: synthetic sequences from the seed", {}, {}, {}},
      {"loss_fraction", ParamType::real, 0.9, "the last step's loss must be below this fraction of the first's", 1e-6, 1, {}},
      {"bucket_bytes", ParamType::size, std::int64_t{25} << 20, "gradient all-reduce bucket size", 4, 1e12, {}},
  };
  b.rank_metrics = {
      {"step_time", "s", Better::lower, "median optimizer-step time over the timed steps"},
      {"step_time_p99", "s", Better::lower, "99th percentile optimizer-step time"},
      {"tokens_per_s", "tokens/s", Better::higher, "global batch tokens / median step time"},
      {"tokens_per_s_per_device", "tokens/s", Better::higher, "tokens_per_s / ranks"},
      {"flops_per_token", "FLOP", Better::none, "model FLOPs per trained token: 72 L C^2 + 12 L S C + 6 C V"},
      {"tflops", "TFLOP/s", Better::higher, "model FLOP/s per device: flops_per_token x tokens_per_s_per_device"},
      {"mfu", "", Better::higher, "model FLOPs utilisation: tflops / the system description's peak (NaN without one)"},
      {"comm_time", "s", Better::lower, "median seconds per step in gradient all-reduces"},
      {"comm_hidden", "", Better::higher, "share of comm_time overlapped with compute (cpu: 0, blocking MPI; cuda: NCCL all-reduces not past the end of the backward pass; NaN on one rank)"},
      {"gemm_share", "", Better::none, "median share of the step time spent in matrix products (cuda: CUDA events around each cuBLASLt call)"},
      {"loss_start", "nats", Better::none, "loss of the first step (before any update)"},
      {"loss_end", "nats", Better::lower, "loss of the last step"},
      {"grad_norm_start", "", Better::none, "L2 norm of the first step's gradient (of the global batch's mean loss)"},
      {"params", "", Better::none, "model parameters"},
      {"buckets", "", Better::none, "gradient all-reduces per step"},
  };
  b.headline = "tokens_per_s";
  b.smoke = {{"preset", std::string("tiny")}, {"layers", std::int64_t{1}}, {"micro_batch", std::int64_t{2}},
             {"loss_fraction", 1.0}};  // the smoke test runs 2 steps: the loss must merely fall
  b.applicable = [](const Params&, kernels::Backend backend) -> std::string {
    if (backend == kernels::Backend::cuda && !kernels::cuda_compiled())
      return "this build has no CUDA backend (configured without the CUDA toolkit)";
    return {};
  };
  b.check = [](const Params& p) -> std::string {
    if (auto why = train::check_shape(train_shape(p)); !why.empty()) return why;
    if (param_int(p, "lr_warmup") >= param_int(p, kWarmupParam) + param_int(p, kIterationsParam))
      return fmt::format("lr_warmup ({}) must be shorter than the run (warmup + iterations = {} steps)", param_int(p, "lr_warmup"),
                         param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    if (const auto& f = param_text(p, "token_file"); !f.empty() && !std::filesystem::is_regular_file(f))
      return fmt::format("token_file {} is not a file", f);
    return {};
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend backend, int ranks) {
    const auto c = config_of(p);
    const double rate = backend == kernels::Backend::cuda ? 2e14 : 1e10;  // FLOP/s, rough
    const double tokens = static_cast<double>(c.micro_batch) * c.grad_accum * c.shape.seq_len;
    return 0.2 + c.steps * (tokens * train::flops_per_token(c.shape) / rate + 1e-3 * std::log2(std::max(ranks, 2)));
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
