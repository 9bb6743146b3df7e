// The collectives: allreduce, allgather, reducescatter, alltoall, broadcast, reduce, gather,
// scatter and sendrecv (ring shift), each a registered benchmark built from one table. NCCL
// on the cuda backend, MPI on the cpu backend.
//
// Measures, per message size, exactly as nccl-tests does (collectives/collective.hpp): time
// (the maximum over the communicator's ranks of each rank's mean iteration time),
// algbw = bytes / time, busbw = algbw * nccl-tests' factor for the operation, out-of-place
// and in-place, p99 time and CV from the stored per-iteration times. Checks: every element
// of every rank's result against its known value (#wrong); one wrong element makes the step
// incorrect, and the rank is named.
//
// Scope (collectives/scopes.hpp): the step's ranks are split into communicators (world,
// node, rail, pairs, scaling, bisect); the groups of one round run at once and every group
// keeps its own rows in the points table (columns group, round, nodes), with the world ranks
// of each group in the samples "group_ranks".
// Runs alone:  mpirun -np 8 gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: alltoall, params: {min_bytes: 8, max_bytes: 8G, scope: pairs}}]
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>

#include "collectives/bisect.hpp"
#include "collectives/collective.hpp"
#include "collectives/scopes.hpp"
#include "results/stats.hpp"
#include "sim/topology.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

using collectives::CollectiveOp;
using collectives::CollectiveScope;
using collectives::DataType;
using collectives::RedOp;

// Test-only: consecutive ranks form fake nodes "host-0", "host-1", ... of this many ranks,
// so that node/rail/pairs scopes can be exercised on one machine. Recorded with the run's
// environment (GPUACCEPT_ variables are kept).
constexpr const char* kFakeRanksPerNode = "GPUACCEPT_FAKE_RANKS_PER_NODE";
// Test-only, with the fake layout only: the ranks of this fake host wait 20 ms (or
// GPUACCEPT_FAKE_SLOW_DELAY_MS) before every timed operation (a slow node for the bisect test).
constexpr const char* kFakeSlowHost = "GPUACCEPT_FAKE_SLOW_HOST";
constexpr const char* kFakeSlowDelay = "GPUACCEPT_FAKE_SLOW_DELAY_MS";

collectives::CollectiveConfig config_of(CollectiveOp op, const Params& p, const kernels::TimingPolicy& timing) {
  collectives::CollectiveConfig c;
  c.op = op;
  c.sweep.min_bytes = param_int(p, "min_bytes");
  c.sweep.max_bytes = param_int(p, "max_bytes");
  c.sweep.factor = param_real(p, "factor");
  c.sweep.step_bytes = param_int(p, "step_bytes");
  c.dtype = *collectives::datatype_from_string(param_text(p, "dtype"));
  if (collectives::is_reducing(op)) c.redop = *collectives::redop_from_string(param_text(p, "op"));
  if (collectives::is_rooted(op)) c.root = static_cast<int>(param_int(p, "root"));
  c.in_place = param_bool(p, "in_place");
  c.blocking = param_bool(p, "blocking");
  c.cuda_graph = param_bool(p, "cuda_graph");
  c.timing = timing;
  return c;
}

// ---------------------------------------------------------------- where the ranks are

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// Host names of the step's ranks, in rank order (every rank gets them).
std::vector<std::string> step_hosts(const RunContext& ctx) {
  if (const char* fake = std::getenv(kFakeRanksPerNode); fake && std::atoi(fake) > 0) {
    const int per_node = std::atoi(fake);
    std::vector<std::string> hosts;
    for (int r = 0; r < ctx.size; ++r) hosts.push_back(fmt::format("host-{}", r / per_node));
    return hosts;
  }
  return ctx.group.allgather_text(this_host());
}

// NCCL picks its algorithm and protocol per call; what can be known without parsing its debug
// output is whether they were forced (also kept in the run's environment).
std::string nccl_choice(kernels::Backend backend) {
  if (backend != kernels::Backend::cuda) return {};
  const char* algo = std::getenv("NCCL_ALGO");
  const char* proto = std::getenv("NCCL_PROTO");
  return fmt::format(", NCCL_ALGO={} NCCL_PROTO={}", algo ? algo : "(NCCL's choice)", proto ? proto : "(NCCL's choice)");
}

