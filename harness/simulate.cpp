#include "harness/simulate.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>

#include "harness/plan.hpp"
#include "harness/version.hpp"
#include "results/stats.hpp"
#include "results/store.hpp"
#include "results/yaml_util.hpp"
#include "sim/collective_model.hpp"
#include "sim/topology.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Share of the data-sheet peak a large GEMM reaches (cuBLASLt on H100/B200 sustains 70-80%).
constexpr double kGemmEfficiency = 0.75;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Per-node and per-GPU factors from the faults, dense for speed at 500,000 GPUs.
struct FaultMap {
  std::vector<float> gpu_rate;  // per global GPU
  std::vector<char> node_dead;  // per node
  double link_factor = 1;       // worst degraded link: the ring's bottleneck
  int degraded_node = -1;
};

FaultMap fault_map(const SystemDescription& s, const std::vector<Fault>& faults) {
  FaultMap m;
  m.gpu_rate.assign(static_cast<std::size_t>(s.total_gpus()), 1.0f);
  m.node_dead.assign(static_cast<std::size_t>(s.nodes), 0);
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
        m.node_dead[static_cast<std::size_t>(f.node)] = 1;
        break;
      case FaultKind::degraded_link:
        if (f.factor < m.link_factor) {
          m.link_factor = f.factor;
          m.degraded_node = f.node;
        }
        break;
    }
  }
  return m;
}

double param_number(const Params& p, const char* name) {
  const auto it = p.find(name);
  if (it == p.end()) return 0;
  return as_number(it->second).value_or(0);
}

std::string param_text(const Params& p, const char* name) {
  const auto it = p.find(name);
  return it != p.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second)
                                                                          : "";
}

void mark_dead_ranks(StepResult& r, const SystemDescription& s, const FaultMap& faults) {
  Column* status = r.per_rank.find("status");
  for (int node = 0; node < s.nodes; ++node) {
    if (!faults.node_dead[static_cast<std::size_t>(node)]) continue;
    for (int g = 0; g < s.gpus_per_node; ++g) {
      const std::size_t row = static_cast<std::size_t>(node) * static_cast<std::size_t>(s.gpus_per_node) +
                              static_cast<std::size_t>(g);
      status->values[row] = static_cast<double>(Status::error);
      for (auto& c : r.per_rank.columns)
        if (c.name != "rank" && c.name != "status") c.values[row] = kNaN;
      r.rank_messages[row] =
          fmt::format("rank {} on {}: no response (simulated dead node)", row, simulated_host(node));
    }
    if (r.status != Status::error) {
      r.status = Status::error;
      r.reason = fmt::format("rank {} on {}: no response (simulated dead node)",
                             static_cast<long long>(node) * s.gpus_per_node, simulated_host(node));
    }
  }
}

// Every rank's row: rank, status, then the benchmark's declared metrics (NaN unless set).
void per_rank_columns(StepResult& r, const suites::BenchmarkDef& def, std::size_t n) {
  r.per_rank.column("rank", "", true).values.resize(n);
  r.per_rank.column("status", "", true).values.assign(n, 0.0);
  for (const auto& m : def.rank_metrics)
    r.per_rank.column(m.name, m.unit, false, m.better).values.assign(n, kNaN);
  auto& rank = r.per_rank.columns[0].values;
  r.ranks.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    rank[i] = static_cast<double>(i);
    r.ranks[i] = static_cast<std::int32_t>(i);
  }
  r.rank_messages.assign(n, "");
}

// Per dtype: median and coefficient of variation of GEMM TFLOP/s over the ok ranks of a file.
struct Calibration {
  double median = 0;
  double cv = 0;
};

