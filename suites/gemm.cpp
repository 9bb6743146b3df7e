// gemm: dense matrix multiply C = A * B (m x k times k x n), one GEMM per rank, all ranks at
// once, each on its own GPU (cuda backend: cuBLASLt) or its share of the CPU cores (cpu
// backend: OpenBLAS).
//
// Measures, per rank: TFLOP/s = 2 m n k / t, with t the median of the timed iterations
// (per-iteration times are stored as samples), plus p99 time and the coefficient of variation.
// Checks: `check_samples` elements of C against a double-precision reference (see
// kernels/gemm.hpp for the tolerance); one wrong element makes the rank, and the step, incorrect.
// Silent data corruption: every rank multiplies the same inputs, the checksums of all of C
// are gathered, and a rank whose checksum differs from the majority's is incorrect
// (sdc_mismatch = 1), even when its error is inside the tolerance.
// Runs alone:  gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: gemm, params: {m: 4096, n: 4096, k: 4096, dtype: bf16}}]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checksum.hpp"
#include "kernels/gemm.hpp"
#include "results/stats.hpp"
#include "suites/agree.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

double flops(const Params& p) {
  return 2.0 * static_cast<double>(param_int(p, "m")) * static_cast<double>(param_int(p, "n")) *
         static_cast<double>(param_int(p, "k"));
}

kernels::DType dtype_of(const Params& p) { return *kernels::dtype_from_string(param_text(p, "dtype")); }

RankOutcome run(const RunContext& ctx) {
  kernels::GemmConfig cfg;
  cfg.m = param_int(ctx.params, "m");
  cfg.n = param_int(ctx.params, "n");
  cfg.k = param_int(ctx.params, "k");
  cfg.dtype = dtype_of(ctx.params);
  cfg.timing = ctx.timing;
  // The same inputs on every rank: the outputs' bits must then agree (silent-data-corruption
  // check below), and the reference is the same for all.
  cfg.seed = ctx.seed;
  cfg.inject_fault = param_int(ctx.params, "inject_fault_rank") == ctx.rank;
  cfg.samples = static_cast<int>(param_int(ctx.params, "check_samples"));
  cfg.device = ctx.device;
  cfg.cpu_threads = ctx.cpu_threads;

  const auto session = kernels::open_gemm_session(ctx.backend, cfg);
  agree_on_algorithm(ctx.group, *session);  // same algorithm, so the same bits, everywhere
  kernels::GemmRun r;
  r.algorithm = session->algorithm();
  r.workspace_bytes = session->workspace_bytes();
  r.iteration_seconds = session->time_iterations(cfg.timing);
  session->verify(r);
  const auto checksums = ctx.group.allgather(r.checksum);
  const auto vote = kernels::majority_of(checksums);
  const bool dissent = std::find(vote.dissenters.begin(), vote.dissenters.end(), ctx.rank) != vote.dissenters.end();
  const auto s = stats::summarize(r.iteration_seconds);
  RankOutcome out;
  out.iteration_seconds = r.iteration_seconds;
  out.metrics["tflops"] = s.median > 0 ? flops(ctx.params) / s.median / 1e12 : NAN;
  out.metrics["time_median"] = s.median;
  out.metrics["time_p99"] = s.p99;
  out.metrics["time_cv"] = s.cv;
  out.metrics["checked"] = static_cast<double>(r.checked);
  out.metrics["wrong"] = static_cast<double>(r.wrong);
  out.metrics["error_ratio"] = r.worst_error_ratio;
  out.metrics["sdc_mismatch"] = dissent ? 1.0 : 0.0;
  if (r.wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} checked elements wrong; first: {}", r.wrong, r.checked, r.first_wrong);
  } else if (dissent) {
    out.status = Status::incorrect;
    out.message = vote.clear
                      ? fmt::format("output checksum {:016x} differs from {:016x}, computed by the other {} of {} "
                                    "ranks from the same inputs: silent data corruption",
                                    r.checksum, vote.majority, checksums.size() - vote.dissenters.size(),
                                    checksums.size())
                      : fmt::format("output checksums disagree and no majority of the {} ranks agrees on one "
                                    "(this rank: {:016x}): silent data corruption on at least one of them",
                                    checksums.size(), r.checksum);
  }
  if (ctx.rank == 0) out.log = fmt::format("algorithm: {}", r.algorithm);
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "gemm";
  b.summary = "dense GEMM C = A*B per rank (OpenBLAS on CPU, cuBLASLt on GPU), checked against a reference";
  b.params = {
      {"m", ParamType::integer, std::int64_t{1024}, "rows of A and C", 1, 1 << 20, {}},
      {"n", ParamType::integer, std::int64_t{1024}, "columns of B and C", 1, 1 << 20, {}},
      {"k", ParamType::integer, std::int64_t{1024}, "inner dimension", 1, 1 << 20, {}},
      {"dtype", ParamType::text, std::string("fp32"), "element type",
       std::nullopt, std::nullopt, {"fp64", "fp32", "tf32", "bf16", "fp16"}},
      {"check_samples", ParamType::integer, std::int64_t{256},
       "elements of C checked against the double-precision reference", 1, 1e6, {}},
      {"inject_fault_rank", ParamType::integer, std::int64_t{-1},
       "fault injection: this rank flips one bit of its output, to prove the checks catch it (-1: none)", -1, 1e7, {}},
  };
  b.rank_metrics = {
      {"tflops", "TFLOP/s", Better::higher, "2mnk / median iteration time"},
      {"time_median", "s", Better::lower, "median iteration time"},
      {"time_p99", "s", Better::lower, "99th percentile iteration time"},
      {"time_cv", "", Better::lower, "coefficient of variation of iteration times"},
      {"checked", "", Better::none, "elements of C checked"},
      {"wrong", "", Better::lower, "elements of C outside the tolerance"},
      {"error_ratio", "", Better::lower, "worst |error| / tolerance over checked elements"},
      {"sdc_mismatch", "", Better::lower, "1 when this rank's output bits differ from the majority's (same inputs)"},
  };
  b.applicable = [](const Params& p, kernels::Backend backend) {
    std::string reason;
    return kernels::gemm_supported(backend, dtype_of(p), &reason) ? std::string() : reason;
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend backend, int) {
    const double rate = backend == kernels::Backend::cuda ? 50e12 : 10e9;  // FLOP/s, rough
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    const double reference = static_cast<double>(param_int(p, "check_samples") * param_int(p, "k")) * 2e-9;
    return 0.05 + runs * flops(p) / rate + reference;
  };
  b.headline = "tflops";
  b.smoke = {{"m", std::int64_t{48}}, {"n", std::int64_t{40}}, {"k", std::int64_t{32}}, {"check_samples", std::int64_t{64}}};
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
