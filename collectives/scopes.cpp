#include "collectives/scopes.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_map>

namespace gpuaccept::collectives {

std::string_view to_string(CollectiveScope scope) {
  switch (scope) {
    case CollectiveScope::world: return "world";
    case CollectiveScope::node: return "node";
    case CollectiveScope::rail: return "rail";
    case CollectiveScope::pairs: return "pairs";
    case CollectiveScope::scaling: return "scaling";
    case CollectiveScope::bisect: return "bisect";
  }
  return "?";
}

std::optional<CollectiveScope> scope_from_string(std::string_view text) {
  for (auto s : {CollectiveScope::world, CollectiveScope::node, CollectiveScope::rail, CollectiveScope::pairs,
                 CollectiveScope::scaling, CollectiveScope::bisect})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

std::string_view to_string(Pairing pairing) {
  switch (pairing) {
    case Pairing::global: return "global";
    case Pairing::pod: return "pod";
  }
  return "?";
}

std::optional<Pairing> pairing_from_string(std::string_view text) {
  for (auto p : {Pairing::global, Pairing::pod})
    if (to_string(p) == text) return p;
  return std::nullopt;
}

std::vector<std::vector<std::pair<int, int>>> pairing_plan(int nodes, int rounds) {
  std::vector<std::vector<std::pair<int, int>>> plan;
  if (nodes < 2 || rounds < 1) return plan;
  // Circle method over an even number of seats (a dummy seat when nodes is odd): seat 0 is
  // fixed, the others rotate; round r pairs seat i with seat m-1-i.
  const int seats = nodes % 2 == 0 ? nodes : nodes + 1;
  const int wanted = std::min(rounds, nodes - 1);
  const int max_rounds = seats - 1;  // then every pair has met once
  std::vector<int> partners(static_cast<std::size_t>(nodes), 0);
  auto seat_node = [&](int round, int seat) {
    return seat == 0 ? 0 : 1 + (seat - 1 + round) % (seats - 1);
  };
  for (int r = 0; r < max_rounds; ++r) {
    const bool enough = static_cast<int>(plan.size()) >= wanted &&
                        std::all_of(partners.begin(), partners.end(), [&](int p) { return p >= wanted; });
    if (enough) break;
    std::vector<std::pair<int, int>> round;
    round.reserve(static_cast<std::size_t>(seats / 2));
    for (int i = 0; i < seats / 2; ++i) {
      const int a = seat_node(r, i), b = seat_node(r, seats - 1 - i);
      if (a >= nodes || b >= nodes) continue;  // the dummy seat: that node sits out
      round.emplace_back(std::min(a, b), std::max(a, b));
      ++partners[static_cast<std::size_t>(a)];
      ++partners[static_cast<std::size_t>(b)];
    }
    plan.push_back(std::move(round));
  }
  return plan;
}

std::vector<std::vector<std::pair<int, int>>> pod_pairing_plan(std::span<const int> pod_of_node, int rounds) {
  // Pods in order of their first node; each pod's nodes in node order.
  std::vector<std::vector<int>> pods;
  std::unordered_map<int, std::size_t> index;
  for (int n = 0; n < static_cast<int>(pod_of_node.size()); ++n) {
    auto [it, fresh] = index.emplace(pod_of_node[static_cast<std::size_t>(n)], pods.size());
    if (fresh) pods.emplace_back();
    pods[it->second].push_back(n);
  }
  std::vector<int> pooled;  // nodes of pods too small to meet two partners inside them
  std::vector<std::vector<int>> planned;
  for (auto& pod : pods) {
    if (static_cast<int>(pod.size()) >= kMinPodForPairs) planned.push_back(std::move(pod));
    else pooled.insert(pooled.end(), pod.begin(), pod.end());
  }
  if (pooled.size() >= 2) {
    std::sort(pooled.begin(), pooled.end());
    planned.push_back(std::move(pooled));
  } else if (pooled.size() == 1 && !planned.empty()) {
    // One node left alone: it joins the smallest planned pod rather than meet nobody.
    auto smallest = std::min_element(planned.begin(), planned.end(),
                                     [](const auto& a, const auto& b) { return a.size() < b.size(); });
    smallest->insert(std::upper_bound(smallest->begin(), smallest->end(), pooled.front()), pooled.front());
  }
  std::vector<std::vector<std::pair<int, int>>> plan;
  for (const auto& members : planned) {
    const auto local = pairing_plan(static_cast<int>(members.size()), rounds);
    if (plan.size() < local.size()) plan.resize(local.size());
    for (std::size_t r = 0; r < local.size(); ++r)
      for (const auto& [a, b] : local[r]) {
        const int x = members[static_cast<std::size_t>(a)], y = members[static_cast<std::size_t>(b)];
        plan[r].emplace_back(std::min(x, y), std::max(x, y));
      }
  }
  return plan;
}

long long host_number(std::string_view host) {
  std::size_t end = host.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(host[end - 1]))) --end;
  if (end == 0) return -1;
  std::size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(host[begin - 1]))) --begin;
  long long value = 0;
  for (std::size_t i = begin; i < end && value < (1LL << 50); ++i) value = value * 10 + (host[i] - '0');
  return value;
}

std::vector<int> pods_from_host_numbers(std::span<const std::string_view> node_hosts, long long pod_nodes) {
  std::vector<int> pods;
  pods.reserve(node_hosts.size());
  for (auto host : node_hosts) {
    const long long number = host_number(host);
    pods.push_back(number < 0 ? -1 : static_cast<int>(number / std::max(1LL, pod_nodes)));
  }
  return pods;
}

