// p2p: GPU-to-GPU bandwidth and latency matrices inside every node, as nvbandwidth measures
// them: copy engine (cudaMemcpyPeerAsync) and SM copy kernels, write (the source pushes) and
// read (the destination pulls), unidirectional and bidirectional, and pointer-chase latency
// (kernels/p2p.hpp defines each test).
//
// Who measures: local rank 0 of each node, over every GPU it sees, while the node's other ranks
// wait (two ranks driving the same links at once would measure each other). The node's matrix is
// then shared with its ranks, and each rank reports the links leaving the GPUs it stands for
// (its own GPU with one rank per GPU; every GPU d with d % ranks_per_node == local_rank with
// fewer ranks than GPUs): lowest GB/s per test, highest latency, slow links, wrong words.
// Measures: GB/s = bytes / median iteration time (1 GB = 1e9 B), one direction; latency in us
// per dependent load. Stored: the points table, one row per (node, src, dst) with every test,
// peer access, `slow` and `wrong`; and per test a matrix sample (rows: node x gpus + src,
// columns: dst). Slow links (below `slow_factor` x the median of the same test over the node's
// other links; latency above median / slow_factor) are named in the rank's message and counted.
// Checks: every destination word after every test; the chase's end point.
// Needs: the cuda backend (on the cpu backend it is not applicable), two or more GPUs visible to
// local rank 0 (with one GPU per rank, e.g. Slurm --gpus-per-task=1, the node is skipped with
// that reason), 2 x `bytes` of memory per GPU.
// Runs alone:  benchmarks: [{benchmark: p2p, params: {bytes: 512M}}]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>

#include "kernels/p2p.hpp"
#include "suites/p2p_tables.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

using kernels::kP2pTests;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kLayers = kP2pTests + 2;  // the tests, peer access, wrong words

std::string metric_of(std::size_t test) {
  return static_cast<kernels::P2pTest>(test) == kernels::P2pTest::latency
             ? std::string("latency_max_us")
             : fmt::format("{}_min_gbps", kernels::kP2pTestNames[test]);
}

std::vector<double>& layer(kernels::P2pMatrix& m, std::size_t l) {
  return l < kP2pTests ? m.values[l] : l == kP2pTests ? m.peer_access : m.wrong;
}

// Local rank 0's matrix (or its failure) on every rank of the node.
void share_in_node(const collectives::Group& node, kernels::P2pMatrix& m, std::string& error) {
  node.broadcast(error, 0);
  std::int32_t gpus = m.gpus;
  node.broadcast(std::as_writable_bytes(std::span(&gpus, 1)), 0);
  if (node.rank() != 0) m = kernels::P2pMatrix(gpus);
  for (std::size_t l = 0; l < kLayers; ++l) node.broadcast(std::as_writable_bytes(std::span(layer(m, l))), 0);
  node.broadcast(m.first_wrong, 0);
}

struct NodeMatrix {
  int leader_rank = 0;
  kernels::P2pMatrix matrix;
};

// Every node's matrix on rank 0, from the node leaders, as fixed-size records.
std::vector<NodeMatrix> gather_nodes(const RunContext& ctx, bool leader, kernels::P2pMatrix& m) {
  double widest[1] = {static_cast<double>(m.gpus)};
  ctx.group.allreduce_max(widest);
  const auto g = static_cast<std::size_t>(widest[0]);
  const collectives::Group leaders = ctx.group.split(leader ? 0 : 1, ctx.rank);
  if (!leader) return {};
  const std::size_t size = 2 + kLayers * g * g;
  std::vector<double> record(size, kNaN);
  record[0] = m.gpus;
  record[1] = ctx.rank;
  for (std::size_t l = 0; l < kLayers; ++l)
    for (int s = 0; s < m.gpus; ++s)
      for (int d = 0; d < m.gpus; ++d)
        record[2 + l * g * g + static_cast<std::size_t>(s) * g + static_cast<std::size_t>(d)] = layer(m, l)[m.at(s, d)];
  const auto all = leaders.gather(std::as_bytes(std::span(record)), 0);
  std::vector<NodeMatrix> nodes;
  for (std::size_t n = 0; (n + 1) * size * sizeof(double) <= all.size(); ++n) {
    std::vector<double> r(size);
    std::memcpy(r.data(), all.data() + n * size * sizeof(double), size * sizeof(double));
    NodeMatrix node{static_cast<int>(r[1]), kernels::P2pMatrix(static_cast<int>(r[0]))};
    for (std::size_t l = 0; l < kLayers; ++l)
      for (int s = 0; s < node.matrix.gpus; ++s)
        for (int d = 0; d < node.matrix.gpus; ++d)
          layer(node.matrix, l)[node.matrix.at(s, d)] =
              r[2 + l * g * g + static_cast<std::size_t>(s) * g + static_cast<std::size_t>(d)];
    nodes.push_back(std::move(node));
  }
  return nodes;
}

