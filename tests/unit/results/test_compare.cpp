// Regression against a baseline (a planted 10 % drop is found, noise within the MAD is not),
// calibration of tolerances, and phase comparison, on hand-built runs.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "results/compare.hpp"
#include "results/input_error.hpp"
#include "results/stats.hpp"
#include "tests/unit/results/fixtures.hpp"

namespace gpuaccept {
namespace {

using testing::machine;
using testing::rank_step;
using testing::sweep_step;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const PointKeys kKeys = {{"allreduce", {"bytes"}}};

// One night: gemm at `tflops` per GPU on 2 nodes x 4 GPUs, and an all-reduce at `busbw`.
RunMetrics night(int day, double tflops, double busbw) {
  RunInfo run = machine(2, 4);
  run.start_time = 1.75e9 + day * 86400.0;
  std::vector<double> values;
  for (int r = 0; r < 8; ++r) values.push_back(tflops + (r % 2 ? 1 : -1));
  const std::vector<StepResult> steps = {
      rank_step("gemm-1", "gemm", {{"dtype", std::string("bf16")}}, "tflops", values),
      sweep_step("ar-1", 8, busbw),
  };
  return extract_metrics("night-" + std::to_string(day) + ".h5", run, steps, kKeys);
}

// Seven nights of deterministic noise around 800 TFLOP/s and 400 GB/s (+-0.5 %).
std::vector<RunMetrics> history() {
  const double noise[] = {0.000, 0.004, -0.003, 0.005, -0.005, 0.002, -0.001};
  std::vector<RunMetrics> runs;
  for (int d = 0; d < 7; ++d) runs.push_back(night(d, 800 * (1 + noise[d]), 400 * (1 - noise[d])));
  return runs;
}

const MetricComparison* find(const RegressionReport& r, const std::string& metric, const std::string& point = "") {
  for (const auto& m : r.metrics)
    if (m.key.metric == metric && m.key.point == point) return &m;
  return nullptr;
}

TEST(ResultsExtract, FiguresPerGpuPerNodeAndMachine) {
  const RunInfo run = machine(2, 2);
  StepResult s = rank_step("gemm-1", "gemm", {{"dtype", std::string("bf16")}}, "tflops", {100, 200, 300, 1000});
  StepResult rep = rank_step("gemm-2", "gemm", {{"dtype", std::string("bf16")}}, "tflops", {100, 200, 300, 1000}, Better::higher,
                             "TFLOP/s", 1);
  rep.per_rank.find("tflops")->values = {110, 210, 310, 1010};
  StepResult broken = rank_step("gemm-3", "gemm", {{"dtype", std::string("fp8")}}, "tflops", {1, 1, 1, 1});
  broken.status = Status::error;
  const RunMetrics m = extract_metrics("x.h5", run, {s, rep, broken, sweep_step("ar-1", 4, 50)}, kKeys);
  EXPECT_EQ(m.ranks, 4u);
  EXPECT_EQ(m.nodes, 2u);
  EXPECT_EQ(m.devices.at("NVIDIA H100"), 4u);
  const MetricValue& v = m.metrics.at(MetricKey{"gemm", "dtype=bf16", "tflops", ""});
  EXPECT_TRUE(v.per_rank);
  EXPECT_DOUBLE_EQ(v.value, 255);     // median GPU 250 and 260; the median over repetitions
  EXPECT_DOUBLE_EQ(v.per_node, 810);  // nodes 300 and 1300 (median 800); 320 and 1320 (820)
  EXPECT_DOUBLE_EQ(v.total, (1600.0 + 1640.0) / 2);
  EXPECT_EQ(v.ranks, 4u);
  EXPECT_EQ(v.nodes, 2u);
  EXPECT_EQ(m.metrics.count(MetricKey{"gemm", "dtype=fp8", "tflops", ""}), 0u);  // only ok steps count
  const MetricValue& bw = m.metrics.at(MetricKey{"allreduce", "dtype=fp32", "busbw_oop", "bytes=1048576"});
  EXPECT_FALSE(bw.per_rank);
  EXPECT_DOUBLE_EQ(bw.value, 50);
  EXPECT_EQ(bw.point_key, "bytes");
  EXPECT_DOUBLE_EQ(bw.point_value, 1048576);
  const RunMetrics only = extract_metrics("x.h5", run, {s}, kKeys, {"nosuch"});
  EXPECT_TRUE(only.metrics.empty());
}

TEST(ResultsRegression, APlantedTenPercentDropIsFound) {
  const RegressionReport r = compare_to_baseline(history(), night(7, 720, 400));
  const MetricComparison* gemm = find(r, "tflops");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->change, Change::regression);
  EXPECT_EQ(gemm->runs, 7u);
  EXPECT_NEAR(gemm->median, 800, 1e-9);  // the nights' median GPUs: 800 x (1 + noise), median noise 0
  EXPECT_NEAR(gemm->relative, -0.1, 1e-12);
  EXPECT_NEAR(gemm->threshold, 40, 1e-9);  // the 5 % tolerance dominates 3 robust deviations (10.7) here
  EXPECT_NEAR(gemm->sigma, 1.4826 * 2.4, 1e-9);
  EXPECT_EQ(find(r, "busbw_oop", "bytes=1048576")->change, Change::same);
  EXPECT_EQ(r.count(Change::regression), 1u);
  EXPECT_EQ(r.exit_code(), 1);
  std::ostringstream out;
  print_regressions(out, r, false);
  const std::string text = out.str();
  EXPECT_TRUE(contains(text, "gemm tflops")) << text;
  EXPECT_TRUE(contains(text, "-10.0%")) << text;
  EXPECT_TRUE(contains(text, "REGRESSION")) << text;
  EXPECT_TRUE(contains(text, "trend of the flagged metrics")) << text;
  EXPECT_TRUE(contains(text, "verdict: REGRESSION")) << text;
  EXPECT_FALSE(contains(text, "busbw_oop")) << text;  // unchanged metrics only with --all
}

TEST(ResultsRegression, NoiseWithinTheMadIsNotFlagged) {
  // Tight tolerance: only the robust deviation of the baseline decides.
  CompareOptions options;
  options.relative = 0.0;
  const auto runs = history();
  std::vector<double> values;
  for (const auto& r : runs) values.push_back(r.metrics.at(MetricKey{"gemm", "dtype=bf16", "tflops", ""}).value);
  const double median = stats::median(values), sigma = stats::robust_sigma(values);
  ASSERT_GT(sigma, 0);
  const RegressionReport within = compare_to_baseline(runs, night(7, median - 2 * sigma, 400), options);
  EXPECT_EQ(find(within, "tflops")->change, Change::same);
  EXPECT_NEAR(find(within, "tflops")->threshold, 3 * sigma, 1e-9);
  const RegressionReport beyond = compare_to_baseline(runs, night(7, median - 4 * sigma, 400), options);
  EXPECT_EQ(find(beyond, "tflops")->change, Change::regression);
  // The same noise with the default 5 % tolerance: nothing flagged, exit 0.
  EXPECT_EQ(compare_to_baseline(runs, night(7, median - 4 * sigma, 400)).exit_code(), 0);
}

TEST(ResultsRegression, DirectionImprovementAndHistory) {
  const auto runs = history();
  // Faster GEMM is an improvement; a lower busbw at every size a regression; time_oop (lower is
  // better) rises with it, also a regression.
  const RegressionReport r = compare_to_baseline(runs, night(7, 900, 300));
  EXPECT_EQ(find(r, "tflops")->change, Change::improvement);
  EXPECT_EQ(find(r, "busbw_oop", "bytes=1024")->change, Change::regression);
  EXPECT_EQ(find(r, "time_oop", "bytes=1024")->change, Change::regression);
  EXPECT_EQ(r.exit_code(), 1);
  // Only two earlier runs: a short history is shown, never flagged.
  const RegressionReport shorter = compare_to_baseline({runs[0], runs[1]}, night(7, 500, 400));
  EXPECT_EQ(find(shorter, "tflops")->change, Change::short_history);
  EXPECT_EQ(shorter.exit_code(), 0);
  // The baseline is the last N runs by start time, whatever the order given.
  CompareOptions last3;
  last3.last = 3;
  std::vector<RunMetrics> shuffled = {runs[6], runs[0], runs[4], runs[2], runs[5], runs[1], runs[3]};
  const RegressionReport cut = compare_to_baseline(shuffled, night(7, 800, 400), last3);
  EXPECT_EQ(cut.baseline_labels, (std::vector<std::string>{"night-4.h5", "night-5.h5", "night-6.h5"}));
  EXPECT_EQ(find(cut, "tflops")->history.size(), 3u);
}

TEST(ResultsRegression, MissingTonightIsCountedAndNoDirectionIsOnlyAChange) {
  auto runs = history();
  RunMetrics tonight = night(7, 800, 400);
  tonight.metrics.erase(MetricKey{"gemm", "dtype=bf16", "tflops", ""});
  const RegressionReport r = compare_to_baseline(runs, tonight);
  EXPECT_EQ(r.missing_tonight, 1u);
  EXPECT_EQ(r.missing_examples.front(), "gemm dtype=bf16 tflops");
  for (auto& run : runs) run.metrics.begin()->second.better = Better::none;
  RunMetrics neutral = night(7, 800, 400);
  for (auto& [k, v] : neutral.metrics) v.better = Better::none;
  neutral.metrics.begin()->second.value *= 2;
  const RegressionReport n = compare_to_baseline(runs, neutral);
  EXPECT_EQ(n.count(Change::changed), 1u);
  EXPECT_EQ(n.exit_code(), 0);
}

TEST(ResultsRegression, TolerancesPerSizeBand) {
  // A 15 % drop in bus bandwidth: a regression with the default 5 %, not with a 20 % band.
  const auto runs = history();
  const RunMetrics tonight = night(7, 800, 340);
  CompareOptions options;
  options.tolerances = load_tolerances(R"(tolerances:
  - {benchmark: allreduce, metric: busbw_oop, bytes: {min: 0, max: 64K}, relative: 0.2}
  - {benchmark: allreduce, metric: busbw_oop, relative: 0.01}
)",
                                       "tol.yaml");
  const RegressionReport r = compare_to_baseline(runs, tonight, options);
  EXPECT_EQ(find(r, "busbw_oop", "bytes=1024")->change, Change::same);
  EXPECT_DOUBLE_EQ(find(r, "busbw_oop", "bytes=1024")->tolerance, 0.2);
  EXPECT_EQ(find(r, "busbw_oop", "bytes=1048576")->change, Change::regression);
  EXPECT_DOUBLE_EQ(find(r, "busbw_oop", "bytes=1048576")->tolerance, 0.01);
  EXPECT_DOUBLE_EQ(find(r, "tflops")->tolerance, 0.05);  // not named: the default
}

