// allreduce: sum (or min/max/prod) all-reduce over a message-size sweep, every rank of the
// step in one communicator: NCCL on the cuda backend, MPI on the cpu backend.
//
// Measures, per message size, exactly as nccl-tests does (collectives/allreduce.hpp):
// time (mean over iterations of the per-iteration maximum over ranks), algbw = bytes / time,
// busbw = algbw * 2(n-1)/n, out-of-place and in-place, plus p99 time and CV from the stored
// per-iteration times. Checks: every element of every rank's result against the known sum
// (#wrong); one wrong element makes the step incorrect, and the rank is named.
// Runs alone:  mpirun -np 8 gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: allreduce, params: {min_bytes: 8, max_bytes: 8G, factor: 2}}]
#include <fmt/format.h>

#include <cmath>

#include "collectives/allreduce.hpp"
#include "results/stats.hpp"
#include "results/yaml_util.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

using collectives::DataType;
using collectives::RedOp;

collectives::AllReduceConfig config_of(const Params& p, const kernels::TimingPolicy& timing) {
  collectives::AllReduceConfig c;
  c.sweep.min_bytes = param_int(p, "min_bytes");
  c.sweep.max_bytes = param_int(p, "max_bytes");
  c.sweep.factor = param_real(p, "factor");
  c.dtype = *collectives::datatype_from_string(param_text(p, "dtype"));
  c.op = *collectives::redop_from_string(param_text(p, "op"));
  c.in_place = param_bool(p, "in_place");
  c.timing = timing;
  return c;
}

void add_phase(Table& t, const std::string& suffix, const collectives::PhaseResult& r) {
  const auto s = stats::summarize(r.iteration_seconds);
  t.column("time_" + suffix, "us", false, Better::lower).values.push_back(r.time_s * 1e6);
  t.column("algbw_" + suffix, "GB/s", false, Better::higher).values.push_back(r.algbw);
  t.column("busbw_" + suffix, "GB/s", false, Better::higher).values.push_back(r.busbw);
  t.column("wrong_" + suffix, "", true, Better::lower).values.push_back(static_cast<double>(r.wrong));
  t.column("time_p99_" + suffix, "us", false, Better::lower).values.push_back(s.p99 * 1e6);
  t.column("time_cv_" + suffix, "", false, Better::lower).values.push_back(s.cv);
}

Samples iteration_samples(const std::vector<collectives::AllReducePoint>& points, bool in_place) {
  Samples s;
  s.name = in_place ? "iteration_time_ip" : "iteration_time_oop";
  s.unit = "s";
  s.row_axis = "point";
  s.col_axis = "iteration";
  s.rows = points.size();
  for (const auto& p : points) {
    const auto& v = in_place ? p.in_place.iteration_seconds : p.out_of_place.iteration_seconds;
    s.cols = std::max(s.cols, v.size());
    s.values.insert(s.values.end(), v.begin(), v.end());
  }
  return s;
}