Table points_of(const std::vector<NodeMatrix>& nodes, double slow_factor) {
  Table t;
  for (std::size_t n = 0; n < nodes.size(); ++n) add_p2p_points(t, n, nodes[n].leader_rank, nodes[n].matrix, kernels::find_slow_links(nodes[n].matrix, slow_factor));
  return t;
}

std::vector<Samples> matrices_of(const std::vector<NodeMatrix>& nodes) {
  std::size_t g = 0;
  for (const auto& n : nodes) g = std::max(g, static_cast<std::size_t>(std::max(n.matrix.gpus, 0)));
  std::vector<Samples> out = p2p_matrix_samples(nodes.size(), g);
  if (!out.empty())
    for (std::size_t n = 0; n < nodes.size(); ++n) fill_p2p_matrix_samples(out, n, nodes[n].matrix);
  return out;
}

RankOutcome run(const RunContext& ctx) {
  const collectives::Group node = ctx.group.node_local();
  const bool leader = node.rank() == 0;
  kernels::P2pConfig cfg;
  cfg.bytes = param_int(ctx.params, "bytes");
  cfg.timing = ctx.timing;
  cfg.seed = ctx.seed;
  cfg.latency_hops = static_cast<int>(param_int(ctx.params, "latency_hops"));
  const double slow_factor = param_real(ctx.params, "slow_factor");

  // Failures become text until every collective below has run, so that no rank waits forever.
  kernels::P2pMatrix matrix;
  std::string error;
  if (leader) {
    try {
      matrix = kernels::run_p2p(ctx.backend, cfg);
    } catch (const std::exception& e) {
      error = e.what();
      matrix = kernels::P2pMatrix(0);
    }
  }
  share_in_node(node, matrix, error);
  const auto nodes = gather_nodes(ctx, leader, matrix);

  RankOutcome out;
  if (ctx.rank == 0) {
    out.points = points_of(nodes, slow_factor);
    out.samples = matrices_of(nodes);
  }
  if (!error.empty()) {
    if (leader) throw kernels::KernelError(error);
    throw kernels::KernelError("p2p: local rank 0 of this node could not measure: " + error);
  }
  if (matrix.gpus < 2) {
    out.status = Status::skipped;
    out.message = fmt::format(
        "local rank 0 of this node sees {} GPU: there is no GPU-to-GPU link to measure (make every GPU of the node "
        "visible to each rank)",
        matrix.gpus);
    return out;
  }

  const auto slow = kernels::find_slow_links(matrix, slow_factor);
  const auto mine = kernels::p2p_rank_gpus(ctx.local_rank, ctx.local_size, matrix.gpus);
  const auto summary = kernels::summarize_p2p(matrix, mine, slow);
  for (std::size_t k = 0; k < kP2pTests; ++k) out.metrics[metric_of(k)] = summary.worst[k];
  out.metrics["links"] = summary.links;
  out.metrics["slow_links"] = summary.slow_links;
  out.metrics["wrong"] = summary.wrong;
  out.metrics["gpus"] = matrix.gpus;
  if (summary.wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{:.0f} wrong words on the links leaving GPU(s) {}; node's first: {}", summary.wrong,
                              fmt::join(mine, ","), matrix.first_wrong);
  } else if (summary.slow_links > 0) {
    std::vector<std::string> named;
    for (const auto& l : slow)
      if (std::find(mine.begin(), mine.end(), l.src) != mine.end()) named.push_back(kernels::describe_slow_link(l));
    const std::size_t shown = std::min<std::size_t>(named.size(), 3);
    out.message = fmt::format("slow links: {}{}", fmt::join(named.begin(), named.begin() + static_cast<std::ptrdiff_t>(shown), "; "),
                              named.size() > shown ? fmt::format("; and {} more", named.size() - shown) : "");
  }
  if (ctx.rank == 0) {
    std::string log = fmt::format("measured by local rank 0 of each of {} node(s); this node: {} GPU(s) ({})\n",
                                  nodes.size(), matrix.gpus, matrix.names.empty() ? "?" : matrix.names.front());
    for (std::size_t k = 0; k < kP2pTests; ++k) log += kernels::format_p2p_matrix(matrix, static_cast<kernels::P2pTest>(k));
    for (const auto& l : slow) log += "slow: " + kernels::describe_slow_link(l) + "\n";
    out.log = std::move(log);
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "p2p";
  b.summary = "GPU-to-GPU bandwidth and latency matrices inside each node (copy engine and SM, read and write, "
              "uni- and bidirectional), as nvbandwidth; slow links named";
  b.params = {
      {"bytes", ParamType::size, std::int64_t{256} << 20, "bytes per copy", 4096, 1e12, {}},
      {"latency_hops", ParamType::integer, std::int64_t{20000}, "dependent loads per latency measurement", 100, 1e8, {}},
      {"slow_factor", ParamType::real, 0.8,
       "a link below this fraction of the median of the node's other links is slow", 0.01, 1, {}},
  };
  for (std::size_t k = 0; k < kP2pTests; ++k) {
    const bool latency = static_cast<kernels::P2pTest>(k) == kernels::P2pTest::latency;
    b.rank_metrics.push_back({metric_of(k), kernels::kP2pTestUnits[k], latency ? Better::lower : Better::higher,
                              fmt::format("{} over the links leaving this rank's GPU(s): the {}", kernels::kP2pTestNames[k],
                                          latency ? "highest" : "lowest")});
  }
  b.rank_metrics.push_back({"links", "", Better::none, "links (ordered GPU pairs) leaving this rank's GPU(s)"});
  b.rank_metrics.push_back({"slow_links", "", Better::lower, "of those, links slower than slow_factor x their peers' median"});
  b.rank_metrics.push_back({"wrong", "", Better::lower, "wrong words after the copies over those links"});
  b.rank_metrics.push_back({"gpus", "", Better::none, "GPUs of this rank's node that were measured"});
  for (std::size_t k = 0; k < kP2pTests; ++k) {
    const bool latency = static_cast<kernels::P2pTest>(k) == kernels::P2pTest::latency;
    b.point_metrics.push_back({fmt::format("{}_{}", kernels::kP2pTestNames[k], latency ? "us" : "gbps"),
                               kernels::kP2pTestUnits[k], latency ? Better::lower : Better::higher,
                               fmt::format("{} from src to dst", kernels::kP2pTestNames[k])});
  }
  b.point_metrics.push_back({"peer_access", "", Better::none, "1 when src can access dst's memory"});
  b.point_metrics.push_back({"slow", "", Better::lower, "1 when the link is slow in any test"});
  b.point_metrics.push_back({"wrong", "", Better::lower, "wrong words over the link's tests"});
  b.point_keys = {"node", "src", "dst"};
  b.headline = "ce_write_min_gbps";
  b.smoke = {{"bytes", std::int64_t{1} << 20}, {"latency_hops", std::int64_t{1000}}};
  b.applicable = [](const Params&, kernels::Backend backend) {
    std::string reason;
    return kernels::p2p_supported(backend, &reason) ? std::string() : reason;
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) {
    // 8 GPUs: 56 links x 6 copies at ~100 GB/s, plus the latency chases at ~2 us per load.
    const double passes = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 1.0 + 56 * (6 * passes * static_cast<double>(param_int(p, "bytes")) / 100e9 +
                       4 * static_cast<double>(param_int(p, "latency_hops")) * 2e-6);
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
