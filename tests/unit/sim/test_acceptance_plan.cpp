#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "results/system.hpp"
#include "sim/acceptance_plan.hpp"

using namespace gpuaccept;
using namespace gpuaccept::sim;

namespace {

// Every round disjoint, every pair new, every node meets min(rounds, nodes - 1) partners.
void expect_valid_pairing(int nodes, int rounds) {
  const auto plan = pairing_rounds(nodes, rounds);
  const int expected_rounds = std::min(rounds, nodes % 2 == 0 ? nodes - 1 : nodes);
  ASSERT_EQ(static_cast<int>(plan.size()), expected_rounds) << nodes;
  std::vector<std::set<int>> partners(static_cast<std::size_t>(nodes));
  for (const auto& round : plan) {
    std::vector<char> busy(static_cast<std::size_t>(nodes), 0);
    EXPECT_EQ(static_cast<int>(round.size()), nodes / 2);
    for (const auto& [a, b] : round) {
      ASSERT_LT(a, b);
      ASSERT_GE(a, 0);
      ASSERT_LT(b, nodes);
      ASSERT_FALSE(busy[a] || busy[b]) << "node in two pairs of one round";
      busy[a] = busy[b] = 1;
      ASSERT_TRUE(partners[a].insert(b).second) << a << " meets " << b << " twice";
      partners[b].insert(a);
    }
  }
  const std::size_t least = static_cast<std::size_t>(std::min(rounds, nodes - 1)) - (nodes % 2 == 1 ? 1 : 0);
  for (const auto& p : partners) ASSERT_GE(p.size(), least);
}

}  // namespace

TEST(Pairing, DisjointRoundsWithNewPartners) {
  expect_valid_pairing(2, 3);
  expect_valid_pairing(4, 3);  // all 3 rounds of a 4-node tournament
  expect_valid_pairing(7, 4);  // odd: one node sits out per round
  expect_valid_pairing(1063, 4);
  EXPECT_TRUE(pairing_rounds(1, 3).empty());
}

// The whole phase-2 machine: 62,500 nodes, 4 rounds of 31,250 pairs (correctness; the time
// bound is the ctest TIMEOUT of integration.PlanAtScale).
TEST(Pairing, SixtyTwoThousandFiveHundredNodes) { expect_valid_pairing(62500, 4); }

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
  EXPECT_EQ(plan.phases[3].rounds, 4);
  EXPECT_EQ(plan.phases[3].groups, 531);
  EXPECT_EQ(plan.phases[4].rounds, 12);  // 1, 2, 4, ..., 1024, 1063 nodes
  // Storage: 80 GiB per node; 1,063 clients share 1 TB/s write and 2 TB/s read.
  const double bytes = 80.0 * (1LL << 30);
  EXPECT_NEAR(plan.phases[5].parallel_seconds, bytes / (1000e9 / 1063) + bytes / (2000e9 / 1063), 1e-6);
  EXPECT_NEAR(plan.phases[5].sequential_seconds, 1063 * 2 * bytes / 25e9, 1e-3);
  EXPECT_GT(plan.sequential_seconds(), 100 * plan.parallel_seconds());
}
