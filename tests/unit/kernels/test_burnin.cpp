// Burn-in: window arithmetic on synthetic intervals, the stored series, and the loop itself on
// the CPU backend (OpenBLAS), with fake telemetry and a planted fault.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/burnin.hpp"
#include "kernels/checksum.hpp"

using namespace gpuaccept::kernels;

namespace {

// `n` intervals of one second each, `gemms(i)` GEMMs in interval i, each GEMM one second of
// device time per 100 GEMMs.
template <typename Gemms>
std::vector<BurninInterval> one_second_intervals(int n, Gemms gemms) {
  std::vector<BurninInterval> v;
  for (int i = 0; i < n; ++i) v.push_back({double(i), double(i + 1), gemms(i), 1.0});
  return v;
}

GemmConfig small_gemm() {
  GemmConfig c;
  c.m = 64;
  c.n = 48;
  c.k = 40;
  c.dtype = DType::fp64;
  c.samples = 32;
  c.seed = 5;
  return c;
}

}  // namespace

TEST(Burnin, WindowIsAMinuteOrAThirdOfTheDuration) {
  EXPECT_EQ(burnin_window_seconds(1800), 60);
  EXPECT_EQ(burnin_window_seconds(180), 60);
  EXPECT_EQ(burnin_window_seconds(90), 30);
  EXPECT_DOUBLE_EQ(burnin_window_seconds(1), 1.0 / 3);
}

TEST(Burnin, BatchesHoldAboutATenthOfAnInterval) {
  EXPECT_EQ(burnin_batch_gemms(0.001, 1.0), 100);
  EXPECT_EQ(burnin_batch_gemms(0.003, 1.0), 33);
  EXPECT_EQ(burnin_batch_gemms(0.5, 1.0), 1);  // a GEMM longer than a tenth: one per batch
  EXPECT_EQ(burnin_batch_gemms(0, 1.0), 1);
  EXPECT_EQ(burnin_batch_gemms(NAN, 1.0), 1);
  EXPECT_EQ(burnin_batch_gemms(1e-12, 1.0), 1 << 20);  // capped
}

TEST(Burnin, FirstAndLastWindowsOfAThrottlingRun) {
  // 100 GEMMs of 1 TFLOP per second for 5 s, then 80 per second: 100 then 80 TFLOP/s.
  const auto v = one_second_intervals(10, [](int i) { return i < 5 ? 100 : 80; });
  const BurninThroughput t = burnin_throughput(v, 1e12, 3.0);
  EXPECT_DOUBLE_EQ(t.first_tflops, 100);  // intervals ending by 3 s: [0,1) [1,2) [2,3)
  EXPECT_EQ(t.first_intervals, 3u);
  EXPECT_DOUBLE_EQ(t.last_tflops, 80);  // intervals starting at 7 s or later
  EXPECT_EQ(t.last_intervals, 3u);
  EXPECT_DOUBLE_EQ(t.last_over_first, 0.8);
  EXPECT_DOUBLE_EQ(t.mean_tflops, 90);
  EXPECT_DOUBLE_EQ(t.min_interval_tflops, 80);
}

TEST(Burnin, ThroughputIsARatioOfSums) {
  // A long slow interval weighs more than a short fast one: (100 + 100) GEMMs in 1 + 4 s.
  std::vector<BurninInterval> v{{0, 1, 100, 1.0}, {1, 5, 100, 4.0}};
  const BurninThroughput t = burnin_throughput(v, 1e12, 60);
  EXPECT_DOUBLE_EQ(t.mean_tflops, 40);
  EXPECT_DOUBLE_EQ(t.min_interval_tflops, 25);
  // A window longer than the run takes every interval into both.
  EXPECT_DOUBLE_EQ(t.first_tflops, 40);
  EXPECT_DOUBLE_EQ(t.last_tflops, 40);
  EXPECT_EQ(t.first_intervals, 2u);
}

TEST(Burnin, AWindowShorterThanAnIntervalStillHoldsOne) {
  const auto v = one_second_intervals(4, [](int i) { return 10 * (i + 1); });
  const BurninThroughput t = burnin_throughput(v, 1e12, 0.25);
  EXPECT_EQ(t.first_intervals, 1u);
  EXPECT_EQ(t.last_intervals, 1u);
  EXPECT_DOUBLE_EQ(t.first_tflops, 10);
  EXPECT_DOUBLE_EQ(t.last_tflops, 40);
  EXPECT_DOUBLE_EQ(t.last_over_first, 4);

  const BurninThroughput none = burnin_throughput({}, 1e12, 60);
  EXPECT_TRUE(std::isnan(none.mean_tflops));
  EXPECT_TRUE(std::isnan(none.last_over_first));
}

