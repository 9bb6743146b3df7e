// The pieces of the simulated steps that can be checked without a results file: the external
// step's declared figures, and how the campaign check refuses bad ones.
#include <gtest/gtest.h>

#include "suites/external_figures.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

TEST(SimulatedFigures, MetricValuePairs) {
  const auto f = parse_simulated_figures(" tokens_per_s=1.5e6,step_time=0.85\tseconds=1500 ");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_DOUBLE_EQ(f.at("tokens_per_s"), 1.5e6);
  EXPECT_DOUBLE_EQ(f.at("step_time"), 0.85);
  EXPECT_DOUBLE_EQ(f.at("seconds"), 1500);
  EXPECT_TRUE(parse_simulated_figures("").empty());
  EXPECT_TRUE(parse_simulated_figures(" , ").empty());
}

TEST(SimulatedFigures, BadPairsAreNamed) {
  auto error = [](const std::string& text) {
    try {
      parse_simulated_figures(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("tokens_per_s"), "'tokens_per_s' is not metric=value");
  EXPECT_EQ(error("=5"), "'=5' is not metric=value");
  EXPECT_EQ(error("mfu="), "'mfu=' is not metric=value");
  EXPECT_EQ(error("mfu=0.4x"), "'mfu=0.4x': '0.4x' is not a finite number");
  EXPECT_EQ(error("mfu=inf"), "'mfu=inf': 'inf' is not a finite number");
  EXPECT_EQ(error("mfu=0.4 mfu=0.5"), "mfu is given twice");
}

TEST(SimulatedFigures, TheExternalBenchmarkChecksThem) {
  const BenchmarkDef* def = Registry::instance().find("external");
  ASSERT_NE(def, nullptr);
  Params p;
  for (const auto& spec : def->params) p[spec.name] = spec.default_value;
  p["command"] = std::string("srun ./train.sh");
  p["simulate"] = std::string("tokens_per_s=1e6 seconds=10");
  EXPECT_EQ(def->check(p), "");
  p["simulate"] = std::string("tokens=1e6");
  EXPECT_EQ(def->check(p), "simulate: tokens is not a metric of the external benchmark");
  p["simulate"] = std::string("tokens_per_s");
  EXPECT_EQ(def->check(p), "simulate: 'tokens_per_s' is not metric=value (expected 'metric=value metric=value ...')");
}

}  // namespace
}  // namespace gpuaccept::suites
