// The registry's smoke test: every registered benchmark runs at a tiny size on the CPU
// backend (as one MPI process), and must report a positive time and a correct answer.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>

#include "collectives/group.hpp"
#include "suites/registry.hpp"

using namespace gpuaccept;

namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) MPI_Init(nullptr, nullptr);
  }
  void TearDown() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
};

[[maybe_unused]] auto* const mpi_environment = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

Params bind(const suites::BenchmarkDef& def) {
  Params p;
  for (const auto& spec : def.params) p[spec.name] = spec.default_value;
  for (const auto& [name, value] : def.smoke) p[name] = value;
  p[suites::kWarmupParam] = std::int64_t{0};
  p[suites::kIterationsParam] = std::int64_t{2};
  return p;
}

}  // namespace

TEST(Smoke, EveryRegisteredBenchmarkRunsAndChecksItsAnswer) {
  const auto group = collectives::Group::world();
  int ran = 0;
  for (const auto& def : suites::Registry::instance().all()) {
    SCOPED_TRACE(def.name);
    EXPECT_FALSE(def.smoke.empty()) << "give the benchmark smoke parameters";
    const Params params = bind(def);
    if (def.check) {
      ASSERT_EQ(def.check(params), "");
    }
    if (def.applicable && !def.applicable(params, kernels::Backend::cpu).empty()) continue;
    suites::RunContext ctx{params, kernels::Backend::cpu, group, 0, 1, 0, 1, -1, 1, {0, 2}, 1};
    const suites::RankOutcome out = def.run(ctx);
    EXPECT_EQ(out.status, Status::ok) << out.message;
    for (const auto& m : def.rank_metrics) {
      auto it = out.metrics.find(m.name);
      ASSERT_NE(it, out.metrics.end()) << "metric " << m.name << " not reported";
    }
    for (double t : out.iteration_seconds) EXPECT_GT(t, 0);
    for (const auto& c : out.points.columns) EXPECT_EQ(c.values.size(), out.points.rows()) << c.name;
    for (const auto& m : def.point_metrics) {
      if (const Column* c = out.points.find(m.name)) {
        for (double v : c->values) EXPECT_FALSE(std::isnan(v)) << m.name;
      }
    }
    ++ran;
  }
  EXPECT_GE(ran, 2);
}
