#include "harness/simulate_common.hpp"

#include <fmt/format.h>

#include "harness/simulate.hpp"

namespace gpuaccept::harness {

double param_number(const Params& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end()) return 0;
  return as_number(it->second).value_or(0);
}

std::string param_text(const Params& p, const char* name) {
  const auto it = p.find(name);
  return it != p.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "";
}

void per_rank_columns(StepResult& r, const suites::BenchmarkDef& def, std::size_t n) {
  r.per_rank.column("rank", "", true).values.resize(n);
  r.per_rank.column("status", "", true).values.assign(n, 0.0);
  for (const auto& m : def.rank_metrics)
    r.per_rank.column(m.name, m.unit, false, m.better).values.assign(n, kSimulatedNaN);
  auto& rank = r.per_rank.find("rank")->values;
  r.ranks.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    rank[i] = static_cast<double>(i);
    r.ranks[i] = static_cast<std::int32_t>(i);
  }
  r.rank_messages.assign(n, "");
}

void mark_dead_nodes(StepResult& r, int gpus_per_node, std::span<const int> dead_nodes) {
  Column* status = r.per_rank.find("status");
  if (status == nullptr) return;  // a step skipped before its table was made
  const auto per_node = static_cast<std::size_t>(gpus_per_node);
  for (int node : dead_nodes) {
    for (std::size_t g = 0; g < per_node; ++g) {
      const std::size_t row = static_cast<std::size_t>(node) * per_node + g;
      if (row >= status->values.size()) break;
      status->values[row] = static_cast<double>(Status::error);
      for (auto& c : r.per_rank.columns)
        if (c.name != "rank" && c.name != "status") c.values[row] = kSimulatedNaN;
      r.rank_messages[row] = fmt::format("rank {} on {}: no response (simulated dead node)", row, simulated_host(node));
    }
    if (r.status != Status::error) {
      r.status = Status::error;
      r.reason = fmt::format("rank {} on {}: no response (simulated dead node)",
                             static_cast<long long>(node) * gpus_per_node, simulated_host(node));
    }
  }
}

}  // namespace gpuaccept::harness
