// The contract language beyond a plain bound: scopes (node, step, repetition), counting
// (count, fraction), spread (sum, stddev, cv), outlier rules against the peer median and MAD,
// scaling and stability criteria, waivers and the quarantine list. Every expected figure is
// worked out by hand from the values planted in the steps.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "results/evaluate.hpp"
#include "results/stats.hpp"
#include "tests/unit/results/fixtures.hpp"

namespace gpuaccept {
namespace {

using testing::contract_of;
using testing::machine;
using testing::rank_step;
using testing::sweep_step;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string printed(const Verdict& v, bool color = false) {
  std::ostringstream out;
  print_verdict(out, v, PrintOptions{color});
  return out.str();
}

StepResult gemm(const std::vector<double>& tflops, int repetition = 0, const std::string& id = "gemm-aaaa") {
  return rank_step(id, "gemm", {{"dtype", std::string("bf16")}}, "tflops", tflops, Better::higher, "TFLOP/s", repetition);
}

// 64 values spread evenly over +-1 % around 800: the noise a healthy machine shows.
std::vector<double> healthy(std::size_t n = 64, double centre = 800) {
  std::vector<double> v;
  for (std::size_t i = 0; i < n; ++i)
    v.push_back(centre * (1.0 + 0.01 * (2.0 * static_cast<double>(i % 17) / 16.0 - 1.0)));
  return v;
}

EvaluateOptions on(const std::string& day) {
  EvaluateOptions o;
  o.today = day;
  return o;
}

// ---- combining: count, fraction, sum, stddev, cv --------------------------------------------

TEST(ContractCombine, CountAndFractionOfMembersThatMeetABound) {
  // 10 GPUs; 7 reach 700.
  const std::vector<double> v{710, 720, 650, 730, 700, 699, 740, 750, 600, 705};
  const auto run = machine(5, 2);
  const auto count = evaluate(contract_of("  - {id: c, benchmark: gemm, metric: tflops, combine: count, "
                                          "meets: {min: 700}, bound: {min: 7}}\n"),
                              run, {gemm(v)});
  EXPECT_EQ(count.criteria[0].outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(count.criteria[0].measured, 7);
  EXPECT_EQ(count.criteria[0].measured_unit, "ranks");

  const auto fraction = evaluate(contract_of("  - {id: f, benchmark: gemm, metric: tflops, combine: fraction, "
                                             "meets: {min: 700}, bound: {min: 0.8}}\n"),
                                 run, {gemm(v)});
  const auto& f = fraction.criteria[0];
  EXPECT_EQ(f.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(f.measured, 0.7);
  // The evidence is the members that do not meet `meets`, worst first, against that bound.
  EXPECT_EQ(f.worst_total, 3u);
  ASSERT_EQ(f.worst.size(), 3u);
  EXPECT_EQ(f.worst[0].rank, 8);
  EXPECT_NEAR(f.worst[0].shortfall, 100.0 / 700, 1e-12);
  EXPECT_EQ(f.worst[1].rank, 2);
  EXPECT_EQ(f.worst[2].rank, 5);
  const std::string text = printed(fraction);
  EXPECT_TRUE(contains(text, "rank 8  host node04  gpu 0  GPU-8  600 TFLOP/s (-14.3%)")) << text;
}

TEST(ContractCombine, SumStddevAndCoefficientOfVariation) {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};  // mean 5, sample stddev 2.13809
  const auto run = machine(4, 2);
  const auto figure = [&](const std::string& how, const std::string& bound) {
    return evaluate(contract_of("  - {id: x, benchmark: gemm, metric: tflops, combine: " + how + ", bound: " + bound + "}\n"),
                    run, {gemm(v)})
        .criteria[0];
  };
  EXPECT_DOUBLE_EQ(figure("sum", "{min: 40}").measured, 40);
  EXPECT_EQ(figure("sum", "{min: 40}").outcome, Outcome::pass);
  EXPECT_NEAR(figure("stddev", "{max: 3}").measured, 2.1380899352993950, 1e-12);
  const auto cv = figure("cv", "{max: 0.4}");
  EXPECT_NEAR(cv.measured, 2.1380899352993950 / 5, 1e-12);
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_EQ(cv.measured_unit, "");
  EXPECT_TRUE(cv.worst.empty());  // a spread is a property of the set: no member is evidence
}

TEST(ContractCombine, SpreadOfASingleValueIsNotAPass) {
  const auto v = evaluate(contract_of("  - {id: x, benchmark: gemm, metric: tflops, combine: cv, bound: {max: 0.05}}\n"),
                          machine(1, 1), {gemm({700})});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].note, "cv needs at least 2 ranks, found 1");
}

// ---- scopes -----------------------------------------------------------------------------------

TEST(ContractScope, NodeReducesTheRanksOfEachHost) {
  // 4 nodes x 2 GPUs; node02's GPUs sum to 1300, the others to 1600.
  const std::vector<double> v{800, 800, 790, 810, 650, 650, 805, 795};
  const auto c = contract_of(R"(  - id: node-total
    benchmark: gemm
    metric: tflops
    scope: node
    reduce: sum
    combine: min
    bound: {min: 1500}
)");
  const Verdict v1 = evaluate(c, machine(4, 2), {gemm(v)});
  const auto& cv = v1.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_EQ(cv.scope, "node");
  EXPECT_EQ(cv.members, 4u);
  EXPECT_DOUBLE_EQ(cv.measured, 1300);
  ASSERT_EQ(cv.worst.size(), 1u);
  EXPECT_EQ(cv.worst[0].host, "node02");
  EXPECT_EQ(cv.worst[0].rank, -1);
  EXPECT_EQ(cv.worst[0].ranks, 2u);
  EXPECT_DOUBLE_EQ(cv.worst[0].value, 1300);
  EXPECT_EQ(cv.failing_hosts, std::vector<std::string>{"node02"});
  EXPECT_EQ(v1.quarantine_hosts(), std::vector<std::string>{"node02"});
  const std::string text = printed(v1);
  EXPECT_TRUE(contains(text, "FAIL  (tflops, min over 4 nodes)")) << text;
  EXPECT_TRUE(contains(text, "worst: host node02  (2 ranks)  1300 TFLOP/s (-13.3%)  step gemm-aaaa")) << text;

  // The default reduction is the mean of the node's ranks.
  const auto mean = evaluate(contract_of("  - {id: m, benchmark: gemm, metric: tflops, scope: node, bound: {min: 700}}\n"),
                             machine(4, 2), {gemm(v)});
  EXPECT_DOUBLE_EQ(mean.criteria[0].measured, 650);
}

TEST(ContractScope, StepReducesRanksAndRepetitionGroupsSteps) {
  const auto run = machine(2, 2);
  const std::vector<StepResult> steps = {gemm({100, 200, 300, 400}, 0, "gemm-r0"), gemm({110, 210, 310, 410}, 1, "gemm-r1"),
                                         gemm({90, 190, 290, 390}, 2, "gemm-r2")};
  const auto step = evaluate(contract_of("  - {id: s, benchmark: gemm, metric: tflops, scope: step, reduce: median, "
                                         "combine: min, bound: {min: 245}}\n"),
                             run, steps);
  EXPECT_EQ(step.criteria[0].members, 3u);
  EXPECT_DOUBLE_EQ(step.criteria[0].measured, 240);  // medians 250, 260, 240
  EXPECT_EQ(step.criteria[0].outcome, Outcome::fail);
  ASSERT_EQ(step.criteria[0].worst.size(), 1u);
  EXPECT_EQ(step.criteria[0].worst[0].step_id, "gemm-r2");
  EXPECT_EQ(step.criteria[0].worst[0].ranks, 4u);
  EXPECT_TRUE(step.criteria[0].failing_hosts.empty());  // a step is not a host to drain
  EXPECT_TRUE(step.quarantine_hosts().empty());

  const auto rep = evaluate(contract_of("  - {id: r, benchmark: gemm, metric: tflops, scope: repetition, reduce: min, "
                                        "combine: max, bound: {min: 100}}\n"),
                            run, steps);
  EXPECT_EQ(rep.criteria[0].members, 3u);
  EXPECT_DOUBLE_EQ(rep.criteria[0].measured, 110);
}

TEST(ContractStability, CoefficientOfVariationOverRepetitions) {
  const auto run = machine(1, 2);
  const auto c = contract_of(R"(  - id: stable
    benchmark: gemm
    metric: tflops
    scope: repetition
    reduce: median
    combine: cv
    bound: {max: 0.02}
)");
  // Repetition medians 800, 808, 792, 800, 800: cv = stddev / mean = 5.657 / 800 = 0.00707.
  std::vector<StepResult> steady;
  const double medians[] = {800, 808, 792, 800, 800};
  for (int r = 0; r < 5; ++r) steady.push_back(gemm({medians[r] - 1, medians[r] + 1}, r, "gemm-" + std::to_string(r)));
  const auto pass = evaluate(c, run, steady);
  EXPECT_EQ(pass.criteria[0].outcome, Outcome::pass);
  EXPECT_NEAR(pass.criteria[0].measured, std::sqrt(128.0 / 4) / 800, 1e-12);
  // One repetition 10 % slow: cv 0.0447.
  steady[3] = gemm({719, 721}, 3, "gemm-3");
  const auto fail = evaluate(c, run, steady);
  EXPECT_EQ(fail.criteria[0].outcome, Outcome::fail);
  EXPECT_GT(fail.criteria[0].measured, 0.04);
}

TEST(ContractStability, EachGpuAcrossRepetitions) {
  // Rank 1 is slow in one repetition only: its median over three is fine. Rank 3 is slow twice.
  const auto run = machine(2, 2);
  const std::vector<StepResult> steps = {gemm({800, 500, 800, 600}, 0, "gemm-r0"), gemm({800, 800, 800, 610}, 1, "gemm-r1"),
                                         gemm({800, 800, 800, 800}, 2, "gemm-r2")};
  const auto c = contract_of("  - {id: g, benchmark: gemm, metric: tflops, across_repetitions: median, bound: {min: 700}}\n");
  const auto v = evaluate(c, run, steps);
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.members, 4u);  // one per GPU, not per GPU and repetition
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 610);
  ASSERT_EQ(cv.worst.size(), 1u);
  EXPECT_EQ(cv.worst[0].rank, 3);
  EXPECT_EQ(cv.worst[0].host, "node01");
  EXPECT_EQ(cv.worst[0].step_id, "gemm-r0");

  // The CV of each GPU over its repetitions; the worst GPU must stay under 5 %.
  const auto spread = evaluate(contract_of("  - {id: s, benchmark: gemm, metric: tflops, across_repetitions: cv, "
                                           "combine: max, bound: {max: 0.05}}\n"),
                               run, steps);
  EXPECT_EQ(spread.criteria[0].outcome, Outcome::fail);
  ASSERT_FALSE(spread.criteria[0].worst.empty());
  EXPECT_EQ(spread.criteria[0].worst[0].rank, 1);  // 500, 800, 800: the largest spread
}

