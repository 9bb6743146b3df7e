#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "collectives/bisect.hpp"

using namespace gpuaccept::collectives;

namespace {

std::vector<RankPlace> layout(int nodes, int per_node) {
  std::vector<RankPlace> places;
  for (int n = 0; n < nodes; ++n)
    for (int l = 0; l < per_node; ++l) places.push_back({n, l});
  return places;
}

// Runs a whole bisection against a model of the fabric: busbw of a group of nodes.
struct Outcome {
  std::set<int> suspects;
  std::vector<std::pair<int, int>> links;
  std::vector<ScopeGroup> groups;
  std::vector<std::string> notes;
};

Outcome bisect(int nodes, const std::function<double(const std::set<int>&)>& fabric, double min_busbw = 0) {
  const auto places = layout(nodes, 2);
  std::vector<std::string> names;
  for (int n = 0; n < nodes; ++n) names.push_back("h" + std::to_string(n));
  Bisector b(places, names, min_busbw, 0.8, 4);
  Outcome out;
  out.groups = plan_scope(CollectiveScope::bisect, places, {});
  std::map<int, double> busbw;
  for (int step = 0; step < 100; ++step) {
    for (std::size_t g = busbw.size(); g < out.groups.size(); ++g) {
      std::set<int> members;
      for (int r : out.groups[g].ranks) members.insert(places[static_cast<std::size_t>(r)].node);
      busbw[static_cast<int>(g)] = fabric(members);
    }
    const auto next = b.next(out.groups, busbw);
    if (next.empty()) break;
    for (const auto& g : next) {
      EXPECT_GT(g.round, out.groups.back().round - 1);
      out.groups.push_back(g);
    }
  }
  out.suspects = b.suspects();
  out.links = b.suspected_links();
  out.notes = b.notes();
  return out;
}

}  // namespace

TEST(Bisect, HealthyFabricIsNotBisected) {
  const auto out = bisect(8, [](const std::set<int>&) { return 40.0; });
  EXPECT_TRUE(out.suspects.empty());
  EXPECT_TRUE(out.links.empty());
  EXPECT_EQ(out.groups.size(), 1u + 4u);  // the world and one round of pairs, nothing more
}

TEST(Bisect, SlowNodeIsNamed) {
  // Node 2's NIC at half speed: every group containing it runs at 20.
  const auto out = bisect(8, [](const std::set<int>& g) { return g.count(2) ? 20.0 : 40.0; });
  EXPECT_EQ(out.suspects, (std::set<int>{2}));
  EXPECT_TRUE(out.links.empty());
}

TEST(Bisect, SlowLinkIsNamedNotItsNodes) {
  // The first round of pairs meets 1 and 6; only their link is bad (both nodes fine with others).
  const auto out = bisect(8, [](const std::set<int>& g) { return g.count(1) && g.count(6) ? 15.0 : 40.0; });
  EXPECT_TRUE(out.suspects.empty());
  ASSERT_EQ(out.links.size(), 1u);
  EXPECT_EQ(out.links[0], (std::pair<int, int>{1, 6}));
}

TEST(Bisect, SlowOnlyAtScaleFoundByGroupsThenAGrowingRing) {
  // Node 5 only hurts groups of three nodes or more (e.g. a switch uplink): pairs are fine.
  const auto out = bisect(8, [](const std::set<int>& g) { return g.size() >= 3 && g.count(5) ? 10.0 : 40.0; }, 30.0);
  EXPECT_EQ(out.suspects, (std::set<int>{5}));
  // Groups of 4 nodes, then rings: the last group is a ring with node 5 in it.
  std::set<int> last;
  const auto places = layout(8, 2);
  for (int r : out.groups.back().ranks) last.insert(places[static_cast<std::size_t>(r)].node);
  EXPECT_TRUE(last.count(5));
  EXPECT_GE(out.groups.size(), 1u + 4u + 2u + 2u);
}

TEST(Bisect, EveryPairSlowNamesEveryCandidate) {
  const auto out = bisect(4, [](const std::set<int>& g) { return g.size() == 4 ? 1.0 : 2.0; }, 5.0);
  EXPECT_EQ(out.suspects, (std::set<int>{0, 1, 2, 3}));
}