std::string label_of(CollectiveScope scope, const collectives::ScopeGroup& g, int stage_round,
                     const std::vector<std::string>& hosts, const std::vector<collectives::RankPlace>& places) {
  std::vector<std::string> names;  // distinct hosts in group order
  for (int r : g.ranks)
    if (std::find(names.begin(), names.end(), hosts[static_cast<std::size_t>(r)]) == names.end())
      names.push_back(hosts[static_cast<std::size_t>(r)]);
  auto span = [&] { return names.size() == 1 ? names.front() : names.front() + ".." + names.back(); };
  switch (scope) {
    case CollectiveScope::world: return "world";
    case CollectiveScope::node: return span();
    case CollectiveScope::rail: return fmt::format("rail {}", places[static_cast<std::size_t>(g.ranks.front())].local_rank);
    case CollectiveScope::pairs: return names.size() == 2 ? names[0] + "<->" + names[1] : span();
    case CollectiveScope::scaling: return fmt::format("{} nodes", g.nodes);
    case CollectiveScope::bisect:
      if (stage_round == 0) return "world";
      if (names.size() == 2) return names[0] + "<->" + names[1];
      return fmt::format("ring of {} nodes ({})", g.nodes, span());
  }
  return "?";
}

// pairing: pod: every node's pod, by the rule the simulator applies too (sim::pods_of_step).
std::vector<int> pods_of(const std::vector<collectives::RankPlace>& places, const std::vector<std::string>& hosts,
                         std::int64_t pod_nodes, const SystemDescription* system) {
  std::vector<std::string_view> node_hosts;
  for (std::size_t r = 0; r < places.size(); ++r)
    if (places[r].node == static_cast<int>(node_hosts.size())) node_hosts.push_back(hosts[r]);
  try {
    return sim::pods_of_step(node_hosts, pod_nodes, system);
  } catch (const std::invalid_argument& e) {
    throw collectives::CollectiveError(e.what());
  }
}

// ---------------------------------------------------------------- one group's results

struct GroupResult {
  int group = 0;
  std::vector<collectives::CollectivePoint> points;
};

// A group leader's results as numbers, for the gather to the step's rank 0.
void pack(const GroupResult& g, bool in_place, std::vector<double>& out) {
  out.push_back(g.group);
  out.push_back(static_cast<double>(g.points.size()));
  for (const auto& p : g.points) {
    out.push_back(static_cast<double>(p.bytes));
    out.push_back(static_cast<double>(p.count));
    for (const auto* r : {&p.out_of_place, &p.in_place}) {
      if (r == &p.in_place && !in_place) break;
      out.push_back(r->time_s);
      out.push_back(r->algbw);
      out.push_back(r->busbw);
      out.push_back(static_cast<double>(r->wrong));
      out.push_back(static_cast<double>(r->iteration_seconds.size()));
      out.insert(out.end(), r->iteration_seconds.begin(), r->iteration_seconds.end());
    }
  }
}

