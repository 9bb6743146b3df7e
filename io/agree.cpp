#include "io/agree.hpp"

#include <limits>

#include "collectives/group.hpp"

namespace gpuaccept::io {

void agree(const collectives::Group& group, const std::string& local_error) {
  const int rank = group.rank();
  double lowest[1] = {local_error.empty() ? std::numeric_limits<double>::infinity() : static_cast<double>(rank)};
  group.allreduce_min(lowest);
  if (lowest[0] == std::numeric_limits<double>::infinity()) return;
  const int failed = static_cast<int>(lowest[0]);
  std::string message = failed == rank ? local_error : std::string();
  group.broadcast(message, failed);
  if (!local_error.empty()) throw StepFailure(failed, true, local_error);
  throw StepFailure(failed, false, message);
}

}  // namespace gpuaccept::io