TEST(ContractStability, HoldsInKOfNRepetitions) {
  const auto run = machine(1, 2);
  std::vector<StepResult> steps;
  for (int r = 0; r < 5; ++r) steps.push_back(gemm({800, r == 2 ? 650.0 : 790.0}, r, "gemm-" + std::to_string(r)));
  const auto judge = [&](const std::string& hold) {
    return evaluate(contract_of("  - {id: h, benchmark: gemm, metric: tflops, bound: {min: 700}, hold_in: " + hold + "}\n"),
                    run, steps)
        .criteria[0];
  };
  const auto four = judge("{at_least: 4, of: 5}");
  EXPECT_EQ(four.outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(four.measured, 4);
  EXPECT_EQ(four.measured_unit, "of 5 reps");
  EXPECT_EQ(four.bound, ">= 700 in >= 4 of 5");
  EXPECT_EQ(four.detail, "held in 4 of 5 repetitions; failed in repetition 2 (650 TFLOP/s)");

  const auto five = judge("{at_least: 5}");
  EXPECT_EQ(five.outcome, Outcome::fail);
  ASSERT_EQ(five.worst.size(), 1u);
  EXPECT_EQ(five.worst[0].rank, 1);
  EXPECT_EQ(five.worst[0].repetition, 2);

  steps.resize(3);  // only three repetitions ran
  const auto short_run = judge("{at_least: 3, of: 5}");
  EXPECT_EQ(short_run.outcome, Outcome::fail);
  EXPECT_EQ(short_run.note, "3 repetitions ran, and the criterion asks for 3 of 5");
}

// ---- outlier rules ----------------------------------------------------------------------------

TEST(ContractOutliers, PlantedOutliersAreNamedWithTheirShortfall) {
  auto values = healthy();
  values[5] = 700;   // -12.5 %
  values[17] = 600;  // -25 %
  values[40] = 740;  // -7.5 %
  const auto c = contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {ratio: 0.95}}\n");
  const Verdict v = evaluate(c, machine(8, 8), {gemm(values)});
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_EQ(cv.kind, "outliers");
  EXPECT_DOUBLE_EQ(cv.measured, 3);
  EXPECT_EQ(cv.worst_total, 3u);
  ASSERT_EQ(cv.worst.size(), 3u);
  EXPECT_EQ(cv.worst[0].rank, 17);
  EXPECT_EQ(cv.worst[0].host, "node02");
  EXPECT_EQ(cv.worst[0].gpu, 1);
  EXPECT_EQ(cv.worst[0].uuid, "GPU-17");
  EXPECT_EQ(cv.worst[1].rank, 5);
  EXPECT_EQ(cv.worst[2].rank, 40);
  const double median = cv.worst[0].reference;
  EXPECT_NEAR(median, 800, 8);
  EXPECT_NEAR(cv.worst[0].shortfall, (median - 600) / median, 1e-12);
  EXPECT_EQ(cv.failing_hosts, (std::vector<std::string>{"node00", "node02", "node05"}));
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "o           3 outliers   within 0.95 x median   FAIL  (tflops, 3 of 64 ranks are outliers)")) << text;
  EXPECT_TRUE(contains(text, "600 TFLOP/s (-25.0% vs peer median 799.5)")) << text;
}

