#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

std::vector<double> time_host(const TimingPolicy& policy, const std::function<void()>& op) {
  for (int i = 0; i < policy.warmup; ++i) op();
  std::vector<double> seconds;
  seconds.reserve(static_cast<std::size_t>(policy.iterations));
  for (int i = 0; i < policy.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    op();
    const auto stop = std::chrono::steady_clock::now();
    seconds.push_back(std::chrono::duration<double>(stop - start).count());
  }
  return seconds;
}

}  // namespace gpuaccept::kernels
