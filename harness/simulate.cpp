#include "harness/simulate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "collectives/bisect.hpp"
#include "collectives/collective.hpp"
#include "collectives/scopes.hpp"
#include "collectives/types.hpp"
#include "io/checkpoint.hpp"
#include "io/mdtest.hpp"
#include "harness/plan.hpp"
#include "harness/simulate_common.hpp"
#include "harness/simulate_suites.hpp"
#include "harness/version.hpp"
#include "results/stats.hpp"
#include "results/store.hpp"
#include "results/yaml_util.hpp"
#include "sim/collective_model.hpp"
#include "sim/topology.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

namespace {

constexpr double kNaN = kSimulatedNaN;
// Share of the data-sheet peak a large GEMM reaches (cuBLASLt on H100/B200 sustains 70-80%).
constexpr double kGemmEfficiency = 0.75;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Per-node and per-GPU factors from the faults, dense for speed at 500,000 GPUs.
struct FaultMap {
  std::vector<float> gpu_rate;  // per global GPU
  std::vector<int> dead_nodes;  // ascending
  std::vector<float> nic_rate;  // per node: its NICs' rate (degraded_link without a peer)
  std::map<std::pair<int, int>, double>
      link_rate;                    // (a < b): the path between two nodes (degraded_link a-peer)
  std::vector<float> storage_rate;  // per node: its storage client's rate (slow_storage_client)
  // flapping_link: while down (the first down_fraction of each period, shifted by the phase),
  // the link runs at factor x its bandwidth. peer < 0: the node's NICs.
  struct Flap {
    int node = 0, peer = -1;
    double factor = 1, period_us = 0, down_fraction = 0, phase_us = 0;
  };
  std::vector<Flap> flaps;
};

FaultMap fault_map(const SystemDescription& s, const std::vector<Fault>& faults) {
  FaultMap m;
  m.gpu_rate.assign(static_cast<std::size_t>(s.total_gpus()), 1.0f);
  m.nic_rate.assign(static_cast<std::size_t>(s.nodes), 1.0f);
  m.storage_rate.assign(static_cast<std::size_t>(s.nodes), 1.0f);
  for (const auto& f : faults) {
    const std::size_t first = static_cast<std::size_t>(f.node) * static_cast<std::size_t>(s.gpus_per_node);
    switch (f.kind) {
      case FaultKind::slow_gpu:
        m.gpu_rate[first + static_cast<std::size_t>(f.gpu)] *= static_cast<float>(f.factor);
        break;
      case FaultKind::throttling_node:
        for (int g = 0; g < s.gpus_per_node; ++g)
          m.gpu_rate[first + static_cast<std::size_t>(g)] *= static_cast<float>(f.factor);
        break;
      case FaultKind::dead_node:
        m.dead_nodes.push_back(f.node);
        break;
      case FaultKind::degraded_link:
        if (f.peer < 0) {
          m.nic_rate[static_cast<std::size_t>(f.node)] *= static_cast<float>(f.factor);
        } else {
          auto [it, fresh] = m.link_rate.emplace(std::minmax(f.node, f.peer), f.factor);
          if (!fresh) it->second *= f.factor;
        }
        break;
      case FaultKind::slow_storage_client:
        m.storage_rate[static_cast<std::size_t>(f.node)] *= static_cast<float>(f.factor);
        break;
      case FaultKind::flapping_link: {
        std::mt19937_64 phase_rng(f.seed);
        const double period_us = f.period_ms * 1e3;
        m.flaps.push_back({f.node, f.peer, f.factor, period_us, f.down_fraction,
                           std::uniform_real_distribution<double>(0, period_us)(phase_rng)});
        break;
      }
    }
  }
  std::sort(m.dead_nodes.begin(), m.dead_nodes.end());
  m.dead_nodes.erase(std::unique(m.dead_nodes.begin(), m.dead_nodes.end()), m.dead_nodes.end());
  return m;
}

void simulate_gemm(StepResult& r, const suites::BenchmarkDef& def, const SystemDescription& s,
                   const FaultMap& faults, std::mt19937_64& rng, double spread,
                   const std::map<std::string, Calibration>& calibration) {
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  per_rank_columns(r, def, n);
  const std::string dtype = param_text(r.params, "dtype");
  auto peak = s.gpu.peak(dtype);
  double efficiency = kGemmEfficiency;
  if (const auto it = calibration.find(dtype); it != calibration.end()) {
    peak = it->second.median;  // measured: the median is the rate, the spread is measured too
    efficiency = 1;
    spread = it->second.cv;
  }
  if (!peak) {
    r.status = Status::skipped;
    r.reason = fmt::format("the system description gives no {} peak for {}", dtype, s.gpu.name);
    return;
  }
  const double flops =
      2 * param_number(r.params, "m") * param_number(r.params, "n") * param_number(r.params, "k");
  std::normal_distribution<double> noise(1.0, spread);
  auto& tflops = r.per_rank.find("tflops")->values;
  auto& median = r.per_rank.find("time_median")->values;
  auto& p99 = r.per_rank.find("time_p99")->values;
  auto& cv = r.per_rank.find("time_cv")->values;
  auto& checked = r.per_rank.find("checked")->values;
  auto& wrong = r.per_rank.find("wrong")->values;
  auto& error_ratio = r.per_rank.find("error_ratio")->values;
  auto& sdc = r.per_rank.find("sdc_mismatch")->values;
  const double samples = param_number(r.params, "check_samples");
  for (std::size_t i = 0; i < n; ++i) {
    const double rate = *peak * efficiency * std::max(0.05, noise(rng)) * faults.gpu_rate[i];
    tflops[i] = rate;
    median[i] = flops / (rate * 1e12);
    p99[i] = median[i] * (1 + 2 * spread);
    cv[i] = spread;
    checked[i] = samples;
    wrong[i] = 0;
    error_ratio[i] = 0.01;
    sdc[i] = 0;
  }
  mark_dead_nodes(r, s.gpus_per_node, faults.dead_nodes);
}

// Group-to-group spread of a collective's time (identical node pairs measured by nccl-tests
// differ by about this much), and the iteration-to-iteration spread behind time_p99/time_cv.
constexpr double kCollectiveGroupSpread = 0.005;
constexpr double kCollectiveIterationCv = 0.01;
constexpr double kP99OverMean = 1 + 2.326 * kCollectiveIterationCv;  // normal iterations

// Whether a group's traffic crosses the path between nodes a and b (`nodes`: the group's
// distinct nodes in communicator order). Rings (and trees' chains, and sendrecv's shift) join
// neighbours, the last back to the first; alltoall joins every two nodes; gather and scatter
// join the root's node with every other.
bool crosses(collectives::CollectiveOp op, const std::vector<int>& nodes, int root_node, int a, int b) {
  const auto ia = std::find(nodes.begin(), nodes.end(), a);
  const auto ib = std::find(nodes.begin(), nodes.end(), b);
  if (ia == nodes.end() || ib == nodes.end()) return false;
  switch (op) {
    case collectives::CollectiveOp::alltoall:
      return true;
    case collectives::CollectiveOp::gather:
    case collectives::CollectiveOp::scatter:
      return a == root_node || b == root_node;
    default: {
      const auto d = std::abs(ia - ib);
      return d == 1 || d == static_cast<std::ptrdiff_t>(nodes.size()) - 1;
    }
  }
}

// One point's timed iterations on a communicator whose path a flapping link crosses: the
// iterations run back to back on the group's clock (`clock_us`, advanced by every run, untimed
// ones included). An iteration's work progresses at the healthy rate while every flap is up and
// at the rate the model gives with the link at the flap's factor while one is down, so an
// iteration shorter than a down window is slow when it meets one, and a long one is slowed by
// the share of its time it spends in them. Each iteration gets the iteration spread. Mean, p99
// and CV as the real run derives them from its per-iteration times.
struct PointFigures {
  double time_us = 0, p99_us = 0, cv = 0, seconds = 0;
};

template <typename TimeAt>
PointFigures flapping_point(const std::vector<const FaultMap::Flap*>& flaps, double& clock_us, int untimed, int timed,
                            TimeAt time_at, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(1.0, kCollectiveIterationCv);
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(std::max(timed, 0)));
  PointFigures out;
  for (int i = 0; i < untimed + timed; ++i) {
    const double start = clock_us;
    double work = 1;  // share of the iteration still to do
    while (work > 0) {
      double factor = 1, next_edge = std::numeric_limits<double>::infinity();
      for (const auto* f : flaps) {
        const double at = std::fmod(clock_us + f->phase_us, f->period_us);
        const double down_for = f->down_fraction * f->period_us;
        if (at < down_for) factor = std::min(factor, f->factor);
        next_edge = std::min(next_edge, (at < down_for ? down_for : f->period_us) - at);
      }
      const double whole = time_at(factor);  // the iteration's time in this state
      const double step = std::max(next_edge, 1e-9 * whole);
      if (work * whole <= step) {
        clock_us += work * whole;
        work = 0;
      } else {
        clock_us += step;
        work -= step / whole;
      }
    }
    const double t = (clock_us - start) * std::max(0.5, noise(rng));
    clock_us = start + t;
    out.seconds += t * 1e-6;
    if (i >= untimed) times.push_back(t);
  }
  if (times.empty()) return out;
  const stats::Summary summary = stats::summarize(times);
  out.time_us = summary.mean;
  out.p99_us = summary.p99;
  out.cv = summary.cv;
  return out;
}

