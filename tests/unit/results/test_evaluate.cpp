// Evaluation of a contract on hand-built StepResults: members, combining, evidence, notes for
// missing and broken steps, exit codes, and the printed table.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "results/contract.hpp"
#include "results/evaluate.hpp"

namespace gpuaccept {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string host_name(int node) { return "node0" + std::to_string(node); }

// A run of `n` ranks, two per host: rank r lives on node0<r/2>, GPU-<r>.
RunInfo make_run(int n) {
  RunInfo run;
  run.rank_count = n;
  for (int r = 0; r < n; ++r) {
    run.ranks.push_back(RankInfo{r, host_name(r / 2), r % 2, "NVIDIA H100", "GPU-" + std::to_string(r)});
  }
  return run;
}

// A gemm step with one tflops value per rank; statuses all ok unless given.
StepResult gemm_step(const std::string& id, Params params, const std::vector<double>& tflops,
                     const std::vector<Status>& rank_status = {}) {
  StepResult s;
  s.id = id;
  s.benchmark = "gemm";
  s.params = std::move(params);
  s.backend = "cuda";
  // Columns first, then references: adding a column may move the others.
  s.per_rank.column("rank", "", true);
  s.per_rank.column("status", "", true);
  s.per_rank.column("tflops", "TFLOP/s", false, Better::higher);
  auto& rank = *s.per_rank.find("rank");
  auto& status = *s.per_rank.find("status");
  auto& metric = *s.per_rank.find("tflops");
  for (std::size_t i = 0; i < tflops.size(); ++i) {
    s.ranks.push_back(static_cast<std::int32_t>(i));
    rank.values.push_back(static_cast<double>(i));
    status.values.push_back(static_cast<double>(rank_status.empty() ? Status::ok : rank_status[i]));
    metric.values.push_back(tflops[i]);
    s.rank_messages.emplace_back(rank_status.empty() || rank_status[i] == Status::ok ? "" : "checksum mismatch");
  }
  return s;
}

// An all-reduce sweep over 1K..4M with busbw = bytes / 2^20 * 0.01 GB/s.
StepResult allreduce_step(const std::string& id, const std::string& dtype = "float") {
  StepResult s;
  s.id = id;
  s.benchmark = "allreduce";
  s.params = {{"dtype", dtype}, {"min_bytes", std::int64_t{1024}}, {"max_bytes", std::int64_t{4 << 20}}};
  s.points.column("bytes", "B", true);
  s.points.column("busbw_oop", "GB/s", false, Better::higher);
  auto& bytes = *s.points.find("bytes");
  auto& busbw = *s.points.find("busbw_oop");
  for (double b = 1024; b <= 4 << 20; b *= 4) {
    bytes.values.push_back(b);
    busbw.values.push_back(b / (1 << 20) * 0.01);
  }
  s.per_rank.column("rank", "", true);
  s.per_rank.column("status", "", true);
  auto& rank = *s.per_rank.find("rank");
  auto& status = *s.per_rank.find("status");
  for (int r = 0; r < 2; ++r) {
    s.ranks.push_back(r);
    rank.values.push_back(r);
    status.values.push_back(0);
    s.rank_messages.emplace_back();
  }
  return s;
}

Contract contract_of(const std::string& criteria) {
  return load_contract("contract: test\ncriteria:\n" + criteria, "contract.yaml");
}

std::string printed(const Verdict& v) {
  std::ostringstream out;
  print_verdict(out, v);
  return out.str();
}

TEST(Evaluate, PassesWhenEveryRankMeetsTheMinimum) {
  const auto c = contract_of(R"(  - id: gemm-fp64
    benchmark: gemm
    select: {dtype: fp64, m: 512}
    metric: tflops
    bound: {min: 0.001}
)");
  const std::vector<StepResult> steps = {
      gemm_step("gemm-aaaa", {{"dtype", std::string("fp64")}, {"m", std::int64_t{512}}}, {0.02, 0.03, 0.025, 0.04}),
      // Not selected: another dtype and another size, both far below the bound.
      gemm_step("gemm-bbbb", {{"dtype", std::string("fp32")}, {"m", std::int64_t{512}}}, {0, 0, 0, 0}),
      gemm_step("gemm-cccc", {{"dtype", std::string("fp64")}, {"m", std::int64_t{256}}}, {0, 0, 0, 0}),
  };
  const Verdict v = evaluate(c, make_run(4), steps);
  ASSERT_EQ(v.criteria.size(), 1u);
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(cv.measured, 0.02);
  EXPECT_EQ(cv.members, 4u);
  EXPECT_EQ(cv.steps, 1u);
  EXPECT_EQ(cv.unit, "TFLOP/s");
  EXPECT_EQ(cv.bound, ">= 0.001");
  EXPECT_EQ(cv.combine, "min");
  EXPECT_TRUE(cv.note.empty());
  EXPECT_TRUE(cv.worst.empty());
  EXPECT_EQ(cv.worst_total, 0u);
  EXPECT_EQ(v.exit_code(), 0);
}

TEST(Evaluate, FailListsTheWorstRanksInOrderWithHosts) {
  const auto c = contract_of(R"(  - id: gemm-fp64
    benchmark: gemm
    select: {dtype: fp64}
    metric: tflops
    bound: {min: 10}
)");
  // Ranks 1, 3, 4 and 6 are short: by 60 %, 10 %, 90 % and 30 %.
  const std::vector<StepResult> steps = {gemm_step(
      "gemm-aaaa", {{"dtype", std::string("fp64")}}, {12, 4, 11, 9, 1, 10, 7, 15})};
  EvaluateOptions options;
  options.max_evidence = 3;
  const Verdict v = evaluate(c, make_run(8), steps, options);
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 1);
  EXPECT_EQ(cv.members, 8u);
  EXPECT_EQ(cv.worst_total, 4u);
  ASSERT_EQ(cv.worst.size(), 3u);
  EXPECT_EQ(cv.worst[0].rank, 4);
  EXPECT_EQ(cv.worst[0].host, "node02");
  EXPECT_EQ(cv.worst[0].uuid, "GPU-4");
  EXPECT_EQ(cv.worst[0].device, "NVIDIA H100");
  EXPECT_EQ(cv.worst[0].step_id, "gemm-aaaa");
  EXPECT_DOUBLE_EQ(cv.worst[0].value, 1);
  EXPECT_NEAR(cv.worst[0].shortfall, 0.9, 1e-12);
  EXPECT_EQ(cv.worst[1].rank, 1);
  EXPECT_EQ(cv.worst[1].host, "node00");
  EXPECT_NEAR(cv.worst[1].shortfall, 0.6, 1e-12);
  EXPECT_EQ(cv.worst[2].rank, 6);
  EXPECT_EQ(cv.worst[2].host, "node03");
  EXPECT_NEAR(cv.worst[2].shortfall, 0.3, 1e-12);
  EXPECT_EQ(v.exit_code(), 1);

  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "worst: rank 4  host node02  gpu 0  GPU-4  1 TFLOP/s (-90.0%)  step gemm-aaaa")) << text;
  EXPECT_EQ(cv.worst[0].gpu, 0);
  EXPECT_EQ(cv.worst[1].gpu, 1);
  EXPECT_TRUE(contains(text, "(-90.0%)")) << text;
  EXPECT_TRUE(contains(text, "... and 1 more outside the bound")) << text;
  EXPECT_TRUE(contains(text, "verdict: FAIL (1 of 1 criterion failed)")) << text;
}

