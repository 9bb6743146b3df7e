#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>

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

// Checks a plan of rounds: no node twice in a round, no pair twice, every pair inside one pod;
// returns each node's distinct partners.
std::map<int, std::set<int>> check_pod_plan(const std::vector<std::vector<std::pair<int, int>>>& plan,
                                            const std::vector<int>& pod_of_node) {
  std::set<std::pair<int, int>> met;
  std::map<int, std::set<int>> partners;
  std::vector<int> seen_in(pod_of_node.size(), -1);
  for (std::size_t r = 0; r < plan.size(); ++r)
    for (auto [a, b] : plan[r]) {
      EXPECT_LT(a, b);
      EXPECT_NE(seen_in[a], static_cast<int>(r)) << "node " << a << " twice in round " << r;
      EXPECT_NE(seen_in[b], static_cast<int>(r)) << "node " << b << " twice in round " << r;
      seen_in[a] = seen_in[b] = static_cast<int>(r);
      EXPECT_TRUE(met.insert({a, b}).second) << "pair " << a << "-" << b << " repeats";
      partners[a].insert(b);
      partners[b].insert(a);
    }
  return partners;
}

TEST(PodPairingPlan, PhaseTwoPodsAtSixtyTwoThousandNodes) {
  // Phase 2: 62,500 nodes in pods of 5,440 (the last holds 2,660); 3 rounds.
  const auto start = std::chrono::steady_clock::now();
  const int nodes = 62500, pod = 5440;
  std::vector<std::string> names;
  for (int n = 0; n < nodes; ++n) names.push_back("node" + std::to_string(100000 + n).substr(1));
  const std::vector<std::string_view> hosts(names.begin(), names.end());
  const std::vector<int> pods = pods_from_host_numbers(hosts, pod);
  ScopeOptions options;
  options.pair_rounds = 3;
  options.pod_of_node = pods;
  const auto groups = plan_scope(CollectiveScope::pairs, layout(nodes, 8), options);
  const auto plan = pod_pairing_plan(pods, 3);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(pods[5439], 0);
  EXPECT_EQ(pods[5440], 1);
  EXPECT_EQ(pods[nodes - 1], 11);
  // Every pod is even (5,440 and 2,660): 3 rounds in which every node is busy.
  ASSERT_EQ(plan.size(), 3u);
  for (const auto& round : plan) EXPECT_EQ(round.size(), static_cast<std::size_t>(nodes / 2));
  EXPECT_EQ(groups.size(), 3u * nodes / 2);
  const auto partners = check_pod_plan(plan, pods);
  for (const auto& round : plan)
    for (auto [a, b] : round) ASSERT_EQ(pods[a], pods[b]) << a << "-" << b << " crosses pods";
  ASSERT_EQ(partners.size(), static_cast<std::size_t>(nodes));  // coverage: every node in a pair
  for (const auto& [node, met] : partners) ASSERT_EQ(met.size(), 3u) << "node " << node;
  // The groups are the plan's pairs: node a's 8 ranks, then node b's.
  EXPECT_EQ(groups.front().ranks.front(), plan[0][0].first * 8);
  EXPECT_EQ(groups.front().ranks.back(), plan[0][0].second * 8 + 7);
  EXPECT_LT(seconds, 20.0);  // a bound against a quadratic plan, as for the global plan above
}

TEST(PodPairingPlan, OddAndSmallPodsArePooled) {
  // Pods of 5 (odd: a round is added so that every node meets 3), 2 and 1 nodes: the last two
  // pool their 3 nodes, which then meet across pods (2 partners each, all they can).
  const std::vector<int> pods = {7, 7, 7, 7, 7, 2, 2, 9};
  const auto plan = pod_pairing_plan(pods, 3);
  const auto partners = check_pod_plan(plan, pods);
  for (int n = 0; n < 5; ++n) {
    EXPECT_GE(partners.at(n).size(), 3u) << n;
    for (int m : partners.at(n)) EXPECT_LT(m, 5) << "pod 7 pairs inside itself";
  }
  for (int n = 5; n < 8; ++n) EXPECT_EQ(partners.at(n).size(), 2u) << n;
  EXPECT_TRUE(partners.at(7).count(5));
  // One node alone in its pod joins the smallest other pod.
  const auto lone = pod_pairing_plan(std::vector<int>{0, 0, 0, 0, 1}, 3);
  EXPECT_GE(check_pod_plan(lone, {0, 0, 0, 0, 1}).at(4).size(), 3u);
  // A single pod is the global plan.
  EXPECT_EQ(pod_pairing_plan(std::vector<int>(6, 0), 3), pairing_plan(6, 3));
}

TEST(PodPairingPlan, HostNumbersAndNames) {
  EXPECT_EQ(host_number("node01234"), 1234);
  EXPECT_EQ(host_number("gpu-b07n112.cluster"), 112);
  EXPECT_EQ(host_number("host-3"), 3);
  EXPECT_EQ(host_number("login"), -1);
  const std::vector<std::string_view> hosts{"n0", "n1", "n63", "n64", "nodeless"};
  EXPECT_EQ(pods_from_host_numbers(hosts, 64), (std::vector<int>{0, 0, 0, 1, -1}));
  EXPECT_EQ(pairing_from_string("pod"), Pairing::pod);
  EXPECT_EQ(to_string(Pairing::global), "global");
  EXPECT_FALSE(pairing_from_string("leaf"));
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
