// The arithmetic of the storage figures: aggregate bandwidth over (last end - first start),
// per-rank bandwidth, the slowest rank's time, and the MPI reduction agreeing with it.
#include <gtest/gtest.h>

#include <vector>

#include "collectives/group.hpp"
#include "support.hpp"
#include "io/bandwidth.hpp"

using namespace gpuaccept::io;
using gpuaccept::io::test_support::world;

TEST(Bandwidth, AggregateIsTotalBytesOverLastEndMinusFirstStart) {
  const std::vector<PhaseSpan> ranks{{0.0, 1.0, 1e9}, {0.5, 1.5, 1e9}, {0.25, 1.25, 1e9}};
  const PhaseTotals t = combine(ranks);
  EXPECT_DOUBLE_EQ(t.first_start, 0.0);
  EXPECT_DOUBLE_EQ(t.last_end, 1.5);
  EXPECT_DOUBLE_EQ(t.amount, 3e9);
  EXPECT_DOUBLE_EQ(t.slowest_seconds, 1.0);
  EXPECT_DOUBLE_EQ(aggregate_rate(t), 2e9);  // 3 GB over 1.5 s, not 3 GB over 1 s
  EXPECT_DOUBLE_EQ(rank_rate(ranks[1]), 1e9);
}

TEST(Bandwidth, SlowestRankSetsTheCheckpointTime) {
  // All start at the barrier; one client is slow.
  const std::vector<PhaseSpan> ranks{{0, 2.0, 4e9}, {0, 2.1, 4e9}, {0, 8.0, 4e9}, {0, 2.0, 4e9}};
  const PhaseTotals t = combine(ranks);
  EXPECT_DOUBLE_EQ(t.slowest_seconds, 8.0);
  EXPECT_DOUBLE_EQ(per_second(t.amount, t.slowest_seconds), 2e9);
  EXPECT_DOUBLE_EQ(rank_rate(ranks[2]), 0.5e9);
}

TEST(Bandwidth, NothingTimedIsZeroNotInfinite) {
  EXPECT_EQ(per_second(100, 0), 0.0);
  EXPECT_EQ(aggregate_rate(combine(std::vector<PhaseSpan>{})), 0.0);
}

TEST(Bandwidth, MpiReductionAgreesWithTheReference) {
  const auto group = world();
  const PhaseSpan mine{0.0, 0.25, 12345.0};
  const PhaseTotals t = combine(group, mine);
  const PhaseTotals reference = combine(std::vector<PhaseSpan>(static_cast<std::size_t>(group.size()), mine));
  EXPECT_DOUBLE_EQ(t.first_start, reference.first_start);
  EXPECT_DOUBLE_EQ(t.last_end, reference.last_end);
  EXPECT_DOUBLE_EQ(t.amount, reference.amount);
  EXPECT_DOUBLE_EQ(t.slowest_seconds, reference.slowest_seconds);
}
