// Contract loading (syntax, shape, exact error places) and validate() against a catalogue.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "results/contract.hpp"

namespace gpuaccept {
namespace {

const std::string kFile = "contract.yaml";

// Loads text expected to be rejected; returns the error so that tests can check its place.
InputError load_error(const std::string& text) {
  try {
    load_contract(text, kFile);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an InputError for:\n" << text;
  return InputError("no error");
}

void expect_error_at(const InputError& e, int line, int column, std::initializer_list<std::string> words) {
  EXPECT_EQ(e.where().file, kFile);
  EXPECT_EQ(e.where().line, line) << e.what();
  EXPECT_EQ(e.where().column, column) << e.what();
  for (const auto& word : words) EXPECT_NE(e.message().find(word), std::string::npos) << "'" << word << "' not in: " << e.what();
}

const std::string kExample = R"(contract: local-cpu
criteria:
  - id: gemm-fp64-per-rank
    description: every rank reaches 1 GFLOP/s in fp64 GEMM
    benchmark: gemm
    select: {dtype: fp64, m: 512}
    metric: tflops
    combine: min
    bound: {min: 0.001}
  - id: allreduce-busbw-1M
    benchmark: allreduce
    point: {bytes: 1M}
    metric: busbw_oop
    bound: {min: 0.05}
)";

TEST(ContractLoad, ParsesTheDocumentedExample) {
  const Contract c = load_contract(kExample, kFile);
  EXPECT_EQ(c.name, "local-cpu");
  EXPECT_EQ(c.path, kFile);
  ASSERT_EQ(c.criteria.size(), 2u);

  const Criterion& gemm = c.criteria[0];
  EXPECT_EQ(gemm.id, "gemm-fp64-per-rank");
  EXPECT_EQ(gemm.description, "every rank reaches 1 GFLOP/s in fp64 GEMM");
  EXPECT_EQ(gemm.benchmark, "gemm");
  EXPECT_EQ(gemm.metric, "tflops");
  EXPECT_EQ(gemm.combine, Combine::min);
  ASSERT_TRUE(gemm.bound.min.has_value());
  EXPECT_DOUBLE_EQ(*gemm.bound.min, 0.001);
  EXPECT_FALSE(gemm.bound.max.has_value());
  ASSERT_EQ(gemm.select.size(), 2u);
  EXPECT_EQ(gemm.select.at("dtype"), std::vector<ParamValue>{ParamValue{std::string("fp64")}});
  EXPECT_EQ(gemm.select.at("m"), std::vector<ParamValue>{ParamValue{std::int64_t{512}}});
  EXPECT_TRUE(gemm.point.empty());
  EXPECT_EQ(gemm.where.line, 3);
  EXPECT_EQ(gemm.where.column, 5);
  EXPECT_EQ(gemm.where_of.at("benchmark").line, 5);
  EXPECT_EQ(gemm.where_of.at("benchmark").column, 16);
  EXPECT_EQ(gemm.where_of.at("select.m").line, 6);
  EXPECT_EQ(gemm.where_of.at("select.m").column, 27);

  const Criterion& allreduce = c.criteria[1];
  EXPECT_EQ(allreduce.combine, Combine::min);  // the default
  ASSERT_EQ(allreduce.point.size(), 1u);
  EXPECT_EQ(allreduce.point.at("bytes"), ParamValue{std::int64_t{1048576}});
  EXPECT_EQ(allreduce.where_of.at("point").line, 12);
  EXPECT_EQ(allreduce.where_of.at("point").column, 5);
}

TEST(ContractLoad, SelectorValuesKeepTheirYamlType) {
  const Contract c = load_contract(R"(contract: t
criteria:
  - id: a
    benchmark: gemm
    select: {m: [512, 1024], alpha: 1.5, pinned: true, dtype: fp16, quoted: "512", size: 1M}
    metric: tflops
    bound: {max: 3}
)",
                                   kFile);
  const auto& s = c.criteria[0].select;
  EXPECT_EQ(s.at("m"), (std::vector<ParamValue>{std::int64_t{512}, std::int64_t{1024}}));
  EXPECT_EQ(s.at("alpha"), std::vector<ParamValue>{1.5});
  EXPECT_EQ(s.at("pinned"), std::vector<ParamValue>{true});
  EXPECT_EQ(s.at("dtype"), std::vector<ParamValue>{std::string("fp16")});
  EXPECT_EQ(s.at("quoted"), std::vector<ParamValue>{std::string("512")});
  EXPECT_EQ(s.at("size"), std::vector<ParamValue>{std::string("1M")});  // matched as a size later
}

TEST(ContractLoad, EveryCombineNameRoundTrips) {
  for (const char* name : {"min", "max", "mean", "median", "p01", "p05", "p50", "p95", "p99", "sum", "stddev", "cv",
                           "count", "fraction"}) {
    const auto c = combine_from_string(name);
    ASSERT_TRUE(c.has_value()) << name;
    EXPECT_EQ(to_string(*c), name);
  }
  EXPECT_FALSE(combine_from_string("avg").has_value());
}

TEST(ContractLoad, NameDefaultsToTheFileStem) {
  const Contract c = load_contract("criteria:\n  - {id: a, benchmark: b, metric: m, bound: {min: 1}}\n",
                                   "configs/contracts/site-a.yaml");
  EXPECT_EQ(c.name, "site-a");
}

TEST(ContractBound, HoldsAndText) {
  Bound at_least{1.5, std::nullopt};
  EXPECT_TRUE(at_least.holds(1.5));
  EXPECT_FALSE(at_least.holds(1.49));
  EXPECT_FALSE(at_least.holds(std::nan("")));
  EXPECT_EQ(at_least.text(), ">= 1.5");
  Bound at_most{std::nullopt, 3.0};
  EXPECT_TRUE(at_most.holds(-10));
  EXPECT_FALSE(at_most.holds(3.01));
  EXPECT_EQ(at_most.text(), "<= 3");
  Bound range{1.0, 3.0};
  EXPECT_TRUE(range.holds(2));
  EXPECT_FALSE(range.holds(0.5));
  EXPECT_EQ(range.text(), "in [1, 3]");
  EXPECT_EQ((Bound{0.001, std::nullopt}.text()), ">= 0.001");
}

// ---- errors at their exact place -----------------------------------------------------------

TEST(ContractErrors, UnknownKeyInACriterion) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metrc: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 4, 5, {"unknown key 'metrc'", "expected one of", "metric"});
}