// How the model times the communicators of a collective step and stores their rows: each group's
// shape (ranks, nodes, the tier they meet at), the faults its traffic meets (NICs of its nodes,
// degraded links it crosses, flapping links), the link sharing of its round, then one points row
// per message size, columns as simulate_collective laid them out.
struct CollectiveSweep {
  collectives::CollectiveOp op;
  const sim::Topology& topology;
  sim::CollectiveModel model;
  const std::vector<collectives::RankPlace>& places;
  const FaultMap& faults;
  bool rooted = false;
  int root = 0;
  std::size_t elem = 1;
  const std::vector<std::int64_t>& requested;
  std::size_t phases = 1;
  double base_share = 1;
  int untimed = 1;  // runs per size and phase before the timed ones (warm-up and the checked run)
  int timed = 0;

  struct Swept {
    double seconds = 0;       // the group's whole sweep
    double largest_busbw = 0;  // busbw (out of place) at its largest size: what bisect compares
  };

  Swept run(Table& t, std::size_t g, const collectives::ScopeGroup& group, double contention,
            std::mt19937_64& rng) const {
    auto col = [&](std::size_t i) -> std::vector<double>& { return t.columns[i].values; };
    const int size = static_cast<int>(group.ranks.size());
    std::vector<int> nodes;
    for (int rank : group.ranks) {
      const int node = places[static_cast<std::size_t>(rank)].node;
      if (nodes.empty() || nodes.back() != node) nodes.push_back(node);
    }
    sim::CommShape comm;
    comm.ranks = size;
    comm.nodes = static_cast<int>(nodes.size());
    comm.ranks_per_node = static_cast<int>((size + comm.nodes - 1) / std::max(1, comm.nodes));
    comm.top_tier = topology.highest_tier(nodes);
    comm.nvlink_domain_only = comm.top_tier == 0;
    double fault = 1;
    std::vector<const FaultMap::Flap*> flaps;
    if (!comm.nvlink_domain_only) {
      for (int node : nodes)
        fault = std::min(fault, static_cast<double>(faults.nic_rate[static_cast<std::size_t>(node)]));
      const int root_node =
          rooted && root < size
              ? places[static_cast<std::size_t>(group.ranks[static_cast<std::size_t>(root)])].node
              : -1;
      for (const auto& [link, rate] : faults.link_rate)
        if (crosses(op, nodes, root_node, link.first, link.second)) fault = std::min(fault, rate);
      for (const auto& f : faults.flaps) {
        const bool hit = f.peer < 0 ? std::find(nodes.begin(), nodes.end(), f.node) != nodes.end()
                                    : crosses(op, nodes, root_node, f.node, f.peer);
        if (hit) flaps.push_back(&f);
      }
    }
    comm.network_share = base_share * std::min(contention, fault);
    const double factor = collectives::busbw_factor(op, size);
    std::normal_distribution<double> spread(1.0, kCollectiveGroupSpread);
    Swept out;
    double clock_us = 0;
    std::int64_t previous = -1;
    for (std::int64_t want : requested) {
      const collectives::MessageShape shape = collectives::message_shape(op, want, elem, size);
      if (shape.bytes == previous) continue;  // rounded onto the previous size, as the real run skips it
      previous = shape.bytes;
      const double group_spread = std::max(0.5, spread(rng));
      const double time_us = model.estimate(op, comm, shape.bytes).time_us * group_spread;
      col(0).push_back(static_cast<double>(g));
      col(1).push_back(group.round);
      col(2).push_back(group.nodes);
      col(3).push_back(static_cast<double>(shape.bytes));
      col(4).push_back(static_cast<double>(shape.count));
      for (std::size_t p = 0; p < phases; ++p) {
        PointFigures point{time_us, time_us * kP99OverMean, kCollectiveIterationCv,
                           time_us * 1e-6 * (untimed + timed)};
        if (!flaps.empty()) {
          const auto time_at = [&](double flap_factor) {
            if (flap_factor >= 1) return time_us;
            sim::CommShape down = comm;
            down.network_share = base_share * std::min(contention, std::min(fault, flap_factor));
            return model.estimate(op, down, shape.bytes).time_us * group_spread;
          };
          point = flapping_point(flaps, clock_us, untimed, timed, time_at, rng);
          if (timed <= 0) point.time_us = point.p99_us = time_us, point.cv = kCollectiveIterationCv;
        }
        const double algbw = static_cast<double>(shape.bytes) / (point.time_us * 1e3);
        const std::size_t at = 5 + 6 * p;
        col(at).push_back(point.time_us);
        col(at + 1).push_back(algbw);
        col(at + 2).push_back(algbw * factor);
        col(at + 3).push_back(0);
        col(at + 4).push_back(point.p99_us);
        col(at + 5).push_back(point.cv);
        out.seconds += point.seconds;
        if (p == 0) out.largest_busbw = algbw * factor;
      }
    }
    return out;
  }
};

