// `gpuaccept simulate --calibrate REAL.h5`: the model's figures replaced by what a real run
// measured (docs/simulation.md, "Calibration").
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "harness/simulate_suites.hpp"
#include "results/input_error.hpp"
#include "results/stats.hpp"
#include "results/store.hpp"

namespace gpuaccept::harness {

namespace {

std::string text_param(const Params& p, const char* name) {
  const auto it = p.find(name);
  return it != p.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "";
}

void add_finite(std::vector<double>& to, const Column* c, bool positive = true) {
  if (!c) return;
  for (double x : c->values)
    if (std::isfinite(x) && (!positive || x > 0)) to.push_back(x);
}

Calibration of(const std::vector<double>& v) { return {stats::median(v), v.size() > 1 ? stats::cv(v) : 0.0}; }

std::string describe(const Calibration& c, const char* unit, std::size_t count, const char* over) {
  return fmt::format("{:.4g} {} (median of {} {}, cv {:.2g} %)", c.median, unit, count, over, 100 * c.cv);
}

}  // namespace

ModelCalibration load_calibration(const std::string& path, const SystemDescription& system,
                                  const sim::Topology& topology) {
  const ResultsFile file = read_results(path, ReadOptions{SampleLoading::listed, {}});  // tables only
  ModelCalibration out;
  std::map<std::string, std::vector<double>> gemm, stream, hostcopy, p2p;
  std::map<std::string, std::vector<double>> client[2];  // write, read: per host, the sum of its ranks' shares
  struct NodeAllreduce {
    double bytes = 0;
    double ranks = 0;
    std::vector<double> busbw;
    std::string step;
  } node;
  const char* const kStreamMetrics[] = {"copy_gbps", "scale_gbps", "add_gbps", "triad_gbps"};
  const char* const kHostcopyMetrics[] = {"h2d_pinned_gbps",   "d2h_pinned_gbps",   "bidir_pinned_gbps",
                                          "h2d_pageable_gbps", "d2h_pageable_gbps", "bidir_pageable_gbps"};
  const char* const kP2pColumns[] = {"ce_write_gbps", "ce_read_gbps", "ce_bidir_gbps", "sm_write_gbps",
                                     "sm_read_gbps",  "sm_bidir_gbps", "latency_us"};
  for (const StepResult& step : file.steps) {
    if (step.status != Status::ok) continue;
    if (step.benchmark == "gemm") {
      add_finite(gemm[text_param(step.params, "dtype")], step.per_rank.find("tflops"));
    } else if (step.benchmark == "stream") {
      for (const char* m : kStreamMetrics) add_finite(stream[m], step.per_rank.find(m));
    } else if (step.benchmark == "hostcopy") {
      for (const char* m : kHostcopyMetrics) add_finite(hostcopy[m], step.per_rank.find(m));
    } else if (step.benchmark == "p2p") {
      for (const char* m : kP2pColumns) add_finite(p2p[m], step.points.find(m));
    } else if (step.benchmark == "allreduce" && text_param(step.params, "scope") == "node") {
      const Column* bytes = step.points.find("bytes");
      const Column* busbw = step.points.find("busbw_oop");
      if (!busbw) busbw = step.points.find("busbw_ip");
      const Column* ranks = step.per_rank.find("ranks");
      if (!bytes || !busbw || !ranks || bytes->values.empty()) continue;
      const double largest = stats::max(bytes->values);
      if (largest < node.bytes) continue;
      node = NodeAllreduce{largest, stats::median(ranks->values), {}, step.id};
      for (std::size_t i = 0; i < bytes->values.size(); ++i)
        if (bytes->values[i] == largest && std::isfinite(busbw->values[i]) && busbw->values[i] > 0)
          node.busbw.push_back(busbw->values[i]);
    } else if (step.benchmark == "ior") {
      for (int phase = 0; phase < 2; ++phase) {
        const Column* c = step.per_rank.find(phase == 0 ? "write_bw_rank" : "read_bw_rank");
        if (!c) continue;
        for (std::size_t i = 0; i < c->values.size() && i < step.ranks.size(); ++i) {
          const auto rank = static_cast<std::size_t>(step.ranks[i]);
          if (!std::isfinite(c->values[i]) || rank >= file.run.ranks.size()) continue;
          auto& per_host = client[phase][file.run.ranks[rank].host];
          if (per_host.empty()) per_host.push_back(0);
          per_host[0] += c->values[i];
        }
      }
    }
  }
  const std::string from = path;
  for (const auto& [dtype, v] : gemm)
    if (!v.empty()) {
      out.gemm[dtype] = of(v);
      out.report.push_back(fmt::format("gemm {} TFLOP/s per GPU: {} replaces peak x 0.75", dtype.empty() ? "?" : dtype,
                                       describe(out.gemm[dtype], "TFLOP/s", v.size(), "ranks' tflops")));
    }
  for (const auto& [name, v] : stream)
    if (!v.empty()) {
      out.stream[name] = of(v);
      out.report.push_back(fmt::format("stream {}: {} replaces HBM x 0.90", name,
                                       describe(out.stream[name], "GB/s", v.size(), "ranks")));
    }
  for (const auto& [name, v] : hostcopy)
    if (!v.empty()) {
      out.hostcopy[name] = of(v);
      out.report.push_back(fmt::format("hostcopy {}: {} replaces the host-link model", name,
                                       describe(out.hostcopy[name], "GB/s", v.size(), "ranks")));
    }
  for (const auto& [name, v] : p2p)
    if (!v.empty()) {
      out.p2p[name] = of(v);
      out.report.push_back(fmt::format("p2p {} per link: {} replaces the NVLink model", name,
                                       describe(out.p2p[name], name == "latency_us" ? "us" : "GB/s", v.size(), "links")));
    }
  if (!node.busbw.empty()) {
    // Scale the NVLink efficiency (and the NVLS gain with it) until the model gives the measured
    // busbw for that communicator at that size; the latency term makes it a fixed point, reached
    // in a few rounds.
    const double measured = stats::median(node.busbw);
    const sim::ModelConstants base;
    sim::ModelConstants c = base;
    const long long ranks = std::max(1LL, std::llround(node.ranks));
    double scale = 1;
    for (int round = 0; round < 20; ++round) {
      const sim::CollectiveModel model(system, topology, c);
      const sim::CommShape shape = model.shape(ranks, static_cast<int>(std::min<long long>(ranks, system.gpus_per_node)));
      const double modelled = model.estimate(sim::CollectiveOp::allreduce, shape, static_cast<std::int64_t>(node.bytes)).busbw_gbs;
      if (!(modelled > 0)) break;
      const double ratio = measured / modelled;
      scale *= ratio;
      c.nvlink_efficiency = base.nvlink_efficiency * scale;
      c.nvls_gain = base.nvls_gain * scale;
      if (std::fabs(ratio - 1) < 1e-6) break;
    }
    out.nvlink_scale = scale;
    out.report.push_back(fmt::format(
        "NVLink efficiency {:.3g} -> {:.3g} (NVLS gain {:.4g} -> {:.4g}): node all-reduce busbw {:.4g} GB/s at {:.0f} B "
        "on {} ranks (median of {} communicators, step {})",
        base.nvlink_efficiency, base.nvlink_efficiency * scale, base.nvls_gain, base.nvls_gain * scale, measured,
        node.bytes, ranks, node.busbw.size(), node.step));
  }
  for (int phase = 0; phase < 2; ++phase) {
    std::vector<double> per_node;
    for (const auto& [host, sum] : client[phase])
      if (!sum.empty() && sum[0] > 0) per_node.push_back(sum[0]);
    if (per_node.empty()) continue;
    const Calibration c = of(per_node);
    (phase == 0 ? out.storage_write_client_gbs : out.storage_read_client_gbs) = c.median;
    out.report.push_back(fmt::format("storage per-client {} bandwidth: {} replaces per_client_gbs {:g}",
                                     phase == 0 ? "write" : "read",
                                     describe(c, "GB/s", per_node.size(), "nodes' sums of ior's *_bw_rank"),
                                     system.storage.per_client_gbs));
  }
  if (out.empty())
    throw InputError(fmt::format(
        "--calibrate: {} holds no successful step to calibrate from (gemm, stream, hostcopy, p2p, a node-scope "
        "allreduce, ior)",
        from));
  return out;
}

sim::ModelConstants calibrated_constants(const ModelCalibration& calibration) {
  sim::ModelConstants c;
  if (calibration.nvlink_scale) {
    c.nvlink_efficiency *= *calibration.nvlink_scale;
    c.nvls_gain *= *calibration.nvlink_scale;
  }
  return c;
}

void apply_storage_calibration(const ModelCalibration& calibration, SystemDescription& system) {
  if (calibration.storage_write_client_gbs) {
    if (system.storage.per_client_read_gbs <= 0) system.storage.per_client_read_gbs = system.storage.per_client_gbs;
    system.storage.per_client_gbs = *calibration.storage_write_client_gbs;
  }
  if (calibration.storage_read_client_gbs) system.storage.per_client_read_gbs = *calibration.storage_read_client_gbs;
}

}  // namespace gpuaccept::harness