std::vector<RankPlace> places_from_hosts(std::span<const std::string_view> hosts) {
  std::unordered_map<std::string_view, int> index;
  std::vector<int> locals;
  std::vector<RankPlace> places;
  places.reserve(hosts.size());
  for (auto host : hosts) {
    auto [it, fresh] = index.emplace(host, static_cast<int>(index.size()));
    if (fresh) locals.push_back(0);
    places.push_back({it->second, locals[static_cast<std::size_t>(it->second)]++});
  }
  return places;
}

namespace {

// World ranks per node, each node's ranks ordered by local rank.
std::vector<std::vector<int>> ranks_by_node(std::span<const RankPlace> places) {
  int nodes = 0;
  for (const auto& p : places) nodes = std::max(nodes, p.node + 1);
  std::vector<std::vector<int>> by_node(static_cast<std::size_t>(nodes));
  for (std::size_t r = 0; r < places.size(); ++r) by_node[static_cast<std::size_t>(places[r].node)].push_back(static_cast<int>(r));
  for (auto& ranks : by_node)
    std::sort(ranks.begin(), ranks.end(), [&](int a, int b) {
      return places[static_cast<std::size_t>(a)].local_rank < places[static_cast<std::size_t>(b)].local_rank;
    });
  return by_node;
}

int count_nodes(std::span<const RankPlace> places, const std::vector<int>& ranks) {
  std::vector<int> nodes;
  nodes.reserve(ranks.size());
  for (int r : ranks) nodes.push_back(places[static_cast<std::size_t>(r)].node);
  std::sort(nodes.begin(), nodes.end());
  return static_cast<int>(std::unique(nodes.begin(), nodes.end()) - nodes.begin());
}

ScopeGroup group_of_nodes(const std::vector<std::vector<int>>& by_node, std::span<const int> nodes, int round) {
  ScopeGroup g;
  g.round = round;
  g.nodes = static_cast<int>(nodes.size());
  for (int n : nodes) {
    const auto& ranks = by_node[static_cast<std::size_t>(n)];
    g.ranks.insert(g.ranks.end(), ranks.begin(), ranks.end());
  }
  return g;
}

}  // namespace

std::vector<int> ranks_of_nodes(std::span<const RankPlace> places, std::span<const int> nodes) {
  return group_of_nodes(ranks_by_node(places), nodes, 0).ranks;
}

std::vector<ScopeGroup> plan_scope(CollectiveScope scope, std::span<const RankPlace> places,
                                   const ScopeOptions& options) {
  std::vector<ScopeGroup> groups;
  if (places.empty()) return groups;
  const auto by_node = ranks_by_node(places);
  const int nodes = static_cast<int>(by_node.size());
  auto world = [&] {
    ScopeGroup g;
    g.ranks.resize(places.size());
    for (std::size_t r = 0; r < places.size(); ++r) g.ranks[r] = static_cast<int>(r);
    g.nodes = nodes;
    return g;
  };
  auto pairs = [&](int first_round) {
    const int rounds = std::max(options.pair_rounds, 1);
    const auto plan = options.pod_of_node.empty() ? pairing_plan(nodes, rounds)
                                                  : pod_pairing_plan(options.pod_of_node, rounds);
    for (std::size_t r = 0; r < plan.size(); ++r)
      for (const auto& [a, b] : plan[r]) {
        const int both[] = {a, b};
        groups.push_back(group_of_nodes(by_node, both, first_round + static_cast<int>(r)));
      }
  };
  switch (scope) {
    case CollectiveScope::world: groups.push_back(world()); break;
    case CollectiveScope::node:
      if (options.domain <= 0) {
        for (int n = 0; n < nodes; ++n) {
          const int one[] = {n};
          groups.push_back(group_of_nodes(by_node, one, 0));
        }
      } else {
        // Domains of `domain` ranks in node order (e.g. 72 GPUs = 18 nodes of 4).
        std::vector<int> order;
        order.reserve(places.size());
        for (const auto& ranks : by_node) order.insert(order.end(), ranks.begin(), ranks.end());
        for (std::size_t at = 0; at < order.size(); at += static_cast<std::size_t>(options.domain)) {
          ScopeGroup g;
          const std::size_t end = std::min(order.size(), at + static_cast<std::size_t>(options.domain));
          g.ranks.assign(order.begin() + static_cast<std::ptrdiff_t>(at), order.begin() + static_cast<std::ptrdiff_t>(end));
          g.nodes = count_nodes(places, g.ranks);
          groups.push_back(std::move(g));
        }
      }
      break;
    case CollectiveScope::rail: {
      int rails = 0;
      for (const auto& p : places) rails = std::max(rails, p.local_rank + 1);
      groups.resize(static_cast<std::size_t>(rails));
      for (const auto& ranks : by_node)
        for (int r : ranks) groups[static_cast<std::size_t>(places[static_cast<std::size_t>(r)].local_rank)].ranks.push_back(r);
      for (auto& g : groups) g.nodes = static_cast<int>(g.ranks.size());  // one rank per node
      break;
    }
    case CollectiveScope::pairs: pairs(0); break;
    case CollectiveScope::scaling: {
      int round = 0;
      std::vector<int> first;
      for (int k = 2;; k *= 2) {
        const int take = std::min(k, nodes);
        first.clear();
        for (int n = 0; n < take; ++n) first.push_back(n);
        groups.push_back(group_of_nodes(by_node, first, round++));
        if (take == nodes) break;
      }
      break;
    }
    case CollectiveScope::bisect:
      groups.push_back(world());
      if (nodes >= 2) {
        const auto plan = pairing_plan(nodes, 1);
        for (const auto& [a, b] : plan.front()) {
          const int both[] = {a, b};
          groups.push_back(group_of_nodes(by_node, both, 1));
        }
      }
      break;
  }
  return groups;
}

}  // namespace gpuaccept::collectives