TEST(ContractErrors, UnknownTopLevelKey) {
  const auto e = load_error("contract: x\ncriterias: []\n");
  expect_error_at(e, 2, 1, {"unknown key 'criterias'", "contract, criteria"});
}

TEST(ContractErrors, UnknownKeyInBound) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    bound: {min: 1, maximum: 3}
)");
  expect_error_at(e, 5, 21, {"unknown key 'maximum'", "min, max"});
}

TEST(ContractErrors, BoundIsNotANumber) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    bound: {min: fast}
)");
  expect_error_at(e, 5, 18, {"bound.min", "expected a number", "fast"});
}

TEST(ContractErrors, BenchmarkIsNotAString) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: [gemm, stream]
    metric: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 3, 16, {"benchmark", "expected a string", "a list"});
}

TEST(ContractErrors, SelectIsNotAMapping) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    select: fp64
    metric: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 4, 13, {"select must be a mapping"});
}

TEST(ContractErrors, SelectValueIsAMapping) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    select: {dtype: {a: 1}}
    metric: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 4, 21, {"select.dtype", "expected a value or a list"});
}

TEST(ContractErrors, CriteriaIsNotAList) {
  const auto e = load_error("contract: x\ncriteria: {id: a}\n");
  expect_error_at(e, 2, 11, {"criteria", "expected a list"});
}

TEST(ContractErrors, EmptyCriteria) {
  const auto e = load_error("contract: x\ncriteria: []\n");
  expect_error_at(e, 2, 11, {"at least one criterion"});
}

