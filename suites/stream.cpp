// stream: sustained memory bandwidth per rank with STREAM's copy, scale, add and triad
// (kernels/stream.hpp): per GPU on the cuda backend, per rank with OpenMP threads on the cpu
// backend (launch one rank per socket, e.g. `mpirun --map-by socket`, for per-socket figures).
//
// Measures: GB/s = bytes moved / best iteration time per kernel (STREAM's "Best Rate"), the
// median-based rate, and the per-iteration times (samples). Checks: every element of the three
// arrays against STREAM's closed-form expected values; one wrong element makes the rank
// incorrect. Needs: 3 x `bytes` of memory per rank (host or GPU).
// Runs alone: benchmarks: [{benchmark: stream, params: {bytes: 1G}}]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/stream.hpp"
#include "results/stats.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

constexpr int kMaxPasses = 250;  // the values grow 15-fold per pass: beyond this they overflow

std::int64_t elements_of(const Params& p) { return param_int(p, "bytes") / static_cast<std::int64_t>(sizeof(double)); }

RankOutcome run(const RunContext& ctx) {
  kernels::StreamConfig cfg;
  cfg.elements = elements_of(ctx.params);
  cfg.timing = ctx.timing;
  cfg.threads = ctx.cpu_threads;
  cfg.device = ctx.device;
  const kernels::StreamRun r = kernels::run_stream(ctx.backend, cfg);

  RankOutcome out;
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& t = r.seconds[k];
    const double bytes = kernels::stream_bytes(static_cast<kernels::StreamKernel>(k), cfg.elements);
    const std::string name = kernels::kStreamKernelNames[k];
    out.metrics[name + "_gbps"] = t.empty() ? NAN : bytes / stats::min(t) / 1e9;
    out.metrics[name + "_gbps_median"] = t.empty() ? NAN : bytes / stats::median(t) / 1e9;
  }
  // Per-iteration times of the triad: the kernel that contracts and benchmarks quote.
  out.iteration_seconds = r.seconds[static_cast<std::size_t>(kernels::StreamKernel::triad)];
  Samples all{"kernel_time", "s", "kernel", "iteration", 4, r.seconds[0].size(), {}};
  for (const auto& t : r.seconds) all.values.insert(all.values.end(), t.begin(), t.end());
  if (ctx.rank == 0) out.samples.push_back(std::move(all));
  out.metrics["wrong"] = static_cast<double>(r.wrong);
  if (r.wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} array elements wrong; first: {}", r.wrong, r.checked, r.first_wrong);
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "stream";
  b.summary = "memory bandwidth per rank: STREAM copy, scale, add, triad (OpenMP on CPU, CUDA kernels on GPU), every element checked";
  b.params = {
      {"bytes", ParamType::size, std::int64_t{256} << 20, "size of each of the three arrays (make it far larger than the last-level cache)", 4096, 1e13, {}},
  };
  for (const char* k : kernels::kStreamKernelNames) {
    b.rank_metrics.push_back({fmt::format("{}_gbps", k), "GB/s", Better::higher, fmt::format("{}: bytes / best iteration time", k)});
    b.rank_metrics.push_back({fmt::format("{}_gbps_median", k), "GB/s", Better::higher, fmt::format("{}: bytes / median iteration time", k)});
  }
  b.rank_metrics.push_back({"wrong", "", Better::lower, "array elements that differ from STREAM's expected values"});
  b.headline = "triad_gbps";
  b.smoke = {{"bytes", std::int64_t{1} << 20}};
  b.check = [](const Params& p) -> std::string {
    const auto passes = param_int(p, kWarmupParam) + param_int(p, kIterationsParam);
    if (passes > kMaxPasses)
      return fmt::format("warmup + iterations is {}, at most {} (STREAM's values grow 15-fold per pass)", passes, kMaxPasses);
    return {};
  };
  b.applicable = [](const Params&, kernels::Backend backend) {
    std::string reason;
    return kernels::stream_supported(backend, &reason) ? std::string() : reason;
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend backend, int) {
    const double rate = backend == kernels::Backend::cuda ? 2e12 : 5e9;  // bytes/s, rough
    const double passes = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 0.05 + passes * 10.0 * static_cast<double>(param_int(p, "bytes")) / rate;
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
