// The fabric of a machine as the model sees it: which GPUs share a node and an NVLink domain,
// which nodes share a leaf switch group, a pod (spine group), or only the top tier; how many
// switches a path crosses; and how much bandwidth a node gets when many flows leave a switch
// group at once over oversubscribed uplinks. Built from a SystemDescription (docs/systems.md);
// explained with its formulas in docs/simulation.md.
//
// Rail-optimised fat tree, all rails alike: rail r of every node plugs into the rail-r leaf of
// its group, so the tiers are the same for every rail and one rail plane stands for all.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "results/system.hpp"

namespace gpuaccept::sim {

// Where two endpoints meet: the lowest level that holds both.
enum class Level { same_gpu, node, nvlink_domain, fabric };

struct Path {
  Level level = Level::same_gpu;
  int tier = 0;         // fabric only: 1 = leaf, 2 = spine, 3 = core (1-based index into the tiers)
  int switch_hops = 0;  // switch traversals: NVSwitch counts 1; a fabric path up to tier t and down, 2t-1
};

class Topology {
 public:
  // Throws InputError when the fabric cannot hold the machine's nodes.
  explicit Topology(const SystemDescription& system);

  int nodes() const { return nodes_; }
  int gpus_per_node() const { return gpus_per_node_; }
  int tiers() const { return static_cast<int>(group_nodes_.size()); }
  // Nodes below one switch group of tier t (1-based): a leaf group (nodes on one leaf per rail),
  // a pod (below one set of spines), ...; the top tier's group is the whole machine.
  long long group_nodes(int tier) const { return group_nodes_.at(static_cast<std::size_t>(tier - 1)); }
  // Nodes below the first oversubscribed up-link: the largest switch group inside which every
  // path is non-blocking (a pod on phase 2: 5,440 nodes below 2:1 spines). The whole machine
  // when no tier is oversubscribed. What scope=pairs with `pairing: pod` pairs within.
  long long pod_nodes() const;
  // Index of the tier-t group a node is in (nodes are numbered in cabling order).
  long long group_of(int node, int tier) const { return node / group_nodes(tier); }
  int nodes_per_domain() const {
    return nodes_per_domain_;
  }  // 1 when the NVLink domain is the node (or less)

  Path node_path(int node_a, int node_b) const;           // between two nodes (GPU 0 of each)
  Path gpu_path(long long gpu_a, long long gpu_b) const;  // global GPU index = node * gpus_per_node + local
  // The lowest tier that holds a set of nodes (0 when one NVLink domain holds them all).
  int highest_tier(std::span<const int> nodes) const;

  // Scale-out bandwidth of one node, all NICs together, GB/s, line rate.
  double node_network_gbs() const { return node_network_gbs_; }
  // Up-link capacity, GB/s, of one tier-t group (what can leave it through tier t+1): its nodes'
  // NIC bandwidth divided by the oversubscription of every tier up to and including t.
  double group_uplink_gbs(int tier) const;

  // Link sharing: every pair (a, b) sends at once (both directions). Returns each flow's
  // bandwidth, GB/s: the node's NIC bandwidth, or its fair share of the most loaded oversubscribed
  // up-link it crosses, whichever is smaller. Flows inside one NVLink domain are not limited here.
  std::vector<double> concurrent_flow_gbs(std::span<const std::pair<int, int>> pairs) const;

 private:
  int nodes_ = 0;
  int gpus_per_node_ = 0;
  int nodes_per_domain_ = 1;
  double node_network_gbs_ = 0;
  std::vector<long long> group_nodes_;    // per tier
  std::vector<double> oversubscription_;  // per tier
};

// scope=pairs with `pairing: pod`, the one rule the real run (suites/collectives.cpp) and the
// simulator share: the pod of every node of a step (node_hosts[n]: node n's host), from the
// number in its host name (its position in cabling order, collectives::host_number) divided
// by the pod size: `pod_nodes` when > 0, else the description's Topology::pod_nodes(). Throws
// std::invalid_argument, saying what is missing, when neither gives a size or a host has no number.
std::vector<int> pods_of_step(std::span<const std::string_view> node_hosts, long long pod_nodes,
                              const SystemDescription* system);

}  // namespace gpuaccept::sim