TEST(Evaluate, MaximumBoundShortfallCountsFromAbove) {
  const auto c = contract_of(R"(  - id: gemm-time
    benchmark: gemm
    metric: tflops
    combine: max
    bound: {max: 2}
)");
  const std::vector<StepResult> steps = {gemm_step("gemm-aaaa", {}, {1, 3, 2.5, 2})};
  const Verdict v = evaluate(c, make_run(4), steps);
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 3);
  ASSERT_EQ(cv.worst.size(), 2u);
  EXPECT_EQ(cv.worst[0].rank, 1);
  EXPECT_NEAR(cv.worst[0].shortfall, 0.5, 1e-12);
  EXPECT_EQ(cv.worst[1].rank, 2);
  EXPECT_NEAR(cv.worst[1].shortfall, 0.25, 1e-12);
  EXPECT_TRUE(contains(printed(v), "(+50.0%)"));
}

TEST(Evaluate, PercentilesOnKnownData) {
  // 1..101 over 101 ranks: p01 = 2, p05 = 6, p50 = median = 51, p95 = 96, p99 = 100, mean = 51.
  std::vector<double> values;
  for (int i = 1; i <= 101; ++i) values.push_back(i);
  const std::vector<StepResult> steps = {gemm_step("gemm-aaaa", {}, values)};
  const RunInfo run = make_run(101);
  const std::vector<std::pair<std::string, double>> expected = {
      {"p01", 2}, {"p05", 6}, {"p50", 51}, {"median", 51}, {"p95", 96}, {"p99", 100}, {"mean", 51},
      {"min", 1}, {"max", 101}};
  for (const auto& [combine, value] : expected) {
    const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, combine: " + combine +
                               ", bound: {min: 0}}\n");
    const Verdict v = evaluate(c, run, steps);
    EXPECT_NEAR(v.criteria[0].measured, value, 1e-9) << combine;
    EXPECT_EQ(v.criteria[0].outcome, Outcome::pass) << combine;
  }
  // p01 interpolates: over 1..11 the 1st percentile lies a tenth of the way from 1 to 2.
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, combine: p01, bound: {min: 1.2}}\n");
  const std::vector<StepResult> small = {gemm_step("gemm-bbbb", {}, {11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1})};
  const Verdict v = evaluate(c, make_run(11), small);
  EXPECT_NEAR(v.criteria[0].measured, 1.1, 1e-12);
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  // Evidence lists the members outside the bound even though the figure is a percentile.
  EXPECT_EQ(v.criteria[0].worst_total, 1u);
  EXPECT_EQ(v.criteria[0].worst[0].rank, 10);
}

