#include "sim/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "collectives/scopes.hpp"

namespace gpuaccept::sim {

Topology::Topology(const SystemDescription& s) : nodes_(s.nodes), gpus_per_node_(s.gpus_per_node) {
  if (s.nodes < 1 || s.gpus_per_node < 1 || s.fabric.empty())
    throw InputError(SourceLocation{s.path, 0, 0},
                     "the system needs nodes, GPUs per node and at least one fabric tier");
  nodes_per_domain_ = std::max(1, s.nvlink_domain / s.gpus_per_node);
  node_network_gbs_ = s.nics_per_node * s.nic_bandwidth_gbps / 8.0;
  // A switch below the top tier splits its ports down:up by its oversubscription; the top
  // tier points every port down. A leaf group is the scalable unit when the description gives one.
  long long below = 1;
  for (std::size_t t = 0; t < s.fabric.size(); ++t) {
    const FabricTier& tier = s.fabric[t];
    const bool top = t + 1 == s.fabric.size();
    const double os = tier.oversubscription;
    long long down = top ? tier.radix : static_cast<long long>(tier.radix * os / (1 + os));
    if (t == 0 && s.scalable_unit_nodes > 0) {
      if (s.scalable_unit_nodes > down)
        throw InputError(SourceLocation{s.path, 0, 0},
                         fmt::format("scalable unit of {} nodes does not fit on a {} leaf with {} ports down",
                                     s.scalable_unit_nodes, tier.name, down));
      down = s.scalable_unit_nodes;
    }
    below *= std::max(1LL, down);
    group_nodes_.push_back(below);
    oversubscription_.push_back(os);
  }
  if (group_nodes_.back() < s.nodes)
    throw InputError(
        SourceLocation{s.path, 0, 0},
        fmt::format("the fabric reaches {} nodes per rail, fewer than the machine's {}: add a tier or "
                    "raise the radix",
                    group_nodes_.back(), s.nodes));
  group_nodes_.back() = std::max<long long>(group_nodes_.back(), s.nodes);
}

Path Topology::node_path(int a, int b) const {
  if (a == b) return Path{Level::node, 0, 1};
  if (a / nodes_per_domain_ == b / nodes_per_domain_) return Path{Level::nvlink_domain, 0, 1};
  for (int t = 1; t <= tiers(); ++t)
    if (group_of(a, t) == group_of(b, t)) return Path{Level::fabric, t, 2 * t - 1};
  return Path{Level::fabric, tiers(), 2 * tiers() - 1};
}

Path Topology::gpu_path(long long a, long long b) const {
  if (a == b) return Path{Level::same_gpu, 0, 0};
  return node_path(static_cast<int>(a / gpus_per_node_), static_cast<int>(b / gpus_per_node_));
}

int Topology::highest_tier(std::span<const int> nodes) const {
  if (nodes.empty()) return 0;
  int tier = 0;
  const int first = nodes.front();
  for (int n : nodes) {
    const Path p = node_path(first, n);
    if (p.level == Level::fabric) tier = std::max(tier, p.tier);
  }
  return tier;
}

long long Topology::pod_nodes() const {
  for (int t = 1; t <= tiers(); ++t)
    if (oversubscription_[static_cast<std::size_t>(t - 1)] > 1) return group_nodes(t);
  return group_nodes(tiers());
}

double Topology::group_uplink_gbs(int tier) const {
  double capacity = static_cast<double>(group_nodes(tier)) * node_network_gbs_;
  for (int t = 1; t <= tier; ++t) capacity /= oversubscription_[static_cast<std::size_t>(t - 1)];
  return capacity;
}

std::vector<double> Topology::concurrent_flow_gbs(std::span<const std::pair<int, int>> pairs) const {
  // Flows leaving each (tier, group): a flow between a and b meeting at tier T leaves the
  // tier-t groups of a and of b for every t < T.
  std::vector<std::map<long long, long long>> leaving(static_cast<std::size_t>(tiers()));
  std::vector<Path> paths;
  paths.reserve(pairs.size());
  for (const auto& [a, b] : pairs) {
    const Path p = node_path(a, b);
    paths.push_back(p);
    if (p.level != Level::fabric) continue;
    for (int t = 1; t < p.tier; ++t) {
      ++leaving[static_cast<std::size_t>(t - 1)][group_of(a, t)];
      ++leaving[static_cast<std::size_t>(t - 1)][group_of(b, t)];
    }
  }
  std::vector<double> out;
  out.reserve(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const Path& p = paths[i];
    if (p.level != Level::fabric) {
      out.push_back(std::numeric_limits<double>::infinity());
      continue;
    }
    double bw = node_network_gbs_;
    for (int t = 1; t < p.tier; ++t) {
      for (int end : {pairs[i].first, pairs[i].second}) {
        const long long flows = leaving[static_cast<std::size_t>(t - 1)].at(group_of(end, t));
        bw = std::min(bw, group_uplink_gbs(t) / static_cast<double>(flows));
      }
    }
    out.push_back(bw);
  }
  return out;
}

std::vector<int> pods_of_step(std::span<const std::string_view> node_hosts, long long pod_nodes,
                              const SystemDescription* system) {
  if (pod_nodes <= 0) {
    if (!system)
      throw std::invalid_argument(
          "pairing: pod needs the pod size: set pod_nodes, or name a system description in the campaign "
          "(system: path/to/system.yaml) whose fabric gives it");
    pod_nodes = Topology(*system).pod_nodes();
  }
  std::vector<int> pods = collectives::pods_from_host_numbers(node_hosts, pod_nodes);
  for (std::size_t n = 0; n < pods.size(); ++n)
    if (pods[n] < 0)
      throw std::invalid_argument(fmt::format(
          "pairing: pod places a node by the number in its host name (its position in cabling order), "
          "and host '{}' has none",
          node_hosts[n]));
  return pods;
}

}  // namespace gpuaccept::sim
