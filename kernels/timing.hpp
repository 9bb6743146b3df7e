// The one timing module for host-side measurements: warm-up, then per-iteration wall times
// from steady_clock. GPU code times with CUDA events (kernels/cuda/), under the same
// warm-up/iteration policy.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

namespace gpuaccept::kernels {

struct TimingPolicy {
  int warmup = 2;       // untimed iterations first
  int iterations = 10;  // timed iterations
};

// Runs op() warmup + iterations times; returns the seconds of each timed iteration.
std::vector<double> time_host(const TimingPolicy& policy, const std::function<void()>& op);

}  // namespace gpuaccept::kernels