TEST(ResultsCalibrate, ProposesTwiceTheP95CvPerBand) {
  const auto runs = history();
  const std::vector<Tolerance> t = calibrate(runs);
  // gemm tflops: one configuration; its cv over the seven nights.
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(r.metrics.at(MetricKey{"gemm", "dtype=bf16", "tflops", ""}).value);
  const auto gemm = std::find_if(t.begin(), t.end(), [](const Tolerance& x) { return x.benchmark == "gemm" && x.metric == "tflops"; });
  ASSERT_NE(gemm, t.end());
  EXPECT_NEAR(gemm->p95_cv, stats::cv(v), 1e-12);
  EXPECT_EQ(gemm->keys, 1u);
  EXPECT_EQ(gemm->runs, 7u);
  EXPECT_FALSE(gemm->bytes_min.has_value());
  EXPECT_DOUBLE_EQ(gemm->relative, 0.01);  // 2 x 0.0036 is below the 1 % floor
  // allreduce busbw: sizes 1K..1M fall in bands [0, 64K), [64K, 1M) and [1M, 64M).
  std::size_t bands = 0;
  for (const auto& x : t) {
    if (x.metric != "busbw_oop") continue;
    ++bands;
    ASSERT_TRUE(x.bytes_min.has_value());
  }
  EXPECT_EQ(bands, 3u);
  CalibrateOptions loose;
  loose.factor = 10;
  loose.floor = 0;
  const auto big = calibrate(runs, loose);
  const auto g = std::find_if(big.begin(), big.end(), [](const Tolerance& x) { return x.metric == "tflops"; });
  EXPECT_GE(g->relative, 10 * stats::cv(v));
  EXPECT_LT(g->relative, 10 * stats::cv(v) * 1.01);

  // Written and read back.
  const std::vector<Tolerance> back = load_tolerances(tolerances_yaml(t, "from a test\nsecond line"), "t.yaml");
  ASSERT_EQ(back.size(), t.size());
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(back[i].benchmark, t[i].benchmark);
    EXPECT_EQ(back[i].metric, t[i].metric);
    EXPECT_EQ(back[i].bytes_min, t[i].bytes_min);
    EXPECT_EQ(back[i].bytes_max, t[i].bytes_max);
    EXPECT_NEAR(back[i].relative, t[i].relative, 1e-3 * t[i].relative);
  }
  EXPECT_THROW(calibrate({runs[0], runs[1]}), InputError);
}

