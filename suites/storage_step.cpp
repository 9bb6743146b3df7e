#include "suites/storage_step.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "results/stats.hpp"

namespace gpuaccept::suites::storage {

ParamSpec dir_param() {
  return {"dir", ParamType::text, std::string(),
          "directory to work in; the benchmark makes (and removes) its own sub-directory there", {}, {}, {}, {}};
}

std::string check_dir(const Params& p) {
  if (param_text(p, "dir").empty())
    return "parameter dir is required: the directory to work in (the benchmark creates, and removes, its own "
           "sub-directory there)";
  return {};
}

RankOutcome failed(const io::StepFailure& f) {
  RankOutcome out;
  if (f.here()) {
    out.status = Status::error;
    out.message = f.what();
  } else {
    out.message = fmt::format("stopped: rank {} failed", f.failed_rank());
  }
  return out;
}

double median_of(const std::vector<double>& v) { return v.empty() ? NAN : stats::median(v); }

collectives::Group node_group(const RunContext& ctx) {
  if (const char* fake = std::getenv("GPUACCEPT_FAKE_RANKS_PER_NODE"); fake && std::atoi(fake) > 0)
    return ctx.group.split(ctx.rank / std::atoi(fake), ctx.rank);
  return ctx.group.node_local();
}

Where where_of(const io::WorkDir& work) { return {!work.shared(), work.space_needed()}; }

std::vector<MetricSpec> where_metrics() {
  return {
      {"node_local_dir", "", Better::none,
       "1: the ranks did not see rank 0's sub-directory, so each node worked in its own (node-local storage); "
       "0: one directory shared by all ranks"},
      {"space_needed", "B", Better::none,
       "data the free-space check required on this rank's file system: all ranks' if shared, its node's if node-local"},
  };
}

void record(RankOutcome& out, const Where& where) {
  out.metrics["node_local_dir"] = where.node_local ? 1.0 : 0.0;
  out.metrics["space_needed"] = where.space_needed;
}

void require_peer_on_this_node(const RunContext& ctx, const collectives::Group& node, const Where& where, int peer,
                               std::string_view what) {
  if (!where.node_local) return;  // the same on every rank
  const auto mine = node.allgather(static_cast<std::uint64_t>(ctx.rank));
  std::string error;
  if (std::find(mine.begin(), mine.end(), static_cast<std::uint64_t>(peer)) == mine.end())
    error = fmt::format("{} makes rank {} read what rank {} wrote on another node, but {} is node-local storage "
                        "(the other ranks do not see rank 0's sub-directory): that node's files are not here; "
                        "run it on a shared file system, or without it",
                        what, ctx.rank, peer, param_text(ctx.params, "dir"));
  io::agree(ctx.group, error);
}

}  // namespace gpuaccept::suites::storage
