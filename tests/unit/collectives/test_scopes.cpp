#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "collectives/scopes.hpp"

using namespace gpuaccept::collectives;

namespace {
// nodes x per_node ranks, consecutive ranks on one node.
std::vector<RankPlace> layout(int nodes, int per_node) {
  std::vector<RankPlace> places;
  for (int n = 0; n < nodes; ++n)
    for (int l = 0; l < per_node; ++l) places.push_back({n, l});
  return places;
}
}  // namespace

TEST(PairingPlan, DisjointRoundsNoRepeatsAndSeveralPartners) {
  for (int nodes : {2, 3, 4, 5, 7, 8, 16, 33}) {
    for (int rounds : {1, 3, 5}) {
      const auto plan = pairing_plan(nodes, rounds);
      std::set<std::pair<int, int>> met;
      std::map<int, std::set<int>> partners;
      for (const auto& round : plan) {
        std::set<int> seen;
        for (auto [a, b] : round) {
          EXPECT_NE(a, b);
          EXPECT_TRUE(seen.insert(a).second) << "node " << a << " twice in a round";
          EXPECT_TRUE(seen.insert(b).second) << "node " << b << " twice in a round";
          EXPECT_TRUE(met.insert({a, b}).second) << "pair repeats";
          partners[a].insert(b);
          partners[b].insert(a);
        }
        EXPECT_GE(static_cast<int>(round.size()), nodes / 2 - (nodes % 2));  // nearly everyone busy
      }
      const int wanted = std::min(rounds, nodes - 1);
      for (int n = 0; n < nodes; ++n)
        EXPECT_GE(static_cast<int>(partners[n].size()), wanted) << nodes << " nodes, " << rounds << " rounds, node " << n;
      EXPECT_LE(static_cast<int>(plan.size()), wanted + 1);
    }
  }
  EXPECT_TRUE(pairing_plan(1, 3).empty());
  EXPECT_EQ(pairing_plan(2, 5).size(), 1u);  // one possible partner
}

TEST(PairingPlan, PlansSixtyTwoThousandNodesQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const auto places = layout(62500, 8);
  const auto groups = plan_scope(CollectiveScope::pairs, places, {0, 3});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(groups.size(), 3u * 31250u);
  EXPECT_EQ(groups.back().ranks.size(), 16u);
  // A bound against a quadratic plan (which would take minutes at this size), not a speed target:
  // generous enough for a Debug build under the sanitizers on a loaded 2-core machine. The
  // speed itself is measured by `gpuaccept plan --system` (docs/simulation.md).
  EXPECT_LT(seconds, 20.0);
}

TEST(Scopes, WorldNodeRailOnFourNodesOfTwo) {
  const auto places = layout(4, 2);
  const auto world = plan_scope(CollectiveScope::world, places, {});
  ASSERT_EQ(world.size(), 1u);
  EXPECT_EQ(world[0].ranks, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(world[0].nodes, 4);

  const auto node = plan_scope(CollectiveScope::node, places, {});
  ASSERT_EQ(node.size(), 4u);
  for (int n = 0; n < 4; ++n) {
    EXPECT_EQ(node[n].ranks, (std::vector<int>{2 * n, 2 * n + 1}));
    EXPECT_EQ(node[n].nodes, 1);
    EXPECT_EQ(node[n].round, 0);
  }
  const auto domains = plan_scope(CollectiveScope::node, places, {4, 3});  // NVLink domains of 4 ranks
  ASSERT_EQ(domains.size(), 2u);
  EXPECT_EQ(domains[1].ranks, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(domains[1].nodes, 2);

  const auto rail = plan_scope(CollectiveScope::rail, places, {});
  ASSERT_EQ(rail.size(), 2u);
  EXPECT_EQ(rail[0].ranks, (std::vector<int>{0, 2, 4, 6}));
  EXPECT_EQ(rail[1].ranks, (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(rail[1].nodes, 4);
}

TEST(Scopes, PairsScalingBisect) {
  const auto places = layout(4, 2);
  const auto pairs = plan_scope(CollectiveScope::pairs, places, {0, 3});
  ASSERT_EQ(pairs.size(), 6u);  // 3 rounds of 2 pairs: every pair of 4 nodes once
  std::set<std::vector<int>> distinct;
  for (const auto& g : pairs) {
    EXPECT_EQ(g.ranks.size(), 4u);
    EXPECT_EQ(g.nodes, 2);
    EXPECT_EQ(places[g.ranks[0]].node, places[g.ranks[1]].node);  // a node's ranks together
    distinct.insert(g.ranks);
  }
  EXPECT_EQ(distinct.size(), 6u);
  for (int round = 0; round < 3; ++round) {
    std::set<int> ranks;
    for (const auto& g : pairs)
      if (g.round == round) ranks.insert(g.ranks.begin(), g.ranks.end());
    EXPECT_EQ(ranks.size(), 8u) << "round " << round << " uses every rank once";
  }

  const auto scaling = plan_scope(CollectiveScope::scaling, layout(5, 2), {});
  ASSERT_EQ(scaling.size(), 3u);  // 2, 4, 5 nodes
  EXPECT_EQ(scaling[0].nodes, 2);
  EXPECT_EQ(scaling[1].nodes, 4);
  EXPECT_EQ(scaling[2].nodes, 5);
  EXPECT_EQ(scaling[2].ranks.size(), 10u);
  EXPECT_EQ(scaling[1].round, 1);

  const auto bisect = plan_scope(CollectiveScope::bisect, places, {});
  ASSERT_EQ(bisect.size(), 3u);  // the world, then one round of pairs
  EXPECT_EQ(bisect[0].ranks.size(), 8u);
  EXPECT_EQ(bisect[1].round, 1);
  EXPECT_EQ(bisect[2].nodes, 2);
}

TEST(Scopes, PlacesFromHostNames) {
  std::vector<std::string_view> hosts{"b", "b", "a", "b", "a"};
  const auto places = places_from_hosts(hosts);
  EXPECT_EQ(places[0].node, 0);
  EXPECT_EQ(places[2].node, 1);
  EXPECT_EQ(places[3].local_rank, 2);
  EXPECT_EQ(places[4].local_rank, 1);
  const int nodes[] = {1};
  EXPECT_EQ(ranks_of_nodes(places, nodes), (std::vector<int>{2, 4}));
  EXPECT_EQ(scope_from_string("rail"), CollectiveScope::rail);
  EXPECT_FALSE(scope_from_string("galaxy"));
}
