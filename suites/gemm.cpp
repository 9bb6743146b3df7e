// gemm: dense matrix multiply C = op(A) * op(B) (m x k times k x n, op: as stored or
// transposed), `batch` of them per call (strided batched), one call per rank, all ranks at
// once, each on its own GPU (cuda backend: cuBLASLt) or its share of the CPU cores (cpu
// backend: OpenBLAS).
//
// Measures, per rank: TFLOP/s = 2 m n k batch / t, with t the median of the timed iterations
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
#include "kernels/gemm_shapes.hpp"
#include "results/stats.hpp"
#include "suites/agree.hpp"
#include "suites/peak.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

kernels::DType dtype_of(const Params& p) { return *kernels::dtype_from_string(param_text(p, "dtype")); }

// The named shape, or nullptr for "custom" (m, n, k as given).
const kernels::GemmShape* shape_of(const Params& p) { return kernels::find_gemm_shape(param_text(p, "shape")); }

// ta/tb "auto": the named shape's layout if there is one, else the layout the library's fast
// path wants: "TN" for fp8 and int8, "NN" otherwise.
kernels::Transpose transpose_of(const Params& p, std::string_view name, bool is_a) {
  const std::string& text = param_text(p, name);
  if (text == "n") return kernels::Transpose::n;
  if (text == "t") return kernels::Transpose::t;
  if (const kernels::GemmShape* shape = shape_of(p)) return is_a ? shape->ta : shape->tb;
  const kernels::DType dtype = dtype_of(p);
  const bool tn = dtype == kernels::DType::fp8 || dtype == kernels::DType::int8;
  return tn && is_a ? kernels::Transpose::t : kernels::Transpose::n;
}

// Everything of the configuration that the parameters decide.
kernels::GemmConfig config_of(const Params& p) {
  kernels::GemmConfig cfg;
  if (const kernels::GemmShape* shape = shape_of(p)) {
    cfg.m = shape->m;
    cfg.n = shape->n;
    cfg.k = shape->k;
  } else {
    cfg.m = param_int(p, "m");
    cfg.n = param_int(p, "n");
    cfg.k = param_int(p, "k");
  }
  cfg.batch = param_int(p, "batch");
  cfg.dtype = dtype_of(p);
  cfg.ta = transpose_of(p, "ta", true);
  cfg.tb = transpose_of(p, "tb", false);
  cfg.fp8_output = *kernels::dtype_from_string(param_text(p, "fp8_out"));
  cfg.samples = static_cast<int>(param_int(p, "check_samples"));
  return cfg;
}

double flops(const Params& p) { return kernels::gemm_flops(config_of(p)); }

RankOutcome run(const RunContext& ctx) {
  kernels::GemmConfig cfg = config_of(ctx.params);
  cfg.timing = ctx.timing;
  // The same inputs on every rank: the outputs' bits must then agree (silent-data-corruption
  // check below), and the reference is the same for all.
  cfg.seed = ctx.seed;
  cfg.inject_fault = param_int(ctx.params, "inject_fault_rank") == ctx.rank;
  cfg.device = ctx.device;
  cfg.cpu_threads = ctx.cpu_threads;

  // Not applicable on this device (fp8 below compute capability 8.9): skipped, not failed.
  if (const std::string why = kernels::gemm_unavailable_on_device(ctx.backend, cfg); !why.empty()) {
    RankOutcome skipped;
    skipped.status = Status::skipped;
    skipped.message = why;
    return skipped;
  }
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
  const double tflops = s.median > 0 ? kernels::gemm_flops(cfg) / s.median / 1e12 : NAN;
  out.metrics["tflops"] = tflops;
  out.metrics["ratio_to_peak"] =
      ratio_to_gpu_peak(ctx.system, ctx.backend, std::string(kernels::to_string(cfg.dtype)), tflops).value_or(NAN);
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
  out.metrics["workspace_bytes"] = static_cast<double>(r.workspace_bytes);
  if (ctx.rank == 0)
    out.log = fmt::format("{} m={} n={} k={} ta={} tb={} batch={}: {} (workspace {} B)", kernels::to_string(cfg.dtype),
                          cfg.m, cfg.n, cfg.k, kernels::to_string(cfg.ta), kernels::to_string(cfg.tb), cfg.batch,
                          r.algorithm, r.workspace_bytes);
  return out;
}