std::map<std::string, Calibration> calibration_of(const std::string& path) {
  std::map<std::string, Calibration> out;
  std::map<std::string, std::vector<double>> rates;
  for (const StepResult& step : read_results(path).steps) {
    if (step.benchmark != "gemm" || step.status != Status::ok) continue;
    const Column* tflops = step.per_rank.find("tflops");
    if (!tflops) continue;
    auto& v = rates[param_text(step.params, "dtype")];
    for (double x : tflops->values)
      if (std::isfinite(x) && x > 0) v.push_back(x);
  }
  for (const auto& [dtype, v] : rates)
    if (!v.empty()) out[dtype] = Calibration{stats::median(v), v.size() > 1 ? stats::cv(v) : 0.0};
  if (out.empty())
    throw InputError(fmt::format("--calibrate: {} holds no successful gemm step to calibrate from", path));
  return out;
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
  mark_dead_ranks(r, s, faults);
}

// World scope (one group), as the collectives layout note defines the points table.
void simulate_allreduce(StepResult& r, const suites::BenchmarkDef& def, const SystemDescription& s,
                        const sim::Topology& topology, const FaultMap& faults) {
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  per_rank_columns(r, def, n);
  r.per_rank.find("wrong")->values.assign(n, 0.0);
  r.per_rank.find("ranks")->values.assign(n, static_cast<double>(n));
  if (Column* group = r.per_rank.find("group")) group->values.assign(n, 0.0);  // world: one group
  const sim::CollectiveModel model(s, topology);
  sim::CommShape comm = model.shape(static_cast<long long>(n), s.gpus_per_node);
  comm.network_share = faults.link_factor;  // a ring runs at the pace of its slowest link
  const bool in_place = [&] {
    const auto it = r.params.find("in_place");
    return it != r.params.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
  }();
  const double factor = std::max(1.01, param_number(r.params, "factor"));
  const auto min_bytes = static_cast<std::int64_t>(param_number(r.params, "min_bytes"));
  const auto max_bytes = static_cast<std::int64_t>(param_number(r.params, "max_bytes"));
  const std::string dtype = param_text(r.params, "dtype");
  const int elem = dtype == "fp64" || dtype == "int64" || dtype == "uint64" ? 8
                   : dtype == "fp16" || dtype == "bf16"                     ? 2
                   : dtype == "int8" || dtype == "uint8"                    ? 1
                                                                            : 4;
  Table& t = r.points;
  for (const char* key : {"group", "round", "nodes", "bytes", "count"})
    t.column(key, std::string_view(key) == "bytes" ? "B" : "", true, Better::none);
  for (const char* ph : {"oop", "ip"}) {
    if (std::string_view(ph) == "ip" && !in_place) continue;
    t.column(fmt::format("time_{}", ph), "us", false, Better::lower);
    t.column(fmt::format("algbw_{}", ph), "GB/s", false, Better::higher);
    t.column(fmt::format("busbw_{}", ph), "GB/s", false, Better::higher);
    t.column(fmt::format("wrong_{}", ph), "", false, Better::lower);
    t.column(fmt::format("time_p99_{}", ph), "us", false, Better::lower);
    t.column(fmt::format("time_cv_{}", ph), "", false, Better::lower);
  }
  for (double b = static_cast<double>(min_bytes); b <= static_cast<double>(max_bytes) * 1.0000001;
       b *= factor) {
    const std::int64_t count = std::max<std::int64_t>(1, static_cast<std::int64_t>(b) / elem);
    const std::int64_t bytes = count * elem;
    const sim::Estimate e = model.estimate(sim::CollectiveOp::allreduce, comm, bytes);
    t.find("group")->values.push_back(0);
    t.find("round")->values.push_back(0);
    t.find("nodes")->values.push_back(s.nodes);
    t.find("bytes")->values.push_back(static_cast<double>(bytes));
    t.find("count")->values.push_back(static_cast<double>(count));
    for (const char* ph : {"oop", "ip"}) {
      if (std::string_view(ph) == "ip" && !in_place) continue;
      t.find(fmt::format("time_{}", ph))->values.push_back(e.time_us);
      t.find(fmt::format("algbw_{}", ph))->values.push_back(e.algbw_gbs);
      t.find(fmt::format("busbw_{}", ph))->values.push_back(e.busbw_gbs);
      t.find(fmt::format("wrong_{}", ph))->values.push_back(0);
      t.find(fmt::format("time_p99_{}", ph))->values.push_back(e.time_us * 1.02);
      t.find(fmt::format("time_cv_{}", ph))->values.push_back(0.01);
    }
  }
  // group_ranks: one group (world), every rank in order.
  Samples members{"group_ranks", "", "group", "member", 1, n, {}};
  members.values.resize(n);
  for (std::size_t i = 0; i < n; ++i) members.values[i] = static_cast<double>(i);
  r.samples.push_back(std::move(members));
  mark_dead_ranks(r, s, faults);
}

}  // namespace