TEST(ContractOutliers, CleanDataPasses) {
  for (const std::string rule : {"{ratio: 0.95}", "{mad: 4}", "{ratio: 0.98, mad: 3}"}) {
    const auto v = evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: " + rule + "}\n"),
                            machine(8, 8), {gemm(healthy())});
    EXPECT_EQ(v.criteria[0].outcome, Outcome::pass) << rule << "\n" << printed(v);
    EXPECT_DOUBLE_EQ(v.criteria[0].measured, 0) << rule;
  }
}

TEST(ContractOutliers, MadFindsWhatARatioMissesInATightDistribution) {
  // +-0.1 % noise; one GPU 1.5 % slow: far outside the spread, well inside a 5 % ratio.
  auto values = healthy();
  for (auto& x : values) x = 800 + (x - 800) / 10;
  values[9] = 788;
  const auto judge = [&](const std::string& rule) {
    return evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: " + rule + "}\n"),
                    machine(8, 8), {gemm(values)})
        .criteria[0];
  };
  EXPECT_EQ(judge("{ratio: 0.95}").outcome, Outcome::pass);
  const auto mad = judge("{mad: 4}");
  EXPECT_EQ(mad.outcome, Outcome::fail);
  ASSERT_EQ(mad.worst.size(), 1u);
  EXPECT_EQ(mad.worst[0].rank, 9);
  // Both given: an outlier must break both, so a 1.5 % dip in a tight machine is tolerated.
  EXPECT_EQ(judge("{ratio: 0.95, mad: 4}").outcome, Outcome::pass);
  EXPECT_EQ(judge("{ratio: 0.99, mad: 4}").outcome, Outcome::fail);
}