std::vector<std::string> shape_choices() {
  std::vector<std::string> names{"custom"};
  for (const auto& shape : kernels::gemm_named_shapes()) names.push_back(shape.name);
  return names;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "gemm";
  b.summary = "dense GEMM C = op(A) op(B), batched, per rank (OpenBLAS on CPU, cuBLASLt on GPU), checked against a "
              "reference";
  b.params = {
      {"m", ParamType::integer, std::int64_t{1024}, "rows of op(A) and C", 1, 1 << 20, {}},
      {"n", ParamType::integer, std::int64_t{1024}, "columns of op(B) and C", 1, 1 << 20, {}},
      {"k", ParamType::integer, std::int64_t{1024}, "inner dimension", 1, 1 << 20, {}},
      {"shape", ParamType::text, std::string("custom"),
       "named shape: overrides m, n, k and the auto layout (docs/kernels.md); custom: m, n, k as given",
       std::nullopt, std::nullopt, shape_choices(),
       {{"square", kernels::gemm_shape_set("square")}, {"llama70b", kernels::gemm_shape_set("llama70b")}}},
      {"batch", ParamType::integer, std::int64_t{1}, "GEMMs per call (strided batched)", 1, 1 << 16, {}},
      {"dtype", ParamType::text, std::string("fp32"),
       "element type (fp8: E4M3 inputs with per-tensor scales; int8: int32 accumulation and output)",
       std::nullopt, std::nullopt, {"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"}},
      {"ta", ParamType::text, std::string("auto"),
       "A as stored (n) or transposed (t); auto: t for fp8 and int8 (cuBLASLt's TN layout), n otherwise",
       std::nullopt, std::nullopt, {"auto", "n", "t"}},
      {"tb", ParamType::text, std::string("auto"), "B as stored (n) or transposed (t); auto: n",
       std::nullopt, std::nullopt, {"auto", "n", "t"}},
      {"fp8_out", ParamType::text, std::string("bf16"), "element type of C for fp8 GEMMs",
       std::nullopt, std::nullopt, {"bf16", "fp16"}},
      {"check_samples", ParamType::integer, std::int64_t{256},
       "elements of C checked against the double-precision reference", 1, 1e6, {}},
      {"inject_fault_rank", ParamType::integer, std::int64_t{-1},
       "fault injection: this rank flips one bit of its output, to prove the checks catch it (-1: none)", -1, 1e7, {}},
  };
  b.param_units = {{"m", "elements"}, {"n", "elements"}, {"k", "elements"}, {"batch", "GEMMs"},
                   {"check_samples", "elements"}};
  b.rank_metrics = {
      {"tflops", "TFLOP/s", Better::higher, "2 m n k batch / median iteration time (int8: TOP/s)"},
      {"time_median", "s", Better::lower, "median iteration time"},
      {"time_p99", "s", Better::lower, "99th percentile iteration time"},
      {"time_cv", "", Better::lower, "coefficient of variation of iteration times"},
      {"checked", "", Better::none, "elements of C checked"},
      {"wrong", "", Better::lower, "elements of C outside the tolerance"},
      {"error_ratio", "", Better::lower, "worst |error| / tolerance over checked elements"},
      {"sdc_mismatch", "", Better::lower, "1 when this rank's output bits differ from the majority's (same inputs)"},
      {"ratio_to_peak", "", Better::higher,
       "tflops / the GPU's peak for this dtype from the campaign's system description (NaN without one)"},
      {"workspace_bytes", "B", Better::none, "cuBLASLt workspace of the algorithm that ran (0 on OpenBLAS)"},
  };
  b.applicable = [](const Params& p, kernels::Backend backend) {
    std::string reason;
    return kernels::gemm_supported(backend, dtype_of(p), &reason) ? std::string() : reason;
  };
  b.check = [](const Params& p) { return kernels::gemm_layout_problem(config_of(p)); };
  b.estimate_seconds = [](const Params& p, kernels::Backend backend, int) {
    const double rate = backend == kernels::Backend::cuda ? 50e12 : 10e9;  // FLOP/s, rough
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    const double reference = static_cast<double>(param_int(p, "check_samples") * config_of(p).k) * 4e-9;
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
