// Who had entered the collective when a step hangs: every rank announces to the step's
// rank 0 each phase (a message size, out of place or in place) it is about to enter, with
// a small non-blocking send of its phase number. Rank 0 keeps one receive posted per rank
// into a board of "last phase announced"; MPI's progress engine fills it while rank 0
// itself waits inside the hung collective, so that the harness's watchdog (on another
// thread, without calling MPI) can read it and name the ranks that are behind.
//
// Knowable only when rank 0 has entered the hung phase itself (its progress fills the
// board); otherwise the text says so. The announcements run outside the timed iterations.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "collectives/group.hpp"

namespace gpuaccept::collectives {

class ArrivalBoard {
 public:
  // Collective over `step` (duplicates its communicator). Becomes the current board.
  explicit ArrivalBoard(const Group& step, std::vector<std::string> hosts);
  ArrivalBoard(const ArrivalBoard&) = delete;
  ArrivalBoard& operator=(const ArrivalBoard&) = delete;
  ~ArrivalBoard();

  // Called by every rank before it enters a phase.
  void announce();
  // Collective: receives every announcement still on its way, so nothing is left pending.
  void close();

  // The ranks whose last announced phase is behind the furthest one (rank order), as text
  // for a timeout's reason; "" when nothing is known. Safe from another thread.
  std::string missing_text() const;

  // The board of the step running now, or nullptr.
  static const ArrivalBoard* current();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Test-only: a function every rank calls just before announcing a phase (the selftest
// binary installs one that never returns on a chosen rank, to test the hang path).
using BeforeCollectiveHook = void (*)(int step_rank);
void set_before_collective_hook(BeforeCollectiveHook hook);
BeforeCollectiveHook before_collective_hook();

}  // namespace gpuaccept::collectives