// Link sharing among two-node groups that run at once (the pairs of a round; bisect's pairs and
// rechecks): per group from `first` on, the share of its node's NIC bandwidth that the
// concurrent flows leave it (Topology::concurrent_flow_gbs); 1 for other groups.
std::vector<double> pair_round_contention(const std::vector<collectives::ScopeGroup>& groups, std::size_t first,
                                          const std::vector<collectives::RankPlace>& places,
                                          const sim::Topology& topology) {
  std::vector<double> contention(groups.size(), 1.0);
  std::map<int, std::vector<std::size_t>> rounds;
  for (std::size_t g = first; g < groups.size(); ++g)
    if (groups[g].nodes == 2) rounds[groups[g].round].push_back(g);
  for (const auto& [round, members] : rounds) {
    std::vector<std::pair<int, int>> pairs;
    pairs.reserve(members.size());
    for (std::size_t g : members) {
      const auto& ranks = groups[g].ranks;
      pairs.emplace_back(places[static_cast<std::size_t>(ranks.front())].node,
                         places[static_cast<std::size_t>(ranks.back())].node);
    }
    const std::vector<double> flows = topology.concurrent_flow_gbs(pairs);
    for (std::size_t i = 0; i < members.size(); ++i)
      contention[members[i]] = std::min(1.0, flows[i] / topology.node_network_gbs());
  }
  return contention;
}

// scope=bisect on the model: the real bisection (collectives::Bisector) with the model as its
// measurement. The model is deterministic given the faults, so each stage's groups are timed
// (rows stored as a real bisect stores every stage's) and their busbw at the largest size, out
// of place, decides the next stage, exactly as rank 0 decides it in suites/collectives.cpp.
// `groups` holds stage 0 (plan_scope(bisect)) and gets every later stage appended. Per rank:
// suspect = 1 on the named nodes' ranks, 0 elsewhere (the real run prints the stages' notes in
// its log, which the results file does not keep).
void simulate_bisect(StepResult& r, const CollectiveSweep& sweeper, std::vector<collectives::ScopeGroup>& groups,
                     std::map<int, double>& round_seconds, std::mt19937_64& rng) {
  const auto& places = sweeper.places;
  int nodes = 0;
  for (const auto& p : places) nodes = std::max(nodes, p.node + 1);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(nodes));
  for (int n = 0; n < nodes; ++n) names.push_back(simulated_host(n));
  collectives::Bisector bisector(places, names, param_number(r.params, "min_busbw"),
                                 param_number(r.params, "bisect_fraction"),
                                 static_cast<int>(param_number(r.params, "bisect_group")));
  std::map<int, double> busbw;
  std::size_t first = 0;
  for (;;) {
    const std::vector<double> contention = pair_round_contention(groups, first, places, sweeper.topology);
    for (std::size_t g = first; g < groups.size(); ++g) {
      const auto swept = sweeper.run(r.points, g, groups[g], contention[g], rng);
      busbw[static_cast<int>(g)] = swept.largest_busbw;
      double& slowest = round_seconds[groups[g].round];
      slowest = std::max(slowest, swept.seconds);
    }
    first = groups.size();
    auto next = bisector.next(groups, busbw);
    if (next.empty()) break;
    for (auto& g : next) groups.push_back(std::move(g));
  }
  std::vector<char> named(static_cast<std::size_t>(nodes), 0);
  for (int n : bisector.suspects()) named[static_cast<std::size_t>(n)] = 1;
  auto& suspect = r.per_rank.find("suspect")->values;
  for (std::size_t rank = 0; rank < suspect.size(); ++rank)
    suspect[rank] = named[static_cast<std::size_t>(places[rank].node)] ? 1.0 : 0.0;
}

// pairing: pod on the simulated hosts (node00042: the 42nd node in cabling order), by the rule
// the real run applies (sim::pods_of_step). False, with the step failed as the real run fails
// it, when the pods cannot be known.
bool simulated_pods(StepResult& r, const SystemDescription& s, collectives::ScopeOptions& options) {
  std::vector<std::string> hosts;
  hosts.reserve(static_cast<std::size_t>(s.nodes));
  for (int node = 0; node < s.nodes; ++node) hosts.push_back(simulated_host(node));
  const std::vector<std::string_view> views(hosts.begin(), hosts.end());
  try {
    options.pod_of_node =
        sim::pods_of_step(views, static_cast<long long>(param_number(r.params, "pod_nodes")), &s);
  } catch (const std::invalid_argument& e) {
    r.status = Status::error;
    r.reason = e.what();
    return false;
  }
  return true;
}