TEST(ContractOutliers, NoiseWithinTheMadIsNotFlagged) {
  // A member 3 robust sigmas below the median is noise for a 4-MAD rule, and 5 sigmas is not.
  auto values = healthy();
  const double median = stats::median(values), sigma = stats::robust_sigma(values);
  ASSERT_GT(sigma, 0);
  const auto judge = [&](double sigmas) {
    auto v = values;
    v[20] = median - sigmas * sigma;
    return evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {mad: 4}}\n"), machine(8, 8),
                    {gemm(v)})
        .criteria[0];
  };
  EXPECT_EQ(judge(3).outcome, Outcome::pass);
  const auto five = judge(5);
  EXPECT_EQ(five.outcome, Outcome::fail);
  ASSERT_EQ(five.worst.size(), 1u);
  EXPECT_EQ(five.worst[0].rank, 20);
}

TEST(ContractOutliers, DirectionFollowsTheMetric) {
  auto values = healthy();
  values[3] = 1000;  // a fast GPU is no fault when higher is better
  const auto fast = evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {ratio: 0.95}}\n"),
                             machine(8, 8), {gemm(values)});
  EXPECT_EQ(fast.criteria[0].outcome, Outcome::pass);
  const auto both = evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {ratio: 0.95, side: both}}\n"),
                             machine(8, 8), {gemm(values)});
  EXPECT_EQ(both.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(both.criteria[0].worst[0].rank, 3);

  // A time: lower is better, so the slow (high) one is the outlier.
  std::vector<double> times(16, 1.0);
  times[11] = 1.2;
  times[2] = 0.5;
  const StepResult t = rank_step("io-1", "ior", {}, "time", times, Better::lower, "s");
  const auto slow = evaluate(contract_of("  - {id: t, benchmark: ior, metric: time, outliers: {ratio: 0.9}}\n"),
                             machine(4, 4), {t});
  ASSERT_EQ(slow.criteria[0].worst.size(), 1u);
  EXPECT_EQ(slow.criteria[0].worst[0].rank, 11);
  EXPECT_TRUE(contains(printed(slow), "1.2 s (+20.0% vs peer median 1)")) << printed(slow);
}

TEST(ContractOutliers, PeersAreTheMembersOfTheSameStepUnlessAllIsAsked) {
  // fp64 runs at half the speed of fp32: against their own step's peers, nobody is an outlier.
  const StepResult fp64 = rank_step("gemm-64", "gemm", {{"dtype", std::string("fp64")}}, "tflops", healthy(16, 60));
  const StepResult fp32 = rank_step("gemm-32", "gemm", {{"dtype", std::string("fp32")}}, "tflops", healthy(16, 120));
  const auto run = machine(4, 4);
  const auto per_step = evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {ratio: 0.9}}\n"),
                                 run, {fp64, fp32});
  EXPECT_EQ(per_step.criteria[0].outcome, Outcome::pass);
  const auto all = evaluate(contract_of("  - {id: o, benchmark: gemm, metric: tflops, outliers: {ratio: 0.9, peers: all}}\n"),
                            run, {fp64, fp32});
  EXPECT_EQ(all.criteria[0].outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(all.criteria[0].measured, 16);
}