TEST(ResultsCalibrate, BadTolerancesFilesAreNamedWithTheirLine) {
  try {
    load_tolerances("tolerances:\n  - {benchmark: gemm, metric: tflops, relativ: 0.1}\n", "tol.yaml");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_EQ(e.where().line, 2);
    EXPECT_TRUE(contains(e.message(), "unknown key 'relativ'")) << e.what();
  }
  EXPECT_THROW(load_tolerances("tolerances:\n  - {benchmark: gemm, metric: tflops}\n", "tol.yaml"), InputError);
  EXPECT_THROW(load_tolerances("tolerances:\n  - {benchmark: gemm, metric: tflops, relative: -1}\n", "tol.yaml"), InputError);
}

TEST(ResultsPhases, AlignedByBenchmarkAndParametersWithDifferentSizesAndModels) {
  // Phase A: 2 nodes x 4 H100 at 800 each. Phase B: 8 nodes x 4 H200 at 950 each, one slow at 475.
  RunInfo a_run = machine(2, 4);
  a_run.system = "alpha";
  a_run.phase = "1";
  RunInfo b_run = machine(8, 4);
  b_run.system = "alpha";
  b_run.phase = "2";
  for (auto& r : b_run.ranks) r.device = "NVIDIA H200";
  std::vector<double> b_values(32, 950);
  b_values[31] = 475;
  const RunMetrics a = extract_metrics(
      "p1.h5", a_run,
      {rank_step("g", "gemm", {{"dtype", std::string("bf16")}}, "tflops", std::vector<double>(8, 800)),
       rank_step("g2", "gemm", {{"dtype", std::string("fp64")}}, "tflops", std::vector<double>(8, 60)), sweep_step("ar", 8, 400)},
      kKeys);
  const RunMetrics b = extract_metrics(
      "p2.h5", b_run,
      {rank_step("g", "gemm", {{"dtype", std::string("bf16")}}, "tflops", b_values), sweep_step("ar", 32, 360),
       rank_step("g3", "gemm", {{"dtype", std::string("fp8")}}, "tflops", std::vector<double>(32, 1900))},
      kKeys);
  const PhaseReport r = compare_phases(a, b);
  EXPECT_TRUE(r.devices_differ);
  ASSERT_EQ(r.only_a.size(), 1u);
  EXPECT_EQ(r.only_a[0].params, "dtype=fp64");
  ASSERT_EQ(r.only_b.size(), 1u);
  EXPECT_EQ(r.only_b[0].params, "dtype=fp8");
  const PhaseRow* gemm = nullptr;
  const PhaseRow* bus = nullptr;
  for (const auto& row : r.rows) {
    if (row.key.metric == "tflops") gemm = &row;
    if (row.key.metric == "busbw_oop" && row.key.point == "bytes=1048576") bus = &row;
  }
  ASSERT_NE(gemm, nullptr);
  EXPECT_DOUBLE_EQ(gemm->a.value, 800);
  EXPECT_DOUBLE_EQ(gemm->b.value, 950);  // the median GPU
  EXPECT_NEAR(gemm->relative, 150.0 / 800, 1e-12);
  EXPECT_DOUBLE_EQ(gemm->a.per_node, 3200);
  EXPECT_DOUBLE_EQ(gemm->b.per_node, 3800);
  EXPECT_DOUBLE_EQ(gemm->node_delta, 600);
  EXPECT_EQ(gemm->a.ranks, 8u);
  EXPECT_EQ(gemm->b.ranks, 32u);
  // Efficiency: per-GPU mean of B over A = (31 x 950 + 475) / 32 / 800.
  EXPECT_NEAR(gemm->efficiency, (31 * 950.0 + 475) / 32 / 800, 1e-12);
  ASSERT_NE(bus, nullptr);
  EXPECT_NEAR(bus->efficiency, 0.9, 1e-12);
  std::ostringstream out;
  print_phases(out, r);
  const std::string text = out.str();
  EXPECT_TRUE(contains(text, "A: p1.h5  system alpha phase 1, 8 ranks on 2 nodes (8x NVIDIA H100)")) << text;
  EXPECT_TRUE(contains(text, "B: p2.h5  system alpha phase 2, 32 ranks on 8 nodes (32x NVIDIA H200)")) << text;
  EXPECT_TRUE(contains(text, "note: the device models differ")) << text;
  EXPECT_TRUE(contains(text, "gemm tflops")) << text;  // only parameters that vary are named
  EXPECT_TRUE(contains(text, "+18.8%")) << text;
  EXPECT_TRUE(contains(text, "1 only in A; 1 only in B")) << text;
}

