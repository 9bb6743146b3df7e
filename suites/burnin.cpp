// burnin: sustained GEMM for `duration` seconds on every rank at once (each on its own GPU with
// cuBLASLt, or its share of the CPU cores with OpenBLAS), throughput sampled every `interval`
// seconds, GPU telemetry read through NVML at the end of every interval.
//
// Measures, per rank (kernels/burnin.hpp has the loop and the definitions):
//   tflops             = 2 m n k x GEMMs / GEMM seconds over the whole sustained phase
//   tflops_first/last  = the same over the first/last window: a minute, or a third of the
//                        duration when that is shorter (`window` holds the length used)
//   last_over_first    = tflops_last / tflops_first (1: steady; 0.9: 10% slower at the end)
//   tflops_min_interval: the slowest interval
// and from NVML (NaN without it): mean/max power, max temperature, mean/min SM clock, mean
// memory clock, the union of clock event reasons (a bitmask: kernels/telemetry.hpp), the share
// of readings with a slowdown reason, the growth of the volatile ECC counters during the run,
// remapped rows (and whether a remap is pending) and retired pages at the end.
// Stored over time (samples, one row per rank, one column per point of at most
// `max_series_points`): interval_end, tflops, power, sm_clock, mem_clock, temperature,
// clock_event_reasons. The per-iteration times are the single GEMMs timed before the
// sustained phase (they size its batches).
// Checks: the sampled elements of C against the reference, and the silent-data-corruption vote:
// every rank multiplies the same inputs with the same algorithm (on GPUs the ranks choose the
// cuBLASLt candidate jointly: the fastest summed over ranks), the checksums of all of C are
// gathered and a rank whose checksum differs from the majority's is incorrect.
// Needs: m k + k n + m n elements of memory per rank; NVML (libnvidia-ml.so.1) for telemetry,
// which is simply absent without it. The step's `timeout` must exceed the duration.
// Runs alone:  benchmarks: [{benchmark: burnin, params: {duration: 600, timeout: 900}}]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>

#include "kernels/burnin.hpp"
#include "kernels/checksum.hpp"
#include "kernels/gemm.hpp"
#include "kernels/telemetry.hpp"
#include "suites/agree.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Parameters whose default depends on the backend.
kernels::DType dtype_of(const Params& p, kernels::Backend backend) {
  const std::string& text = param_text(p, "dtype");
  if (text == "auto") return backend == kernels::Backend::cuda ? kernels::DType::bf16 : kernels::DType::fp32;
  return *kernels::dtype_from_string(text);
}
std::int64_t size_of(const Params& p, std::string_view name, kernels::Backend backend) {
  const std::int64_t v = param_int(p, name);
  return v > 0 ? v : backend == kernels::Backend::cuda ? 8192 : 1024;
}

// The stored series of every rank, gathered to rank 0 as fixed-size records.
constexpr const char* kSeriesNames[] = {"interval_end", "tflops", "power", "sm_clock", "mem_clock", "temperature",
                                        "clock_event_reasons"};
constexpr const char* kSeriesUnits[] = {"s", "TFLOP/s", "W", "MHz", "MHz", "C", ""};
constexpr std::size_t kSeries = 7;

std::vector<Samples> gather_series(const RunContext& ctx, const kernels::BurninRun& run, double flops,
                                   std::size_t max_points, bool any_telemetry) {
  double longest[1] = {static_cast<double>(run.intervals.size())};
  ctx.group.allreduce_max(longest);
  const std::size_t bucket = kernels::burnin_series_bucket(static_cast<std::size_t>(longest[0]), max_points);
  const std::size_t points = (static_cast<std::size_t>(longest[0]) + bucket - 1) / bucket;
  const kernels::BurninSeries s = kernels::burnin_series(run, flops, bucket);
  const std::vector<double>* columns[kSeries] = {&s.end_seconds,   &s.tflops,        &s.power_w, &s.sm_clock_mhz,
                                                 &s.mem_clock_mhz, &s.temperature_c, &s.reasons};
  std::vector<double> record(kSeries * points, kNaN);
  for (std::size_t c = 0; c < kSeries; ++c)
    std::copy_n(columns[c]->begin(), std::min(points, columns[c]->size()), record.begin() + static_cast<std::ptrdiff_t>(c * points));
  const auto all = ctx.group.gather(std::as_bytes(std::span(record)), 0);
  if (ctx.rank != 0) return {};
  const std::size_t ranks = all.size() / (record.size() * sizeof(double));
  std::vector<Samples> samples;
  for (std::size_t c = 0; c < kSeries; ++c) {
    if (c >= 2 && !any_telemetry) break;  // telemetry series only where some rank had NVML
    Samples out{kSeriesNames[c], kSeriesUnits[c], "rank", "interval", ranks, points, {}};
    out.values.resize(ranks * points);
    for (std::size_t r = 0; r < ranks; ++r)
      std::memcpy(out.values.data() + r * points, all.data() + (r * record.size() + c * points) * sizeof(double),
                  points * sizeof(double));
    samples.push_back(std::move(out));
  }
  return samples;
}

