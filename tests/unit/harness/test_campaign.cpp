#include <gtest/gtest.h>

#include "harness/campaign.hpp"
#include "harness/plan.hpp"

using namespace gpuaccept;
using namespace gpuaccept::harness;

namespace {

const suites::Registry& registry() { return suites::Registry::instance(); }

Campaign load(const std::string& text) { return load_campaign(text, "c.yaml", registry()); }

// The error's place and words, as the user sees them.
std::string error_of(const std::string& text) {
  try {
    load(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

const char* kBase = "campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {m: 64, n: 32, k: 16}\n";

}  // namespace

TEST(Campaign, ExpandsListsAndFillsDefaults) {
  const Campaign c = load(
      "campaign: t\n"
      "system: sys\n"
      "phase: p1\n"
      "repetitions: 2\n"
      "contract: ../contracts/x.yaml\n"
      "defaults: {iterations: 7}\n"
      "benchmarks:\n"
      "  - benchmark: gemm\n"
      "    params: {m: [64, 128], n: 32, k: 16, dtype: [fp64, fp32]}\n"
      "  - benchmark: allreduce\n"
      "    params: {max_bytes: 4M}\n");
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.system, "sys");
  EXPECT_EQ(c.phase, "p1");
  EXPECT_EQ(c.repetitions, 2);
  EXPECT_EQ(c.contract_path, "../contracts/x.yaml");
  ASSERT_EQ(c.entries.size(), 2u);
  ASSERT_EQ(c.entries[0].expanded.size(), 4u);
  const Params& first = c.entries[0].expanded[0];
  EXPECT_EQ(std::get<std::int64_t>(first.at("m")), 64);
  EXPECT_EQ(std::get<std::string>(first.at("dtype")), "fp64");
  EXPECT_EQ(std::get<std::int64_t>(first.at("iterations")), 7);  // from defaults
  EXPECT_EQ(std::get<std::int64_t>(first.at("warmup")), 2);      // the benchmark's default
  EXPECT_EQ(std::get<std::int64_t>(c.entries[1].expanded[0].at("max_bytes")), 4 << 20);
  EXPECT_EQ(std::get<std::int64_t>(c.entries[1].expanded[0].at("min_bytes")), 8);
  EXPECT_EQ(c.entries[1].where.line, 10);
}

TEST(Campaign, ErrorsNameFileLineColumnAndWhatWasExpected) {
  EXPECT_EQ(error_of("campaign: t\nbenchmarks: [\n"), "c.yaml:3:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(error_of(std::string(kBase) + "colour: red\n"),
            "c.yaml:5:1: unknown key 'colour' in the campaign (expected one of: campaign, description, system, "
            "phase, backend, repetitions, contract, output_dir, defaults, benchmarks)");
  EXPECT_EQ(error_of("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {m: big}\n"),
            "c.yaml:4:17: parameter 'm': expected an integer in [1, 1.04858e+06], found 'big'");
  EXPECT_EQ(error_of("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {m: 0}\n"),
            "c.yaml:4:17: parameter 'm': expected an integer in [1, 1.04858e+06], found 0 (out of range)");
  EXPECT_NE(error_of("campaign: t\nbenchmarks:\n  - benchmark: nope\n").find("c.yaml:3:16: unknown benchmark 'nope'"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbenchmarks:\n  - benchmark: allreduce\n    params: {max_bytes: -1}\n")
                .find("c.yaml:4:25: parameter 'max_bytes': expected a size in bytes"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbenchmarks:\n  - benchmark: allreduce\n    params: {min_bytes: 2M, max_bytes: 1M}\n")
                .find("c.yaml:4:13: benchmark allreduce: min_bytes (2097152) is larger than max_bytes (1048576)"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbenchmarks: []\n").find("c.yaml:2:13: benchmarks: expected a non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of("benchmarks:\n  - benchmark: gemm\n").find("missing required key 'campaign'"), std::string::npos);
  EXPECT_NE(error_of("campaign: t\nrepetitions: many\nbenchmarks:\n  - benchmark: gemm\n")
                .find("c.yaml:2:14: repetitions: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\ndefaults: {iteratons: 3}\nbenchmarks:\n  - benchmark: gemm\n")
                .find("c.yaml:2:12: defaults: 'iteratons' is a parameter of no registered benchmark"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {in_place: true}\n")
                .find("unknown parameter 'in_place' of benchmark gemm"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbenchmarks:\n  - benchmark: allreduce\n    params: {in_place: maybe}\n")
                .find("c.yaml:4:24: parameter 'in_place': expected true or false"),
            std::string::npos);
  EXPECT_NE(error_of("campaign: t\nbackend: rocm\nbenchmarks:\n  - benchmark: gemm\n")
                .find("c.yaml:2:10: backend: expected one of: auto, cpu, cuda"),
            std::string::npos);
}

TEST(Campaign, MissingFileIsAnInputError) {
  try {
    load_campaign_file("/nonexistent/c.yaml", registry());
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/c.yaml: no such file");
  }
}

TEST(Plan, StepIdsAreStableAndContentDerived) {
  const Params a{{"m", std::int64_t{64}}, {"dtype", std::string("fp32")}};
  const Params b{{"dtype", std::string("fp32")}, {"m", std::int64_t{64}}};  // same content, other order
  const Params c{{"m", std::int64_t{65}}, {"dtype", std::string("fp32")}};
  EXPECT_EQ(step_id("gemm", a, 0), step_id("gemm", b, 0));
  EXPECT_NE(step_id("gemm", a, 0), step_id("gemm", c, 0));
  EXPECT_NE(step_id("gemm", a, 0), step_id("gemm", a, 1));
  EXPECT_NE(step_id("gemm", a, 0), step_id("allreduce", a, 0));
  // Fixed value: a change of the id scheme breaks resume and nightly comparisons, so it must
  // be deliberate (and then this expectation changes with a note in docs/results-schema.md).
  EXPECT_EQ(step_id("gemm", a, 0), "gemm-3356e234f7169105");  // FNV-1a 64 of "gemm|dtype=fp32 m=64|rep=0"
  EXPECT_EQ(step_id("gemm", a, 0).size(), 5u + 16u);
}

TEST(Plan, AParameterAtItsDefaultDoesNotChangeTheId) {
  // The id hashes the parameters that differ from the benchmark's defaults, so that naming a
  // default explicitly, or a parameter added to the benchmark in a later version (at its
  // default), leaves every id as it was.
  const auto id_of = [](const std::string& params) {
    const auto steps = plan(load("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: " + params + "\n"),
                            registry(), kernels::Backend::cpu, 1);
    EXPECT_EQ(steps.size(), 1u);
    return steps.empty() ? std::string() : steps[0].id;
  };
  const std::string plain = id_of("{m: 64, n: 64, k: 64}");
  EXPECT_EQ(plain, step_id("gemm", Params{{"k", std::int64_t{64}}, {"m", std::int64_t{64}}, {"n", std::int64_t{64}}}, 0));
  EXPECT_EQ(id_of("{m: 64, n: 64, k: 64, dtype: fp32, seed: 1}"), plain);  // both are gemm's defaults
  EXPECT_NE(id_of("{m: 64, n: 64, k: 64, dtype: fp64}"), plain);
  EXPECT_NE(id_of("{m: 64, n: 64, k: 65}"), plain);
}

TEST(Plan, RepetitionsAndDuplicates) {
  const Campaign c = load(
      "campaign: t\nrepetitions: 3\nbenchmarks:\n"
      "  - benchmark: gemm\n    params: {m: 64, n: 64, k: 64, dtype: [fp64, fp32]}\n"
      "  - benchmark: gemm\n    params: {m: 64, n: 64, k: 64, dtype: fp64}\n");  // a duplicate of the first
  const auto steps = plan(c, registry(), kernels::Backend::cpu, 2);
  ASSERT_EQ(steps.size(), 6u);
  EXPECT_EQ(steps[0].repetition, 0);
  EXPECT_EQ(steps[2].repetition, 1);
  EXPECT_EQ(steps[5].repetition, 2);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].index, i);
    EXPECT_GT(steps[i].estimate_seconds, 0);
    for (std::size_t j = i + 1; j < steps.size(); ++j) EXPECT_NE(steps[i].id, steps[j].id);
  }
  // Bigger work, longer estimate.
  const Campaign big = load("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {m: 2048, n: 2048, k: 2048}\n");
  const auto big_steps = plan(big, registry(), kernels::Backend::cpu, 2);
  EXPECT_GT(big_steps[0].estimate_seconds, steps[0].estimate_seconds * 100);
  const std::string text = format_plan(c, steps, kernels::Backend::cpu, 2);
  EXPECT_NE(text.find("6 steps, 2 rank(s), backend cpu"), std::string::npos);
  EXPECT_NE(text.find(steps[3].id), std::string::npos);
  EXPECT_NE(text.find("estimated total"), std::string::npos);
}

TEST(Registry, EveryBenchmarkIsCompleteAndListsCommonParameters) {
  ASSERT_GE(registry().all().size(), 2u);
  for (const auto& b : registry().all()) {
    SCOPED_TRACE(b.name);
    EXPECT_FALSE(b.summary.empty());
    EXPECT_TRUE(b.run);
    EXPECT_TRUE(b.estimate_seconds);
    EXPECT_FALSE(b.rank_metrics.empty());
    bool has_iterations = false, has_timeout = false;
    for (const auto& p : b.params) {
      has_iterations = has_iterations || p.name == suites::kIterationsParam;
      has_timeout = has_timeout || p.name == suites::kTimeoutParam;
    }
    EXPECT_TRUE(has_iterations && has_timeout);
  }
  const auto catalog = registry().catalog();
  const auto it = std::find_if(catalog.begin(), catalog.end(), [](const auto& e) { return e.name == "allreduce"; });
  ASSERT_NE(it, catalog.end());
  EXPECT_NE(std::find(it->point_metrics.begin(), it->point_metrics.end(), "busbw_oop"), it->point_metrics.end());
  EXPECT_NE(std::find(it->point_keys.begin(), it->point_keys.end(), "bytes"), it->point_keys.end());
}

TEST(Campaign, SystemNamesADescriptionFileOrABareName) {
  const std::string dir = GPUACCEPT_SOURCE_DIR "/configs";
  const Campaign named = load_campaign(std::string("campaign: t\nsystem: systems/phase1-8500.yaml\n") +
                                           "benchmarks:\n  - benchmark: gemm\n",
                                       dir + "/c.yaml", registry());
  ASSERT_NE(named.system_description, nullptr);
  EXPECT_EQ(named.system, "phase1-8500");
  EXPECT_EQ(named.system_description->nodes, 1063);
  const Campaign bare = load("campaign: t\nsystem: local\nbenchmarks:\n  - benchmark: gemm\n");
  EXPECT_EQ(bare.system, "local");
  EXPECT_EQ(bare.system_description, nullptr);
  // A missing description is named where the campaign names it.
  EXPECT_EQ(error_of("campaign: t\nsystem: nope.yaml\nbenchmarks:\n  - benchmark: gemm\n"),
            "c.yaml:2:9: system: nope.yaml: no such system description");
}

TEST(Campaign, ANamedSetExpandsToItsMembersInOrder) {
  const Campaign c = load(
      "campaign: t\n"
      "benchmarks:\n"
      "  - benchmark: gemm\n"
      "    params: {shape: square, dtype: fp32}\n"
      "  - benchmark: gemm\n"
      "    params: {shape: [square-1024, llama70b], dtype: fp32}\n");
  ASSERT_EQ(c.entries.size(), 2u);
  std::vector<std::string> square;
  for (const auto& p : c.entries[0].expanded) square.push_back(std::get<std::string>(p.at("shape")));
  EXPECT_EQ(square, (std::vector<std::string>{"square-1024", "square-2048", "square-4096", "square-8192", "square-16384"}));
  ASSERT_EQ(c.entries[1].expanded.size(), 9u);  // one named shape and the eight Llama-70B GEMMs
  EXPECT_EQ(std::get<std::string>(c.entries[1].expanded[0].at("shape")), "square-1024");
  EXPECT_EQ(std::get<std::string>(c.entries[1].expanded[1].at("shape")), "llama70b-qkv-t4096");
  // An unknown name is still an error that offers the sets.
  const std::string e = error_of("campaign: t\nbenchmarks:\n  - benchmark: gemm\n    params: {shape: squares}\n");
  EXPECT_NE(e.find("c.yaml:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("or a set: llama70b, square"), std::string::npos) << e;
}

// A benchmark's own warmup/iterations defaults: below a campaign's `defaults:` and a step's own
// values, above the global 2 and 10.
TEST(Registry, ABenchmarkDeclaresItsOwnWarmupAndIterationDefaults) {
  suites::Registry local;
  suites::BenchmarkDef plain;
  plain.name = "plain";
  plain.summary = "global defaults";
  suites::BenchmarkDef once = plain;
  once.name = "once";
  once.summary = "one iteration, no warm-up";
  once.default_warmup = 0;
  once.default_iterations = 1;
  local.add(plain);
  local.add(once);
  const auto bound = [&](const std::string& text, std::size_t step, const char* name) {
    const Campaign c = load_campaign(text, "c.yaml", local);
    return std::get<std::int64_t>(c.entries.at(step).expanded.at(0).at(name));
  };
  const std::string two = "campaign: t\nbenchmarks:\n  - benchmark: plain\n  - benchmark: once\n";
  EXPECT_EQ(bound(two, 0, suites::kWarmupParam), suites::kDefaultWarmup);
  EXPECT_EQ(bound(two, 0, suites::kIterationsParam), suites::kDefaultIterations);
  EXPECT_EQ(bound(two, 1, suites::kWarmupParam), 0);
  EXPECT_EQ(bound(two, 1, suites::kIterationsParam), 1);
  const std::string campaign_wide = "campaign: t\ndefaults: {iterations: 4}\nbenchmarks:\n  - benchmark: once\n";
  EXPECT_EQ(bound(campaign_wide, 0, suites::kIterationsParam), 4);
  EXPECT_EQ(bound(campaign_wide, 0, suites::kWarmupParam), 0);
  const std::string own =
      "campaign: t\ndefaults: {iterations: 4}\nbenchmarks:\n  - benchmark: once\n    params: {iterations: 3}\n";
  EXPECT_EQ(bound(own, 0, suites::kIterationsParam), 3);
  // The storage benchmarks declare IOR's -i 1.
  for (const char* name : {"ior", "mdtest", "checkpoint"}) {
    const suites::BenchmarkDef* def = registry().find(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_EQ(def->default_warmup, 0) << name;
    EXPECT_EQ(def->default_iterations, 1) << name;
  }
  suites::BenchmarkDef wrong = plain;
  wrong.name = "wrong";
  wrong.default_iterations = 0;
  EXPECT_THROW(local.add(wrong), std::logic_error);
}

// A campaign names the directory under test once: `defaults: {dir: ...}` reaches every step
// whose benchmark has `dir` (the storage ones), not the others; a step's own `dir` wins.
TEST(Campaign, DefaultsNameTheStorageDirectoryOnce) {
  const Campaign c = load(
      "campaign: t\n"
      "defaults: {dir: /scratch/a}\n"
      "benchmarks:\n"
      "  - benchmark: ior\n"
      "  - benchmark: mdtest\n"
      "    params: {dir: /scratch/b}\n"
      "  - benchmark: gemm\n"
      "    params: {m: 64, n: 32, k: 16}\n");
  ASSERT_EQ(c.entries.size(), 3u);
  EXPECT_EQ(std::get<std::string>(c.entries[0].expanded.at(0).at("dir")), "/scratch/a");
  EXPECT_EQ(std::get<std::string>(c.entries[1].expanded.at(0).at("dir")), "/scratch/b");
  EXPECT_EQ(c.entries[2].expanded.at(0).count("dir"), 0u);
}