TEST(ContractOutliers, ToleratedCountAndNodeScope) {
  // Node-level: node03's two GPUs are both 10 % slow; per-rank each is one outlier.
  std::vector<double> values(16, 800);
  values[6] = 720;
  values[7] = 720;
  const auto run = machine(8, 2);
  const auto nodes = evaluate(contract_of("  - {id: n, benchmark: gemm, metric: tflops, scope: node, outliers: {ratio: 0.95}}\n"),
                              run, {gemm(values)});
  ASSERT_EQ(nodes.criteria[0].worst.size(), 1u);
  EXPECT_EQ(nodes.criteria[0].worst[0].host, "node03");
  EXPECT_EQ(nodes.quarantine_hosts(), std::vector<std::string>{"node03"});
  const auto tolerated = evaluate(
      contract_of("  - {id: r, benchmark: gemm, metric: tflops, outliers: {ratio: 0.95, max: 2}}\n"), run, {gemm(values)});
  EXPECT_EQ(tolerated.criteria[0].outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(tolerated.criteria[0].measured, 2);
}

// ---- scaling ----------------------------------------------------------------------------------

TEST(ContractScaling, BusBandwidthAtTheFullMachineAgainstTwoNodes) {
  // 8 GPUs per node: 2 nodes = 16 ranks, 4 nodes = 32, 8 nodes = 64.
  const auto run = machine(8, 8);
  const std::vector<StepResult> steps = {sweep_step("ar-2", 16, 400), sweep_step("ar-4", 32, 380),
                                         sweep_step("ar-8", 64, 340)};
  const auto judge = [&](const std::string& scaling, const std::string& bound) {
    return evaluate(contract_of("  - {id: s, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scaling: " +
                                scaling + ", bound: " + bound + "}\n"),
                    run, steps)
        .criteria[0];
  };
  const auto full = judge("{base: {nodes: 2}}", "{min: 0.9}");
  EXPECT_EQ(full.kind, "scaling");
  EXPECT_NEAR(full.measured, 0.85, 1e-12);  // 340 / 400 at the largest scale present
  EXPECT_EQ(full.outcome, Outcome::fail);
  EXPECT_EQ(full.bound, ">= 0.9 x 2 nodes");
  EXPECT_EQ(full.detail, "8 nodes: 340 GB/s; base 2 nodes: 400 GB/s");
  EXPECT_EQ(judge("{base: {nodes: 2}}", "{min: 0.8}").outcome, Outcome::pass);
  EXPECT_NEAR(judge("{base: {nodes: 2}, at: {nodes: 4}}", "{min: 0.9}").measured, 0.95, 1e-12);
  EXPECT_NEAR(judge("{base: {ranks: 16}, at: {ranks: 32}}", "{min: 0.9}").measured, 0.95, 1e-12);

  const auto missing = judge("{base: {nodes: 1}}", "{min: 0.9}");
  EXPECT_EQ(missing.outcome, Outcome::fail);
  EXPECT_EQ(missing.note, "no step at the base scale of 1 nodes (scales present: 2, 4, 8)");
}

TEST(ContractScaling, LowerIsBetterAndNormalisedTotals) {
  const auto run = machine(4, 2);
  // A time that doubles from 1 to 4 nodes: efficiency base / at = 0.5.
  const auto time = evaluate(contract_of("  - {id: t, benchmark: allreduce, point: {bytes: 1M}, metric: time_oop, "
                                         "scaling: {base: {nodes: 1}}, bound: {min: 0.6}}\n"),
                             run, {sweep_step("ar-1", 2, 400), sweep_step("ar-4", 8, 200)});
  EXPECT_NEAR(time.criteria[0].measured, 0.5, 1e-12);
  EXPECT_EQ(time.criteria[0].outcome, Outcome::fail);
  // Machine throughput summed over ranks: 8 ranks give 3.6x 2 ranks: per rank 0.9.
  const StepResult small = rank_step("train-2", "train", {}, "tokens", {100, 100}, Better::higher, "tok/s", 0, {0, 1});
  const StepResult large = rank_step("train-8", "train", {}, "tokens", std::vector<double>(8, 90), Better::higher, "tok/s", 0,
                                     {0, 1, 2, 3, 4, 5, 6, 7});
  const auto weak = evaluate(contract_of("  - {id: w, benchmark: train, metric: tokens, combine: sum, "
                                         "scaling: {base: {ranks: 2}, normalise: ranks}, bound: {min: 0.85}}\n"),
                             run, {small, large});
  EXPECT_NEAR(weak.criteria[0].measured, 0.9, 1e-12);
  EXPECT_EQ(weak.criteria[0].outcome, Outcome::pass);
}

// ---- waivers ----------------------------------------------------------------------------------

const std::string kEveryGpu = "  - {id: every-gpu, benchmark: gemm, metric: tflops, bound: {min: 700}}\n";

TEST(ContractWaivers, AnActiveWaiverShowsTheFailureAsWaived) {
  std::vector<double> values(8, 800);
  values[5] = 600;
  const auto c = contract_of(kEveryGpu, "  - {criterion: every-gpu, hosts: [node02], reason: RMA 4711, expires: 2025-07-01}\n");
  const Verdict v = evaluate(c, machine(4, 2), {gemm(values)}, on("2025-06-15"));
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::waived);
  EXPECT_EQ(v.exit_code(), 0);
  EXPECT_DOUBLE_EQ(cv.measured, 600);  // the truth, not the figure without the waived host
  ASSERT_EQ(cv.worst.size(), 1u);      // never hidden
  EXPECT_TRUE(cv.worst[0].waived);
  EXPECT_EQ(cv.waiver, "waived on node02 until 2025-07-01: RMA 4711");
  EXPECT_TRUE(v.quarantine_hosts().empty());
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "WAIVED")) << text;
  EXPECT_TRUE(contains(text, "waiver: waived on node02 until 2025-07-01: RMA 4711")) << text;
  EXPECT_TRUE(contains(text, "600 TFLOP/s (-14.3%) waived")) << text;
  EXPECT_TRUE(contains(text, "without the waived hosts: 800 TFLOP/s")) << text;
  EXPECT_TRUE(contains(text, "verdict: PASS (0 of 1 criterion passed; 1 waived)")) << text;
  // The last day still applies; the next day it has expired.
  EXPECT_EQ(evaluate(c, machine(4, 2), {gemm(values)}, on("2025-07-01")).criteria[0].outcome, Outcome::waived);
  const Verdict expired = evaluate(c, machine(4, 2), {gemm(values)}, on("2025-07-02"));
  EXPECT_EQ(expired.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(expired.criteria[0].waiver, "waiver on node02 expired on 2025-07-01 and no longer applies: RMA 4711");
  EXPECT_EQ(expired.exit_code(), 1);
  EXPECT_EQ(expired.quarantine_hosts(), std::vector<std::string>{"node02"});
}

