// Planning: a campaign expands into steps, each one benchmark with fully bound parameters
// and a repetition index, with a stable id derived from that content alone. The same
// campaign therefore gives the same ids on every run, which is what lets `run --resume` skip
// finished steps and comparisons match a step across nights.
#pragma once

#include <string>
#include <vector>

#include "harness/campaign.hpp"
#include "kernels/backend.hpp"

namespace gpuaccept::harness {

struct Step {
  std::size_t index = 0;  // 0-based position in the plan
  std::string id;
  std::string benchmark;
  Params params;         // every parameter, defaults included (what is stored)
  Params configuration;  // those that differ from the benchmark's defaults (what the id hashes)
  int repetition = 0;
  double estimate_seconds = 0;
  std::string not_applicable;  // why it will be skipped on the planned backend ("" = it runs)
  SourceLocation where;   // the campaign entry it came from
};

// "gemm-" followed by 16 hex digits of a 64-bit FNV-1a hash of the benchmark name, the
// canonical text of `params` and the repetition index. plan() passes the parameters that
// differ from the benchmark's defaults.
std::string step_id(std::string_view benchmark, const Params& params, int repetition);

// Steps in campaign order, repetitions of a whole campaign one after another (so that a
// drift over time shows up across repetitions rather than inside one benchmark).
std::vector<Step> plan(const Campaign& campaign, const suites::Registry& registry,
                       kernels::Backend backend, int ranks);

// Adds a StepResult with status `missing` for every step that `campaign` plans and `stored`
// lacks (a run that was killed, or is still going on), so that the verdict says so instead of
// judging only what is there.
void add_missing_steps(const Campaign& campaign, const suites::Registry& registry,
                       std::vector<StepResult>& stored);

// The plan as a table, with the estimated total.
std::string format_plan(const Campaign& campaign, const std::vector<Step>& steps,
                        kernels::Backend backend, int ranks);

}  // namespace gpuaccept::harness