kernels::GpuTelemetry open_telemetry(const RunContext& ctx) {
  if (ctx.backend != kernels::Backend::cuda) return kernels::GpuTelemetry::absent("no GPU telemetry on the cpu backend");
  return kernels::GpuTelemetry::open(kernels::describe_device(ctx.backend, ctx.device).uuid);
}

RankOutcome run(const RunContext& ctx) {
  kernels::GemmConfig gemm;
  gemm.m = size_of(ctx.params, "m", ctx.backend);
  gemm.n = size_of(ctx.params, "n", ctx.backend);
  gemm.k = size_of(ctx.params, "k", ctx.backend);
  gemm.dtype = dtype_of(ctx.params, ctx.backend);
  gemm.seed = ctx.seed;  // the same inputs on every rank: the outputs' bits must agree
  gemm.inject_fault = param_int(ctx.params, "inject_fault_rank") == ctx.rank;
  gemm.samples = static_cast<int>(param_int(ctx.params, "check_samples"));
  gemm.device = ctx.device;
  gemm.cpu_threads = ctx.cpu_threads;
  const double flops = 2.0 * static_cast<double>(gemm.m) * static_cast<double>(gemm.n) * static_cast<double>(gemm.k);

  const auto session = kernels::open_gemm_session(ctx.backend, gemm);
  agree_on_algorithm(ctx.group, *session);

  kernels::GpuTelemetry telemetry = open_telemetry(ctx);
  kernels::BurninConfig cfg;
  cfg.duration_seconds = param_real(ctx.params, "duration");
  cfg.interval_seconds = param_real(ctx.params, "interval");
  cfg.calibration = ctx.timing;
  if (telemetry.available())
    cfg.telemetry = [&telemetry](double at) -> std::optional<kernels::TelemetrySample> { return telemetry.read(at); };
  const kernels::BurninRun r = kernels::run_burnin(*session, cfg);

  const auto checksums = ctx.group.allgather(r.check.checksum);
  const auto vote = kernels::majority_of(checksums);
  const bool dissent = std::find(vote.dissenters.begin(), vote.dissenters.end(), ctx.rank) != vote.dissenters.end();
  double with_telemetry[1] = {telemetry.available() ? 1.0 : 0.0};
  ctx.group.allreduce_sum(with_telemetry);

  const double window = kernels::burnin_window_seconds(cfg.duration_seconds);
  const auto t = kernels::burnin_throughput(r.intervals, flops, window);
  const auto tel = kernels::summarize_telemetry(r.telemetry);
  std::int64_t gemms = 0;
  for (const auto& i : r.intervals) gemms += i.gemms;

  RankOutcome out;
  out.iteration_seconds = r.calibration_seconds;
  auto& m = out.metrics;
  m["tflops"] = t.mean_tflops;
  m["tflops_first"] = t.first_tflops;
  m["tflops_last"] = t.last_tflops;
  m["last_over_first"] = t.last_over_first;
  m["tflops_min_interval"] = t.min_interval_tflops;
  m["window"] = window;
  m["intervals"] = static_cast<double>(r.intervals.size());
  m["gemms"] = static_cast<double>(gemms);
  m["checked"] = static_cast<double>(r.check.checked);
  m["wrong"] = static_cast<double>(r.check.wrong);
  m["error_ratio"] = r.check.worst_error_ratio;
  m["sdc_mismatch"] = dissent ? 1.0 : 0.0;
  m["power_mean"] = tel.power_mean_w;
  m["power_max"] = tel.power_max_w;
  m["temperature_max"] = tel.temperature_max_c;
  m["sm_clock_mean"] = tel.sm_clock_mean_mhz;
  m["sm_clock_min"] = tel.sm_clock_min_mhz;
  m["mem_clock_mean"] = tel.mem_clock_mean_mhz;
  m["clock_event_reasons"] = tel.reasons_seen ? static_cast<double>(*tel.reasons_seen) : kNaN;
  m["slowdown_fraction"] = tel.slowdown_fraction;
  m["ecc_corrected"] = tel.ecc_corrected_delta;
  m["ecc_uncorrected"] = tel.ecc_uncorrected_delta;
  m["remapped_rows"] = tel.remapped_rows;
  m["remap_pending"] = tel.remap_pending;
  m["retired_pages"] = tel.retired_pages;

  if (r.check.wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} checked elements wrong after {:.0f} s of load; first: {}", r.check.wrong,
                              r.check.checked, r.elapsed_seconds, r.check.first_wrong);
  } else if (dissent) {
    out.status = Status::incorrect;
    out.message = vote.clear
                      ? fmt::format("output checksum {:016x} differs from {:016x}, computed by the other {} of {} "
                                    "ranks from the same inputs after {:.0f} s of load: silent data corruption",
                                    r.check.checksum, vote.majority, checksums.size() - vote.dissenters.size(),
                                    checksums.size(), r.elapsed_seconds)
                      : fmt::format("output checksums disagree and no majority of the {} ranks agrees on one "
                                    "(this rank: {:016x}): silent data corruption on at least one of them",
                                    checksums.size(), r.check.checksum);
  } else if (tel.reasons_seen && (*tel.reasons_seen & kernels::kSlowdownReasons)) {
    // Not a wrong answer: the contract judges slowdowns (last_over_first, slowdown_fraction).
    out.message = fmt::format("clocks slowed down in {:.0f}% of the readings; reasons seen: {}",
                              100 * tel.slowdown_fraction, kernels::describe_clock_event_reasons(*tel.reasons_seen));
  }

  out.samples = gather_series(ctx, r, flops, static_cast<std::size_t>(param_int(ctx.params, "max_series_points")),
                              with_telemetry[0] > 0);
  if (ctx.rank == 0) {
    std::string log = fmt::format(
        "{} {}x{}x{}, {}; batches of {} GEMM(s), {} interval(s) in {:.1f} s, first/last window {:.3g} s\n",
        kernels::to_string(gemm.dtype), gemm.m, gemm.n, gemm.k, session->algorithm(), r.batch_gemms,
        r.intervals.size(), r.elapsed_seconds, window);
    if (telemetry.available()) {
      log += fmt::format("telemetry: NVML (driver {}) on {:.0f} of {} rank(s)\n",
                         telemetry.driver_version().empty() ? "?" : telemetry.driver_version(), with_telemetry[0],
                         ctx.size);
      for (const auto& note : telemetry.notes()) log += fmt::format("telemetry: rank 0 could not read {}\n", note);
    } else {
      log += fmt::format("telemetry: absent ({}){}\n", telemetry.why_absent(),
                         with_telemetry[0] > 0 ? fmt::format("; present on {:.0f} other rank(s)", with_telemetry[0]) : "");
    }
    log += fmt::format("rank 0: {:.4g} TFLOP/s mean, {:.4g} first window, {:.4g} last window (x{:.3f})", t.mean_tflops,
                       t.first_tflops, t.last_tflops, t.last_over_first);
    out.log = std::move(log);
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "burnin";
  b.summary = "sustained GEMM for a duration on every rank at once: TFLOP/s over time (first/last window), "
              "NVML telemetry, silent-data-corruption vote";
  b.params = {
      {"duration", ParamType::real, 60.0, "seconds of sustained load, after calibration", 0.1, 1e6, {}},
      {"interval", ParamType::real, 1.0, "seconds per throughput and telemetry sample", 0.01, 3600, {}},
      {"m", ParamType::integer, std::int64_t{0}, "rows of A and C (0: 8192 on cuda, 1024 on cpu)", 0, 1 << 20, {}},
      {"n", ParamType::integer, std::int64_t{0}, "columns of B and C (0: 8192 on cuda, 1024 on cpu)", 0, 1 << 20, {}},
      {"k", ParamType::integer, std::int64_t{0}, "inner dimension (0: 8192 on cuda, 1024 on cpu)", 0, 1 << 20, {}},
      {"dtype", ParamType::text, std::string("auto"), "element type (auto: bf16 on cuda, fp32 on cpu)",
       std::nullopt, std::nullopt, {"auto", "fp64", "fp32", "tf32", "bf16", "fp16"}},
      {"check_samples", ParamType::integer, std::int64_t{256},
       "elements of C checked against the double-precision reference at the end", 1, 1e6, {}},
      {"max_series_points", ParamType::integer, std::int64_t{600},
       "at most this many points per rank in the stored series (intervals are merged beyond)", 10, 1e6, {}},
      {"inject_fault_rank", ParamType::integer, std::int64_t{-1},
       "fault injection: this rank flips one bit of its output, to prove the checks catch it (-1: none)", -1, 1e7, {}},
  };
  b.param_units = {{"duration", "s"}, {"interval", "s"}, {"m", "elements"}, {"n", "elements"}, {"k", "elements"}};
  b.rank_metrics = {
      {"tflops", "TFLOP/s", Better::higher, "2mnk x GEMMs / GEMM seconds over the sustained phase"},
      {"tflops_first", "TFLOP/s", Better::higher, "over the first window (see window)"},
      {"tflops_last", "TFLOP/s", Better::higher, "over the last window (see window)"},
      {"last_over_first", "", Better::higher, "tflops_last / tflops_first: below 1 when the rank slowed down"},
      {"tflops_min_interval", "TFLOP/s", Better::higher, "the slowest interval"},
      {"window", "s", Better::none, "first/last window length: min(60 s, duration / 3)"},
      {"intervals", "", Better::none, "intervals measured"},
      {"gemms", "", Better::none, "GEMMs in the sustained phase"},
      {"checked", "", Better::none, "elements of C checked"},
      {"wrong", "", Better::lower, "elements of C outside the tolerance"},
      {"error_ratio", "", Better::lower, "worst |error| / tolerance over checked elements"},
      {"sdc_mismatch", "", Better::lower, "1 when this rank's output bits differ from the majority's (same inputs)"},
      {"power_mean", "W", Better::none, "mean board power (NVML)"},
      {"power_max", "W", Better::none, "highest board power (NVML)"},
      {"temperature_max", "C", Better::lower, "highest GPU temperature (NVML)"},
      {"sm_clock_mean", "MHz", Better::higher, "mean SM clock (NVML)"},
      {"sm_clock_min", "MHz", Better::higher, "lowest SM clock (NVML)"},
      {"mem_clock_mean", "MHz", Better::higher, "mean memory clock (NVML)"},
      {"clock_event_reasons", "", Better::none, "union of the clock event (throttle) reason bits seen (NVML)"},
      {"slowdown_fraction", "", Better::lower,
       "share of readings with hw_slowdown, sw/hw_thermal_slowdown or hw_power_brake_slowdown (NVML)"},
      {"ecc_corrected", "", Better::lower, "corrected ECC errors during the run (volatile counter, NVML)"},
      {"ecc_uncorrected", "", Better::lower, "uncorrected ECC errors during the run (volatile counter, NVML)"},
      {"remapped_rows", "", Better::lower, "rows remapped (corrected + uncorrected) at the end (NVML, Ampere+)"},
      {"remap_pending", "", Better::lower, "1 when a row remap is pending or has failed (NVML, Ampere+)"},
      {"retired_pages", "", Better::lower, "retired pages at the end (NVML, before Ampere)"},
  };
  b.headline = "tflops";
  b.smoke = {{"duration", 1.0}, {"interval", 0.25}, {"m", std::int64_t{96}}, {"n", std::int64_t{80}},
             {"k", std::int64_t{64}}, {"check_samples", std::int64_t{32}}};
  b.check = [](const Params& p) -> std::string {
    const double duration = param_real(p, "duration"), interval = param_real(p, "interval");
    const double timeout = param_real(p, kTimeoutParam);
    if (interval > duration)
      return fmt::format("interval ({:g} s) is longer than duration ({:g} s)", interval, duration);
    const double needed = duration + std::max(30.0, 0.1 * duration);
    if (timeout < needed)
      return fmt::format("timeout ({:g} s) must leave room for the duration ({:g} s) and the set-up: at least {:g} s",
                         timeout, duration, needed);
    return {};
  };
  b.applicable = [](const Params& p, kernels::Backend backend) {
    std::string reason;
    return kernels::gemm_supported(backend, dtype_of(p, backend), &reason) ? std::string() : reason;
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) { return param_real(p, "duration") + 5.0; };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
