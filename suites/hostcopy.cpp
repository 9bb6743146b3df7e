// hostcopy: host <-> device copy bandwidth of every rank's own GPU, all ranks at once:
// host-to-device, device-to-host and both directions together, from pinned and from pageable
// host memory placed on the GPU's NUMA node (kernels/hostcopy.hpp says how, without libnuma).
//
// Measures, per rank: GB/s = bytes moved per iteration / median iteration time (1 GB = 1e9 B),
// for h2d, d2h and bidir (2 x bytes per iteration) x pinned and pageable; the per-iteration
// times of every measurement are stored as samples (rank 0), those of pinned h2d as the rank's
// iteration times. Checks: every word of every destination against the source pattern; one
// wrong word makes the rank incorrect. Reports the GPU's NUMA node and the node that holds the
// pinned buffer's first page (-1: unknown).
// Needs: the cuda backend (on the cpu backend it is not applicable: there is no device), 2 x
// `bytes` of host memory (pinned and pageable in turn) and 2 x `bytes` on the GPU per rank.
// Runs alone:  benchmarks: [{benchmark: hostcopy, params: {bytes: 512M}}]
#include <fmt/format.h>

#include <cmath>

#include "kernels/hostcopy.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

std::string metric_name(kernels::CopyDirection d, kernels::HostMemory m) {
  return fmt::format("{}_{}_gbps", kernels::kCopyDirectionNames[static_cast<std::size_t>(d)],
                     kernels::kHostMemoryNames[static_cast<std::size_t>(m)]);
}

RankOutcome run(const RunContext& ctx) {
  kernels::HostcopyConfig cfg;
  cfg.bytes = param_int(ctx.params, "bytes");
  cfg.timing = ctx.timing;
  cfg.device = ctx.device;
  cfg.seed = ctx.seed;
  const std::string& memory = param_text(ctx.params, "memory");
  cfg.pinned = memory != "pageable";
  cfg.pageable = memory != "pinned";
  cfg.near_gpu = param_text(ctx.params, "numa") == "gpu";
  const kernels::HostcopyRun r = kernels::run_hostcopy(ctx.backend, cfg);

  RankOutcome out;
  for (const auto d : {kernels::CopyDirection::h2d, kernels::CopyDirection::d2h, kernels::CopyDirection::bidirectional})
    for (const auto m : {kernels::HostMemory::pinned, kernels::HostMemory::pageable}) out.metrics[metric_name(d, m)] = NAN;
  std::int64_t wrong = 0, checked = 0;
  std::string first_wrong;
  Samples times{"copy_time", "s", "measurement", "iteration", 0, 0, {}};
  for (const auto& m : r.measurements) {
    out.metrics[metric_name(m.direction, m.memory)] = kernels::hostcopy_gbps(m);
    if (m.wrong > 0 && first_wrong.empty()) first_wrong = m.first_wrong;
    wrong += m.wrong;
    checked += m.checked;
    if (out.iteration_seconds.empty()) out.iteration_seconds = m.seconds;
    times.rows += 1;
    times.cols = m.seconds.size();
    times.values.insert(times.values.end(), m.seconds.begin(), m.seconds.end());
  }
  out.metrics["wrong"] = static_cast<double>(wrong);
  out.metrics["gpu_numa_node"] = r.gpu_numa_node;
  out.metrics["host_numa_node"] = r.host_numa_node;
  if (ctx.rank == 0 && times.rows > 0) out.samples.push_back(std::move(times));
  if (wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} copied words wrong; first: {}", wrong, checked, first_wrong);
  } else if (r.gpu_numa_node >= 0 && r.host_numa_node >= 0 && r.gpu_numa_node != r.host_numa_node) {
    out.message = fmt::format("pinned host memory is on NUMA node {}, the GPU on node {}: {}", r.host_numa_node,
                              r.gpu_numa_node, r.placement);
  }
  if (ctx.rank == 0) {
    std::string log = fmt::format("rank 0: {}\n", r.placement);
    for (const auto& m : r.measurements)
      log += fmt::format("  {:<6} {:<8} {:8.2f} GB/s\n", kernels::kCopyDirectionNames[static_cast<std::size_t>(m.direction)],
                         kernels::kHostMemoryNames[static_cast<std::size_t>(m.memory)], kernels::hostcopy_gbps(m));
    out.log = std::move(log);
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "hostcopy";
  b.summary = "host<->device copy bandwidth per GPU: h2d, d2h, both at once; pinned and pageable; NUMA-near host memory; data checked";
  b.params = {
      {"bytes", ParamType::size, std::int64_t{256} << 20, "bytes copied each way per iteration", 4096, 1e12, {}},
      {"memory", ParamType::text, std::string("both"), "host memory: pinned, pageable or both", std::nullopt,
       std::nullopt, {"both", "pinned", "pageable"}},
      {"numa", ParamType::text, std::string("gpu"),
       "gpu: run and allocate on the CPUs near the GPU; none: leave the launcher's binding", std::nullopt,
       std::nullopt, {"gpu", "none"}},
  };
  for (const auto m : {kernels::HostMemory::pinned, kernels::HostMemory::pageable}) {
    const char* memory = kernels::kHostMemoryNames[static_cast<std::size_t>(m)];
    b.rank_metrics.push_back({metric_name(kernels::CopyDirection::h2d, m), "GB/s", Better::higher,
                              fmt::format("host-to-device from {} memory: bytes / median time", memory)});
    b.rank_metrics.push_back({metric_name(kernels::CopyDirection::d2h, m), "GB/s", Better::higher,
                              fmt::format("device-to-host into {} memory: bytes / median time", memory)});
    b.rank_metrics.push_back({metric_name(kernels::CopyDirection::bidirectional, m), "GB/s", Better::higher,
                              fmt::format("both at once, {} memory: 2 x bytes / median time", memory)});
  }
  b.rank_metrics.push_back({"wrong", "", Better::lower, "copied 8-byte words that differ from the source"});
  b.rank_metrics.push_back({"gpu_numa_node", "", Better::none, "NUMA node of the GPU (sysfs; -1: unknown)"});
  b.rank_metrics.push_back({"host_numa_node", "", Better::none, "NUMA node of the pinned buffer's first page (-1: unknown)"});
  b.headline = "h2d_pinned_gbps";
  b.smoke = {{"bytes", std::int64_t{1} << 20}};
  b.applicable = [](const Params&, kernels::Backend backend) {
    std::string reason;
    return kernels::hostcopy_supported(backend, &reason) ? std::string() : reason;
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) {
    const double passes = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 0.5 + passes * 8.0 * static_cast<double>(param_int(p, "bytes")) / 10e9;  // 6 copies, ~10 GB/s pageable
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
