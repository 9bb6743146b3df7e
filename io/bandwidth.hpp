// The arithmetic of storage figures, in one place.
//
// Every phase (write, read, create, ...) starts at a barrier. Each rank records when it
// started and ended the phase and how much it moved (bytes, or operations for metadata):
//
//   aggregate bandwidth = total bytes over all ranks / (last end - first start)   [IOR]
//   rank bandwidth      = the rank's bytes / (its end - its start)                (names a slow client)
//   slowest rank time   = max over ranks of (end - start)                         [MLPerf Storage checkpoint time]
//
// Times are seconds on one clock; bandwidths are in bytes per second here (GB/s = 1e9 B/s
// in results), rates in operations per second.
#pragma once

#include <cstdint>
#include <span>

namespace gpuaccept::collectives {
class Group;
}

namespace gpuaccept::io {

// One rank's phase.
struct PhaseSpan {
  double start = 0;  // seconds
  double end = 0;
  double amount = 0;  // bytes or operations
  double seconds() const { return end - start; }
};

// All ranks' phase, combined.
struct PhaseTotals {
  double first_start = 0;
  double last_end = 0;
  double amount = 0;
  double slowest_seconds = 0;  // max over ranks of (end - start)
  double seconds() const { return last_end - first_start; }
};

// Combines the ranks' spans (the reference the MPI reduction below must agree with).
PhaseTotals combine(std::span<const PhaseSpan> ranks);
// The same over a group: one MPI_Allreduce each for min start, max end, sum and max duration.
PhaseTotals combine(const collectives::Group& group, const PhaseSpan& mine);

// amount / seconds, or 0 when nothing was timed (0 seconds).
double per_second(double amount, double seconds);
double aggregate_rate(const PhaseTotals& t);
double rank_rate(const PhaseSpan& s);

}  // namespace gpuaccept::io