// A collective step at any scope but bisect: the communicators a real run forms
// (collectives::plan_scope on the simulated rank layout), each timed by the model with the link
// sharing of its round and the faults on its nodes and links, stored as suites/collectives.cpp
// stores them (points table, group_ranks, per-rank wrong/ranks/group/suspect). Returns the
// simulated duration of the step in seconds.
double simulate_collective(StepResult& r, const suites::BenchmarkDef& def, collectives::CollectiveOp op,
                           const SystemDescription& s, const sim::Topology& topology,
                           const std::vector<collectives::RankPlace>& places, const FaultMap& faults,
                           std::mt19937_64& rng, const sim::ModelConstants& constants) {
  const std::string scope_text = param_text(r.params, "scope");
  const auto scope = collectives::scope_from_string(scope_text.empty() ? "world" : scope_text)
                         .value_or(collectives::CollectiveScope::world);
  const std::size_t n = places.size();
  per_rank_columns(r, def, n);
  collectives::ScopeOptions options;
  options.domain = static_cast<int>(param_number(r.params, "domain"));
  if (r.params.count("pair_rounds"))
    options.pair_rounds = static_cast<int>(param_number(r.params, "pair_rounds"));
  if (scope == collectives::CollectiveScope::pairs && param_text(r.params, "pairing") == "pod") {
    if (!simulated_pods(r, s, options)) {
      r.per_rank.find("status")->values.assign(n, static_cast<double>(Status::error));
      return 0;
    }
  }
  std::vector<collectives::ScopeGroup> groups = collectives::plan_scope(scope, places, options);

  // Per rank, as the real run: its first communicator (in round order) and that one's size.
  if (Column* c = r.per_rank.find("wrong")) c->values.assign(n, 0.0);
  Column* rank_group = r.per_rank.find("group");
  Column* rank_size = r.per_rank.find("ranks");
  if (rank_group) rank_group->values.assign(n, -1.0);
  if (rank_size) rank_size->values.assign(n, 0.0);
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (int rank : groups[g].ranks) {
      const auto at = static_cast<std::size_t>(rank);
      if (rank_group && rank_group->values[at] >= 0) continue;
      if (rank_group) rank_group->values[at] = static_cast<double>(g);
      if (rank_size) rank_size->values[at] = static_cast<double>(groups[g].ranks.size());
    }

  const bool rooted = collectives::is_rooted(op);
  const int root = rooted ? static_cast<int>(param_number(r.params, "root")) : 0;
  if (rooted) {  // the real run refuses before any communicator exists
    std::size_t smallest = groups.empty() ? 0 : groups.front().ranks.size();
    for (const auto& g : groups) smallest = std::min(smallest, g.ranks.size());
    if (root >= static_cast<int>(smallest)) {
      r.status = Status::error;
      r.reason =
          fmt::format("root {} is not a rank of every communicator of scope {} (the smallest has {} rank(s))",
                      root, to_string(scope), smallest);
      r.per_rank.find("status")->values.assign(n, static_cast<double>(Status::error));
      return 0;
    }
  }

  const auto dtype =
      collectives::datatype_from_string(param_text(r.params, "dtype")).value_or(collectives::DataType::fp32);
  const std::size_t elem = collectives::size_of(dtype);
  collectives::Sweep sweep;
  sweep.min_bytes = static_cast<std::int64_t>(param_number(r.params, "min_bytes"));
  sweep.max_bytes = static_cast<std::int64_t>(param_number(r.params, "max_bytes"));
  sweep.factor = param_number(r.params, "factor");
  sweep.step_bytes = static_cast<std::int64_t>(param_number(r.params, "step_bytes"));
  const std::vector<std::int64_t> requested = collectives::sweep_sizes(sweep, elem);
  const bool in_place = [&] {
    const auto it = r.params.find("in_place");
    return it != r.params.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
  }();
  // Link sharing between the groups that run at once over the fabric: each round of pairs.
  std::vector<double> contention = scope == collectives::CollectiveScope::pairs
                                       ? pair_round_contention(groups, 0, places, topology)
                                       : std::vector<double>(groups.size(), 1.0);
  // A rail is one GPU per node: its NIC, not the node's NICs together.
  const double base_share =
      scope == collectives::CollectiveScope::rail ? 1.0 / std::max(1, s.nics_per_node) : 1.0;

  Table& t = r.points;
  for (const char* key : {"group", "round", "nodes", "bytes", "count"})
    t.column(key, std::string_view(key) == "bytes" ? "B" : "", true, Better::none);
  std::vector<std::string> phases = {"oop"};
  if (in_place) phases.push_back("ip");
  for (const auto& ph : phases) {
    t.column("time_" + ph, "us", false, Better::lower);
    t.column("algbw_" + ph, "GB/s", false, Better::higher);
    t.column("busbw_" + ph, "GB/s", false, Better::higher);
    t.column("wrong_" + ph, "", true, Better::lower);
    t.column("time_p99_" + ph, "us", false, Better::lower);
    t.column("time_cv_" + ph, "", false, Better::lower);
  }
  const std::size_t rows = groups.size() * requested.size();
  for (auto& c : t.columns) c.values.reserve(rows);
  // Column order: the five keys, then per phase time, algbw, busbw, wrong, time_p99, time_cv.
  const CollectiveSweep sweeper{op, topology, sim::CollectiveModel(s, topology, constants), places, faults, rooted, root, elem,
                                requested, phases.size(), base_share,
                                static_cast<int>(param_number(r.params, suites::kWarmupParam)) + 1,
                                static_cast<int>(param_number(r.params, suites::kIterationsParam))};
  std::map<int, double> round_seconds;  // the slowest group of each round
  if (scope == collectives::CollectiveScope::bisect) {
    simulate_bisect(r, sweeper, groups, round_seconds, rng);
  } else {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const collectives::ScopeGroup& group = groups[g];
      const double seconds = sweeper.run(t, g, group, contention[g], rng).seconds;
      double& slowest = round_seconds[group.round];
      slowest = std::max(slowest, seconds);
    }
  }

  // group_ranks: each group's world ranks in communicator order, padded with -1.
  Samples members{"group_ranks", "", "group", "member", groups.size(), 0, {}};
  for (const auto& g : groups) members.cols = std::max(members.cols, g.ranks.size());
  members.values.reserve(members.rows * members.cols);
  for (const auto& g : groups) {
    members.values.insert(members.values.end(), g.ranks.begin(), g.ranks.end());
    members.values.insert(members.values.end(), members.cols - g.ranks.size(), -1.0);
  }
  r.samples.push_back(std::move(members));
  mark_dead_nodes(r, s.gpus_per_node, faults.dead_nodes);
  double total = 0;
  for (const auto& [round, seconds] : round_seconds) total += seconds;
  return total;
}