TEST(Burnin, SeriesMergesIntervalsIntoBuckets) {
  EXPECT_EQ(burnin_series_bucket(600, 600), 1u);
  EXPECT_EQ(burnin_series_bucket(601, 600), 2u);
  EXPECT_EQ(burnin_series_bucket(1201, 600), 3u);
  EXPECT_EQ(burnin_series_bucket(5, 0), 1u);

  BurninRun run;
  run.intervals = one_second_intervals(7, [](int i) { return 10 * (i + 1); });
  run.telemetry.resize(8);
  for (std::size_t i = 0; i < 8; ++i) {
    run.telemetry[i].power_w = 100.0 * static_cast<double>(i);
    run.telemetry[i].temperature_c = i == 2 ? NAN : 50.0 + static_cast<double>(i);
    if (i == 2) run.telemetry[i].reasons = 0x4;
    if (i == 3) run.telemetry[i].reasons = 0x40;
  }
  const BurninSeries s = burnin_series(run, 1e12, 3);
  ASSERT_EQ(s.end_seconds.size(), 3u);
  EXPECT_EQ(s.end_seconds, (std::vector<double>{3, 6, 7}));
  EXPECT_DOUBLE_EQ(s.tflops[0], (10 + 20 + 30) / 3.0);
  EXPECT_DOUBLE_EQ(s.tflops[2], 70);
  // The readings at the ends of intervals 0..2 are telemetry[1..3].
  EXPECT_DOUBLE_EQ(s.power_w[0], 200);
  EXPECT_DOUBLE_EQ(s.temperature_c[0], (51 + 53) / 2.0);  // the NaN left out
  EXPECT_EQ(s.reasons[0], 0x44);
  EXPECT_TRUE(std::isnan(s.reasons[1]));
  EXPECT_TRUE(std::isnan(s.mem_clock_mhz[2]));

  run.telemetry.clear();  // no telemetry: NaN series
  const BurninSeries bare = burnin_series(run, 1e12, 1);
  EXPECT_EQ(bare.tflops.size(), 7u);
  EXPECT_TRUE(std::isnan(bare.power_w[0]));
}

TEST(Burnin, CpuSessionQueuesBatchesAndCannotChoose) {
  const auto session = open_gemm_session(Backend::cpu, small_gemm());
  EXPECT_TRUE(session->candidate_seconds().empty());
  EXPECT_THROW(session->choose(0), KernelError);
  EXPECT_THROW(session->wait_oldest(), KernelError);
  session->submit(3);
  session->submit(1);
  EXPECT_EQ(session->in_flight(), 2u);
  EXPECT_GT(session->wait_oldest(), 0);
  EXPECT_EQ(session->in_flight(), 1u);
  GemmRun r;
  session->verify(r);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_EQ(r.checked, 32);
  // The same product as run_gemm's: the session is what run_gemm runs.
  EXPECT_EQ(r.checksum, run_gemm(Backend::cpu, small_gemm()).checksum);
}

TEST(Burnin, CpuRunSamplesIntervalsAndTelemetryAndChecksTheResult) {
  const auto session = open_gemm_session(Backend::cpu, small_gemm());
  BurninConfig cfg;
  cfg.duration_seconds = 0.4;
  cfg.interval_seconds = 0.1;
  cfg.calibration = {1, 3};
  int readings = 0;
  cfg.telemetry = [&readings](double at) -> std::optional<TelemetrySample> {
    TelemetrySample s;
    s.time = at;
    s.power_w = 100 + readings++;
    return s;
  };
  const BurninRun r = run_burnin(*session, cfg);
  EXPECT_EQ(r.calibration_seconds.size(), 3u);
  EXPECT_GE(r.batch_gemms, 1);
  ASSERT_GE(r.intervals.size(), 3u);
  EXPECT_LE(r.intervals.size(), 6u);
  EXPECT_GE(r.elapsed_seconds, 0.4);
  EXPECT_LT(r.elapsed_seconds, 2.0);
  double previous_end = 0;
  for (std::size_t i = 0; i < r.intervals.size(); ++i) {
    const auto& iv = r.intervals[i];
    EXPECT_EQ(iv.start, previous_end);
    EXPECT_GT(iv.end, iv.start);
    EXPECT_GT(iv.gemms, 0);
    EXPECT_EQ(iv.gemms % r.batch_gemms, 0);
    EXPECT_GT(iv.gemm_seconds, 0);
    // Every interval but the last runs at least `interval`; the last may be shorter.
    if (i + 1 < r.intervals.size()) {
      EXPECT_GE(iv.end - iv.start, 0.1);
    }
    previous_end = iv.end;
  }
  ASSERT_EQ(r.telemetry.size(), r.intervals.size() + 1);
  EXPECT_EQ(r.telemetry.front().time, 0);
  EXPECT_EQ(r.telemetry.back().time, r.intervals.back().end);
  EXPECT_EQ(r.check.wrong, 0) << r.check.first_wrong;
  EXPECT_EQ(r.check.checked, 32);
  EXPECT_NE(r.check.algorithm.find("dgemm"), std::string::npos);
  const auto t =
      burnin_throughput(r.intervals, 2.0 * 64 * 48 * 40, burnin_window_seconds(cfg.duration_seconds));
  EXPECT_GT(t.mean_tflops, 0);
  EXPECT_TRUE(std::isfinite(t.last_over_first));
  EXPECT_THROW(run_burnin(*session, BurninConfig{0, 1, {}, {}}), std::invalid_argument);
}

TEST(Burnin, APlantedFaultIsInsideTheToleranceButNotInTheChecksum) {
  BurninConfig cfg;
  cfg.duration_seconds = 0.05;
  cfg.interval_seconds = 0.05;
  cfg.calibration = {0, 1};
  const auto clean_session = open_gemm_session(Backend::cpu, small_gemm());
  const BurninRun clean = run_burnin(*clean_session, cfg);
  GemmConfig faulty_gemm = small_gemm();
  faulty_gemm.inject_fault = true;
  const auto faulty_session = open_gemm_session(Backend::cpu, faulty_gemm);
  const BurninRun faulty = run_burnin(*faulty_session, cfg);
  EXPECT_EQ(clean.check.wrong, 0);
  EXPECT_EQ(faulty.check.wrong, 0);  // one low bit: the tolerance check cannot see it
  EXPECT_NE(faulty.check.checksum, clean.check.checksum);
  // Three ranks with the same inputs: the vote names the faulty one.
  const auto vote = majority_of({clean.check.checksum, faulty.check.checksum, clean.check.checksum});
  EXPECT_TRUE(vote.clear);
  EXPECT_EQ(vote.dissenters, std::vector<int>{1});
}