RankOutcome run(const RunContext& ctx) {
  const auto cfg = config_of(ctx.params, ctx.timing);
  auto comm = collectives::open_communicator(ctx.backend, ctx.group, ctx.device);
  const auto points = collectives::run_allreduce(*comm, ctx.group, cfg);

  RankOutcome out;
  Table& t = out.points;
  std::int64_t wrong = 0, local_wrong = 0;
  for (const auto& p : points) {
    t.column("bytes", "B", true, Better::none).values.push_back(static_cast<double>(p.bytes));
    t.column("count", "", true, Better::none).values.push_back(static_cast<double>(p.count));
    add_phase(t, "oop", p.out_of_place);
    if (cfg.in_place) add_phase(t, "ip", p.in_place);
    wrong += p.out_of_place.wrong + p.in_place.wrong;
    local_wrong += p.out_of_place.local_wrong + p.in_place.local_wrong;
  }
  out.samples.push_back(iteration_samples(points, false));
  if (cfg.in_place) out.samples.push_back(iteration_samples(points, true));
  out.metrics["wrong"] = static_cast<double>(local_wrong);
  out.metrics["ranks"] = static_cast<double>(comm->size());
  if (local_wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} elements of this rank's all-reduce results were wrong", local_wrong);
  } else if (wrong > 0) {
    // Another rank saw the wrong data; it names itself. This rank's own data was right.
    out.message = "";
  }
  if (ctx.rank == 0) {
    out.log = fmt::format("# {} ranks, {}\n{}", comm->size(), comm->version(),
                          collectives::format_allreduce_table(points, cfg.dtype, cfg.op, cfg.in_place));
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "allreduce";
  b.summary = "all-reduce bandwidth over a message-size sweep (NCCL on GPU, MPI on CPU), nccl-tests figures, every element checked";
  b.params = {
      {"min_bytes", ParamType::size, std::int64_t{8}, "smallest message (nccl-tests -b)", 1, 1e15, {}},
      {"max_bytes", ParamType::size, std::int64_t{1} << 20, "largest message (nccl-tests -e)", 1, 1e15, {}},
      {"factor", ParamType::real, 2.0, "size multiplier between points (nccl-tests -f)", 1.01, 1e6, {}},
      {"dtype", ParamType::text, std::string("fp32"), "element type",
       std::nullopt, std::nullopt, {"int8", "uint8", "int32", "uint32", "int64", "uint64", "fp16", "fp32", "fp64", "bf16"}},
      {"op", ParamType::text, std::string("sum"), "reduction", std::nullopt, std::nullopt, {"sum", "prod", "min", "max", "avg"}},
      {"in_place", ParamType::boolean, true, "also measure in-place (send buffer = receive buffer)", {}, {}, {}},
  };
  b.rank_metrics = {
      {"wrong", "", Better::lower, "elements of this rank's results that were wrong, all sizes"},
      {"ranks", "", Better::none, "ranks in the communicator"},
  };
  for (const char* phase : {"oop", "ip"}) {
    b.point_metrics.push_back({fmt::format("time_{}", phase), "us", Better::lower, "mean over iterations of the max over ranks"});
    b.point_metrics.push_back({fmt::format("algbw_{}", phase), "GB/s", Better::higher, "bytes / time"});
    b.point_metrics.push_back({fmt::format("busbw_{}", phase), "GB/s", Better::higher, "algbw * 2(n-1)/n"});
    b.point_metrics.push_back({fmt::format("wrong_{}", phase), "", Better::lower, "wrong elements, all ranks"});
    b.point_metrics.push_back({fmt::format("time_p99_{}", phase), "us", Better::lower, "99th percentile iteration time"});
    b.point_metrics.push_back({fmt::format("time_cv_{}", phase), "", Better::lower, "coefficient of variation of iteration times"});
  }
  b.point_keys = {"bytes", "count"};
  b.applicable = [](const Params& p, kernels::Backend backend) -> std::string {
    if (backend != kernels::Backend::cpu) return {};
    const auto& dtype = param_text(p, "dtype");
    if (dtype == "fp16" || dtype == "bf16") return fmt::format("MPI has no {} type; {} all-reduce runs on the cuda backend (NCCL)", dtype, dtype);
    if (param_text(p, "op") == "avg") return "MPI has no avg reduction; it runs on the cuda backend (NCCL)";
    return {};
  };
  b.check = [](const Params& p) -> std::string {
    if (param_int(p, "min_bytes") > param_int(p, "max_bytes"))
      return fmt::format("min_bytes ({}) is larger than max_bytes ({})", param_int(p, "min_bytes"), param_int(p, "max_bytes"));
    return {};
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend backend, int ranks) {
    const double latency = backend == kernels::Backend::cuda ? 10e-6 : 5e-6;
    const double bandwidth = backend == kernels::Backend::cuda ? 100e9 : 2e9;  // bytes/s, rough
    const auto cfg = config_of(p, {});
    const auto dtype = collectives::datatype_from_string(param_text(p, "dtype"));
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam) + 1) *
                        (cfg.in_place ? 2 : 1);
    double seconds = 0.1;
    for (auto bytes : collectives::sweep_sizes(cfg.sweep, collectives::size_of(*dtype)))
      seconds += runs * (latency * std::log2(std::max(ranks, 2)) +
                         collectives::allreduce_busbw_factor(std::max(ranks, 2)) * static_cast<double>(bytes) / bandwidth);
    return seconds;
  };
  b.headline = "busbw_oop";
  b.smoke = {{"min_bytes", std::int64_t{8}}, {"max_bytes", std::int64_t{4096}}, {"factor", 8.0}};
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