TEST(ContractErrors, MissingCriteria) {
  const auto e = load_error("contract: x\n");
  expect_error_at(e, 1, 1, {"missing required key 'criteria'"});
}

TEST(ContractErrors, EmptyFile) {
  const auto e = load_error("");
  expect_error_at(e, 1, 1, {"empty"});
}

TEST(ContractErrors, DuplicateCriterionId) {
  const auto e = load_error(R"(criteria:
  - id: same
    benchmark: gemm
    metric: tflops
    bound: {min: 1}
  - id: same
    benchmark: stream
    metric: bandwidth
    bound: {min: 1}
)");
  expect_error_at(e, 6, 9, {"duplicate criterion id 'same'", "line 2"});
}

TEST(ContractErrors, DuplicateYamlKey) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    metric: gflops
    bound: {min: 1}
)");
  expect_error_at(e, 5, 5, {"duplicate key 'metric'", "line 4"});
}

TEST(ContractErrors, BadId) {
  const auto e = load_error(R"(criteria:
  - id: gemm per rank
    benchmark: gemm
    metric: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 2, 9, {"id 'gemm per rank'", "letters, digits"});
}

TEST(ContractErrors, MissingRequiredKeys) {
  const std::string head = "criteria:\n  - id: x\n    benchmark: gemm\n    metric: tflops\n    bound: {min: 1}\n";
  // Each required key removed in turn: the error is at the criterion (line 2, column 5).
  expect_error_at(load_error("criteria:\n  - benchmark: gemm\n    metric: tflops\n    bound: {min: 1}\n"), 2, 5,
                  {"missing required key 'id'"});
  expect_error_at(load_error("criteria:\n  - id: x\n    metric: tflops\n    bound: {min: 1}\n"), 2, 5,
                  {"missing required key 'benchmark'", "'x'"});
  expect_error_at(load_error("criteria:\n  - id: x\n    benchmark: gemm\n    bound: {min: 1}\n"), 2, 5,
                  {"missing required key 'metric'"});
  expect_error_at(load_error("criteria:\n  - id: x\n    benchmark: gemm\n    metric: tflops\n"), 2, 5,
                  {"missing required key 'bound'", "required: id, benchmark, metric, bound"});
  EXPECT_NO_THROW(load_contract(head, kFile));
}

TEST(ContractErrors, CriterionIsNotAMapping) {
  const auto e = load_error("criteria:\n  - gemm\n");
  expect_error_at(e, 2, 5, {"criterion 1", "must be a mapping"});
}

TEST(ContractErrors, BoundWithNeitherMinNorMax) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    bound: {}
)");
  expect_error_at(e, 5, 12, {"min and/or max", "neither"});
}

TEST(ContractErrors, BoundWithNothingAfterIt) {
  // yaml-cpp would place the empty value at the next token: the error names the key instead.
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    bound:
    metric: tflops
)");
  expect_error_at(e, 4, 5, {"'bound' has no value", "min and/or max"});
}

TEST(ContractErrors, MinGreaterThanMax) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    bound: {min: 5, max: 3}
)");
  expect_error_at(e, 5, 26, {"min 5 is greater than max 3"});
}

TEST(ContractErrors, UnknownCombine) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    metric: tflops
    combine: average
    bound: {min: 1}
)");
  expect_error_at(e, 5, 14, {"unknown combine 'average'", "min, max, mean, median, p01, p05, p50, p95, p99"});
}

TEST(ContractErrors, EmptySelectorList) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: gemm
    select: {m: []}
    metric: tflops
    bound: {min: 1}
)");
  expect_error_at(e, 4, 17, {"select.m", "empty list"});
}

TEST(ContractErrors, PointWithAList) {
  const auto e = load_error(R"(criteria:
  - id: a
    benchmark: allreduce
    point: {bytes: [1M, 2M]}
    metric: busbw_oop
    bound: {min: 1}
)");
  expect_error_at(e, 4, 20, {"point.bytes", "expected one value"});
}