TEST(ContractWaivers, AHostWaiverDoesNotCoverOtherHosts) {
  std::vector<double> values(8, 800);
  values[5] = 600;  // node02
  values[6] = 650;  // node03
  const auto c = contract_of(kEveryGpu, "  - {criterion: every-gpu, hosts: node02, reason: RMA, expires: 2099-01-01}\n");
  const Verdict v = evaluate(c, machine(4, 2), {gemm(values)}, on("2025-01-01"));
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  ASSERT_EQ(v.criteria[0].worst.size(), 2u);
  EXPECT_TRUE(v.criteria[0].worst[0].waived);
  EXPECT_FALSE(v.criteria[0].worst[1].waived);
  EXPECT_EQ(v.quarantine_hosts(), std::vector<std::string>{"node03"});
}

TEST(ContractWaivers, AWholeCriterionWaiverAndAPassingCriterion) {
  std::vector<double> values(4, 650);
  const auto c = contract_of(kEveryGpu, "  - {criterion: every-gpu, reason: vendor fix in firmware 2.1, expires: 2030-12-31}\n");
  const Verdict v = evaluate(c, machine(2, 2), {gemm(values)}, on("2025-01-01"));
  EXPECT_EQ(v.criteria[0].outcome, Outcome::waived);
  EXPECT_EQ(v.criteria[0].worst_total, 4u);
  EXPECT_TRUE(v.quarantine_hosts().empty());
  const Verdict passing = evaluate(c, machine(2, 2), {gemm({800, 800, 800, 800})}, on("2025-01-01"));
  EXPECT_EQ(passing.criteria[0].outcome, Outcome::pass);
  // A waiver never covers a step that broke.
  StepResult broken = gemm({});
  broken.status = Status::timeout;
  EXPECT_EQ(evaluate(c, machine(2, 2), {broken}, on("2025-01-01")).exit_code(), 3);
}

// ---- quarantine -------------------------------------------------------------------------------

TEST(ContractQuarantine, HostsOfFailingRanksAndNodesOnce) {
  std::vector<double> values(8, 800);
  values[0] = 600;
  values[1] = 500;  // node00 twice
  values[7] = 100;  // node03
  StepResult step = gemm(values);
  step.per_rank.find("status")->values[4] = static_cast<double>(Status::incorrect);  // node02: wrong answer
  step.rank_messages[4] = "checksum mismatch";
  const auto c = contract_of(kEveryGpu + "  - {id: total, benchmark: gemm, metric: tflops, scope: step, reduce: sum, bound: {min: 1e9}}\n");
  const Verdict v = evaluate(c, machine(4, 2), {step});
  EXPECT_EQ(v.criteria[0].failing_hosts, (std::vector<std::string>{"node00", "node02", "node03"}));
  EXPECT_EQ(v.quarantine_hosts(), (std::vector<std::string>{"node00", "node02", "node03"}));
}

