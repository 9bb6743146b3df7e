// The gemm benchmark's parameters: named shapes, layouts of fp8/int8, ratio to peak.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "collectives/group.hpp"
#include "suites/peak.hpp"
#include "suites/registry.hpp"

using namespace gpuaccept;

namespace {

const suites::BenchmarkDef& gemm() {
  const auto* def = suites::Registry::instance().find("gemm");
  EXPECT_NE(def, nullptr);
  return *def;
}

Params defaults(const suites::BenchmarkDef& def) {
  Params p;
  for (const auto& spec : def.params) p[spec.name] = spec.default_value;
  return p;
}

SystemDescription h100_like() {
  SystemDescription s;
  s.name = "test";
  s.gpu.name = "test GPU";
  s.gpu.peak_tflops = {{"bf16", 1000.0}, {"fp32", 60.0}, {"fp8", 0.0}};
  return s;
}

}  // namespace

TEST(GemmPeak, RatioOnlyWhereTheDescriptionGivesAPeak) {
  const SystemDescription s = h100_like();
  EXPECT_DOUBLE_EQ(*suites::ratio_to_gpu_peak(&s, kernels::Backend::cuda, "bf16", 750.0), 0.75);
  EXPECT_DOUBLE_EQ(*suites::ratio_to_gpu_peak(&s, kernels::Backend::cuda, "fp32", 30.0), 0.5);
  EXPECT_FALSE(suites::ratio_to_gpu_peak(&s, kernels::Backend::cuda, "int8", 10.0));  // not given
  EXPECT_FALSE(suites::ratio_to_gpu_peak(&s, kernels::Backend::cuda, "fp8", 10.0));   // 0: not given
  EXPECT_FALSE(suites::ratio_to_gpu_peak(nullptr, kernels::Backend::cuda, "bf16", 750.0));
  EXPECT_FALSE(suites::ratio_to_gpu_peak(&s, kernels::Backend::cpu, "bf16", 750.0));  // a GPU's peak, not a CPU's
  EXPECT_FALSE(suites::ratio_to_gpu_peak(&s, kernels::Backend::cuda, "bf16", NAN));
}

TEST(GemmSuite, RatioToPeakIsStoredAsNanWithoutAGpuPeak) {
  const auto& def = gemm();
  Params p = defaults(def);
  for (const auto& [name, value] : def.smoke) p[name] = value;
  const auto group = collectives::Group::world();
  const SystemDescription s = h100_like();
  suites::RunContext ctx{p, kernels::Backend::cpu, group, 0, 1, 0, 1, -1, 1, {0, 2}, 1, &s};
  const auto out = def.run(ctx);
  ASSERT_EQ(out.status, Status::ok) << out.message;
  ASSERT_TRUE(out.metrics.count("ratio_to_peak"));
  EXPECT_TRUE(std::isnan(out.metrics.at("ratio_to_peak")));  // CPU run: never guessed
  EXPECT_GT(out.metrics.at("tflops"), 0);
}

TEST(GemmSuite, NamedShapesAreChoicesAndOverrideTheSizes) {
  const auto& def = gemm();
  const auto spec = std::find_if(def.params.begin(), def.params.end(), [](const auto& s) { return s.name == "shape"; });
  ASSERT_NE(spec, def.params.end());
  for (const char* name : {"custom", "square-1024", "square-16384", "llama70b-qkv-t4096", "llama70b-mlp-down-t8192"})
    EXPECT_NE(std::find(spec->choices.begin(), spec->choices.end(), name), spec->choices.end()) << name;
  Params p = defaults(def);
  const double custom = def.estimate_seconds(p, kernels::Backend::cpu, 1);
  p["shape"] = std::string("square-16384");
  const double big = def.estimate_seconds(p, kernels::Backend::cpu, 1);
  EXPECT_GT(big, 1000 * custom);  // 16384^3 against 1024^3 (the default m, n, k): 4096 times the work
  // A model layer comes with its TN layout, so fp8 is valid with ta/tb left at auto.
  p["shape"] = std::string("llama70b-qkv-t8192");
  p["dtype"] = std::string("fp8");
  EXPECT_EQ(def.check(p), "");
}

TEST(GemmSuite, Fp8AndInt8LayoutRulesAreBadInputWithAReason) {
  const auto& def = gemm();
  Params p = defaults(def);
  p["dtype"] = std::string("fp8");
  EXPECT_EQ(def.check(p), "");  // auto: TN
  p["ta"] = std::string("n");
  EXPECT_NE(def.check(p).find("ta: t and tb: n"), std::string::npos) << def.check(p);
  p["dtype"] = std::string("int8");
  p["ta"] = std::string("auto");
  p["m"] = std::int64_t{1022};
  EXPECT_NE(def.check(p).find("multiples of 4"), std::string::npos) << def.check(p);
  // Not applicable on the CPU backend, with the words users look for.
  p["m"] = std::int64_t{1024};
  EXPECT_NE(def.applicable(p, kernels::Backend::cpu).find("not applicable on this backend"), std::string::npos);
  p["dtype"] = std::string("fp64");
  EXPECT_EQ(def.applicable(p, kernels::Backend::cpu), "");
}

TEST(Registry, ParameterUnitsNameDeclaredParameters) {
  for (const auto& def : suites::Registry::instance().all()) {
    for (const auto& [name, unit] : def.param_units) {
      const bool declared = std::any_of(def.params.begin(), def.params.end(), [&](const auto& s) { return s.name == name; });
      EXPECT_TRUE(declared) << def.name << ": unit for undeclared parameter '" << name << "'";
      EXPECT_FALSE(unit.empty()) << def.name << "." << name;
    }
    EXPECT_EQ(def.param_units.at(suites::kTimeoutParam), "s") << def.name;
  }
  EXPECT_EQ(gemm().param_units.at("batch"), "GEMMs");
}