TEST(Evaluate, MedianPassesDespiteAnOutlierBelow) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, combine: median, bound: {min: 5}}\n");
  const Verdict v = evaluate(c, make_run(3), {gemm_step("gemm-aaaa", {}, {1, 6, 7})});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(v.criteria[0].measured, 6);
  EXPECT_TRUE(v.criteria[0].worst.empty());
}

TEST(Evaluate, SelectorMatchesAcrossNumberTypesAndSizes) {
  const std::vector<StepResult> steps = {
      gemm_step("gemm-int", {{"m", std::int64_t{512}}, {"bytes", std::int64_t{1 << 20}}}, {5}),
      gemm_step("gemm-dbl", {{"m", 512.0}, {"bytes", std::int64_t{1 << 20}}}, {6}),
      gemm_step("gemm-oth", {{"m", std::int64_t{1024}}, {"bytes", std::int64_t{2 << 20}}}, {7}),
  };
  const RunInfo run = make_run(1);
  const auto count = [&](const std::string& select) {
    const auto c = contract_of("  - {id: x, benchmark: gemm, select: " + select +
                               ", metric: tflops, bound: {min: 0}}\n");
    return evaluate(c, run, steps).criteria[0].steps;
  };
  EXPECT_EQ(count("{m: 512}"), 2u);    // int64 512 and double 512.0 are equal
  EXPECT_EQ(count("{m: 512.0}"), 2u);
  EXPECT_EQ(count("{m: [512, 1024]}"), 3u);
  EXPECT_EQ(count("{bytes: 1M}"), 2u);  // "1M" against an integer parameter reads as a size
  EXPECT_EQ(count("{bytes: [1M, 2M]}"), 3u);
  EXPECT_EQ(count("{m: \"512\"}"), 2u);  // a quoted number still reads as that size
  EXPECT_EQ(count("{m: 513}"), 0u);
}

TEST(Evaluate, SelectorMatchesStringsAndBools) {
  StepResult a = gemm_step("gemm-a", {{"dtype", std::string("bf16")}, {"pinned", true}}, {1});
  StepResult b = gemm_step("gemm-b", {{"dtype", std::string("fp16")}, {"pinned", false}}, {1});
  const RunInfo run = make_run(1);
  const auto count = [&](const std::string& select) {
    const auto c = contract_of("  - {id: x, benchmark: gemm, select: " + select +
                               ", metric: tflops, bound: {min: 0}}\n");
    return evaluate(c, run, {a, b}).criteria[0].steps;
  };
  EXPECT_EQ(count("{dtype: bf16}"), 1u);
  EXPECT_EQ(count("{dtype: [bf16, fp16]}"), 2u);
  EXPECT_EQ(count("{pinned: true}"), 1u);
  EXPECT_EQ(count("{pinned: false, dtype: fp16}"), 1u);
  EXPECT_EQ(count("{dtype: BF16}"), 0u);
  EXPECT_EQ(count("{nosuch: 1}"), 0u);  // a step without that parameter does not match
}

