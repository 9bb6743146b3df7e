// Bisection of a slow collective, as operators narrow it down by hand: pure planning (no
// MPI), each stage decided from the bus bandwidths the earlier stages measured (busbw at the
// largest size of each group). The suite runs the stages; the tests drive it with a model.
//
//   stage 0  the world and one round of node pairs (plan_scope(bisect)). Threshold: min_busbw
//            when > 0, else fraction x the median pair. World at or above it: done.
//   stage 1  when pairs are below it: each of their nodes meets a node of a good pair, all at
//            once; a node slow again is a suspect; a slow pair whose two nodes are both fine
//            with others is a suspected link.
//   stage 2  when no pair is slow: groups of `group_nodes` nodes at once; then, from a good
//            reference node, a ring grown one node at a time through the slow groups' nodes
//            (all nodes when none is slow): the node whose arrival takes the ring below the
//            threshold is the suspect.
#pragma once

#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "collectives/scopes.hpp"

namespace gpuaccept::collectives {

class Bisector {
 public:
  // `node_names[n]`: how notes name node n (its host).
  Bisector(std::span<const RankPlace> places, std::vector<std::string> node_names, double min_busbw,
           double fraction, int group_nodes);

  // `groups`: every group planned so far, stage 0 first (plan_scope(bisect)); `busbw`: the
  // figure of each group measured so far, by group index. Returns the next stage's groups
  // (their rounds follow the last one), or nothing when the bisection is over.
  std::vector<ScopeGroup> next(const std::vector<ScopeGroup>& groups, const std::map<int, double>& busbw);

  double threshold() const { return threshold_; }
  const std::set<int>& suspects() const { return suspects_; }                      // nodes
  const std::vector<std::pair<int, int>>& suspected_links() const { return links_; }  // node pairs
  const std::vector<std::string>& notes() const { return notes_; }                 // what each stage found

 private:
  std::vector<ScopeGroup> grow(int round);
  std::vector<int> nodes_of(const ScopeGroup& g) const;
  ScopeGroup group_of(const std::vector<int>& nodes, int round) const;

  std::vector<RankPlace> places_;
  std::vector<std::string> names_;
  double min_busbw_, fraction_;
  int group_nodes_;
  int nodes_ = 0;
  int stage_ = 0;
  double threshold_ = 0;
  std::set<int> suspects_;
  std::vector<std::pair<int, int>> links_;
  std::vector<std::string> notes_;
  std::vector<std::vector<int>> slow_pairs_;
  std::vector<int> ring_, grow_;
  std::size_t grow_at_ = 0, first_of_stage_ = 0;
};

}  // namespace gpuaccept::collectives
