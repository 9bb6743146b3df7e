// The acceptance campaign of a whole machine as operators run it, with its duration from the
// model: per-GPU tests on every node at once, NVLink-domain collectives at once, rail tests,
// pairwise node rounds, a scaling series, full-scale storage; and the same steps one after
// another for comparison (`gpuaccept plan --system`, docs/simulation.md).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/collective_model.hpp"

namespace gpuaccept::sim {

struct AcceptanceSettings {
  std::int64_t gemm_size = 8192;  // m = n = k, bf16
  int gemm_iterations = 50;
  double burnin_seconds = 600;  // per-GPU burn-in, all GPUs at once
  std::int64_t min_bytes = 8;   // collective sweeps: nccl-tests -b/-e/-f
  std::int64_t max_bytes = std::int64_t{8} << 30;
  double factor = 2;
  int collective_iterations = 20;
  int pair_rounds = 4;
  std::int64_t pair_bytes = std::int64_t{1} << 30;  // sendrecv message per pair round
  double checkpoint_gib_per_gpu = 10;               // written then read back by every node at once
};

struct PlanPhase {
  std::string name;
  std::string what;
  long long groups = 0;  // groups that run at once in one round
  int rounds = 1;
  double parallel_seconds = 0;    // as planned: groups at once
  double sequential_seconds = 0;  // the same groups one after another
};

struct AcceptancePlan {
  std::vector<PlanPhase> phases;
  double parallel_seconds() const;
  double sequential_seconds() const;
};

AcceptancePlan plan_acceptance(const SystemDescription& system, const AcceptanceSettings& settings = {});
std::string format_acceptance_plan(const SystemDescription& system, const AcceptancePlan& plan);

}  // namespace gpuaccept::sim
