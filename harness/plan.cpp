#include "harness/plan.hpp"

#include <fmt/format.h>

#include <set>

namespace gpuaccept::harness {

std::string step_id(std::string_view benchmark, const Params& params, int repetition) {
  const std::string canonical = fmt::format("{}|{}|rep={}", benchmark, format_params(params), repetition);
  std::uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char ch : canonical) {
    hash ^= ch;
    hash *= 0x100000001b3ull;
  }
  return fmt::format("{}-{:016x}", benchmark, hash);
}

std::vector<Step> plan(const Campaign& campaign, const suites::Registry& registry,
                       kernels::Backend backend, int ranks) {
  std::vector<Step> steps;
  std::set<std::string> seen;
  for (int rep = 0; rep < campaign.repetitions; ++rep) {
    for (const auto& entry : campaign.entries) {
      const suites::BenchmarkDef* def = registry.find(entry.benchmark);
      for (const auto& params : entry.expanded) {
        Step s;
        s.benchmark = entry.benchmark;
        s.params = params;
        s.repetition = rep;
        // The id hashes what tells this step apart: its parameters that differ from the
        // benchmark's defaults (a parameter added later, at its default, changes no id).
        s.configuration = without_defaults(s.params, registry.defaults(s.benchmark));
        s.id = step_id(s.benchmark, s.configuration, rep);
        // The same parameter set listed twice would be the same step: run it once.
        if (!seen.insert(s.id).second) continue;
        s.where = entry.where;
        if (def && def->applicable) s.not_applicable = def->applicable(params, backend);
        if (s.not_applicable.empty() && def && def->estimate_seconds)
          s.estimate_seconds = def->estimate_seconds(params, backend, ranks);
        s.index = steps.size();
        steps.push_back(std::move(s));
      }
    }
  }
  return steps;
}

void add_missing_steps(const Campaign& campaign, const suites::Registry& registry,
                       std::vector<StepResult>& stored) {
  std::set<std::string> present;
  for (const auto& s : stored) present.insert(s.id);
  for (const auto& step : plan(campaign, registry, kernels::Backend::cpu, 1)) {
    if (present.count(step.id)) continue;
    StepResult m;
    m.id = step.id;
    m.benchmark = step.benchmark;
    m.params = step.params;
    m.repetition = step.repetition;
    m.status = Status::missing;
    m.reason = "the run stopped before this step (resume it with `gpuaccept run --resume`)";
    stored.push_back(std::move(m));
  }
}

namespace {
std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.2f} h", seconds / 3600);
}
}  // namespace

std::string format_plan(const Campaign& campaign, const std::vector<Step>& steps,
                        kernels::Backend backend, int ranks) {
  std::string out = fmt::format("campaign {} on {}{}: {} steps, {} rank(s), backend {}\n", campaign.name,
                                campaign.system, campaign.phase.empty() ? "" : " (" + campaign.phase + ")",
                                steps.size(), ranks, kernels::to_string(backend));
  if (!campaign.contract_path.empty()) out += fmt::format("contract {}\n", campaign.contract_path);
  out += fmt::format("{:>5}  {:<27}  {:>4}  {:>9}  {}\n", "step", "id", "rep", "estimate",
                     "parameters (those not at their default; `gpuaccept list BENCHMARK` shows the defaults)");
  double total = 0;
  std::size_t skipped = 0;
  for (const auto& s : steps) {
    skipped += !s.not_applicable.empty();
    total += s.estimate_seconds;
    out += fmt::format("{:>5}  {:<27}  {:>4}  {:>9}  {}\n", s.index + 1, s.id, s.repetition,
                       s.not_applicable.empty() ? format_duration(s.estimate_seconds) : "skip",
                       s.configuration.empty() ? std::string("(all defaults)") : format_params(s.configuration));
  }
  if (skipped)
    out += fmt::format("{} step(s) not applicable on the {} backend will be recorded as skipped\n", skipped,
                       kernels::to_string(backend));
  out += fmt::format("estimated total: {} (rough: from nominal {} rates; see docs/campaigns.md)\n",
                     format_duration(total), kernels::to_string(backend));
  return out;
}

}  // namespace gpuaccept::harness
