// Which ranks form the communicators of a collective step: pure planning from the rank
// layout (node and local rank of every world rank), no MPI, so that the simulator and the
// tests plan exactly what a run does.
//
//   world    one group of every rank.
//   node     every node's ranks among themselves (or NVLink domains of `domain` ranks taken
//            in node order), all at once (round 0).
//   rail     the ranks with the same local rank across nodes, all rails at once (round 0).
//   pairs    rounds of disjoint node pairs (pairing_plan); the groups of one round run at once.
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

struct ScopeOptions {
  int domain = 0;       // node scope: ranks per NVLink domain (0: the ranks of one host)
  int pair_rounds = 3;  // pairs scope: rounds (each node meets that many partners)
};

std::vector<ScopeGroup> plan_scope(CollectiveScope scope, std::span<const RankPlace> places,
                                   const ScopeOptions& options);

// Rounds of disjoint node pairs (round-robin "circle" schedule): within a round no node
// appears twice; over the rounds no pair repeats, and every node meets min(rounds, nodes-1)
// different partners (with an odd node count each node sits out at most once, so a round
// is added when needed).
std::vector<std::vector<std::pair<int, int>>> pairing_plan(int nodes, int rounds);

// Places from host names in world-rank order (node index by first appearance).
std::vector<RankPlace> places_from_hosts(std::span<const std::string_view> hosts);

// The ranks of the given nodes, node by node, each node's ranks in local-rank order.
std::vector<int> ranks_of_nodes(std::span<const RankPlace> places, std::span<const int> nodes);

}  // namespace gpuaccept::collectives