// Storage steps (ior, mdtest, checkpoint). Every node's client gets its share of the file
// system when all nodes move data at once, sim::storage_per_client_gbs: min(per-client limit,
// aggregate / nodes), so that the nodes together reach min(aggregate, sum of per-client limits);
// a slow_storage_client fault multiplies its node's share. The ranks of a node share its
// client equally, each with a small normal spread (kStorageRankSpread); each iteration's
// aggregate figure gets kStorageIterationSpread. Nothing is read back wrong: correctness
// columns are 0.
constexpr double kStorageRankSpread = 0.02;
constexpr double kStorageIterationSpread = 0.01;

bool param_flag(const Params& p, const char* name) {
  const auto it = p.find(name);
  return it != p.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
}

// Per node: the rate its client reaches while every node works at once (GB/s, or ops/s for
// metadata), faults included.
std::vector<double> client_shares(const SystemDescription& s, const FaultMap& faults, double share) {
  std::vector<double> out(static_cast<std::size_t>(s.nodes));
  for (std::size_t node = 0; node < out.size(); ++node) out[node] = share * faults.storage_rate[node];
  return out;
}

// Per rank: its node's share / ranks per node x the rank spread.
std::vector<double> rank_shares(const SystemDescription& s, const std::vector<double>& nodes, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(1.0, kStorageRankSpread);
  std::vector<double> out(static_cast<std::size_t>(s.total_gpus()));
  for (std::size_t r = 0; r < out.size(); ++r)
    out[r] = nodes[r / static_cast<std::size_t>(s.gpus_per_node)] / s.gpus_per_node * std::max(0.5, noise(rng));
  return out;
}

// Aggregate rate of a phase in which every node moves `per_node` units at its client's share:
// total / the slowest node's time (IOR's and mdtest's last end - first start).
double aggregate_of(const std::vector<double>& nodes, double per_node) {
  double slowest = 0;
  for (double rate : nodes) slowest = std::max(slowest, per_node / rate);
  return per_node * static_cast<double>(nodes.size()) / slowest;
}

std::vector<double> iteration_rates(double rate, int iterations, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(1.0, kStorageIterationSpread);
  std::vector<double> out(static_cast<std::size_t>(std::max(iterations, 0)));
  for (double& x : out) x = rate * std::max(0.5, noise(rng));
  return out;
}

double median_or_nan(const std::vector<double>& v) { return v.empty() ? kNaN : stats::median(v); }

bool storage_described(StepResult& r, const SystemDescription& s, bool metadata) {
  const auto& st = s.storage;
  if (st.per_client_gbs > 0 && st.aggregate_read_gbs > 0 && st.aggregate_write_gbs > 0 &&
      (!metadata || st.metadata_ops > 0))
    return true;
  r.status = Status::skipped;
  r.reason = metadata ? "the system description gives no storage metadata_ops to simulate mdtest from"
                      : "the system description gives no storage bandwidths to simulate from";
  return false;
}

// Where a storage step worked (suites/storage_step.hpp): the simulated storage is one parallel
// file system seen by every rank, so the free-space need is every rank's data.
void set_shared_storage(StepResult& r, std::size_t n, double need_all_ranks) {
  r.per_rank.find("node_local_dir")->values.assign(n, 0.0);
  r.per_rank.find("space_needed")->values.assign(n, need_all_ranks);
}

// ior as suites/ior.cpp stores it. Returns the simulated duration in seconds. Stonewalling is not
// modelled: every rank moves its whole block.
double simulate_ior(StepResult& r, const suites::BenchmarkDef& def, const SystemDescription& s,
                    const FaultMap& faults, std::mt19937_64& rng) {
  if (!storage_described(r, s, false)) return 0;
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  per_rank_columns(r, def, n);
  const int iterations = static_cast<int>(param_number(r.params, suites::kIterationsParam));
  const int warmup = static_cast<int>(param_number(r.params, suites::kWarmupParam));
  const bool read = param_flag(r.params, "read");
  const double rank_bytes = param_number(r.params, "block_size") * param_number(r.params, "segments");
  const double node_bytes = rank_bytes * s.gpus_per_node;
  const double all_bytes = rank_bytes * static_cast<double>(n);
  struct Phase {
    std::vector<double> bw, time;  // per iteration
    std::vector<double> rank_bw;
  };
  auto phase = [&](bool write) {
    const auto nodes = client_shares(s, faults, sim::storage_per_client_gbs(s.storage, s.nodes, write));
    Phase ph;
    ph.bw = iteration_rates(aggregate_of(nodes, node_bytes), iterations, rng);
    for (double bw : ph.bw) ph.time.push_back(all_bytes / (bw * 1e9));
    ph.rank_bw = rank_shares(s, nodes, rng);
    return ph;
  };
  const Phase w = phase(true);
  const Phase rd = read ? phase(false) : Phase{};
  auto set = [&](const char* name, auto value) {
    auto& v = r.per_rank.find(name)->values;
    for (std::size_t i = 0; i < n; ++i) v[i] = value(i);
  };
  set("write_bw", [&](std::size_t) { return median_or_nan(w.bw); });
  set("read_bw", [&](std::size_t) { return median_or_nan(rd.bw); });
  set("write_bw_rank", [&](std::size_t i) { return iterations > 0 ? w.rank_bw[i] : kNaN; });
  set("read_bw_rank", [&](std::size_t i) { return read && iterations > 0 ? rd.rank_bw[i] : kNaN; });
  set("write_time", [&](std::size_t) { return median_or_nan(w.time); });
  set("read_time", [&](std::size_t) { return median_or_nan(rd.time); });
  set("write_bytes", [&](std::size_t) { return iterations > 0 ? rank_bytes : kNaN; });
  set("read_bytes", [&](std::size_t) { return read && iterations > 0 ? rank_bytes : kNaN; });
  set("checked_bytes", [&](std::size_t) { return read ? rank_bytes * iterations : 0.0; });
  set("wrong_bytes", [&](std::size_t) { return 0.0; });
  set_shared_storage(r, n, all_bytes);
  Table& t = r.points;
  for (int i = 0; i < iterations; ++i) {
    const auto at = static_cast<std::size_t>(i);
    t.column("iteration", "", true).values.push_back(i);
    t.column("write_bw", "GB/s", false, Better::higher).values.push_back(w.bw[at]);
    t.column("write_time", "s", false, Better::lower).values.push_back(w.time[at]);
    t.column("write_bytes", "B", true).values.push_back(all_bytes);
    t.column("read_bw", "GB/s", false, Better::higher).values.push_back(read ? rd.bw[at] : kNaN);
    t.column("read_time", "s", false, Better::lower).values.push_back(read ? rd.time[at] : kNaN);
    t.column("read_bytes", "B", true).values.push_back(read ? all_bytes : 0);
    t.column("stonewall_transfers", "", true).values.push_back(0);
    t.column("wrong_bytes", "B", true, Better::lower).values.push_back(0);
  }
  mark_dead_nodes(r, s.gpus_per_node, faults.dead_nodes);
  const double one = median_or_nan(w.time) + (read ? median_or_nan(rd.time) : 0.0);
  return std::isfinite(one) ? one * (iterations + warmup) : 0;
}

