// Burn-in: one GEMM (a GemmSession, kernels/gemm.hpp) run back to back for a configured
// duration, its throughput sampled per interval, telemetry read at the end of every interval.
//
// The loop, the same on every backend:
//   1. calibration: `warmup` untimed and `iterations` timed single GEMMs; their median sizes
//      the batches so that a batch takes about interval / 10 (at least one GEMM);
//   2. sustained phase: batches are queued back to back, two in flight (so that the GPU never
//      waits for the host); each finished batch adds its GEMMs and its seconds (device events
//      on GPU, steady_clock on CPU) to the open interval; the interval closes at the first
//      batch that finishes `interval` seconds (host clock) or more after it opened, and a
//      telemetry reading is taken then. No new batch is queued after `duration` seconds; the
//      last interval closes when the queue is empty (it may be shorter);
//   3. verification of C (checksum of all of C for the silent-data-corruption vote, sampled
//      elements against the reference).
//
// Throughput of a set of intervals = 2 m n k x GEMMs / seconds the GEMMs took (a ratio of
// sums: longer intervals weigh more). The first and last windows (burnin_window_seconds) are the
// intervals that end within the first `window` seconds and those that start within the last
// `window` seconds of the sustained phase, at least one interval each.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/telemetry.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

struct BurninConfig {
  double duration_seconds = 60;    // sustained phase, after calibration
  double interval_seconds = 1;     // throughput and telemetry resolution
  TimingPolicy calibration{2, 5};  // single GEMMs before the sustained phase
  // Called once before the sustained phase and at the end of every interval, with the
  // seconds since the sustained phase started; empty: no telemetry.
  std::function<std::optional<TelemetrySample>(double seconds)> telemetry;
};

struct BurninInterval {
  double start = 0;  // seconds since the sustained phase started (host clock)
  double end = 0;
  std::int64_t gemms = 0;   // GEMMs finished in the interval
  double gemm_seconds = 0;  // the time they took on the device
};

struct BurninRun {
  std::vector<double> calibration_seconds;  // the timed single GEMMs
  int batch_gemms = 1;                      // GEMMs per batch
  std::vector<BurninInterval> intervals;
  // The reading before the sustained phase, then one per interval (same order), when the
  // config has telemetry.
  std::vector<TelemetrySample> telemetry;
  double elapsed_seconds = 0;  // the sustained phase, host clock
  GemmRun check;               // verify(): checksum, checked, wrong, first_wrong, ...
};

// Runs the loop above on an open session. Throws KernelError (library failures) and
// std::invalid_argument (duration or interval not positive).
BurninRun run_burnin(GemmSession& session, const BurninConfig& config);

// GEMMs per batch for a single-GEMM time: about interval / 10 of work, at least 1.
int burnin_batch_gemms(double single_gemm_seconds, double interval_seconds);

// The first/last window length: a minute, or a third of the duration when that is shorter (so
// that the two windows never overlap and a stretch of the run lies between them).
double burnin_window_seconds(double duration_seconds);

struct BurninThroughput {
  double mean_tflops = 0;          // over every interval
  double first_tflops = 0;         // first window
  double last_tflops = 0;          // last window
  double last_over_first = 0;      // last_tflops / first_tflops: < 1 when the GPU slowed down
  double min_interval_tflops = 0;  // the slowest interval
  std::size_t first_intervals = 0;
  std::size_t last_intervals = 0;
};
// TFLOP/s of the intervals (NaN everywhere when there is none or no GEMM finished).
BurninThroughput burnin_throughput(const std::vector<BurninInterval>& intervals, double flops_per_gemm,
                                   double window_seconds);
// TFLOP/s of one interval.
double interval_tflops(const BurninInterval& interval, double flops_per_gemm);

// The run over time, as stored: one point per `bucket` consecutive intervals (the last point may
// hold fewer). A point's time is the end of its last interval, its TFLOP/s the ratio of sums of
// its intervals, its telemetry the mean of the readings at its intervals' ends (the union for
// the clock event reasons, stored as the mask's value); NaN where there is no reading.
struct BurninSeries {
  std::vector<double> end_seconds, tflops, power_w, sm_clock_mhz, mem_clock_mhz, temperature_c, reasons;
};
BurninSeries burnin_series(const BurninRun& run, double flops_per_gemm, std::size_t bucket);
// Intervals per stored point so that `intervals` fit in `max_points` points (at least 1).
std::size_t burnin_series_bucket(std::size_t intervals, std::size_t max_points);

}  // namespace gpuaccept::kernels
