#include "collectives/bisect.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace gpuaccept::collectives {

namespace {
double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
}  // namespace

Bisector::Bisector(std::span<const RankPlace> places, std::vector<std::string> node_names, double min_busbw,
                   double fraction, int group_nodes)
    : places_(places.begin(), places.end()), names_(std::move(node_names)), min_busbw_(min_busbw),
      fraction_(fraction), group_nodes_(std::max(group_nodes, 2)) {
  for (const auto& p : places_) nodes_ = std::max(nodes_, p.node + 1);
  names_.resize(static_cast<std::size_t>(nodes_));
  for (int n = 0; n < nodes_; ++n)
    if (names_[static_cast<std::size_t>(n)].empty()) names_[static_cast<std::size_t>(n)] = fmt::format("node {}", n);
}

std::vector<int> Bisector::nodes_of(const ScopeGroup& g) const {
  std::vector<int> nodes;
  for (int r : g.ranks) {
    const int n = places_[static_cast<std::size_t>(r)].node;
    if (std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
  }
  return nodes;
}

ScopeGroup Bisector::group_of(const std::vector<int>& nodes, int round) const {
  ScopeGroup g;
  g.ranks = ranks_of_nodes(places_, nodes);
  g.round = round;
  g.nodes = static_cast<int>(nodes.size());
  return g;
}

std::vector<ScopeGroup> Bisector::next(const std::vector<ScopeGroup>& groups, const std::map<int, double>& busbw) {
  const int round = groups.empty() ? 0 : groups.back().round + 1;
  auto figure = [&](std::size_t g) {
    const auto it = busbw.find(static_cast<int>(g));
    return it == busbw.end() ? 0.0 : it->second;
  };
  auto slow = [&](std::size_t g) { return figure(g) < threshold_; };
  const auto& name = [&](int n) -> const std::string& { return names_[static_cast<std::size_t>(n)]; };
  switch (stage_++) {
    case 0: {  // the world and one round of pairs
      std::vector<double> pairs;
      for (std::size_t g = 1; g < groups.size(); ++g) pairs.push_back(figure(g));
      const double median = median_of(pairs);
      threshold_ = min_busbw_ > 0 ? min_busbw_ : fraction_ * median;
      notes_.push_back(fmt::format("world {:.4g} GB/s, median pair {:.4g} GB/s, threshold {:.4g} GB/s", figure(0),
                                   median, threshold_));
      if (figure(0) >= threshold_ || nodes_ < 2) {
        notes_.push_back("the world reaches the threshold: nothing to bisect");
        return {};
      }
      std::vector<int> candidates, good;
      for (std::size_t g = 1; g < groups.size(); ++g) {
        const auto nodes = nodes_of(groups[g]);
        if (slow(g)) slow_pairs_.push_back(nodes);
        (slow(g) ? candidates : good).insert((slow(g) ? candidates : good).end(), nodes.begin(), nodes.end());
      }
      if (!candidates.empty()) {
        if (good.empty()) {
          suspects_.insert(candidates.begin(), candidates.end());
          notes_.push_back("every pair is slow and no good node is left to compare with");
          return {};
        }
        // Each candidate with a good node, all at once (a good node may serve twice in a
        // later round when candidates outnumber good nodes).
        std::vector<ScopeGroup> next;
        for (std::size_t i = 0; i < candidates.size(); ++i)
          next.push_back(group_of({candidates[i], good[i % good.size()]}, round + static_cast<int>(i / good.size())));
        first_of_stage_ = groups.size();
        return next;
      }
      std::vector<ScopeGroup> next;  // stage 2: groups of k nodes at once
      for (int first = 0; first < nodes_; first += group_nodes_) {
        std::vector<int> nodes;
        for (int n = first; n < std::min(nodes_, first + group_nodes_); ++n) nodes.push_back(n);
        if (nodes.size() >= 2) next.push_back(group_of(nodes, round));
      }
      notes_.push_back("no pair is slow: groups of nodes next");
      stage_ = 2;
      first_of_stage_ = groups.size();
      return next;
    }
    case 1: {  // rechecks: candidate first, good partner second
      std::set<int> cleared;
      for (std::size_t g = first_of_stage_; g < groups.size(); ++g) {
        const int candidate = nodes_of(groups[g]).front();
        if (slow(g)) suspects_.insert(candidate);
        else cleared.insert(candidate);
      }
      for (const auto& pair : slow_pairs_)
        if (pair.size() == 2 && cleared.count(pair[0]) && cleared.count(pair[1])) {
          links_.emplace_back(pair[0], pair[1]);
          notes_.push_back(fmt::format("suspected link {}<->{}: slow together, fine with other partners", name(pair[0]),
                                       name(pair[1])));
        }
      for (int n : suspects_) notes_.push_back(fmt::format("{} is slow with a good partner too", name(n)));
      return {};
    }
    case 2: {  // groups measured: grow a ring through the slow ones' nodes
      std::vector<int> order, fine;
      for (std::size_t g = first_of_stage_; g < groups.size(); ++g) {
        const auto nodes = nodes_of(groups[g]);
        (slow(g) ? order : fine).insert((slow(g) ? order : fine).end(), nodes.begin(), nodes.end());
      }
      if (order.empty()) {
        notes_.push_back("no group is slow: the ring grows through every node");
        for (int n = 0; n < nodes_; ++n) order.push_back(n);
        fine.clear();
      }
      ring_ = {fine.empty() ? order.front() : fine.front()};
      grow_ = order;
      grow_at_ = 0;
      return grow(round);
    }
    default: {  // one ring measured
      if (slow(groups.size() - 1)) {
        suspects_.insert(ring_.back());
        notes_.push_back(fmt::format("the ring falls below the threshold when {} joins", name(ring_.back())));
        return {};
      }
      return grow(round);
    }
  }
}

std::vector<ScopeGroup> Bisector::grow(int round) {
  while (grow_at_ < grow_.size() && std::find(ring_.begin(), ring_.end(), grow_[grow_at_]) != ring_.end()) ++grow_at_;
  if (grow_at_ >= grow_.size()) {
    notes_.push_back("the ring took in every candidate without falling below the threshold");
    return {};
  }
  ring_.push_back(grow_[grow_at_++]);
  stage_ = 3;
  return {group_of(ring_, round)};
}

}  // namespace gpuaccept::collectives