// mdtest as suites/mdtest.cpp stores it: every phase at the file system's metadata_ops shared
// by the ranks (the description gives one rate, for creates; stat and read are usually faster
// on a real file system, so their figures here are floors). A tree phase run by rank 0 alone
// (shared directory) gets rank 0's share only.
double simulate_mdtest(StepResult& r, const suites::BenchmarkDef& def, const SystemDescription& s,
                       const FaultMap& faults, std::mt19937_64& rng) {
  if (!storage_described(r, s, true)) return 0;
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  per_rank_columns(r, def, n);
  const int iterations = static_cast<int>(param_number(r.params, suites::kIterationsParam));
  const int warmup = static_cast<int>(param_number(r.params, suites::kWarmupParam));
  const double files = param_number(r.params, "files");
  const bool unique = param_flag(r.params, "unique_dir");
  const double directories = static_cast<double>(
      io::tree_directories(static_cast<std::uint32_t>(param_number(r.params, "depth")),
                           static_cast<std::uint32_t>(param_number(r.params, "branch"))));
  const auto nodes = client_shares(s, faults, s.storage.metadata_ops / s.nodes);
  Table& t = r.points;
  for (int i = 0; i < iterations; ++i) t.column("iteration", "", true).values.push_back(i);
  double seconds = 0;
  for (const char* name : {"create", "stat", "read", "remove", "tree_create", "tree_remove"}) {
    const bool tree = std::string_view(name).starts_with("tree");
    const std::vector<double> ranks = rank_shares(s, nodes, rng);
    double aggregate = 0;
    if (!tree) {
      aggregate = aggregate_of(nodes, files * s.gpus_per_node);
    } else if (unique) {
      aggregate = aggregate_of(nodes, directories * s.gpus_per_node);
    } else {
      aggregate = ranks[0];
    }
    const std::vector<double> rates = iteration_rates(aggregate, iterations, rng);
    const double median = median_or_nan(rates);
    auto& rate = r.per_rank.find(fmt::format("{}_rate", name))->values;
    auto& rank_rate = r.per_rank.find(fmt::format("{}_rate_rank", name))->values;
    for (std::size_t i = 0; i < n; ++i) {
      rate[i] = median;
      rank_rate[i] = iterations == 0 ? kNaN : tree && !unique && i != 0 ? 0.0 : ranks[i];
    }
    auto& points = t.column(fmt::format("{}_rate", name), "ops/s", false, Better::higher).values;
    points.insert(points.end(), rates.begin(), rates.end());
    const double ops = tree ? directories * (unique ? static_cast<double>(n) : 1.0) : files * static_cast<double>(n);
    if (std::isfinite(median)) seconds += ops / median * (iterations + warmup);
  }
  for (int i = 0; i < iterations; ++i) t.column("wrong_files", "", true, Better::lower).values.push_back(0);
  r.per_rank.find("files")->values.assign(n, files);
  r.per_rank.find("checked_files")->values.assign(n, files * iterations);
  r.per_rank.find("wrong_files")->values.assign(n, 0.0);
  // As suites/mdtest.cpp asks: a block per file (of write_bytes rounded up), a block per directory.
  const double file_blocks = std::ceil(param_number(r.params, "write_bytes") / 4096.0) * 4096.0;
  set_shared_storage(r, n, files * file_blocks * static_cast<double>(n) +
                               directories * 4096.0 * (unique ? static_cast<double>(n) : 1.0));
  mark_dead_nodes(r, s.gpus_per_node, faults.dead_nodes);
  return seconds;
}

std::uint64_t checkpoint_total_bytes(const Params& p) {
  if (const auto* preset = io::find_checkpoint_preset(param_text(p, "preset"))) return preset->bytes;
  return static_cast<std::uint64_t>(param_number(p, "total_bytes"));
}

// checkpoint as suites/checkpoint.cpp stores it, MLPerf Storage's definitions: every rank writes
// its shard at its share of its client; checkpoint_time is the slowest rank's time (x an
// iteration spread), checkpoint_bw = all shards / checkpoint_time; restore the same, reading.
double simulate_checkpoint(StepResult& r, const suites::BenchmarkDef& def, const SystemDescription& s,
                           const FaultMap& faults, std::mt19937_64& rng) {
  if (!storage_described(r, s, false)) return 0;
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  per_rank_columns(r, def, n);
  const int iterations = static_cast<int>(param_number(r.params, suites::kIterationsParam));
  const int warmup = static_cast<int>(param_number(r.params, suites::kWarmupParam));
  const double shard =
      static_cast<double>(io::shard_bytes(checkpoint_total_bytes(r.params), static_cast<std::uint32_t>(n)));
  const double all_bytes = shard * static_cast<double>(n);
  struct Phase {
    std::vector<double> rank_time, time, bw;
  };
  auto phase = [&](bool write) {
    const auto nodes = client_shares(s, faults, sim::storage_per_client_gbs(s.storage, s.nodes, write));
    Phase ph;
    double slowest = 0;
    for (double gbs : rank_shares(s, nodes, rng)) {
      ph.rank_time.push_back(shard / (gbs * 1e9));
      slowest = std::max(slowest, ph.rank_time.back());
    }
    std::normal_distribution<double> noise(1.0, kStorageIterationSpread);
    for (int i = 0; i < iterations; ++i) {
      ph.time.push_back(slowest * std::max(1.0, noise(rng)));  // never faster than the slowest rank
      ph.bw.push_back(all_bytes / ph.time.back() / 1e9);
    }
    return ph;
  };
  const Phase w = phase(true), rd = phase(false);
  auto set = [&](const char* name, auto value) {
    auto& v = r.per_rank.find(name)->values;
    for (std::size_t i = 0; i < n; ++i) v[i] = iterations > 0 ? value(i) : kNaN;
  };
  set("checkpoint_time", [&](std::size_t) { return median_or_nan(w.time); });
  set("checkpoint_bw", [&](std::size_t) { return median_or_nan(w.bw); });
  set("restore_time", [&](std::size_t) { return median_or_nan(rd.time); });
  set("restore_bw", [&](std::size_t) { return median_or_nan(rd.bw); });
  set("checkpoint_time_rank", [&](std::size_t i) { return w.rank_time[i]; });
  set("restore_time_rank", [&](std::size_t i) { return rd.rank_time[i]; });
  r.per_rank.find("shard_bytes")->values.assign(n, shard);
  set("checkpoint_bytes", [&](std::size_t) { return all_bytes; });
  r.per_rank.find("checked_bytes")->values.assign(n, shard * iterations);
  r.per_rank.find("wrong_bytes")->values.assign(n, 0.0);
  set_shared_storage(r, n, all_bytes);
  Table& t = r.points;
  for (int i = 0; i < iterations; ++i) {
    const auto at = static_cast<std::size_t>(i);
    t.column("iteration", "", true).values.push_back(i);
    t.column("checkpoint_time", "s", false, Better::lower).values.push_back(w.time[at]);
    t.column("checkpoint_bw", "GB/s", false, Better::higher).values.push_back(w.bw[at]);
    t.column("restore_time", "s", false, Better::lower).values.push_back(rd.time[at]);
    t.column("restore_bw", "GB/s", false, Better::higher).values.push_back(rd.bw[at]);
    t.column("wrong_bytes", "B", true, Better::lower).values.push_back(0);
  }
  mark_dead_nodes(r, s.gpus_per_node, faults.dead_nodes);
  const double one = median_or_nan(w.time) + median_or_nan(rd.time);
  return std::isfinite(one) ? one * (iterations + warmup) : 0;
}

}  // namespace

