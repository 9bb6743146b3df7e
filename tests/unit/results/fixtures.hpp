// Hand-built runs and steps for the results/ tests: a machine of nodes x GPUs, per-rank steps
// with given values, and sweeps, so that every expected figure can be worked out by hand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "results/contract.hpp"
#include "results/step_result.hpp"

namespace gpuaccept::testing {

inline std::string node_name(int node) {
  std::string n = std::to_string(node);
  return "node" + std::string(n.size() < 2 ? 2 - n.size() : 0, '0') + n;
}

// `nodes` hosts of `gpus` ranks each: rank r is GPU r % gpus of node r / gpus, UUID GPU-<r>.
inline RunInfo machine(int nodes, int gpus) {
  RunInfo run;
  run.campaign = "test";
  run.system = "testbed";
  run.rank_count = nodes * gpus;
  for (int r = 0; r < nodes * gpus; ++r)
    run.ranks.push_back(RankInfo{r, node_name(r / gpus), r % gpus, "NVIDIA H100", "GPU-" + std::to_string(r)});
  return run;
}

// A step of `benchmark` whose ranks 0..values.size()-1 (or `ranks`) report `metric`.
inline StepResult rank_step(const std::string& id, const std::string& benchmark, Params params, const std::string& metric,
                            const std::vector<double>& values, Better better = Better::higher,
                            const std::string& unit = "TFLOP/s", int repetition = 0,
                            std::vector<std::int32_t> ranks = {}) {
  StepResult s;
  s.id = id;
  s.benchmark = benchmark;
  s.params = std::move(params);
  s.backend = "cuda";
  s.repetition = repetition;
  s.per_rank.column("rank", "", true);
  s.per_rank.column("status", "", true);
  s.per_rank.column(metric, unit, false, better);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int32_t rank = ranks.empty() ? static_cast<std::int32_t>(i) : ranks[i];
    s.ranks.push_back(rank);
    s.per_rank.find("rank")->values.push_back(rank);
    s.per_rank.find("status")->values.push_back(0);
    s.per_rank.find(metric)->values.push_back(values[i]);
    s.rank_messages.emplace_back();
  }
  return s;
}

// An all-reduce sweep over `ranks` ranks: busbw_oop = `busbw` at every size (1K..1M by 4).
inline StepResult sweep_step(const std::string& id, int ranks, double busbw, int repetition = 0,
                             const std::string& dtype = "fp32") {
  StepResult s;
  s.id = id;
  s.benchmark = "allreduce";
  s.params = {{"dtype", dtype}};
  s.backend = "cuda";
  s.repetition = repetition;
  s.points.column("bytes", "B", true);
  s.points.column("busbw_oop", "GB/s", false, Better::higher);
  s.points.column("time_oop", "us", false, Better::lower);
  for (double b = 1024; b <= 1 << 20; b *= 4) {
    s.points.find("bytes")->values.push_back(b);
    s.points.find("busbw_oop")->values.push_back(busbw);
    s.points.find("time_oop")->values.push_back(b / busbw / 1e3);
  }
  s.per_rank.column("rank", "", true);
  s.per_rank.column("status", "", true);
  for (int r = 0; r < ranks; ++r) {
    s.ranks.push_back(r);
    s.per_rank.find("rank")->values.push_back(r);
    s.per_rank.find("status")->values.push_back(0);
    s.rank_messages.emplace_back();
  }
  return s;
}

// A collective step in the agreed layout (docs/results-schema.md): one points row per
// (group, size) with group/round/nodes/bytes keys and busbw_oop; group_ranks samples.
// busbw[g] is group g's bus bandwidth at every size; rounds[g] its round (0 when empty).
inline StepResult collective_step(const std::string& id, const std::string& scope, const RunInfo& run,
                                  const std::vector<std::vector<std::int32_t>>& groups, const std::vector<double>& busbw,
                                  const std::vector<int>& rounds = {}, const std::string& benchmark = "allreduce",
                                  const std::vector<double>& sizes = {1 << 20, 64 << 20}) {
  StepResult s;
  s.id = id;
  s.benchmark = benchmark;
  s.params = {{"dtype", std::string("fp32")}, {"scope", scope}};
  s.backend = "cuda";
  for (const char* key : {"group", "round", "nodes", "bytes"}) s.points.column(key, key[0] == 'b' ? "B" : "", true);
  s.points.column("busbw_oop", "GB/s", false, Better::higher);
  s.points.column("time_oop", "us", false, Better::lower);
  Samples members{"group_ranks", "", "group", "member", groups.size(), 0, {}};
  for (const auto& g : groups) members.cols = std::max(members.cols, g.size());
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::vector<std::string> hosts;
    for (std::int32_t r : groups[g]) {
      const std::string& h = run.ranks[static_cast<std::size_t>(r)].host;
      if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
    }
    for (std::size_t c = 0; c < members.cols; ++c) members.values.push_back(c < groups[g].size() ? groups[g][c] : -1);
    for (double bytes : sizes) {
      s.points.find("group")->values.push_back(static_cast<double>(g));
      s.points.find("round")->values.push_back(rounds.empty() ? 0 : rounds[g]);
      s.points.find("nodes")->values.push_back(static_cast<double>(hosts.size()));
      s.points.find("bytes")->values.push_back(bytes);
      s.points.find("busbw_oop")->values.push_back(busbw[g]);
      s.points.find("time_oop")->values.push_back(bytes / busbw[g] / 1e3);
    }
  }
  s.samples.push_back(std::move(members));
  s.per_rank.column("rank", "", true);
  s.per_rank.column("status", "", true);
  for (const auto& r : run.ranks) {
    s.ranks.push_back(r.rank);
    s.per_rank.find("rank")->values.push_back(r.rank);
    s.per_rank.find("status")->values.push_back(0);
    s.rank_messages.emplace_back();
  }
  return s;
}

// The ranks of `nodes` (a list of node indices) on a machine of `gpus` ranks per node.
inline std::vector<std::int32_t> ranks_of_nodes(const std::vector<int>& nodes, int gpus) {
  std::vector<std::int32_t> out;
  for (int n : nodes)
    for (int g = 0; g < gpus; ++g) out.push_back(n * gpus + g);
  return out;
}

inline Contract contract_of(const std::string& criteria, const std::string& waivers = {}) {
  return load_contract("contract: test\ncriteria:\n" + criteria + (waivers.empty() ? "" : "waivers:\n" + waivers),
                       "contract.yaml");
}

}  // namespace gpuaccept::testing
