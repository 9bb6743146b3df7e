#include "io/bandwidth.hpp"

#include <algorithm>
#include <limits>

#include "collectives/group.hpp"

namespace gpuaccept::io {

PhaseTotals combine(std::span<const PhaseSpan> ranks) {
  PhaseTotals t;
  if (ranks.empty()) return t;
  t.first_start = std::numeric_limits<double>::infinity();
  t.last_end = -std::numeric_limits<double>::infinity();
  for (const auto& r : ranks) {
    t.first_start = std::min(t.first_start, r.start);
    t.last_end = std::max(t.last_end, r.end);
    t.amount += r.amount;
    t.slowest_seconds = std::max(t.slowest_seconds, r.seconds());
  }
  return t;
}

PhaseTotals combine(const collectives::Group& group, const PhaseSpan& mine) {
  double minimum[1] = {mine.start};
  double maximum[2] = {mine.end, mine.seconds()};
  double sum[1] = {mine.amount};
  group.allreduce_min(minimum);
  group.allreduce_max(maximum);
  group.allreduce_sum(sum);
  PhaseTotals t;
  t.first_start = minimum[0];
  t.last_end = maximum[0];
  t.slowest_seconds = maximum[1];
  t.amount = sum[0];
  return t;
}

double per_second(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0.0; }
double aggregate_rate(const PhaseTotals& t) { return per_second(t.amount, t.seconds()); }
double rank_rate(const PhaseSpan& s) { return per_second(s.amount, s.seconds()); }

}  // namespace gpuaccept::io
