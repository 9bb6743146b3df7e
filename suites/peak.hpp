// Ratio of a measured figure to the GPU's data-sheet peak, as the campaign's system description
// gives it (results/system.hpp). Empty, never guessed, when there is no description, when it
// has no peak for that dtype, or on the CPU backend (a GPU's peak says nothing of a CPU run).
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "kernels/backend.hpp"
#include "results/system.hpp"

namespace gpuaccept::suites {

inline std::optional<double> ratio_to_gpu_peak(const SystemDescription* system, kernels::Backend backend,
                                               const std::string& dtype, double tflops) {
  if (system == nullptr || backend != kernels::Backend::cuda || !std::isfinite(tflops)) return std::nullopt;
  const std::optional<double> peak = system->gpu.peak(dtype);
  if (!peak) return std::nullopt;
  return tflops / *peak;
}

}  // namespace gpuaccept::suites