std::vector<GroupResult> unpack(const std::vector<double>& in, bool in_place) {
  std::vector<GroupResult> groups;
  std::size_t at = 0;
  auto next = [&] { return in.at(at++); };
  while (at < in.size()) {
    GroupResult g;
    g.group = static_cast<int>(next());
    const auto n = static_cast<std::size_t>(next());
    for (std::size_t i = 0; i < n; ++i) {
      collectives::CollectivePoint p;
      p.bytes = static_cast<std::int64_t>(next());
      p.count = static_cast<std::int64_t>(next());
      for (auto* r : {&p.out_of_place, &p.in_place}) {
        if (r == &p.in_place && !in_place) break;
        r->time_s = next();
        r->algbw = next();
        r->busbw = next();
        r->wrong = static_cast<std::int64_t>(next());
        const auto iterations = static_cast<std::size_t>(next());
        for (std::size_t k = 0; k < iterations; ++k) r->iteration_seconds.push_back(next());
      }
      g.points.push_back(std::move(p));
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// Runs `groups` round by round (the groups of one round at once); every rank returns the
// results of the groups it led, this rank's wrong elements and the first group it was in.
struct Runs {
  std::vector<GroupResult> led;
  std::int64_t local_wrong = 0;
  int first_group = -1;
  int first_size = 0;
  std::string version;
};

void run_groups(const RunContext& ctx, const collectives::CollectiveConfig& cfg,
                const std::vector<collectives::ScopeGroup>& groups, std::size_t first, Runs& runs) {
  std::set<int> rounds;
  for (std::size_t g = first; g < groups.size(); ++g) rounds.insert(groups[g].round);
  for (int round : rounds) {
    int color = -1, key = 0;
    for (std::size_t g = first; g < groups.size() && color < 0; ++g) {
      if (groups[g].round != round) continue;
      const auto& ranks = groups[g].ranks;
      if (auto it = std::find(ranks.begin(), ranks.end(), ctx.rank); it != ranks.end()) {
        color = static_cast<int>(g);
        key = static_cast<int>(it - ranks.begin());
      }
    }
    const auto sub = ctx.group.split_or_none(color, key);
    if (!sub) continue;
    auto comm = collectives::open_communicator(ctx.backend, *sub, ctx.device);
    auto points = collectives::run_collective(*comm, *sub, cfg);
    for (const auto& p : points) runs.local_wrong += p.out_of_place.local_wrong + p.in_place.local_wrong;
    if (runs.first_group < 0) {
      runs.first_group = color;
      runs.first_size = comm->size();
      runs.version = comm->version();
    }
    if (sub->rank() == 0) runs.led.push_back({color, std::move(points)});
  }
}

// Every group's results on the step's rank 0, in group order (empty elsewhere).
std::vector<GroupResult> collect(const RunContext& ctx, const Runs& runs, bool in_place) {
  std::vector<double> mine;
  for (const auto& g : runs.led) pack(g, in_place, mine);
  std::vector<GroupResult> all;
  for (const auto& from : ctx.group.gather_values(mine, 0))
    for (auto& g : unpack(from, in_place)) all.push_back(std::move(g));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.group < b.group; });
  return all;
}

// The busbw of a group at its largest size (out of place): what bisect compares.
double largest_busbw(const GroupResult& g) {
  return g.points.empty() ? 0 : g.points.back().out_of_place.busbw;
}

// ---------------------------------------------------------------- bisect (collectives/bisect.hpp)

std::string encode_groups(const std::vector<collectives::ScopeGroup>& groups) {
  std::string text;
  for (const auto& g : groups) {
    text += fmt::format("{} {} {}", g.round, g.nodes, g.ranks.size());
    for (int r : g.ranks) text += fmt::format(" {}", r);
    text += '\n';
  }
  return text;
}

std::vector<collectives::ScopeGroup> decode_groups(const std::string& text) {
  std::vector<collectives::ScopeGroup> groups;
  std::size_t at = 0;
  auto next = [&] {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    std::size_t end = at;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    const int v = std::stoi(text.substr(at, end - at));
    at = end;
    return v;
  };
  while (text.find_first_not_of(" \n", at) != std::string::npos) {
    collectives::ScopeGroup g;
    g.round = next();
    g.nodes = next();
    const int n = next();
    for (int i = 0; i < n; ++i) g.ranks.push_back(next());
    groups.push_back(std::move(g));
  }
  return groups;
}

// ---------------------------------------------------------------- the benchmark

void add_phase(Table& t, const std::string& suffix, const collectives::PhaseResult& r) {
  const auto s = stats::summarize(r.iteration_seconds);
  t.column("time_" + suffix, "us", false, Better::lower).values.push_back(r.time_s * 1e6);
  t.column("algbw_" + suffix, "GB/s", false, Better::higher).values.push_back(r.algbw);
  t.column("busbw_" + suffix, "GB/s", false, Better::higher).values.push_back(r.busbw);
  t.column("wrong_" + suffix, "", true, Better::lower).values.push_back(static_cast<double>(r.wrong));
  t.column("time_p99_" + suffix, "us", false, Better::lower).values.push_back(s.p99 * 1e6);
  t.column("time_cv_" + suffix, "", false, Better::lower).values.push_back(s.cv);
}

Samples iteration_samples(const std::vector<GroupResult>& groups, bool in_place) {
  Samples s;
  s.name = in_place ? "iteration_time_ip" : "iteration_time_oop";
  s.unit = "s";
  s.row_axis = "point";
  s.col_axis = "iteration";
  for (const auto& g : groups)
    for (const auto& p : g.points)
      s.cols = std::max(s.cols, (in_place ? p.in_place : p.out_of_place).iteration_seconds.size());
  for (const auto& g : groups)
    for (const auto& p : g.points) {
      const auto& v = (in_place ? p.in_place : p.out_of_place).iteration_seconds;
      s.values.insert(s.values.end(), v.begin(), v.end());
      s.values.insert(s.values.end(), s.cols - v.size(), std::numeric_limits<double>::quiet_NaN());
      ++s.rows;
    }
  return s;
}

Samples group_ranks_samples(const std::vector<collectives::ScopeGroup>& groups) {
  Samples s;
  s.name = "group_ranks";
  s.row_axis = "group";
  s.col_axis = "member";
  s.rows = groups.size();
  for (const auto& g : groups) s.cols = std::max(s.cols, g.ranks.size());
  for (const auto& g : groups) {
    for (int r : g.ranks) s.values.push_back(r);
    s.values.insert(s.values.end(), s.cols - g.ranks.size(), -1.0);
  }
  return s;
}

RankOutcome run(CollectiveOp op, const RunContext& ctx) {
  auto cfg = config_of(op, ctx.params, ctx.timing);
  const auto scope = *collectives::scope_from_string(param_text(ctx.params, "scope"));
  collectives::ScopeOptions options;
  options.domain = static_cast<int>(param_int(ctx.params, "domain"));
  options.pair_rounds = static_cast<int>(param_int(ctx.params, "pair_rounds"));

  const auto hosts = step_hosts(ctx);
  const char* fake = std::getenv(kFakeRanksPerNode);
  const char* slow_host = std::getenv(kFakeSlowHost);
  if (fake && slow_host && hosts[static_cast<std::size_t>(ctx.rank)] == slow_host) {
    const char* delay_ms = std::getenv(kFakeSlowDelay);
    cfg.injected_delay_s = (delay_ms ? std::clamp(std::atof(delay_ms), 0.0, 10000.0) : 20.0) * 1e-3;
  }
  std::vector<std::string_view> host_views(hosts.begin(), hosts.end());
  const auto places = collectives::places_from_hosts(host_views);
  if (scope == CollectiveScope::pairs &&
      *collectives::pairing_from_string(param_text(ctx.params, "pairing")) == collectives::Pairing::pod)
    options.pod_of_node = pods_of(places, hosts, param_int(ctx.params, "pod_nodes"), ctx.system);
  auto groups = collectives::plan_scope(scope, places, options);
  if (collectives::is_rooted(op)) {
    // Every rank reaches the same verdict from the same plan, before any communicator exists
    // (one group failing alone would leave the others waiting in the next collective call).
    std::size_t smallest = groups.empty() ? 0 : groups.front().ranks.size();
    for (const auto& g : groups) smallest = std::min(smallest, g.ranks.size());
    if (scope == CollectiveScope::bisect) {  // later stages hold at least two nodes
      std::map<int, std::size_t> per_node;
      for (const auto& p : places) ++per_node[p.node];
      for (const auto& [node, ranks] : per_node) smallest = std::min(smallest, 2 * ranks);
    }
    if (cfg.root >= static_cast<int>(smallest))
      throw collectives::CollectiveError(fmt::format("root {} is not a rank of every communicator of scope {} (the smallest has {} rank(s))",
                                                     cfg.root, to_string(scope), smallest));
  }
  collectives::ArrivalBoard arrivals(ctx.group, hosts);
  cfg.arrivals = &arrivals;
  double out_suspect = 0;

  Runs runs;
  run_groups(ctx, cfg, groups, 0, runs);
  auto results = collect(ctx, runs, cfg.in_place);
  std::vector<std::string> node_names;
  for (std::size_t r = 0; r < places.size(); ++r)
    if (places[r].node == static_cast<int>(node_names.size())) node_names.push_back(hosts[r]);
  collectives::Bisector bisector(places, node_names, param_real(ctx.params, "min_busbw"),
                                 param_real(ctx.params, "bisect_fraction"),
                                 static_cast<int>(param_int(ctx.params, "bisect_group")));
  if (scope == CollectiveScope::bisect) {
    for (;;) {
      std::string next;
      if (ctx.rank == 0) {
        std::map<int, double> busbw;
        for (const auto& r : results) busbw[r.group] = largest_busbw(r);
        next = encode_groups(bisector.next(groups, busbw));
      }
      ctx.group.broadcast(next, 0);
      if (next.empty()) break;
      const std::size_t first = groups.size();
      for (auto& g : decode_groups(next)) groups.push_back(std::move(g));
      runs.led.clear();
      run_groups(ctx, cfg, groups, first, runs);
      for (auto& r : collect(ctx, runs, cfg.in_place)) results.push_back(std::move(r));
    }
    std::string suspects;
    for (int n : bisector.suspects()) suspects += fmt::format("{} ", n);
    ctx.group.broadcast(suspects, 0);
    std::set<int> named;
    for (std::size_t at = 0; at < suspects.size();) {
      const std::size_t end = suspects.find(' ', at);
      named.insert(std::stoi(suspects.substr(at, end - at)));
      at = end + 1;
    }
    out_suspect = named.count(places[static_cast<std::size_t>(ctx.rank)].node) ? 1.0 : 0.0;
  }


  arrivals.close();

  RankOutcome out;
  // Only a bisection names suspects; elsewhere "not applicable", not "not a suspect".
  out.metrics["suspect"] = scope == CollectiveScope::bisect ? out_suspect : std::numeric_limits<double>::quiet_NaN();
  out.metrics["wrong"] = static_cast<double>(runs.local_wrong);
  out.metrics["ranks"] = static_cast<double>(runs.first_size);
  out.metrics["group"] = static_cast<double>(runs.first_group);
  if (runs.local_wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} elements of this rank's {} results were wrong", runs.local_wrong, to_string(op));
  }
  if (ctx.rank != 0) return out;

  Table& t = out.points;
  std::string log = fmt::format("# {} ({}), scope {}, {} rank(s) on {} node(s), {}{}\n", to_string(op),
                                collectives::nccl_tests_binary(op), to_string(scope), ctx.size,
                                places.empty() ? 0 : places.back().node + 1, runs.version, nccl_choice(ctx.backend));
  log += collectives::format_table_header(cfg.in_place);
  for (const auto& g : results) {
    const auto& sg = groups[static_cast<std::size_t>(g.group)];
    if (groups.size() > 1)
      log += fmt::format("# group {} (round {}): {}, {} ranks\n", g.group, sg.round,
                         label_of(scope, sg, sg.round, hosts, places), sg.ranks.size());
    log += collectives::format_table_rows(cfg, g.points);
    for (const auto& p : g.points) {
      t.column("group", "", true, Better::none).values.push_back(g.group);
      t.column("round", "", true, Better::none).values.push_back(sg.round);
      t.column("nodes", "", true, Better::none).values.push_back(sg.nodes);
      t.column("bytes", "B", true, Better::none).values.push_back(static_cast<double>(p.bytes));
      t.column("count", "", true, Better::none).values.push_back(static_cast<double>(p.count));
      add_phase(t, "oop", p.out_of_place);
      if (cfg.in_place) add_phase(t, "ip", p.in_place);
    }
  }
  if (scope == CollectiveScope::bisect) {
    for (const auto& note : bisector.notes()) log += "# bisect: " + note + "\n";
    std::string names;
    for (int n : bisector.suspects()) names += (names.empty() ? "" : ", ") + node_names[static_cast<std::size_t>(n)];
    for (auto [a, b] : bisector.suspected_links())
      names += fmt::format("{}link {}<->{}", names.empty() ? "" : ", ", node_names[static_cast<std::size_t>(a)],
                           node_names[static_cast<std::size_t>(b)]);
    log += fmt::format("# bisect: suspected: {}\n", names.empty() ? "none" : names);
  }
  out.samples.push_back(group_ranks_samples(groups));
  out.samples.push_back(iteration_samples(results, false));
  if (cfg.in_place) out.samples.push_back(iteration_samples(results, true));
  out.log = std::move(log);
  return out;
}