std::string simulated_host(int node) { return fmt::format("node{:05d}", node); }

namespace {

// A flapping_link's timing keys (and refused on any other fault): period_ms > 0, down_fraction in
// (0, 1), seed (default: the fault's position in the file).
void load_flap(const YAML::Node& item, const std::string& path, const std::string& kind, Fault& f,
               std::size_t position) {
  const bool flap = f.kind == FaultKind::flapping_link;
  for (const char* key : {"period_ms", "down_fraction", "seed"})
    if (!flap && item[key])
      yaml::fail(item[key], path, fmt::format("{}: only a flapping_link takes {}, not {}", key, key, kind));
  if (!flap) return;
  if (item["period_ms"]) {
    f.period_ms = yaml::get_number(item["period_ms"], path, "period_ms");
    // At least 1 us: the model walks every up/down edge an iteration meets.
    if (!(f.period_ms >= 1e-3 && f.period_ms <= 1e7))
      yaml::fail(item["period_ms"], path,
                 fmt::format("period_ms: expected a period in milliseconds, 0.001 to 1e7, found {}", f.period_ms));
  }
  if (item["down_fraction"]) {
    f.down_fraction = yaml::get_number(item["down_fraction"], path, "down_fraction");
    if (!(f.down_fraction > 0 && f.down_fraction < 1))
      yaml::fail(item["down_fraction"], path,
                 fmt::format("down_fraction: expected the share of each period the link is degraded, "
                             "0 < down_fraction < 1, found {}",
                             f.down_fraction));
  }
  f.seed = item["seed"] ? static_cast<std::uint64_t>(yaml::get_int(item["seed"], path, "seed"))
                        : static_cast<std::uint64_t>(position);
}

}  // namespace

std::vector<Fault> load_faults(const std::string& text, const std::string& path,
                               const SystemDescription& system) {
  const YAML::Node root = yaml::parse(text, path);
  yaml::check_keys(root, path, {"faults"}, "a faults file");
  const YAML::Node list = root["faults"];
  if (!list || !list.IsSequence())
    yaml::fail(root, path, "faults: expected a list of {kind: ..., node: ...}");
  std::vector<Fault> out;
  for (const auto& item : list) {
    yaml::check_keys(item, path, {"kind", "node", "gpu", "peer", "factor", "period_ms", "down_fraction", "seed"},
                     "a fault");
    if (!item["kind"] || !item["node"]) yaml::fail(item, path, "a fault needs 'kind' and 'node'");
    Fault f;
    const std::string kind = yaml::get_string(item["kind"], path, "kind");
    if (kind == "slow_gpu")
      f.kind = FaultKind::slow_gpu;
    else if (kind == "throttling_node")
      f.kind = FaultKind::throttling_node;
    else if (kind == "dead_node")
      f.kind = FaultKind::dead_node;
    else if (kind == "degraded_link")
      f.kind = FaultKind::degraded_link;
    else if (kind == "slow_storage_client")
      f.kind = FaultKind::slow_storage_client;
    else if (kind == "flapping_link")
      f.kind = FaultKind::flapping_link;
    else
      yaml::fail(item["kind"], path,
                 fmt::format("kind: expected one of: slow_gpu, throttling_node, dead_node, degraded_link, "
                             "slow_storage_client, flapping_link, found '{}'",
                             kind));
    const auto node = yaml::get_int(item["node"], path, "node");
    if (node < 0 || node >= system.nodes)
      yaml::fail(item["node"], path,
                 fmt::format("node: expected 0..{} (the system has {} nodes), found {}", system.nodes - 1,
                             system.nodes, node));
    f.node = static_cast<int>(node);
    if (f.kind == FaultKind::slow_gpu) {
      if (!item["gpu"]) yaml::fail(item, path, "slow_gpu needs 'gpu' (the local GPU index)");
      const auto gpu = yaml::get_int(item["gpu"], path, "gpu");
      if (gpu < 0 || gpu >= system.gpus_per_node)
        yaml::fail(item["gpu"], path,
                   fmt::format("gpu: expected 0..{}, found {}", system.gpus_per_node - 1, gpu));
      f.gpu = static_cast<int>(gpu);
    } else if (item["gpu"]) {
      yaml::fail(item["gpu"], path, fmt::format("gpu: only a slow_gpu fault names a GPU, not {}", kind));
    }
    const bool link = f.kind == FaultKind::degraded_link || f.kind == FaultKind::flapping_link;
    if (link && item["peer"]) {
      const auto peer = yaml::get_int(item["peer"], path, "peer");
      if (peer < 0 || peer >= system.nodes || peer == node)
        yaml::fail(item["peer"], path,
                   fmt::format("peer: expected another node, 0..{} but not {}, found {}", system.nodes - 1,
                               node, peer));
      f.peer = static_cast<int>(peer);
    } else if (item["peer"]) {
      yaml::fail(item["peer"], path,
                 fmt::format("peer: only a degraded_link or flapping_link names a peer node, not {}", kind));
    }
    load_flap(item, path, kind, f, out.size() + 1);
    if (f.kind != FaultKind::dead_node) {
      if (!item["factor"]) yaml::fail(item, path, fmt::format("{} needs 'factor' (0 < factor <= 1)", kind));
      f.factor = yaml::get_number(item["factor"], path, "factor");
      if (!(f.factor > 0 && f.factor <= 1))
        yaml::fail(item["factor"], path, fmt::format("factor: expected 0 < factor <= 1, found {}", f.factor));
    }
    out.push_back(f);
  }
  return out;
}

