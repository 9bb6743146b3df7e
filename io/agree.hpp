// Failing together. A storage step runs on every rank; when one rank cannot go on (its
// directory is missing, a write failed), every rank must learn it at the same point, or the
// others would wait forever in the next collective call. Ranks catch their own errors, and at
// the end of each phase they agree: one MPI_Allreduce, plus one broadcast when something failed.
#pragma once

#include <stdexcept>
#include <string>

namespace gpuaccept::collectives {
class Group;
}

namespace gpuaccept::io {

class StepFailure : public std::runtime_error {
 public:
  StepFailure(int failed_rank, bool here, const std::string& message)
      : std::runtime_error(message), failed_rank_(failed_rank), here_(here) {}
  // The lowest rank that failed.
  int failed_rank() const { return failed_rank_; }
  // True on a rank that failed itself (what() is its own error); false on the others (what()
  // is the lowest failing rank's error).
  bool here() const { return here_; }

 private:
  int failed_rank_;
  bool here_;
};

// Collective over `group`: returns when no rank has an error; otherwise throws StepFailure on
// every rank.
void agree(const collectives::Group& group, const std::string& local_error);

}  // namespace gpuaccept::io