TEST(Evaluate, PointSelectionBySize) {
  const auto c = contract_of(R"(  - id: allreduce-busbw-1M
    benchmark: allreduce
    point: {bytes: 1M}
    metric: busbw_oop
    bound: {min: 0.005}
)");
  const std::vector<StepResult> steps = {allreduce_step("allreduce-aaaa"), allreduce_step("allreduce-bbbb")};
  const Verdict v = evaluate(c, make_run(2), steps);
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(cv.measured, 0.01);  // the 1 MiB row only, never an average over sizes
  EXPECT_EQ(cv.members, 2u);
  EXPECT_EQ(cv.steps, 2u);
  EXPECT_EQ(cv.unit, "GB/s");
  EXPECT_EQ(cv.point, "bytes=1048576");
}

TEST(Evaluate, PointFailShowsTheStepAsEvidence) {
  const auto c = contract_of("  - {id: ar, benchmark: allreduce, point: {bytes: 4M}, metric: busbw_oop, bound: {min: 0.05}}\n");
  const Verdict v = evaluate(c, make_run(2), {allreduce_step("allreduce-aaaa")});
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 0.04);
  ASSERT_EQ(cv.worst.size(), 1u);
  EXPECT_EQ(cv.worst[0].rank, -1);
  EXPECT_EQ(cv.worst[0].step_id, "allreduce-aaaa");
  EXPECT_NEAR(cv.worst[0].shortfall, 0.2, 1e-12);
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "FAIL  (busbw_oop at bytes=4194304, min over 1 step)")) << text;
  EXPECT_TRUE(contains(text, "0.04 GB/s")) << text;
}

TEST(Evaluate, PointThatNoRowHasFails) {
  const auto c = contract_of("  - {id: ar, benchmark: allreduce, point: {bytes: 3M}, metric: busbw_oop, bound: {min: 0}}\n");
  const Verdict v = evaluate(c, make_run(2), {allreduce_step("allreduce-aaaa")});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].members, 0u);
  EXPECT_TRUE(std::isnan(v.criteria[0].measured));
  EXPECT_TRUE(contains(v.criteria[0].note, "step allreduce-aaaa has no point bytes=3145728")) << v.criteria[0].note;
}

TEST(Evaluate, MissingStepFailsWithANote) {
  const auto c = contract_of(R"(  - id: gemm-fp16
    benchmark: gemm
    select: {dtype: fp16}
    metric: tflops
    bound: {min: 700}
  - id: stream
    benchmark: stream
    metric: bandwidth
    bound: {min: 1}
)");
  const std::vector<StepResult> steps = {gemm_step("gemm-aaaa", {{"dtype", std::string("fp64")}}, {1000})};
  const Verdict v = evaluate(c, make_run(1), steps);
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].steps, 0u);
  EXPECT_EQ(v.criteria[0].members, 0u);
  EXPECT_TRUE(std::isnan(v.criteria[0].measured));
  EXPECT_EQ(v.criteria[0].note, "no step of benchmark gemm matched select {dtype: fp16}");
  EXPECT_EQ(v.criteria[1].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[1].note, "no step of benchmark stream in this run");
  EXPECT_EQ(v.exit_code(), 1);  // nothing broke: a criterion failed
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "note: no step of benchmark gemm matched select {dtype: fp16}")) << text;
  EXPECT_TRUE(contains(text, "(tflops: nothing measured)")) << text;
  EXPECT_TRUE(contains(text, "verdict: FAIL (2 of 2 criteria failed)")) << text;
}

TEST(Evaluate, SkippedStepFails) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, select: {dtype: fp16}, metric: tflops, bound: {min: 1}}\n");
  StepResult s = gemm_step("gemm-aaaa", {{"dtype", std::string("fp16")}}, {});
  s.status = Status::skipped;
  s.reason = "fp16 needs a GPU";
  const Verdict v = evaluate(c, make_run(1), {s});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].steps, 1u);
  EXPECT_EQ(v.criteria[0].note, "step gemm-aaaa (gemm dtype=fp16) was skipped: fp16 needs a GPU");
  EXPECT_TRUE(v.broken_steps.empty());  // not applicable is never "broken"
  EXPECT_TRUE(v.incorrect_steps.empty());
  EXPECT_EQ(v.exit_code(), 1);
}

TEST(Evaluate, TimedOutStepFailsAndTheRunBroke) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  StepResult s = gemm_step("gemm-1234abcd", {{"dtype", std::string("fp64")}}, {5, 5});
  s.status = Status::timeout;
  s.reason = "rank 1 on node00 passed the 60 s limit";
  const Verdict v = evaluate(c, make_run(2), {s});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].members, 0u);
  EXPECT_EQ(v.criteria[0].note,
            "step gemm-1234abcd (gemm dtype=fp64) timed out: rank 1 on node00 passed the 60 s limit");
  ASSERT_EQ(v.broken_steps.size(), 1u);
  EXPECT_EQ(v.broken_steps[0], v.criteria[0].note);
  EXPECT_EQ(v.exit_code(), 3);
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "broken steps (1):\n  step gemm-1234abcd")) << text;
  EXPECT_TRUE(contains(text, "1 step broke")) << text;
}

