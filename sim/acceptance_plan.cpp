#include "sim/acceptance_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "collectives/scopes.hpp"

namespace gpuaccept::sim {

double AcceptancePlan::parallel_seconds() const {
  double t = 0;
  for (const auto& p : phases) t += p.parallel_seconds;
  return t;
}

double AcceptancePlan::sequential_seconds() const {
  double t = 0;
  for (const auto& p : phases) t += p.sequential_seconds;
  return t;
}

namespace {

// One nccl-tests style sweep: every size, warm-up plus timed iterations (warm-up = 5).
double sweep_seconds(const CollectiveModel& model, CollectiveOp op, const CommShape& comm,
                     const AcceptanceSettings& s) {
  double us = 0;
  for (double b = static_cast<double>(s.min_bytes); b <= static_cast<double>(s.max_bytes) * 1.0000001;
       b *= s.factor)
    us += model.estimate(op, comm, static_cast<std::int64_t>(b)).time_us * (s.collective_iterations + 5);
  return us * 1e-6;
}

}  // namespace

AcceptancePlan plan_acceptance(const SystemDescription& sys, const AcceptanceSettings& s) {
  const Topology topo(sys);
  const CollectiveModel model(sys, topo);
  AcceptancePlan plan;
  const long long nodes = sys.nodes;

  {  // Per-GPU compute: GEMM and burn-in on every GPU of every node at once.
    const double peak = sys.gpu.peak("bf16").value_or(sys.gpu.peak_tflops.begin()->second) * 1e12 * 0.75;
    const double g = static_cast<double>(s.gemm_size);
    const double gemm = 2 * g * g * g / peak * (s.gemm_iterations + 2) + s.burnin_seconds;
    plan.phases.push_back({"per-GPU",
                           fmt::format("GEMM bf16 {}^3 x {} and {:.0f} s burn-in on every GPU", s.gemm_size,
                                       s.gemm_iterations, s.burnin_seconds),
                           nodes, 1, gemm, gemm * static_cast<double>(nodes)});
  }
  {  // NVLink-domain collectives: every domain at once.
    const int domain = std::max(sys.nvlink_domain, 1);
    const long long domains = std::max(1LL, sys.total_gpus() / domain);
    const CommShape comm = model.shape(domain, sys.gpus_per_node);
    const double t = sweep_seconds(model, CollectiveOp::allreduce, comm, s);
    plan.phases.push_back({"node", fmt::format("all-reduce sweep on each NVLink domain ({} GPUs)", domain),
                           domains, 1, t, t * static_cast<double>(domains)});
  }
  {  // Rails: one GPU per node (local rank r) across all nodes; the rails are separate planes.
    CommShape comm = model.shape(nodes, 1);
    comm.network_share = 1.0 / std::max(1, sys.nics_per_node);  // one NIC of the node
    const double t = sweep_seconds(model, CollectiveOp::allreduce, comm, s);
    plan.phases.push_back({"rail", fmt::format("all-reduce sweep over the {} nodes of each rail", nodes),
                           sys.rails, 1, t, t * sys.rails});
  }
  {  // Pair rounds: disjoint node pairs at once (the plan a scope=pairs step runs), link sharing
     // on the oversubscribed tiers. Where a tier is oversubscribed, the pairs are drawn inside
     // each pod (pairing: pod), so that a slow NIC is not hidden behind the oversubscribed tier.
    const long long pod = topo.pod_nodes();
    const bool in_pods = pod < sys.nodes;
    std::vector<int> pod_of_node;
    if (in_pods)
      for (int n = 0; n < sys.nodes; ++n) pod_of_node.push_back(static_cast<int>(n / pod));
    const auto rounds = in_pods ? collectives::pod_pairing_plan(pod_of_node, s.pair_rounds)
                                : collectives::pairing_plan(sys.nodes, s.pair_rounds);
    double parallel = 0, sequential = 0;
    long long pairs_per_round = 0;
    const double alpha = model.step_latency_us(topo.tiers()) * 1e-6;
    const double per_nic = topo.node_network_gbs() * model.constants().network_efficiency;
    for (const auto& round : rounds) {
      const std::vector<double> bw = topo.concurrent_flow_gbs(round);
      double slowest = 0;
      for (double b : bw)
        slowest = std::max(slowest, static_cast<double>(s.pair_bytes) / (std::min(b, per_nic) * 1e9));
      parallel += (alpha + slowest) * (s.collective_iterations + 5);
      sequential += static_cast<double>(round.size()) *
                    (alpha + static_cast<double>(s.pair_bytes) / (per_nic * 1e9)) *
                    (s.collective_iterations + 5);
      pairs_per_round = std::max<long long>(pairs_per_round, static_cast<long long>(round.size()));
    }
    plan.phases.push_back({"pairs",
                           fmt::format("send/receive {} MiB between node pairs, {} rounds of disjoint pairs{}",
                                       s.pair_bytes >> 20, rounds.size(),
                                       in_pods ? fmt::format(" inside each pod of {} nodes", pod) : ""),
                           pairs_per_round, static_cast<int>(rounds.size()), parallel, sequential});
  }
  {  // Scaling series: 1, 2, 4, ... nodes, then the whole machine, one after another.
    double t = 0;
    int steps = 0;
    for (long long n = 1;; n = std::min(n * 2, nodes)) {
      t += sweep_seconds(model, CollectiveOp::allreduce,
                         model.shape(n * sys.gpus_per_node, sys.gpus_per_node), s);
      ++steps;
      if (n == nodes) break;
    }
    plan.phases.push_back({"scaling",
                           fmt::format("all-reduce sweep on 1, 2, 4, ... {} nodes ({} sizes)", nodes, steps),
                           1, steps, t, t});
  }
  {  // Full-scale storage: checkpoint write then read by every node at once.
    const double bytes_per_node = s.checkpoint_gib_per_gpu * sys.gpus_per_node * double(1LL << 30);
    const double write = bytes_per_node / (storage_per_client_gbs(sys.storage, nodes, true) * 1e9);
    const double read = bytes_per_node / (storage_per_client_gbs(sys.storage, nodes, false) * 1e9);
    const double alone = bytes_per_node / (storage_per_client_gbs(sys.storage, 1, true) * 1e9) +
                         bytes_per_node / (storage_per_client_gbs(sys.storage, 1, false) * 1e9);
    plan.phases.push_back({"storage",
                           fmt::format("checkpoint {:.0f} GiB per GPU written and read by every node",
                                       s.checkpoint_gib_per_gpu),
                           nodes, 1, write + read, alone * static_cast<double>(nodes)});
  }
  return plan;
}

namespace {
std::string duration(double seconds) {
  if (seconds < 120) return fmt::format("{:.1f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  if (seconds < 172800) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.1f} days", seconds / 86400);
}
}  // namespace

std::string format_acceptance_plan(const SystemDescription& sys, const AcceptancePlan& plan) {
  std::string out = fmt::format("acceptance plan for {}: {} nodes x {} GPUs = {} GPUs ({})\n", sys.name,
                                sys.nodes, sys.gpus_per_node, sys.total_gpus(), sys.gpu.name);
  out += fmt::format("{:<9} {:>8} {:>7} {:>12} {:>14}  {}\n", "phase", "at once", "rounds", "planned",
                     "one at a time", "what");
  for (const auto& p : plan.phases)
    out += fmt::format("{:<9} {:>8} {:>7} {:>12} {:>14}  {}\n", p.name, p.groups, p.rounds,
                       duration(p.parallel_seconds), duration(p.sequential_seconds), p.what);
  out += fmt::format("total: {} as planned, {} one group at a time ({:.0f}x)\n",
                     duration(plan.parallel_seconds()), duration(plan.sequential_seconds()),
                     plan.sequential_seconds() / plan.parallel_seconds());
  out += "estimates from the model in sim/ (docs/simulation.md), not measurements\n";
  return out;
}

}  // namespace gpuaccept::sim
