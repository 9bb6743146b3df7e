// What the storage benchmarks (ior, mdtest, checkpoint) share: the `dir` parameter and its
// check, the work directory (made under `dir`, checked for room, removed at the end), the
// outcome of a step that failed on some rank, and two rank metrics that say where the step
// worked: node_local_dir and space_needed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/agree.hpp"
#include "io/workdir.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites::storage {

ParamSpec dir_param();
// "" or the message for a missing `dir`.
std::string check_dir(const Params& p);

// A StepFailure as this rank's outcome: `error` with the message on the rank that failed,
// "stopped: rank N failed" (status ok) on the others.
RankOutcome failed(const io::StepFailure& f);

double median_of(const std::vector<double>& v);

// The ranks of this rank's node, with which it shares node-local storage: the ranks of its host,
// or, with GPUACCEPT_FAKE_RANKS_PER_NODE=n (a test aid, as for the collectives), consecutive
// ranks n at a time.
collectives::Group node_group(const RunContext& ctx);

// Where the step worked, read from its work directory while it exists, recorded as rank metrics.
struct Where {
  bool node_local = false;   // ranks did not see rank 0's sub-directory: each node made its own
  double space_needed = 0;   // bytes the free-space check asked of this rank's file system
};
Where where_of(const io::WorkDir& work);
std::vector<MetricSpec> where_metrics();
void record(RankOutcome& out, const Where& where);

// On node-local storage a rank finds only its own node's files. When this rank is to read
// what rank `peer` wrote (ior's reorder, mdtest's task_offset) and `peer` is on another node,
// every rank throws StepFailure with one sentence naming `what`. Collective.
void require_peer_on_this_node(const RunContext& ctx, const collectives::Group& node, const Where& where, int peer,
                               std::string_view what);

}  // namespace gpuaccept::suites::storage