// ---- printing ---------------------------------------------------------------------------------

TEST(ContractPrint, ColourOnlyWhenAsked) {
  const auto c = contract_of(kEveryGpu + "  - {id: low, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  const Verdict v = evaluate(c, machine(1, 2), {gemm({650, 800})});
  const std::string plain = printed(v);
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  const std::string colour = printed(v, true);
  EXPECT_TRUE(contains(colour, "\033[32mPASS\033[0m")) << colour;
  EXPECT_TRUE(contains(colour, "\033[1;31mFAIL\033[0m")) << colour;
}

// ---- the language: errors at their place ------------------------------------------------------

InputError error_of(const std::string& text) {
  try {
    load_contract(text, "contract.yaml");
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an InputError for:\n" << text;
  return InputError("no error");
}

void expect_error(const std::string& text, int line, int column, const std::string& words) {
  const InputError e = error_of(text);
  EXPECT_EQ(e.where().line, line) << e.what();
  EXPECT_EQ(e.where().column, column) << e.what();
  EXPECT_TRUE(contains(e.message(), words)) << "'" << words << "' not in: " << e.what();
}

const std::string kHead = "criteria:\n  - id: a\n    benchmark: gemm\n    metric: tflops\n";

TEST(ContractLanguage, ParsesEveryNewKey) {
  const Contract c = load_contract(kHead + R"(    scope: node
    reduce: sum
    across_repetitions: median
    combine: fraction
    meets: {min: 1400}
    bound: {min: 0.99}
  - id: b
    benchmark: gemm
    metric: tflops
    outliers: {ratio: 0.95, mad: 4, peers: all, side: both, max: 2}
    hold_in: {at_least: 4, of: 5}
  - id: c
    benchmark: allreduce
    point: {bytes: 8G}
    metric: busbw_oop
    scaling: {base: {nodes: 2}, at: {nodes: 1024}, normalise: none}
    bound: {min: 0.9}
waivers:
  - criterion: a
    hosts: [node01, node02]
    reason: RMA 4711
    expires: 2025-07-01
)",
                                   "contract.yaml");
  const auto& a = c.criteria[0];
  EXPECT_EQ(a.scope, Scope::node);
  EXPECT_EQ(a.reduce, Combine::sum);
  EXPECT_EQ(a.across_repetitions, Combine::median);
  EXPECT_EQ(a.combine, Combine::fraction);
  EXPECT_EQ(a.meets->min, 1400);
  const auto& b = c.criteria[1];
  EXPECT_EQ(b.scope, Scope::rank);
  EXPECT_EQ(b.outliers->ratio, 0.95);
  EXPECT_EQ(b.outliers->mad, 4);
  EXPECT_EQ(b.outliers->peers, OutlierRule::Peers::all);
  EXPECT_EQ(b.outliers->side, Side::both);
  EXPECT_EQ(b.outliers->max, 2);
  EXPECT_EQ(b.hold_in->at_least, 4);
  EXPECT_EQ(b.hold_in->of, 5);
  const auto& s = c.criteria[2];
  EXPECT_EQ(s.scope, Scope::step);  // the default with a point
  EXPECT_EQ(s.scaling->dim, ScalingRule::Dim::nodes);
  EXPECT_EQ(s.scaling->base, 2);
  EXPECT_EQ(s.scaling->at, 1024);
  ASSERT_EQ(c.waivers.size(), 1u);
  EXPECT_EQ(c.waivers[0].hosts, (std::vector<std::string>{"node01", "node02"}));
  EXPECT_EQ(c.waivers[0].expires, "2025-07-01");
  EXPECT_EQ(c.waivers[0].where.line, 23);
}

TEST(ContractLanguage, ErrorsInTheNewKeys) {
  expect_error(kHead + "    scope: gpu\n    bound: {min: 1}\n", 5, 12, "unknown scope 'gpu' (expected one of: rank, node, step, repetition, communicator, pair)");
  expect_error(kHead + "    reduce: sum\n    bound: {min: 1}\n", 5, 13, "with scope rank each member is one rank");
  expect_error(kHead + "    scope: node\n    reduce: fraction\n    bound: {min: 1}\n", 6, 13, "applies only to combine");
  expect_error(kHead + "    combine: count\n    bound: {min: 1}\n", 5, 14, "give it as 'meets'");
  expect_error(kHead + "    meets: {min: 700}\n    bound: {min: 1}\n", 5, 5, "'meets' applies only to combine: count");
  expect_error(kHead + "    outliers: {ratio: 0.95}\n    bound: {min: 1}\n", 5, 5, "has both 'bound' and 'outliers'");
  expect_error(kHead + "    outliers: {peers: all}\n", 5, 15, "expected ratio and/or mad");
  expect_error(kHead + "    outliers: {ratio: 1.5}\n", 5, 23, "in (0, 1]");
  expect_error(kHead + "    outliers: {mad: 4, sides: low}\n", 5, 24, "unknown key 'sides' in outliers");
  expect_error(kHead + "    scaling: {at: {nodes: 8}}\n    bound: {min: 1}\n", 5, 14, "missing required key 'base'");
  expect_error(kHead + "    scaling: {base: {nodes: 2}, at: {nodes: 2}}\n    bound: {min: 1}\n", 5, 14, "the same scale");
  expect_error(kHead + "    scaling: {base: {nodes: 2}, at: {ranks: 64}}\n    bound: {min: 1}\n", 5, 38, "both nodes or both ranks");
  expect_error(kHead + "    scaling: {base: {gpus: 2}}\n    bound: {min: 1}\n", 5, 22, "unknown key 'gpus'");
  expect_error(kHead + "    hold_in: {at_least: 6, of: 5}\n    bound: {min: 1}\n", 5, 14, "at_least 6 is more than of 5");
  expect_error(kHead + "    hold_in: 3\n    across_repetitions: median\n    bound: {min: 1}\n", 5, 5, "judges each repetition alone");
  expect_error("criteria:\n  - {id: a, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scope: rank, bound: {min: 1}}\n",
               2, 81, "scope rank needs a per-rank metric");
  expect_error(kHead + "    bound: {min: 1}\n    colour: red\n", 6, 5,
               "expected one of: id, description, benchmark, select, point, metric, scope, reduce");
}

TEST(ContractLanguage, ErrorsInWaivers) {
  const std::string base = kHead + "    bound: {min: 1}\nwaivers:\n";
  expect_error(base + "  - {criterion: b, reason: x, expires: 2025-01-01}\n", 7, 17, "unknown criterion 'b' (expected one of: a)");
  expect_error(base + "  - {criterion: a, reason: x, expires: 2025-02-30}\n", 7, 40, "expected a date as YYYY-MM-DD");
  expect_error(base + "  - {criterion: a, reason: x, expires: next week}\n", 7, 40, "found 'next week'");
  expect_error(base + "  - {criterion: a, reason: x}\n", 7, 5, "missing required key 'expires'");
  expect_error(base + "  - {criterion: a, expires: 2025-01-01}\n", 7, 5, "missing required key 'reason'");
  expect_error(base + "  - {criterion: a, reason: x, expires: 2025-01-01, until: 2026-01-01}\n", 7, 52, "unknown key 'until'");
  expect_error("criteria:\n  - {id: s, benchmark: gemm, metric: tflops, scope: step, bound: {min: 1}}\n"
               "waivers:\n  - {criterion: s, hosts: [n1], reason: x, expires: 2025-01-01}\n",
               4, 20, "judges steps, not hosts");
  EXPECT_TRUE(is_iso_date("2024-02-29"));
  EXPECT_FALSE(is_iso_date("2023-02-29"));
  EXPECT_FALSE(is_iso_date("2023-13-01"));
}

TEST(ContractLanguage, SelectorsThatMatchNoPlannedStepAreErrors) {
  const Contract c = load_contract(R"(criteria:
  - id: fp16
    benchmark: gemm
    select: {dtype: fp16, m: 1024}
    metric: tflops
    bound: {min: 1}
)",
                                   "contract.yaml");
  const std::vector<PlannedStep> planned = {{"gemm", {{"dtype", std::string("fp64")}, {"m", std::int64_t{1024}}}},
                                            {"gemm", {{"dtype", std::string("fp32")}, {"m", std::int64_t{1024}}}}};
  try {
    check_selectors(c, planned);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where().line, 4);
    EXPECT_EQ(e.where().column, 5);
    EXPECT_EQ(e.message(), "criterion 'fp16': select matches none of the 2 planned gemm steps "
                           "(they run with dtype: fp32|fp64; m: 1024)");
  }
  try {
    check_selectors(c, {{"allreduce", {}}});
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where().line, 3);
    EXPECT_TRUE(contains(e.message(), "the campaign runs no gemm step")) << e.what();
  }
  std::vector<PlannedStep> with_fp16 = planned;
  with_fp16.push_back({"gemm", {{"dtype", std::string("fp16")}, {"m", std::int64_t{1024}}}});
  EXPECT_NO_THROW(check_selectors(c, with_fp16));
}

}  // namespace
}  // namespace gpuaccept
