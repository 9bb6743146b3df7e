#include "kernels/burnin.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace gpuaccept::kernels {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kBatchesPerInterval = 10;
constexpr int kMaxBatchGemms = 1 << 20;
constexpr std::size_t kBatchesInFlight = 2;

double median_of(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// TFLOP/s of a set of intervals: a ratio of sums.
template <typename Pick>
double tflops_of(const std::vector<BurninInterval>& intervals, double flops_per_gemm, Pick pick) {
  double gemms = 0, seconds = 0;
  for (const auto& i : intervals) {
    if (!pick(i)) continue;
    gemms += static_cast<double>(i.gemms);
    seconds += i.gemm_seconds;
  }
  return seconds > 0 ? gemms * flops_per_gemm / seconds / 1e12 : kNaN;
}

}  // namespace

int burnin_batch_gemms(double single_gemm_seconds, double interval_seconds) {
  if (!(single_gemm_seconds > 0)) return 1;
  const double wanted = interval_seconds / kBatchesPerInterval / single_gemm_seconds;
  if (!(wanted >= 1)) return 1;
  return static_cast<int>(std::min<double>(std::floor(wanted), kMaxBatchGemms));
}

double burnin_window_seconds(double duration_seconds) { return std::min(60.0, duration_seconds / 3.0); }

double interval_tflops(const BurninInterval& interval, double flops_per_gemm) {
  return interval.gemm_seconds > 0
             ? static_cast<double>(interval.gemms) * flops_per_gemm / interval.gemm_seconds / 1e12
             : kNaN;
}

BurninThroughput burnin_throughput(const std::vector<BurninInterval>& intervals, double flops_per_gemm,
                                   double window_seconds) {
  BurninThroughput t{kNaN, kNaN, kNaN, kNaN, kNaN, 0, 0};
  if (intervals.empty()) return t;
  const double first_end = intervals.front().start + window_seconds;
  const double last_start = intervals.back().end - window_seconds;
  const auto in_first = [&](const BurninInterval& i) {
    return &i == &intervals.front() || i.end <= first_end;
  };
  const auto in_last = [&](const BurninInterval& i) {
    return &i == &intervals.back() || i.start >= last_start;
  };
  t.mean_tflops = tflops_of(intervals, flops_per_gemm, [](const BurninInterval&) { return true; });
  t.first_tflops = tflops_of(intervals, flops_per_gemm, in_first);
  t.last_tflops = tflops_of(intervals, flops_per_gemm, in_last);
  t.last_over_first = t.last_tflops / t.first_tflops;
  for (const auto& i : intervals) {
    t.first_intervals += in_first(i) ? 1 : 0;
    t.last_intervals += in_last(i) ? 1 : 0;
    const double rate = interval_tflops(i, flops_per_gemm);
    if (!std::isnan(rate) && !(rate >= t.min_interval_tflops)) t.min_interval_tflops = rate;
  }
  return t;
}

std::size_t burnin_series_bucket(std::size_t intervals, std::size_t max_points) {
  if (max_points == 0 || intervals <= max_points) return 1;
  return (intervals + max_points - 1) / max_points;
}

BurninSeries burnin_series(const BurninRun& run, double flops_per_gemm, std::size_t bucket) {
  BurninSeries s;
  bucket = std::max<std::size_t>(bucket, 1);
  const auto& iv = run.intervals;
  // Readings line up with intervals only when there is one per interval end (plus the first).
  const bool readings = run.telemetry.size() == iv.size() + 1;
  for (std::size_t from = 0; from < iv.size(); from += bucket) {
    const std::size_t to = std::min(iv.size(), from + bucket);
    BurninInterval merged{iv[from].start, iv[to - 1].end, 0, 0};
    double power = 0, sm = 0, mem = 0, temperature = 0;
    std::size_t n_power = 0, n_sm = 0, n_mem = 0, n_temperature = 0;
    std::optional<std::uint64_t> reasons;
    for (std::size_t i = from; i < to; ++i) {
      merged.gemms += iv[i].gemms;
      merged.gemm_seconds += iv[i].gemm_seconds;
      if (!readings) continue;
      const TelemetrySample& t = run.telemetry[i + 1];
      const auto add = [](double v, double& sum, std::size_t& n) {
        if (!std::isnan(v)) {
          sum += v;
          ++n;
        }
      };
      add(t.power_w, power, n_power);
      add(t.sm_clock_mhz, sm, n_sm);
      add(t.mem_clock_mhz, mem, n_mem);
      add(t.temperature_c, temperature, n_temperature);
      if (t.reasons) reasons = reasons.value_or(0) | *t.reasons;
    }
    const auto mean = [](double sum, std::size_t n) { return n ? sum / static_cast<double>(n) : kNaN; };
    s.end_seconds.push_back(merged.end);
    s.tflops.push_back(interval_tflops(merged, flops_per_gemm));
    s.power_w.push_back(mean(power, n_power));
    s.sm_clock_mhz.push_back(mean(sm, n_sm));
    s.mem_clock_mhz.push_back(mean(mem, n_mem));
    s.temperature_c.push_back(mean(temperature, n_temperature));
    s.reasons.push_back(reasons ? static_cast<double>(*reasons) : kNaN);
  }
  return s;
}

BurninRun run_burnin(GemmSession& session, const BurninConfig& config) {
  if (!(config.duration_seconds > 0) || !(config.interval_seconds > 0))
    throw std::invalid_argument("burnin: duration and interval must be positive");
  BurninRun run;
  run.calibration_seconds = session.time_iterations(config.calibration);
  const double single = run.calibration_seconds.empty() ? median_of(session.time_iterations({0, 1}))
                                                        : median_of(run.calibration_seconds);
  run.batch_gemms = burnin_batch_gemms(single, config.interval_seconds);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const auto read_telemetry = [&](double at) {
    if (!config.telemetry) return;
    if (auto sample = config.telemetry(at)) run.telemetry.push_back(*sample);
  };
  read_telemetry(0.0);

  BurninInterval open{};
  const auto queue_more = [&] {
    while (session.in_flight() < kBatchesInFlight && since_start() < config.duration_seconds)
      session.submit(run.batch_gemms);
  };
  queue_more();
  while (session.in_flight() > 0) {
    const double seconds = session.wait_oldest();
    open.gemms += run.batch_gemms;
    open.gemm_seconds += seconds;
    const double now = since_start();
    queue_more();
    if (now - open.start >= config.interval_seconds || session.in_flight() == 0) {
      open.end = now;
      run.intervals.push_back(open);
      read_telemetry(now);
      open = BurninInterval{now, now, 0, 0};
    }
  }
  run.elapsed_seconds = since_start();
  session.verify(run.check);
  run.check.iteration_seconds = run.calibration_seconds;
  run.check.algorithm = session.algorithm();
  run.check.workspace_bytes = session.workspace_bytes();
  return run;
}

}  // namespace gpuaccept::kernels