std::string simulate_campaign(const SimulateOptions& o) {
  const auto& registry = suites::Registry::instance();
  const Campaign campaign = load_campaign_file(o.campaign_path, registry);
  if (!campaign.system_description)
    throw InputError(SourceLocation{o.campaign_path, 0, 0},
                     "simulate needs a system description: 'system: path/to/system.yaml' (docs/systems.md)");
  SystemDescription s = *campaign.system_description;  // with calibrated storage clients, below
  if (s.total_gpus() > std::numeric_limits<std::int32_t>::max())
    throw InputError("the system has more GPUs than a rank number can hold");
  const std::vector<Fault> faults = o.faults_path.empty()
                                        ? std::vector<Fault>{}
                                        : load_faults(read_text_file(o.faults_path), o.faults_path, s);
  const FaultMap fmap = fault_map(s, faults);
  const sim::Topology topology(s);
  const ModelCalibration calibration =
      o.calibrate_path.empty() ? ModelCalibration{} : load_calibration(o.calibrate_path, s, topology);
  apply_storage_calibration(calibration, s);
  const sim::ModelConstants constants = calibrated_constants(calibration);
  if (o.log && !calibration.report.empty()) {
    *o.log << "calibrated from " << o.calibrate_path << ":\n";
    for (const auto& line : calibration.report) *o.log << "  " << line << '\n';
  }
  const SuiteModel suite_model{s, topology, constants, faults, calibration, o.gpu_spread};
  const int ranks = static_cast<int>(s.total_gpus());
  const std::vector<Step> steps = plan(campaign, registry, kernels::Backend::cuda, ranks);

  RunInfo info;
  info.schema_version = kSchemaVersion;
  info.tool_version = std::string(tool_version());
  info.git_revision = std::string(git_revision());
  info.campaign = campaign.name;
  info.system = campaign.system;
  info.phase = campaign.phase;
  info.backend = "simulated";
  info.start_time = wall_seconds();
  info.rank_count = ranks;
  info.command_line = o.command_line;
  info.campaign_yaml = campaign.text;
  info.campaign_path = o.campaign_path;
  if (!campaign.contract_path.empty()) {
    info.contract_yaml = read_text_file(campaign.contract_path);
    info.contract_path = campaign.contract_path;
  }
  info.system_yaml = s.text;
  info.system_path = s.path;
  info.versions["gpuaccept"] = std::string(tool_version());
  info.versions["hdf5"] = hdf5_library_version();
  info.versions["simulator"] = "sim/ alpha-beta model (docs/simulation.md)";
  if (!calibration.report.empty())
    info.versions["calibration"] = fmt::format("{}: {}", o.calibrate_path, fmt::join(calibration.report, "; "));
  info.ranks.resize(static_cast<std::size_t>(ranks));
  std::vector<collectives::RankPlace> places(static_cast<std::size_t>(ranks));  // node = host index
  for (int node = 0, r = 0; node < s.nodes; ++node) {
    const std::string host = simulated_host(node);
    for (int g = 0; g < s.gpus_per_node; ++g, ++r) {
      RankInfo& ri = info.ranks[static_cast<std::size_t>(r)];
      ri.rank = r;
      ri.host = host;
      ri.local_rank = g;
      ri.device = s.gpu.name;
      places[static_cast<std::size_t>(r)] = {node, g};
    }
  }

  std::string out = o.output;
  if (out.empty()) {
    std::filesystem::create_directories(campaign.output_dir);
    out = (std::filesystem::path(campaign.output_dir) /
           fmt::format("{}-sim-{}.h5", campaign.name, static_cast<long long>(info.start_time)))
              .string();
  } else if (auto parent = std::filesystem::path(out).parent_path(); !parent.empty()) {
    std::filesystem::create_directories(parent);
  }
  ResultsWriter writer = ResultsWriter::create(out, info);
  std::mt19937_64 rng(o.seed);
  double clock = info.start_time;
  for (const Step& step : steps) {
    const suites::BenchmarkDef& def = *registry.find(step.benchmark);
    StepResult r;
    r.id = step.id;
    r.benchmark = step.benchmark;
    r.params = step.params;
    r.backend = "simulated";
    r.repetition = step.repetition;
    r.start_time = clock;
    double seconds = std::max(0.0, step.estimate_seconds);
    if (step.benchmark == "gemm") {
      simulate_gemm(r, def, s, fmap, rng, o.gpu_spread, calibration.gemm);
    } else if (const auto op = collectives::collective_from_string(step.benchmark)) {
      const double simulated = simulate_collective(r, def, *op, s, topology, places, fmap, rng, constants);
      if (simulated > 0) seconds = simulated;
    } else if (step.benchmark == "ior" || step.benchmark == "mdtest" || step.benchmark == "checkpoint") {
      const double simulated = step.benchmark == "ior"      ? simulate_ior(r, def, s, fmap, rng)
                               : step.benchmark == "mdtest" ? simulate_mdtest(r, def, s, fmap, rng)
                                                            : simulate_checkpoint(r, def, s, fmap, rng);
      if (simulated > 0) seconds = simulated;
    } else if (const auto simulated = simulate_suite_step(r, def, suite_model, rng)) {
      if (*simulated > 0) seconds = *simulated;
    } else {
      r.status = Status::skipped;
      r.reason = fmt::format("{} is not modelled by the simulator yet (docs/simulation.md)", step.benchmark);
    }
    clock += seconds;
    r.end_time = clock;
    writer.write_step(r);
  }
  writer.finish(wall_seconds());
  return out;
}

}  // namespace gpuaccept::harness
