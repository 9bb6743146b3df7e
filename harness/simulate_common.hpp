// What every simulated step starts from (harness/simulate.cpp for gemm, the collectives and
// storage; harness/simulate_suites.cpp for the per-GPU, per-node and application steps): its
// parameters, the per-rank table a real run of N ranks stores, and the ranks of dead nodes.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>

#include "results/step_result.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

inline constexpr double kSimulatedNaN = std::numeric_limits<double>::quiet_NaN();

// A numeric parameter of the step (0 when absent or not a number); a text parameter ("" when
// absent or not text).
double param_number(const Params& p, const char* name);
std::string param_text(const Params& p, const char* name);

// Every rank's row, as a real run stores it: rank, status (0), then the benchmark's declared
// metrics in declaration order (NaN until the model sets them); ranks 0..n-1 and an empty
// message per rank.
void per_rank_columns(StepResult& r, const suites::BenchmarkDef& def, std::size_t n);

// The ranks of dead nodes (`dead_nodes`, ascending) never answer: status error, every figure
// NaN, a message naming the rank and its host; the step is an error whose reason names the first
// dead rank.
void mark_dead_nodes(StepResult& r, int gpus_per_node, std::span<const int> dead_nodes);

}  // namespace gpuaccept::harness