TEST(Evaluate, SomeStepsBrokeOthersPassStillFails) {
  // Nothing is waived: the ok repetition meets the bound, the one that failed still fails it.
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  StepResult ok = gemm_step("gemm-rep0", {}, {5, 6});
  StepResult broken = gemm_step("gemm-rep1", {}, {});
  broken.repetition = 1;
  broken.status = Status::error;
  broken.reason = "cublasLtMatmul failed on node00";
  const Verdict v = evaluate(c, make_run(2), {ok, broken});
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 5);  // judged on the ok step
  EXPECT_EQ(cv.members, 2u);
  EXPECT_EQ(cv.steps, 2u);
  EXPECT_TRUE(cv.worst.empty());  // no member is outside the bound: the note says why it failed
  EXPECT_EQ(cv.note, "step gemm-rep1 (gemm) failed: cublasLtMatmul failed on node00");
  EXPECT_EQ(v.exit_code(), 3);
}

TEST(Evaluate, IncorrectStepFailsCriterionAndExitsOne) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  StepResult s = gemm_step("gemm-aaaa", {}, {5, 6}, {Status::ok, Status::incorrect});
  s.status = Status::incorrect;
  s.reason = "rank 1 on node00: checksum mismatch";
  const Verdict v = evaluate(c, make_run(2), {s});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  ASSERT_EQ(v.incorrect_steps.size(), 1u);
  EXPECT_EQ(v.incorrect_steps[0], "step gemm-aaaa (gemm) gave a wrong answer: rank 1 on node00: checksum mismatch");
  EXPECT_TRUE(v.broken_steps.empty());
  EXPECT_EQ(v.exit_code(), 1);
}

TEST(Evaluate, NonOkRankInAnOkStepIsNotSilentlyDropped) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  const StepResult s = gemm_step("gemm-aaaa", {}, {5, 0, 6}, {Status::ok, Status::incorrect, Status::ok});
  const Verdict v = evaluate(c, make_run(3), {s});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].members, 2u);
  EXPECT_DOUBLE_EQ(v.criteria[0].measured, 5);
  EXPECT_EQ(v.criteria[0].note, "step gemm-aaaa: rank 1 on node00 gave a wrong answer: checksum mismatch");
}

TEST(Evaluate, NaNValueFails) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  const Verdict v = evaluate(c, make_run(2), {gemm_step("gemm-aaaa", {}, {5, std::nan("")})});
  const auto& cv = v.criteria[0];
  EXPECT_EQ(cv.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(cv.measured, 5);
  EXPECT_EQ(cv.note, "1 member has no value (NaN)");
  ASSERT_EQ(cv.worst.size(), 1u);
  EXPECT_EQ(cv.worst[0].rank, 1);
}

TEST(Evaluate, MissingMetricColumnFails) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: gflops, bound: {min: 1}}\n");
  const Verdict v = evaluate(c, make_run(1), {gemm_step("gemm-aaaa", {}, {5})});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_EQ(v.criteria[0].note, "step gemm-aaaa recorded no per-rank metric 'gflops'");
}

TEST(Evaluate, BrokenAndIncorrectStepsListedEvenWhenNotSelected) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, select: {dtype: fp64}, metric: tflops, bound: {min: 1}}\n");
  StepResult selected = gemm_step("gemm-aaaa", {{"dtype", std::string("fp64")}}, {5});
  StepResult wrong = gemm_step("gemm-bbbb", {{"dtype", std::string("fp32")}}, {5});
  wrong.status = Status::incorrect;
  wrong.reason = "max error 1e-2";
  StepResult skipped = gemm_step("gemm-cccc", {{"dtype", std::string("fp16")}}, {});
  skipped.status = Status::skipped;
  skipped.reason = "needs a GPU";
  Verdict v = evaluate(c, make_run(1), {selected, wrong, skipped});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::pass);
  EXPECT_TRUE(v.broken_steps.empty());
  ASSERT_EQ(v.incorrect_steps.size(), 1u);
  EXPECT_TRUE(contains(v.incorrect_steps[0], "gemm-bbbb"));
  EXPECT_EQ(v.exit_code(), 1);  // every criterion passed, but a step gave a wrong answer
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "incorrect steps (1):")) << text;
  EXPECT_TRUE(contains(text, "verdict: FAIL (1 of 1 criterion passed; 1 step gave a wrong answer)")) << text;

  StepResult crashed = gemm_step("gemm-dddd", {{"dtype", std::string("int8")}}, {});
  crashed.status = Status::error;
  crashed.reason = "segfault";
  v = evaluate(c, make_run(1), {selected, wrong, crashed});
  ASSERT_EQ(v.broken_steps.size(), 1u);
  EXPECT_EQ(v.broken_steps[0], "step gemm-dddd (gemm dtype=int8) failed: segfault");
  EXPECT_EQ(v.exit_code(), 3);  // broken beats incorrect
}

