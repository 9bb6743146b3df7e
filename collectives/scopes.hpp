// Which ranks form the communicators of a collective step: pure planning from the rank
// layout (node and local rank of every world rank), no MPI, so that the simulator and the
// tests plan exactly what a run does.
//
//   world    one group of every rank.
//   node     every node's ranks among themselves (or NVLink domains of `domain` ranks taken
//            in node order), all at once (round 0).
//   rail     the ranks with the same local rank across nodes, all rails at once (round 0).
//   pairs    rounds of disjoint node pairs (pairing_plan); the groups of one round run at once.
//            With pods given (ScopeOptions::pod_of_node), pairs are drawn inside each pod
//            (pod_pairing_plan), below an oversubscribed tier.
//   scaling  the first 2, 4, 8, ... nodes and finally all of them, one group per round.
//   bisect   the first stage of a bisection: the world (round 0), then one round of pairs;
//            the later stages depend on measurements (collectives/bisect in the suite).
#pragma once

#include <span>
#include <string_view>
#include <optional>
#include <utility>
#include <vector>

namespace gpuaccept::collectives {

struct RankPlace {
  int node = 0;        // host index 0..N-1 in first-appearance order
  int local_rank = 0;  // index among the ranks of its node, in world order
};

enum class CollectiveScope { world, node, rail, pairs, scaling, bisect };
std::string_view to_string(CollectiveScope scope);
std::optional<CollectiveScope> scope_from_string(std::string_view text);

struct ScopeGroup {
  std::vector<int> ranks;  // world ranks, in communicator order
  int round = 0;           // groups of one round run concurrently; rounds run one after another
  int nodes = 0;           // distinct nodes among the ranks
};

// How scope=pairs draws its pairs: from all nodes at once (`global`, the default), or inside
// each pod (`pod`: the nodes below one switch group whose up-links are the first oversubscribed
// ones, so that a pair's traffic never crosses an oversubscribed tier).
enum class Pairing { global, pod };
std::string_view to_string(Pairing pairing);
std::optional<Pairing> pairing_from_string(std::string_view text);

struct ScopeOptions {
  int domain = 0;       // node scope: ranks per NVLink domain (0: the ranks of one host)
  int pair_rounds = 3;  // pairs scope: rounds (each node meets that many partners)
  // pairs scope: the pod of every node (by node index, as RankPlace::node); empty: one pod
  // (the global plan). See pod_pairing_plan.
  std::vector<int> pod_of_node = {};
};

std::vector<ScopeGroup> plan_scope(CollectiveScope scope, std::span<const RankPlace> places,
                                   const ScopeOptions& options);

// Rounds of disjoint node pairs (round-robin "circle" schedule): within a round no node
// appears twice; over the rounds no pair repeats, and every node meets min(rounds, nodes-1)
// different partners (with an odd node count each node sits out at most once, so a round
// is added when needed).
std::vector<std::vector<std::pair<int, int>>> pairing_plan(int nodes, int rounds);

// The same inside pods: `pod_of_node[n]` is node n's pod (any integer). Each pod of at least
// kMinPodForPairs nodes gets its own circle plan over its nodes (in node order), and round r
// is the union of every pod's round r, so the pairs of a round stay disjoint and every pair
// lies inside one pod. The nodes of smaller pods (which could not meet two partners inside
// them) are pooled and planned together, across pods. Pairs in each round: pods in order of
// their first node, pairs as the circle plan gives them.
inline constexpr int kMinPodForPairs = 3;
std::vector<std::vector<std::pair<int, int>>> pod_pairing_plan(std::span<const int> pod_of_node, int rounds);

// The number in a host name that gives the node's position in cabling order: the last run of
// digits ("node01234" -> 1234, "gpu-b07n112" -> 112, "host-3" -> 3); -1 when it has none.
long long host_number(std::string_view host);

// Pods from host names, `node_hosts[n]` being node n's host: pod = host_number / pod_nodes
// (nodes numbered in cabling order, pod_nodes nodes per pod). A host without a number gets -1:
// the caller refuses the plan, naming it.
std::vector<int> pods_from_host_numbers(std::span<const std::string_view> node_hosts, long long pod_nodes);

// Places from host names in world-rank order (node index by first appearance).
std::vector<RankPlace> places_from_hosts(std::span<const std::string_view> hosts);

// The ranks of the given nodes, node by node, each node's ranks in local-rank order.
std::vector<int> ranks_of_nodes(std::span<const RankPlace> places, std::span<const int> nodes);

}  // namespace gpuaccept::collectives