// ---------------------------------------------------------------- registration

const std::vector<std::string> kDataTypeNames = {"int8", "uint8", "int32", "uint32", "int64",
                                                 "uint64", "fp16", "fp32", "fp64", "bf16"};

BenchmarkDef make(CollectiveOp op) {
  BenchmarkDef b;
  b.name = std::string(to_string(op));
  b.summary = fmt::format("{} bandwidth over a message-size sweep (NCCL on GPU, MPI on CPU) at a scope, "
                          "nccl-tests figures ({}), every element checked",
                          to_string(op), collectives::nccl_tests_binary(op));
  b.params = {
      {"min_bytes", ParamType::size, std::int64_t{8}, "smallest message (nccl-tests -b)", 1, 1e15, {}},
      {"max_bytes", ParamType::size, std::int64_t{1} << 20, "largest message (nccl-tests -e)", 1, 1e15, {}},
      {"factor", ParamType::real, 2.0, "size multiplier between points (nccl-tests -f)", 1.01, 1e6, {}},
      {"step_bytes", ParamType::size, std::int64_t{0}, "when > 0: add this between points instead (nccl-tests -i)", 0, 1e15, {}},
      {"dtype", ParamType::text, std::string("fp32"), "element type", std::nullopt, std::nullopt, kDataTypeNames},
  };
  if (collectives::is_reducing(op))
    b.params.push_back({"op", ParamType::text, std::string("sum"), "reduction", std::nullopt, std::nullopt,
                        {"sum", "prod", "min", "max", "avg"}});
  if (collectives::is_rooted(op))
    b.params.push_back({"root", ParamType::integer, std::int64_t{0}, "root rank (within each communicator)", 0, 1e7, {}});
  const std::vector<ParamSpec> common = {
      {"in_place", ParamType::boolean, true, "also measure in-place (nccl-tests' in-place buffers)", {}, {}, {}},
      {"blocking", ParamType::boolean, true, "each operation completes before the next starts (false: NCCL stream-ordered, MPI non-blocking MPI_I* + wait)", {}, {}, {}},
      {"cuda_graph", ParamType::boolean, false, "NCCL: capture the operation in a CUDA graph and launch the graph (nccl-tests -G)", {}, {}, {}},
      {"scope", ParamType::text, std::string("world"), "communicators: world, node, rail, pairs, scaling, bisect", std::nullopt, std::nullopt,
       {"world", "node", "rail", "pairs", "scaling", "bisect"}},
      {"domain", ParamType::integer, std::int64_t{0}, "scope node: ranks per NVLink domain (0: the ranks of one host)", 0, 1e7, {}},
      {"pair_rounds", ParamType::integer, std::int64_t{3}, "scope pairs: rounds of disjoint node pairs (partners per node)", 1, 1e6, {}},
      {"pairing", ParamType::text, std::string("global"), "scope pairs: draw pairs from all nodes (global) or inside each pod, below the first oversubscribed tier (pod)", std::nullopt, std::nullopt,
       {"global", "pod"}},
      {"pod_nodes", ParamType::integer, std::int64_t{0}, "scope pairs, pairing pod: nodes per pod, host number / pod_nodes = pod (0: from the system description)", 0, 1e9, {}},
      {"min_busbw", ParamType::real, 0.0, "scope bisect: busbw (GB/s, largest size) below which the world is bisected (0: use bisect_fraction)", 0, 1e9, {}},
      {"bisect_group", ParamType::integer, std::int64_t{4}, "scope bisect: nodes per group in the group stage", 2, 1e6, {}},
      {"bisect_fraction", ParamType::real, 0.8, "scope bisect: fraction of the median pair busbw below which a figure is slow", 0, 1, {}},
  };
  b.params.insert(b.params.end(), common.begin(), common.end());
  b.rank_metrics = {
      {"wrong", "", Better::lower, "elements of this rank's results that were wrong, all sizes"},
      {"ranks", "", Better::none, "ranks in this rank's (first) communicator"},
      {"group", "", Better::none, "this rank's group in the first round (-1: none)"},
      {"suspect", "", Better::lower, "scope bisect: 1 if this rank's node is named a culprit"},
  };
  const std::string factor = [&] {
    switch (op) {
      case CollectiveOp::allreduce: return std::string("2(n-1)/n");
      case CollectiveOp::broadcast:
      case CollectiveOp::reduce:
      case CollectiveOp::sendrecv: return std::string("1");
      default: return std::string("(n-1)/n");
    }
  }();
  for (const char* phase : {"oop", "ip"}) {
    b.point_metrics.push_back({fmt::format("time_{}", phase), "us", Better::lower, "max over ranks of the mean iteration time (nccl-tests)"});
    b.point_metrics.push_back({fmt::format("algbw_{}", phase), "GB/s", Better::higher, "bytes / time"});
    b.point_metrics.push_back({fmt::format("busbw_{}", phase), "GB/s", Better::higher, "algbw * " + factor});
    b.point_metrics.push_back({fmt::format("wrong_{}", phase), "", Better::lower, "wrong elements, all ranks of the group"});
    b.point_metrics.push_back({fmt::format("time_p99_{}", phase), "us", Better::lower, "99th percentile iteration time"});
    b.point_metrics.push_back({fmt::format("time_cv_{}", phase), "", Better::lower, "coefficient of variation of iteration times"});
  }
  b.point_keys = {"group", "round", "nodes", "bytes", "count"};
  b.applicable = [op](const Params& p, kernels::Backend backend) -> std::string {
    if (backend != kernels::Backend::cpu) return {};
    const auto& dtype = param_text(p, "dtype");
    if (dtype == "fp16" || dtype == "bf16")
      return fmt::format("MPI has no {} type; {} {} runs on the cuda backend (NCCL)", dtype, dtype, to_string(op));
    if (collectives::is_reducing(op) && param_text(p, "op") == "avg")
      return "MPI has no avg reduction; it runs on the cuda backend (NCCL)";
    if (param_bool(p, "cuda_graph")) return "CUDA graphs need the cuda backend (NCCL)";
    return {};
  };
  b.check = [](const Params& p) -> std::string {
    if (param_int(p, "min_bytes") > param_int(p, "max_bytes"))
      return fmt::format("min_bytes ({}) is larger than max_bytes ({})", param_int(p, "min_bytes"), param_int(p, "max_bytes"));
    return {};
  };
  b.estimate_seconds = [op](const Params& p, kernels::Backend backend, int ranks) {
    const double latency = backend == kernels::Backend::cuda ? 10e-6 : 5e-6;
    const double bandwidth = backend == kernels::Backend::cuda ? 100e9 : 2e9;  // bytes/s, rough
    const auto cfg = config_of(op, p, {});
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam) + 1) *
                        (cfg.in_place ? 2 : 1);
    const auto scope = *collectives::scope_from_string(param_text(p, "scope"));
    const double rounds = scope == CollectiveScope::pairs ? static_cast<double>(param_int(p, "pair_rounds"))
                          : scope == CollectiveScope::scaling || scope == CollectiveScope::bisect
                              ? std::log2(std::max(ranks, 2)) + 1
                              : 1;
    double seconds = 0.1;
    for (auto bytes : collectives::sweep_sizes(cfg.sweep, collectives::size_of(cfg.dtype)))
      seconds += rounds * runs *
                 (latency * std::log2(std::max(ranks, 2)) +
                  std::max(1.0, collectives::busbw_factor(op, std::max(ranks, 2))) * static_cast<double>(bytes) / bandwidth);
    return seconds;
  };
  b.headline = "busbw_oop";
  b.smoke = {{"min_bytes", std::int64_t{8}}, {"max_bytes", std::int64_t{4096}}, {"factor", 8.0}};
  b.run = [op](const RunContext& ctx) { return run(op, ctx); };
  return b;
}

// One registration per operation, from the one table of operations.
#define GPUACCEPT_COLLECTIVE(name) \
  BenchmarkDef make_##name() { return make(CollectiveOp::name); } \
  GPUACCEPT_REGISTER_BENCHMARK(make_##name)

GPUACCEPT_COLLECTIVE(allreduce);
GPUACCEPT_COLLECTIVE(allgather);
GPUACCEPT_COLLECTIVE(reducescatter);
GPUACCEPT_COLLECTIVE(alltoall);
GPUACCEPT_COLLECTIVE(broadcast);
GPUACCEPT_COLLECTIVE(reduce);
GPUACCEPT_COLLECTIVE(gather);
GPUACCEPT_COLLECTIVE(scatter);
GPUACCEPT_COLLECTIVE(sendrecv);

}  // namespace
}  // namespace gpuaccept::suites
