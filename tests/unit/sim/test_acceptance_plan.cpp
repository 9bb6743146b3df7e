#include <gtest/gtest.h>

#include <vector>

#include "collectives/scopes.hpp"
#include "results/system.hpp"
#include "sim/acceptance_plan.hpp"

using namespace gpuaccept;
using namespace gpuaccept::sim;

TEST(AcceptancePlan, PhasesByHand) {
  const auto sys = load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase1-8500.yaml");
  const AcceptancePlan plan = plan_acceptance(sys);
  ASSERT_EQ(plan.phases.size(), 6u);
  const PlanPhase& gpu = plan.phases[0];
  // 2 x 8192^3 FLOP at 0.75 x 989.4 TFLOP/s, 52 times, plus 600 s of burn-in.
  const double gemm = 2.0 * 8192 * 8192 * 8192 / (989.4e12 * 0.75) * 52 + 600;
  EXPECT_NEAR(gpu.parallel_seconds, gemm, 1e-6);
  EXPECT_NEAR(gpu.sequential_seconds, gemm * 1063, 1e-3);
  EXPECT_EQ(plan.phases[1].groups, 1063);  // NVLink domains = nodes
  EXPECT_EQ(plan.phases[2].groups, 8);     // rails
  // Pairs: the plan of a scope=pairs step (collectives::pairing_plan). 1,063 nodes is odd: one
  // node sits out each round, so a fifth round lets every node meet its 4 partners.
  EXPECT_EQ(plan.phases[3].rounds, 5);
  EXPECT_EQ(plan.phases[3].rounds, static_cast<int>(collectives::pairing_plan(1063, 4).size()));
  EXPECT_EQ(plan.phases[3].groups, 531);
  EXPECT_EQ(plan.phases[4].rounds, 12);  // 1, 2, 4, ..., 1024, 1063 nodes
  // Storage: 80 GiB per node; 1,063 clients share 1 TB/s write and 2 TB/s read.
  const double bytes = 80.0 * (1LL << 30);
  EXPECT_NEAR(plan.phases[5].parallel_seconds, bytes / (1000e9 / 1063) + bytes / (2000e9 / 1063), 1e-6);
  EXPECT_NEAR(plan.phases[5].sequential_seconds, 1063 * 2 * bytes / 25e9, 1e-3);
  EXPECT_GT(plan.sequential_seconds(), 100 * plan.parallel_seconds());
}

TEST(AcceptancePlan, PairsInsidePodsWhereTheCoreIsOversubscribed) {
  // Phase 2: pods of 5,440 nodes below 2:1 up-links; pairs drawn inside them (pairing: pod) run
  // at the full NIC rate, so the round is as fast as one pair alone.
  const auto sys = load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase2-500k.yaml");
  const AcceptancePlan plan = plan_acceptance(sys);
  const PlanPhase& pairs = plan.phases[3];
  EXPECT_NE(pairs.what.find("inside each pod of 5440 nodes"), std::string::npos) << pairs.what;
  EXPECT_EQ(pairs.rounds, 4);  // every pod even (5,440 and 2,660 nodes)
  EXPECT_EQ(pairs.groups, 31250);
  // Without contention a round lasts one pair's time: parallel = sequential / pairs per round.
  EXPECT_NEAR(pairs.parallel_seconds, pairs.sequential_seconds / 31250, 1e-9 * pairs.sequential_seconds);
  // Phase 1 is non-blocking: one pod, the global plan.
  const auto p1 = plan_acceptance(load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase1-8500.yaml"));
  EXPECT_EQ(p1.phases[3].what.find("pod"), std::string::npos) << p1.phases[3].what;
}