TEST(ContractErrors, YamlSyntaxError) {
  const auto e = load_error("criteria:\n  - id: a\n    bound: {min: 1\n");
  EXPECT_EQ(e.where().file, kFile);
  EXPECT_GT(e.where().line, 0);
  EXPECT_NE(e.message().find("YAML syntax error"), std::string::npos);
}

TEST(ContractErrors, WhatCarriesFileLineColumn) {
  const auto e = load_error("criteria:\n  - id: a\n    benchmark: gemm\n    metric: m\n    combine: avg\n    bound: {min: 1}\n");
  EXPECT_EQ(std::string(e.what()).rfind("contract.yaml:5:14: ", 0), 0u) << e.what();
}

// ---- validate() ----------------------------------------------------------------------------

Catalog test_catalog() {
  return {
      {"gemm", {"dtype", "m", "n", "k"}, {"tflops", "time"}, {}, {}},
      {"allreduce", {"dtype", "min_bytes", "max_bytes"}, {"time"}, {"busbw_oop", "algbw_oop", "time_oop"},
       {"bytes", "count"}},
  };
}

InputError validate_error(const std::string& text) {
  const Contract c = load_contract(text, kFile);
  try {
    validate(c, test_catalog());
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "expected validate() to reject:\n" << text;
  return InputError("no error");
}

TEST(ContractValidate, AcceptsTheDocumentedExample) {
  EXPECT_NO_THROW(validate(load_contract(kExample, kFile), test_catalog()));
}

TEST(ContractValidate, UnknownBenchmark) {
  const auto e = validate_error("criteria:\n  - id: a\n    benchmark: gemmm\n    metric: tflops\n    bound: {min: 1}\n");
  expect_error_at(e, 3, 16, {"unknown benchmark 'gemmm'", "expected one of: allreduce, gemm"});
}

TEST(ContractValidate, UnknownSelectParameter) {
  const auto e = validate_error(
      "criteria:\n  - id: a\n    benchmark: gemm\n    select: {dtype: fp64, size: 512}\n    metric: tflops\n"
      "    bound: {min: 1}\n");
  expect_error_at(e, 4, 27, {"unknown select parameter 'size'", "expected one of: dtype, k, m, n"});
}

TEST(ContractValidate, UnknownMetric) {
  const auto e = validate_error("criteria:\n  - id: a\n    benchmark: gemm\n    metric: gflops\n    bound: {min: 1}\n");
  expect_error_at(e, 4, 13, {"unknown metric 'gflops'", "expected one of: tflops, time"});
}

TEST(ContractValidate, UnknownPointKey) {
  const auto e = validate_error(
      "criteria:\n  - id: a\n    benchmark: allreduce\n    point: {size: 1M}\n    metric: busbw_oop\n"
      "    bound: {min: 1}\n");
  expect_error_at(e, 4, 13, {"unknown point key 'size'", "expected one of: bytes, count"});
}

TEST(ContractValidate, PointMetricWithoutAPoint) {
  const auto e = validate_error(
      "criteria:\n  - id: a\n    benchmark: allreduce\n    metric: busbw_oop\n    bound: {min: 1}\n");
  expect_error_at(e, 4, 13, {"per sweep point", "point", "bytes, count"});
}

TEST(ContractValidate, RankMetricWithAPoint) {
  const auto e = validate_error(
      "criteria:\n  - id: a\n    benchmark: allreduce\n    point: {bytes: 1M}\n    metric: time\n"
      "    bound: {max: 1}\n");
  expect_error_at(e, 4, 5, {"per rank", "expected one of: algbw_oop, busbw_oop, time_oop"});
}

TEST(ContractValidate, PointOnABenchmarkWithoutPoints) {
  const auto e = validate_error(
      "criteria:\n  - id: a\n    benchmark: gemm\n    point: {bytes: 1M}\n    metric: tflops\n    bound: {min: 1}\n");
  expect_error_at(e, 4, 5, {"has no sweep points"});
}

}  // namespace
}  // namespace gpuaccept