TEST(Evaluate, ExitCodes) {
  Verdict v;
  EXPECT_EQ(v.exit_code(), 0);
  v.criteria.push_back(CriterionVerdict{});
  v.criteria.back().outcome = Outcome::pass;
  EXPECT_EQ(v.exit_code(), 0);
  v.criteria.push_back(CriterionVerdict{});
  v.criteria.back().outcome = Outcome::fail;
  EXPECT_EQ(v.exit_code(), 1);
  v.criteria.back().outcome = Outcome::pass;
  v.incorrect_steps.push_back("x");
  EXPECT_EQ(v.exit_code(), 1);
  v.broken_steps.push_back("y");
  EXPECT_EQ(v.exit_code(), 3);
}

TEST(Evaluate, PrintsAnAlignedTable) {
  const auto c = contract_of(R"(  - {id: gemm-fp64-per-rank, benchmark: gemm, metric: tflops, bound: {min: 0.001}}
  - {id: allreduce-busbw-1M, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, bound: {min: 0.05}}
)");
  const std::vector<StepResult> steps = {gemm_step("gemm-aaaa", {}, {0.0213, 0.03}),
                                         allreduce_step("allreduce-bbbb")};
  const Verdict v = evaluate(c, make_run(2), steps);
  const std::string text = printed(v);
  const std::string expected =
      "criterion            measured         bound      verdict\n"
      "gemm-fp64-per-rank   0.0213 TFLOP/s   >= 0.001   PASS\n"
      "allreduce-busbw-1M   0.01 GB/s        >= 0.05    FAIL  (busbw_oop at bytes=1048576, min over 1 step)\n"
      "    worst: point bytes=1048576  0.01 GB/s (-80.0%)  step allreduce-bbbb\n"
      "\n"
      "verdict: FAIL (1 of 2 criteria failed)\n";
  EXPECT_EQ(text, expected);

  const Verdict all_pass = evaluate(contract_of("  - {id: g, benchmark: gemm, metric: tflops, bound: {min: 0.001}}\n"),
                                    make_run(2), steps);
  EXPECT_TRUE(contains(printed(all_pass), "verdict: PASS (1 of 1 criterion passed)"));
}

TEST(Evaluate, WithoutCriteriaOnlyStepsAreJudged) {
  // `gpuaccept check` without a contract still judges correctness and step status.
  StepResult wrong = gemm_step("gemm-aaaa", {}, {1});
  wrong.status = Status::incorrect;
  wrong.reason = "bad";
  StepResult hung = gemm_step("gemm-bbbb", {}, {});
  hung.status = Status::timeout;
  const Verdict v = evaluate(Contract{}, make_run(1), {wrong, hung});
  EXPECT_TRUE(v.criteria.empty());
  EXPECT_EQ(v.exit_code(), 3);
  EXPECT_EQ(printed(v),
            "broken steps (1):\n  step gemm-bbbb (gemm) timed out\n\n"
            "incorrect steps (1):\n  step gemm-aaaa (gemm) gave a wrong answer: bad\n\n"
            "verdict: FAIL (no criteria; 1 step broke; 1 step gave a wrong answer)\n");
  EXPECT_EQ(printed(evaluate(Contract{}, make_run(1), {gemm_step("gemm-cccc", {}, {1})})),
            "verdict: PASS (no criteria)\n");
}

TEST(Evaluate, LargeValuesPrintWithoutExponent) {
  const auto c = contract_of("  - {id: x, benchmark: gemm, metric: tflops, bound: {min: 1}}\n");
  const Verdict v = evaluate(c, make_run(1), {gemm_step("gemm-aaaa", {}, {123456.7})});
  EXPECT_TRUE(contains(printed(v), "123457 TFLOP/s")) << printed(v);
}

}  // namespace
}  // namespace gpuaccept