std::string simulated_host(int node) { return fmt::format("node{:05d}", node); }

std::vector<Fault> load_faults(const std::string& text, const std::string& path,
                               const SystemDescription& system) {
  const YAML::Node root = yaml::parse(text, path);
  yaml::check_keys(root, path, {"faults"}, "a faults file");
  const YAML::Node list = root["faults"];
  if (!list || !list.IsSequence())
    yaml::fail(root, path, "faults: expected a list of {kind: ..., node: ...}");
  std::vector<Fault> out;
  for (const auto& item : list) {
    yaml::check_keys(item, path, {"kind", "node", "gpu", "factor"}, "a fault");
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
    else
      yaml::fail(item["kind"], path,
                 fmt::format(
                     "kind: expected one of: slow_gpu, throttling_node, dead_node, degraded_link, found '{}' "
                     "(flapping links and slow storage clients are not modelled yet: docs/simulation.md)",
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
  const SystemDescription& s = *campaign.system_description;
  if (s.total_gpus() > std::numeric_limits<std::int32_t>::max())
    throw InputError("the system has more GPUs than a rank number can hold");
  const std::vector<Fault> faults = o.faults_path.empty()
                                        ? std::vector<Fault>{}
                                        : load_faults(read_text_file(o.faults_path), o.faults_path, s);
  const FaultMap fmap = fault_map(s, faults);
  const std::map<std::string, Calibration> calibration =
      o.calibrate_path.empty() ? std::map<std::string, Calibration>{} : calibration_of(o.calibrate_path);
  const sim::Topology topology(s);
  const int ranks = static_cast<int>(s.total_gpus());
  const std::vector<Step> steps = plan(campaign, registry, kernels::Backend::cuda, ranks);

  RunInfo info;
  info.schema_version = kSchemaVersion;
  info.tool_version = GPUACCEPT_VERSION;
  info.git_revision = GPUACCEPT_GIT_REVISION;
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
  info.versions["gpuaccept"] = GPUACCEPT_VERSION;
  info.versions["hdf5"] = hdf5_library_version();
  info.versions["simulator"] = "sim/ alpha-beta model (docs/simulation.md)";
  info.ranks.resize(static_cast<std::size_t>(ranks));
  for (int node = 0, r = 0; node < s.nodes; ++node) {
    const std::string host = simulated_host(node);
    for (int g = 0; g < s.gpus_per_node; ++g, ++r) {
      RankInfo& ri = info.ranks[static_cast<std::size_t>(r)];
      ri.rank = r;
      ri.host = host;
      ri.local_rank = g;
      ri.device = s.gpu.name;
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
    if (step.benchmark == "gemm") {
      simulate_gemm(r, def, s, fmap, rng, o.gpu_spread, calibration);
    } else if (step.benchmark == "allreduce") {
      simulate_allreduce(r, def, s, topology, fmap);
    } else {
      r.status = Status::skipped;
      r.reason = fmt::format("{} is not modelled by the simulator yet (docs/simulation.md)", step.benchmark);
    }
    clock += std::max(0.0, step.estimate_seconds);
    r.end_time = clock;
    writer.write_step(r);
  }
  writer.finish(wall_seconds());
  return out;
}

}  // namespace gpuaccept::harness