TEST(Compare, ParametersAtTheirDefaultDoNotSplitAConfiguration) {
  // A file written before `pairing` existed and one written after, with it at its default,
  // hold the same configuration; a non-default value is another configuration.
  const ParamDefaults defaults = {{"gemm", {{"dtype", std::string("fp32")}, {"pairing", std::string("global")},
                                           {"iterations", std::int64_t{20}}}}};
  const RunInfo run = machine(1, 2);
  const auto key_of = [&](const Params& params) {
    const RunMetrics m = extract_metrics("x.h5", run, {rank_step("g", "gemm", params, "tflops", {10, 11})}, kKeys, {},
                                         defaults);
    EXPECT_EQ(m.metrics.size(), 1u);
    return m.metrics.empty() ? std::string() : m.metrics.begin()->first.params;
  };
  const std::string before = key_of({{"dtype", std::string("bf16")}});
  EXPECT_EQ(before, "dtype=bf16");
  EXPECT_EQ(key_of({{"dtype", std::string("bf16")}, {"pairing", std::string("global")}}), before);
  EXPECT_EQ(key_of({{"dtype", std::string("bf16")}, {"iterations", 20.0}}), before);  // 20 written as a real
  EXPECT_EQ(key_of({{"dtype", std::string("bf16")}, {"pairing", std::string("pod")}}), "dtype=bf16 pairing=pod");
  EXPECT_EQ(key_of({{"dtype", std::string("fp32")}}), "");  // every parameter at its default
  // Without defaults (an unknown benchmark), every parameter counts.
  const RunMetrics m = extract_metrics("x.h5", run, {rank_step("g", "gemm", {{"pairing", std::string("global")}}, "tflops", {1, 2})}, kKeys);
  ASSERT_EQ(m.metrics.size(), 1u);
  EXPECT_EQ(m.metrics.begin()->first.params, "pairing=global");
}

}  // namespace
}  // namespace gpuaccept
