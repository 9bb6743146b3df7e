#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "results/system.hpp"
#include "sim/topology.hpp"

using namespace gpuaccept;
using namespace gpuaccept::sim;

namespace {

SystemDescription phase1() {
  return load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase1-8500.yaml");
}
SystemDescription phase2() {
  return load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase2-500k.yaml");
}

// An NVL72 machine: 4 GPUs per node, 18 nodes per NVLink domain.
SystemDescription nvl72() {
  SystemDescription s = phase1();
  s.gpus_per_node = 4;
  s.nvlink_domain = 72;
  s.nics_per_node = 4;
  s.rails = 4;
  s.nodes = 18 * 20;
  s.scalable_unit_nodes = 0;
  return s;
}

}  // namespace

TEST(Topology, GroupsFollowRadixOversubscriptionAndScalableUnit) {
  const Topology p1(phase1());
  ASSERT_EQ(p1.tiers(), 2);
  EXPECT_EQ(p1.group_nodes(1), 32);    // the SU: one leaf per rail
  EXPECT_EQ(p1.group_nodes(2), 2048);  // top tier: 64 ports down x 32
  const Topology p2(phase2());
  ASSERT_EQ(p2.tiers(), 3);
  EXPECT_EQ(p2.group_nodes(1), 64);
  EXPECT_EQ(p2.group_nodes(2), 85 * 64);         // 2:1 spine: floor(128 x 2/3) = 85 ports down
  EXPECT_DOUBLE_EQ(p2.node_network_gbs(), 800);  // 8 x 800 Gb/s
  EXPECT_DOUBLE_EQ(p2.group_uplink_gbs(2), 85 * 64 * 800 / 2.0);
  EXPECT_DOUBLE_EQ(p2.group_uplink_gbs(1), 64 * 800);
}

TEST(Topology, PodIsBelowTheFirstOversubscribedTier) {
  EXPECT_EQ(Topology(phase1()).pod_nodes(), 2048);     // non-blocking: the whole fabric
  EXPECT_EQ(Topology(phase2()).pod_nodes(), 85 * 64);  // the 2:1 spines' up-links
  auto leafy = phase2();
  leafy.fabric[0].oversubscription = 1.5;  // an oversubscribed leaf: pods are leaf groups
  EXPECT_EQ(Topology(leafy).pod_nodes(), 64);
  // The rule the real run and the simulator share: host number / pod size.
  const std::vector<std::string_view> hosts{"node00000", "node05439", "node05440", "node62499"};
  const auto p2 = phase2();
  EXPECT_EQ(pods_of_step(hosts, 0, &p2), (std::vector<int>{0, 0, 1, 11}));
  EXPECT_EQ(pods_of_step(hosts, 100, nullptr), (std::vector<int>{0, 54, 54, 624}));
  EXPECT_THROW(pods_of_step(hosts, 0, nullptr), std::invalid_argument);
  const std::vector<std::string_view> unnumbered{"node1", "login"};
  try {
    pods_of_step(unnumbered, 4, nullptr);
    ADD_FAILURE() << "a host without a number was placed";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("host 'login' has none"), std::string::npos) << e.what();
  }
}

TEST(Topology, HopCounts) {
  const Topology t(phase2());
  EXPECT_EQ(t.gpu_path(5, 5).level, Level::same_gpu);
  EXPECT_EQ(t.gpu_path(0, 7).level, Level::node);
  EXPECT_EQ(t.gpu_path(0, 7).switch_hops, 1);  // through the NVSwitch
  const Path leaf = t.gpu_path(7, 8);          // last GPU of node 0, first of node 1
  EXPECT_EQ(leaf.level, Level::fabric);
  EXPECT_EQ(leaf.tier, 1);
  EXPECT_EQ(leaf.switch_hops, 1);
  const Path spine = t.node_path(63, 64);  // neighbours in number, different leaves
  EXPECT_EQ(spine.tier, 2);
  EXPECT_EQ(spine.switch_hops, 3);
  const Path core = t.node_path(5439, 5440);  // different pods
  EXPECT_EQ(core.tier, 3);
  EXPECT_EQ(core.switch_hops, 5);
  EXPECT_EQ(t.node_path(62499, 0).tier, 3);
  const std::vector<int> pod{0, 100, 5439};
  EXPECT_EQ(t.highest_tier(pod), 2);
}

TEST(Topology, Nvl72DomainSpansEighteenNodes) {
  const Topology t(nvl72());
  EXPECT_EQ(t.nodes_per_domain(), 18);
  EXPECT_EQ(t.node_path(0, 17).level, Level::nvlink_domain);
  EXPECT_EQ(t.node_path(0, 17).switch_hops, 1);
  EXPECT_EQ(t.node_path(17, 18).level, Level::fabric);
  EXPECT_EQ(t.gpu_path(71, 72).level, Level::fabric);
  EXPECT_EQ(t.gpu_path(0, 71).level, Level::nvlink_domain);
}

TEST(Topology, FabricTooSmallIsAnInputError) {
  SystemDescription s = phase1();
  s.nodes = 4096;  // two tiers of 64-port switches reach 2,048 nodes per rail
  EXPECT_THROW(Topology{s}, InputError);
}

// Link sharing on the 2:1 spine-to-core links of phase 2.
TEST(Topology, LinkSharingOnOversubscribedTier) {
  const Topology t(phase2());
  const int pod = 85 * 64;
  // One flow across pods has the whole NIC bandwidth.
  const std::vector<std::pair<int, int>> one{{0, pod}};
  EXPECT_DOUBLE_EQ(t.concurrent_flow_gbs(one)[0], 800);
  // Every node of pod 0 talks to its twin in pod 1 at once: the pod's up-links carry half of
  // what its nodes could send, so each flow gets 400 GB/s.
  std::vector<std::pair<int, int>> all;
  for (int i = 0; i < pod; ++i) all.emplace_back(i, pod + i);
  for (double bw : t.concurrent_flow_gbs(all)) ASSERT_DOUBLE_EQ(bw, 400);
  // Inside a pod the tiers are non-blocking: every node of leaf group 0 with leaf group 1.
  std::vector<std::pair<int, int>> in_pod;
  for (int i = 0; i < 64; ++i) in_pod.emplace_back(i, 64 + i);
  for (double bw : t.concurrent_flow_gbs(in_pod)) ASSERT_DOUBLE_EQ(bw, 800);
  // Half the pod crossing: the up-link is shared by half as many flows, nobody is limited.
  std::vector<std::pair<int, int>> half(all.begin(), all.begin() + pod / 2);
  for (double bw : t.concurrent_flow_gbs(half)) ASSERT_DOUBLE_EQ(bw, 800);
}
