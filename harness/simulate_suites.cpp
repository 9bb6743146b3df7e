#include "harness/simulate_suites.hpp"

#include "harness/simulate_common.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/burnin.hpp"
#include "kernels/hostcopy.hpp"
#include "kernels/p2p.hpp"
#include "kernels/stream.hpp"
#include "kernels/telemetry.hpp"
#include "results/stats.hpp"
#include "suites/external_figures.hpp"
#include "suites/p2p_tables.hpp"
#include "suites/train_metrics.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::harness {

namespace {

constexpr double kNaN = kSimulatedNaN;

// ---- model constants (docs/simulation.md, "Per-GPU and per-node steps", gives each source) ----
// STREAM-class kernels reach about 90 % of the HBM data-sheet bandwidth on NVIDIA data-centre
// GPUs (ECC, refresh, read/write turnarounds take the rest).
constexpr double kStreamEfficiency = 0.90;
constexpr double kStreamGpuSpread = 0.005;      // GPU to GPU (memory bandwidth varies less than clocks)
constexpr double kStreamIterationSpread = 0.003;
// Host link (PCIe): pinned copies at 83 % of the line rate each way (52.8 GB/s device-to-host on
// H100's Gen5 x16 in NVIDIA/nvbandwidth#24); both directions at once 75 % each way; pageable
// copies, staged by the driver through its pinned buffers with a CPU memcpy, at 40 % of pinned.
constexpr double kPinnedEfficiency = 0.83;
constexpr double kBidirEfficiency = 0.75;
constexpr double kPageableShare = 0.40;
constexpr double kHostcopyGpuSpread = 0.01;
// NVLink GPU to GPU: 380 GB/s one way, 749 GB/s both ways of 450 GB/s per direction on HGX H100
// (NVIDIA/nccl#1264): 0.84 and 0.83. A pointer chase over NVLink: about 1 us per load (assumed).
constexpr double kP2pEfficiency = 0.84;
constexpr double kP2pBidirEfficiency = 0.83;
constexpr double kP2pLatencyUs = 1.0;
constexpr double kP2pLinkSpread = 0.005;
// GEMM at 75 % of peak, as simulate_gemm; burn-in intervals vary by 0.5 %.
constexpr double kGemmEfficiency = 0.75;
constexpr double kIntervalSpread = 0.005;
// A throttling node heats up: its clocks fall from full speed towards factor x with this time
// constant (heat sinks and cold plates settle in tens of seconds).
constexpr double kThrottleTauSeconds = 30.0;
constexpr double kHealthyTemperatureC = 70.0, kThrottledTemperatureC = 88.0;
constexpr double kBurninPowerShare = 0.97;  // a GEMM burn-in runs at its power cap
// At most this many values per stored burn-in series (ranks x points): beyond it intervals are
// merged further than max_series_points asks (a full machine's 600-point series would be GBs).
constexpr std::size_t kMaxSeriesValues = std::size_t{1} << 22;
// Data-parallel training: the share of peak the model's own FLOPs reach on a GPU (the step's
// compute, not counting communication), the backward pass's share of it.
constexpr double kTrainComputeEfficiency = 0.40;
constexpr double kBackwardShare = 2.0 / 3.0;
constexpr double kTrainStepSpread = 0.005;

double median_of(std::vector<double> v) { return v.empty() ? kNaN : stats::median(v); }

// The faults as the steps here need them: few, so kept sparse.
struct Faults {
  std::map<long long, double> slow_gpu;   // global GPU -> rate
  std::map<int, double> throttling;       // node -> final clock share
  std::vector<int> dead;  // ascending
  std::map<int, double> nic;              // node -> NIC rate
  std::vector<std::pair<std::pair<int, int>, double>> links;
  explicit Faults(const std::vector<Fault>& faults, int gpus_per_node) {
    for (const auto& f : faults) switch (f.kind) {
        case FaultKind::slow_gpu: {
          auto [it, fresh] = slow_gpu.emplace(static_cast<long long>(f.node) * gpus_per_node + f.gpu, f.factor);
          if (!fresh) it->second *= f.factor;
          break;
        }
        case FaultKind::throttling_node: {
          auto [it, fresh] = throttling.emplace(f.node, f.factor);
          if (!fresh) it->second *= f.factor;
          break;
        }
        case FaultKind::dead_node: dead.push_back(f.node); break;
        case FaultKind::degraded_link:
          if (f.peer < 0) {
            auto [it, fresh] = nic.emplace(f.node, f.factor);
            if (!fresh) it->second *= f.factor;
          } else {
            links.push_back({std::minmax(f.node, f.peer), f.factor});
          }
          break;
        default: break;  // storage faults (and kinds added later) do not reach these steps
      }
    std::sort(dead.begin(), dead.end());
    dead.erase(std::unique(dead.begin(), dead.end()), dead.end());
  }
  bool is_dead(int node) const { return std::binary_search(dead.begin(), dead.end(), node); }
  double gpu(long long g) const {
    const auto it = slow_gpu.find(g);
    return it == slow_gpu.end() ? 1.0 : it->second;
  }
  double throttle(int node) const {
    const auto it = throttling.find(node);
    return it == throttling.end() ? 1.0 : it->second;
  }
};

std::vector<double>& metric(StepResult& r, const std::string& name) { return r.per_rank.find(name)->values; }

// The per-rank iteration times the real run gathers (`iterations` columns, NaN where a rank timed
// fewer), filled by `time(rank, iteration)`.
template <class F>
Samples iteration_samples(std::size_t ranks, std::size_t iterations, F&& time) {
  Samples s{"iteration_time", "s", "rank", "iteration", ranks, iterations, {}};
  s.values.resize(ranks * iterations);
  for (std::size_t r = 0; r < ranks; ++r)
    for (std::size_t i = 0; i < iterations; ++i) s.values[r * iterations + i] = time(r, i);
  return s;
}

std::size_t iterations_of(const Params& p) {
  return static_cast<std::size_t>(std::max(0.0, param_number(p, suites::kIterationsParam)));
}
double passes_of(const Params& p) {
  return param_number(p, suites::kWarmupParam) + param_number(p, suites::kIterationsParam);
}

void skip(StepResult& r, std::string why) {
  r.status = Status::skipped;
  r.reason = std::move(why);
}

// ---- stream ---------------------------------------------------------------------------------

double simulate_stream(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f,
                       std::mt19937_64& rng) {
  const SystemDescription& s = m.system;
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  const std::int64_t elements = static_cast<std::int64_t>(param_number(r.params, "bytes")) / 8;
  const std::size_t iterations = iterations_of(r.params);
  per_rank_columns(r, def, n);
  // Per kernel: the best-iteration rate of a healthy GPU and the GPU-to-GPU spread.
  std::array<Calibration, 4> rate;
  for (std::size_t k = 0; k < 4; ++k) {
    const auto it = m.calibration.stream.find(fmt::format("{}_gbps", kernels::kStreamKernelNames[k]));
    rate[k] = it != m.calibration.stream.end() ? it->second
                                               : Calibration{s.gpu.memory_bandwidth_gbs * kStreamEfficiency, kStreamGpuSpread};
  }
  std::array<std::vector<double>*, 4> best{}, med{};
  std::array<double, 4> bytes{};
  for (std::size_t k = 0; k < 4; ++k) {
    best[k] = &metric(r, fmt::format("{}_gbps", kernels::kStreamKernelNames[k]));
    med[k] = &metric(r, fmt::format("{}_gbps_median", kernels::kStreamKernelNames[k]));
    bytes[k] = kernels::stream_bytes(static_cast<kernels::StreamKernel>(k), elements);
  }
  metric(r, "wrong").assign(n, 0.0);
  std::normal_distribution<double> gpu_noise(0.0, 1.0);
  std::normal_distribution<double> iteration_noise(0.0, kStreamIterationSpread);
  Samples iteration_time{"iteration_time", "s", "rank", "iteration", n, iterations, {}};
  iteration_time.values.resize(n * iterations);
  Samples kernel_time{"kernel_time", "s", "kernel", "iteration", 4, iterations, {}};
  std::vector<double> t(iterations);
  double slowest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // A slow GPU is slow at everything it does alone (a board in hardware slowdown runs its memory
    // slower too); a throttling node's power/thermal limit cuts SM clocks, which a memory-bound
    // kernel barely feels: it is not applied here (docs/simulation.md).
    const double gpu = std::max(0.05, 1 + gpu_noise(rng) * rate[0].cv) * f.gpu(static_cast<long long>(i));
    double pass = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const double gbs = rate[k].median * gpu;
      for (auto& x : t) x = bytes[k] / (gbs * 1e9 * (1 - std::min(0.5, std::fabs(iteration_noise(rng)))));
      if (iterations == 0) continue;
      (*best[k])[i] = bytes[k] / stats::min(t) / 1e9;
      (*med[k])[i] = bytes[k] / median_of(t) / 1e9;
      pass += (*med[k])[i] > 0 ? bytes[k] / ((*med[k])[i] * 1e9) : 0;
      if (k == 3) std::copy(t.begin(), t.end(), iteration_time.values.begin() + static_cast<std::ptrdiff_t>(i * iterations));
      if (i == 0) kernel_time.values.insert(kernel_time.values.end(), t.begin(), t.end());
    }
    slowest = std::max(slowest, pass);
  }
  if (iterations > 0) r.samples.push_back(std::move(iteration_time));
  r.samples.push_back(std::move(kernel_time));
  mark_dead_nodes(r, s.gpus_per_node, f.dead);
  return 0.05 + slowest * passes_of(r.params);
}

// ---- hostcopy -------------------------------------------------------------------------------

std::string hostcopy_metric(kernels::CopyDirection d, kernels::HostMemory mem) {
  return fmt::format("{}_{}_gbps", kernels::kCopyDirectionNames[static_cast<std::size_t>(d)],
                     kernels::kHostMemoryNames[static_cast<std::size_t>(mem)]);
}

double simulate_hostcopy(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f,
                         std::mt19937_64& rng) {
  const SystemDescription& s = m.system;
  const std::string memory = param_text(r.params, "memory");
  struct Measurement {
    kernels::CopyDirection direction;
    kernels::HostMemory memory;
    Calibration rate;  // GB/s as the benchmark reports it (bidir: both directions together)
  };
  std::vector<Measurement> plan;  // in the benchmark's order: pinned (h2d, d2h, bidir), then pageable
  std::vector<std::string> missing;
  for (const auto mem : {kernels::HostMemory::pinned, kernels::HostMemory::pageable}) {
    if ((mem == kernels::HostMemory::pinned && memory == "pageable") ||
        (mem == kernels::HostMemory::pageable && memory == "pinned"))
      continue;
    for (const auto d : {kernels::CopyDirection::h2d, kernels::CopyDirection::d2h, kernels::CopyDirection::bidirectional}) {
      const std::string name = hostcopy_metric(d, mem);
      Calibration c;
      if (const auto it = m.calibration.hostcopy.find(name); it != m.calibration.hostcopy.end()) {
        c = it->second;
      } else if (s.gpu.host_link_gbs > 0) {
        const double pinned = d == kernels::CopyDirection::bidirectional ? 2 * s.gpu.host_link_gbs * kBidirEfficiency
                                                                         : s.gpu.host_link_gbs * kPinnedEfficiency;
        c = {mem == kernels::HostMemory::pinned ? pinned : pinned * kPageableShare, kHostcopyGpuSpread};
      } else {
        missing.push_back(name);
      }
      plan.push_back({d, mem, c});
    }
  }
  if (!missing.empty()) {
    skip(r, fmt::format("the system description gives no gpu.host_link_gbs (docs/systems.md) and --calibrate no "
                        "{}: host<->device copies cannot be modelled",
                        missing.front()));
    return 0;
  }
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  const std::size_t iterations = iterations_of(r.params);
  const double bytes = param_number(r.params, "bytes");
  per_rank_columns(r, def, n);
  metric(r, "wrong").assign(n, 0.0);
  // Two-socket hosts, the first half of the GPUs on socket 0; numa: gpu puts the pinned buffer
  // there (with numa: none the launcher's binding decides: assumed right).
  auto& gpu_numa = metric(r, "gpu_numa_node");
  auto& host_numa = metric(r, "host_numa_node");
  for (std::size_t i = 0; i < n; ++i)
    gpu_numa[i] = host_numa[i] = s.gpus_per_node > 1 ? static_cast<double>(
                                                            (i % static_cast<std::size_t>(s.gpus_per_node)) * 2 /
                                                            static_cast<std::size_t>(s.gpus_per_node))
                                                      : 0.0;
  std::normal_distribution<double> unit(0.0, 1.0);
  Samples first_times{"iteration_time", "s", "rank", "iteration", n, iterations, {}};
  first_times.values.resize(n * iterations);
  Samples copy_time{"copy_time", "s", "measurement", "iteration", 0, 0, {}};
  std::vector<double> t(iterations);
  std::vector<std::vector<double>*> columns;
  for (const auto& me : plan) columns.push_back(&metric(r, hostcopy_metric(me.direction, me.memory)));
  double slowest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double pass = 0;
    for (std::size_t k = 0; k < plan.size(); ++k) {
      const Measurement& me = plan[k];
      const double moved = me.direction == kernels::CopyDirection::bidirectional ? 2 * bytes : bytes;
      const double gbs = me.rate.median * std::max(0.05, 1 + unit(rng) * me.rate.cv);
      for (auto& x : t) x = moved / (gbs * 1e9) * std::max(0.5, 1 + unit(rng) * 0.005);
      const double median = median_of(t);
      (*columns[k])[i] = iterations > 0 ? moved / median / 1e9 : kNaN;
      if (iterations > 0) pass += median;
      if (k == 0) std::copy(t.begin(), t.end(), first_times.values.begin() + static_cast<std::ptrdiff_t>(i * iterations));
      if (i == 0) {
        copy_time.rows += 1;
        copy_time.cols = iterations;
        copy_time.values.insert(copy_time.values.end(), t.begin(), t.end());
      }
    }
    slowest = std::max(slowest, pass);
  }
  if (iterations > 0) r.samples.push_back(std::move(first_times));
  if (copy_time.rows > 0) r.samples.push_back(std::move(copy_time));
  mark_dead_nodes(r, s.gpus_per_node, f.dead);
  return 0.5 + slowest * passes_of(r.params);
}

// ---- p2p --------------------------------------------------------------------------------------

double simulate_p2p(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f,
                    std::mt19937_64& rng) {
  const SystemDescription& s = m.system;
  const int g = s.gpus_per_node;
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  const std::size_t iterations = iterations_of(r.params);
  per_rank_columns(r, def, n);
  if (g < 2) {
    for (auto& v : metric(r, "status")) v = static_cast<double>(Status::skipped);
    for (auto& msg : r.rank_messages)
      msg = "local rank 0 of this node sees 1 GPU: there is no GPU-to-GPU link to measure";
    skip(r, "the system has one GPU per node: there is no GPU-to-GPU link to measure");
    return 0;
  }
  // Per test: a healthy link's figure and the link-to-link spread.
  std::array<Calibration, kernels::kP2pTests> test{};
  for (std::size_t k = 0; k < kernels::kP2pTests; ++k) {
    const auto t = static_cast<kernels::P2pTest>(k);
    const std::string name = fmt::format("{}_{}", kernels::kP2pTestNames[k], t == kernels::P2pTest::latency ? "us" : "gbps");
    if (const auto it = m.calibration.p2p.find(name); it != m.calibration.p2p.end()) {
      test[k] = it->second;
      continue;
    }
    const bool bidir = t == kernels::P2pTest::ce_bidir || t == kernels::P2pTest::sm_bidir;
    test[k] = {t == kernels::P2pTest::latency ? kP2pLatencyUs
                                              : s.gpu.nvlink_bandwidth_gbs * (bidir ? kP2pBidirEfficiency : kP2pEfficiency),
               kP2pLinkSpread};
  }
  // GPUs of one node in different NVLink domains (a domain smaller than the node) reach each
  // other over the host link, when the description gives one.
  const int domain = std::max(1, std::min(s.nvlink_domain, g));
  const double slow_factor = param_number(r.params, "slow_factor");
  std::normal_distribution<double> unit(0.0, 1.0);
  kernels::P2pMatrix matrix(g);
  Table& points = r.points;
  std::vector<Samples> matrices = suites::p2p_matrix_samples(static_cast<std::size_t>(s.nodes), static_cast<std::size_t>(g));
  for (auto& c : points.columns) c.values.reserve(static_cast<std::size_t>(s.nodes) * g * (g - 1));
  std::vector<int> mine;
  std::array<std::vector<double>*, kernels::kP2pTests> worst{};
  for (std::size_t k = 0; k < kernels::kP2pTests; ++k)
    worst[k] = &metric(r, static_cast<kernels::P2pTest>(k) == kernels::P2pTest::latency
                              ? std::string("latency_max_us")
                              : fmt::format("{}_min_gbps", kernels::kP2pTestNames[k]));
  auto& links = metric(r, "links");
  auto& slow_links = metric(r, "slow_links");
  auto& wrong = metric(r, "wrong");
  auto& gpus = metric(r, "gpus");
  for (int node = 0; node < s.nodes; ++node) {
    const bool dead = f.is_dead(node);
    for (int a = 0; a < g; ++a)
      for (int b = 0; b < g; ++b) {
        if (a == b) continue;
        const std::size_t at = matrix.at(a, b);
        const bool nvlink = a / domain == b / domain;
        const bool reachable = !dead && (nvlink || s.gpu.host_link_gbs > 0);
        matrix.peer_access[at] = reachable ? 1 : 0;
        for (std::size_t k = 0; k < kernels::kP2pTests; ++k) {
          const bool latency = static_cast<kernels::P2pTest>(k) == kernels::P2pTest::latency;
          double v = test[k].median * std::max(0.5, 1 + unit(rng) * test[k].cv);
          if (!nvlink) v = latency ? v * 2 : s.gpu.host_link_gbs * kPinnedEfficiency * v / test[k].median;
          matrix.values[k][at] = reachable ? v : kNaN;
        }
      }
    const auto slow = kernels::find_slow_links(matrix, slow_factor);
    suites::add_p2p_points(points, static_cast<std::size_t>(node), node * g, matrix, slow);
    suites::fill_p2p_matrix_samples(matrices, static_cast<std::size_t>(node), matrix);
    for (int local = 0; local < g; ++local) {
      const std::size_t row = static_cast<std::size_t>(node) * static_cast<std::size_t>(g) + static_cast<std::size_t>(local);
      mine = kernels::p2p_rank_gpus(local, g, g);
      const auto summary = kernels::summarize_p2p(matrix, mine, slow);
      for (std::size_t k = 0; k < kernels::kP2pTests; ++k) (*worst[k])[row] = summary.worst[k];
      links[row] = summary.links;
      slow_links[row] = summary.slow_links;
      wrong[row] = summary.wrong;
      gpus[row] = g;
    }
  }
  // The benchmark reports no per-iteration times: the real run stores them as NaN.
  if (iterations > 0)
    r.samples.push_back(iteration_samples(n, iterations, [](std::size_t, std::size_t) { return kNaN; }));
  for (auto& x : matrices) r.samples.push_back(std::move(x));
  mark_dead_nodes(r, s.gpus_per_node, f.dead);
  // Local rank 0 of every node at once: 6 copies per link and the chases.
  const double bytes = param_number(r.params, "bytes");
  return 1.0 + g * (g - 1) *
                   (6 * passes_of(r.params) * bytes / (test[0].median * 1e9) +
                    4 * param_number(r.params, "latency_hops") * test[6].median * 1e-6);
}

// ---- burnin -----------------------------------------------------------------------------------

// Mean clock share over [a, b] of a GPU whose clock falls from 1 towards `floor` with time
// constant tau: 1 - (1 - floor)(1 - e^(-t/tau)).
double mean_clock(double floor, double a, double b) {
  if (floor >= 1) return 1;
  if (b <= a) return 1 - (1 - floor) * (1 - std::exp(-a / kThrottleTauSeconds));
  const double tau = kThrottleTauSeconds;
  const double integral = (b - a) - tau * (std::exp(-a / tau) - std::exp(-b / tau));  // of 1 - e^(-t/tau)
  return 1 - (1 - floor) * integral / (b - a);
}

kernels::DType burnin_dtype(const Params& p) {
  const std::string text = param_text(p, "dtype");
  return text == "auto" || text.empty() ? kernels::DType::bf16 : kernels::dtype_from_string(text).value_or(kernels::DType::bf16);
}

double simulate_burnin(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f,
                       std::mt19937_64& rng) {
  const SystemDescription& s = m.system;
  const std::string dtype(kernels::to_string(burnin_dtype(r.params)));
  Calibration rate;
  if (const auto it = m.calibration.gemm.find(dtype); it != m.calibration.gemm.end()) {
    rate = it->second;
  } else if (const auto peak = s.gpu.peak(dtype)) {
    rate = {*peak * kGemmEfficiency, m.gpu_spread};
  } else {
    skip(r, fmt::format("the system description gives no {} peak for {}", dtype, s.gpu.name));
    return 0;
  }
  const auto size = [&](const char* name) {
    const double v = param_number(r.params, name);
    return v > 0 ? v : 8192.0;
  };
  const double flops = 2 * size("m") * size("n") * size("k");
  const double duration = param_number(r.params, "duration");
  const double interval = param_number(r.params, "interval");
  const auto intervals = static_cast<std::size_t>(std::max(1.0, std::ceil(duration / interval - 1e-9)));
  const double window = kernels::burnin_window_seconds(duration);
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  std::size_t bucket =
      kernels::burnin_series_bucket(intervals, static_cast<std::size_t>(param_number(r.params, "max_series_points")));
  if (n * ((intervals + bucket - 1) / bucket) > kMaxSeriesValues)
    bucket = (intervals + std::max<std::size_t>(1, kMaxSeriesValues / n) - 1) / std::max<std::size_t>(1, kMaxSeriesValues / n);
  const std::size_t points = (intervals + bucket - 1) / bucket;
  const bool telemetry = s.gpu.sm_clock_mhz > 0;
  const std::size_t iterations = iterations_of(r.params);

  per_rank_columns(r, def, n);
  std::vector<Samples> series;
  const char* names[] = {"interval_end", "tflops", "power", "sm_clock", "mem_clock", "temperature", "clock_event_reasons"};
  const char* units[] = {"s", "TFLOP/s", "W", "MHz", "MHz", "C", ""};
  for (std::size_t c = 0; c < (telemetry ? 7u : 2u); ++c)
    series.push_back(Samples{names[c], units[c], "rank", "interval", n, points, std::vector<double>(n * points, kNaN)});
  Samples calibration{"iteration_time", "s", "rank", "iteration", n, iterations, std::vector<double>(n * iterations)};

  std::normal_distribution<double> unit(0.0, 1.0);
  const double check_samples = param_number(r.params, "check_samples");
  const double healthy_reasons = static_cast<double>(kernels::nvml::kReasonSwPowerCap);
  const auto throttled_mask = kernels::nvml::kReasonSwPowerCap | kernels::nvml::kReasonSwThermalSlowdown;
  const double min_noise = 1 - kIntervalSpread * std::sqrt(2 * std::log(static_cast<double>(std::max<std::size_t>(intervals, 2))));
  std::map<std::string, std::vector<double>*> col;
  for (auto& c : r.per_rank.columns) col[c.name] = &c.values;
  auto& tflops = *col.at("tflops");
  auto& first = *col.at("tflops_first");
  auto& last = *col.at("tflops_last");
  auto& m_checked = *col.at("checked");
  auto& m_clock_event_reasons = *col.at("clock_event_reasons");
  auto& m_ecc_corrected = *col.at("ecc_corrected");
  auto& m_ecc_uncorrected = *col.at("ecc_uncorrected");
  auto& m_error_ratio = *col.at("error_ratio");
  auto& m_gemms = *col.at("gemms");
  auto& m_intervals = *col.at("intervals");
  auto& m_last_over_first = *col.at("last_over_first");
  auto& m_mem_clock_mean = *col.at("mem_clock_mean");
  auto& m_power_max = *col.at("power_max");
  auto& m_power_mean = *col.at("power_mean");
  auto& m_remap_pending = *col.at("remap_pending");
  auto& m_remapped_rows = *col.at("remapped_rows");
  auto& m_sdc_mismatch = *col.at("sdc_mismatch");
  auto& m_slowdown_fraction = *col.at("slowdown_fraction");
  auto& m_sm_clock_mean = *col.at("sm_clock_mean");
  auto& m_sm_clock_min = *col.at("sm_clock_min");
  auto& m_temperature_max = *col.at("temperature_max");
  auto& m_tflops_min_interval = *col.at("tflops_min_interval");
  auto& m_window = *col.at("window");
  auto& m_wrong = *col.at("wrong");
  for (std::size_t i = 0; i < n; ++i) {
    const int node = static_cast<int>(i / static_cast<std::size_t>(s.gpus_per_node));
    // A slow GPU is slow from the start at its normal clock; a throttling node starts at full
    // speed and slows down as it heats (its clocks and power fall, thermal slowdown is reported).
    const double base = rate.median * std::max(0.05, 1 + unit(rng) * rate.cv) * f.gpu(static_cast<long long>(i));
    const double floor = f.throttle(node);
    auto at = [&](double a, double b) { return base * mean_clock(floor, a, b); };
    auto noisy = [&](double value, double count) {
      return value * (1 + unit(rng) * kIntervalSpread / std::sqrt(std::max(1.0, count)));
    };
    tflops[i] = noisy(at(0, duration), static_cast<double>(intervals));
    first[i] = noisy(at(0, window), window / interval);
    last[i] = noisy(at(duration - window, duration), window / interval);
    m_last_over_first[i] = last[i] / first[i];
    m_tflops_min_interval[i] = at(duration - interval, duration) * min_noise;
    m_window[i] = window;
    m_intervals[i] = static_cast<double>(intervals);
    m_gemms[i] = std::floor(tflops[i] * 1e12 * duration / flops);
    m_checked[i] = check_samples;
    m_wrong[i] = 0;
    m_error_ratio[i] = 0.01;
    m_sdc_mismatch[i] = 0;
    for (std::size_t it = 0; it < iterations; ++it)
      calibration.values[i * iterations + it] = flops / (base * 1e12) * std::max(0.5, 1 + unit(rng) * kIntervalSpread);
    for (std::size_t p = 0; p < points; ++p) {
      const double a = static_cast<double>(p * bucket) * interval;
      const double b = std::min(duration, static_cast<double>(std::min(intervals, (p + 1) * bucket)) * interval);
      series[0].values[i * points + p] = b;
      series[1].values[i * points + p] = noisy(at(a, b), static_cast<double>(bucket));
      if (!telemetry) continue;
      const double clock = mean_clock(floor, a, b);
      series[2].values[i * points + p] = s.gpu.power_w * kBurninPowerShare * clock;
      series[3].values[i * points + p] = s.gpu.sm_clock_mhz * clock;
      series[4].values[i * points + p] = s.gpu.memory_clock_mhz > 0 ? s.gpu.memory_clock_mhz : kNaN;
      series[5].values[i * points + p] =
          kHealthyTemperatureC + (floor < 1 ? (kThrottledTemperatureC - kHealthyTemperatureC) * (1 - std::exp(-b / kThrottleTauSeconds)) : 0);
      series[6].values[i * points + p] = floor < 1 && clock < 0.99 + 0.01 * floor ? static_cast<double>(throttled_mask) : healthy_reasons;
    }
    if (telemetry) {
      const double clock_end = mean_clock(floor, duration, duration);
      m_power_mean[i] = s.gpu.power_w * kBurninPowerShare * mean_clock(floor, 0, duration);
      m_power_max[i] = s.gpu.power_w * kBurninPowerShare;
      m_temperature_max[i] =
          kHealthyTemperatureC + (floor < 1 ? (kThrottledTemperatureC - kHealthyTemperatureC) * (1 - std::exp(-duration / kThrottleTauSeconds)) : 0);
      m_sm_clock_mean[i] = s.gpu.sm_clock_mhz * mean_clock(floor, 0, duration);
      m_sm_clock_min[i] = s.gpu.sm_clock_mhz * clock_end;
      m_mem_clock_mean[i] = s.gpu.memory_clock_mhz > 0 ? s.gpu.memory_clock_mhz : kNaN;
      m_ecc_corrected[i] = 0;
      m_ecc_uncorrected[i] = 0;
      m_remapped_rows[i] = 0;
      m_remap_pending[i] = 0;
      // retired_pages: NVML reports it before Ampere only: NaN, as on the real GPUs described.
      if (floor < 1) {
        // Readings (one before the run, one per interval end) once the clock fell by more than 1 %
        // of its fall: t > -tau ln(1 - 0.01).
        const double onset = -kThrottleTauSeconds * std::log(0.99);
        const double slowed = std::max(0.0, std::floor((duration - onset) / interval));
        m_clock_event_reasons[i] = static_cast<double>(throttled_mask);
        m_slowdown_fraction[i] = std::min(slowed, static_cast<double>(intervals)) / static_cast<double>(intervals + 1);
        r.rank_messages[i] = fmt::format("clocks slowed down in {:.0f}% of the readings; reasons seen: {}",
                                         100 * m_slowdown_fraction[i],
                                         kernels::describe_clock_event_reasons(throttled_mask));
      } else {
        m_clock_event_reasons[i] = healthy_reasons;
        m_slowdown_fraction[i] = 0;
      }
    }
  }
  if (iterations > 0) r.samples.push_back(std::move(calibration));
  for (auto& x : series) r.samples.push_back(std::move(x));
  mark_dead_nodes(r, s.gpus_per_node, f.dead);
  return duration + 5.0;
}

// ---- train ------------------------------------------------------------------------------------

// The gradient all-reduces of one step, as train/trainer.cpp forms them: the backward pass
// finishes the final layer norm, then each layer from the last, then the embeddings; a bucket is
// sent once at least bucket_bytes are pending, and at the end. Returns each bucket's floats and
// the share of the backward pass done when it is ready (by parameter count).
std::vector<std::pair<double, double>> gradient_buckets(const train::GptShape& shape, double bucket_bytes) {
  const train::ParamLayout layout = train::param_layout(shape);
  const double total = static_cast<double>(layout.total);
  const std::size_t bucket = std::max<std::size_t>(1, static_cast<std::size_t>(bucket_bytes) / sizeof(float));
  std::vector<std::size_t> ready;  // `begin` of each range, in the order the backward pass finishes them
  std::size_t lnf = layout.total;
  for (const auto& t : layout.tensors)
    if (t.name.rfind("lnf", 0) == 0) lnf = std::min(lnf, t.offset);
  ready.push_back(lnf);
  for (int l = shape.layers - 1; l >= 0; --l) ready.push_back(layout.layer_begin(l));
  ready.push_back(0);
  std::vector<std::pair<double, double>> out;
  std::size_t pending = layout.total;
  for (std::size_t begin : ready)
    if (pending - begin >= bucket || (begin == 0 && pending > 0)) {
      out.push_back({static_cast<double>(pending - begin), (total - static_cast<double>(begin)) / total});
      pending = begin;
    }
  return out;
}

double simulate_train(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f,
                      std::mt19937_64& rng) {
  const SystemDescription& s = m.system;
  const std::string dtype = suites::train_compute_dtype(kernels::Backend::cuda);
  const auto peak = s.gpu.peak(dtype);
  if (!peak) {
    skip(r, fmt::format("the system description gives no {} peak for {}: the step time cannot be modelled", dtype, s.gpu.name));
    return 0;
  }
  const train::GptShape shape = suites::train_shape(r.params);
  const double fpt = train::flops_per_token(shape);
  const double micro = param_number(r.params, "micro_batch"), accum = std::max(1.0, param_number(r.params, "grad_accum"));
  const std::size_t n = static_cast<std::size_t>(s.total_gpus());
  const double tokens_rank = micro * accum * shape.seq_len;
  // Synchronous data parallelism: every rank waits for the slowest GPU at each all-reduce.
  double slowest_gpu = 1;
  for (const auto& [gpu, rate] : f.slow_gpu) slowest_gpu = std::min(slowest_gpu, rate);
  for (const auto& [node, rate] : f.throttling) slowest_gpu = std::min(slowest_gpu, rate);
  const double rate = *peak * 1e12 * kTrainComputeEfficiency * slowest_gpu;
  const double compute = tokens_rank * fpt / rate;                    // the whole step's compute
  const double backward_start = compute - compute / accum * kBackwardShare;  // last micro-step's backward

  // The all-reduces over all ranks, fp32 gradients, from the collective model; a ring over every
  // node crosses every NIC and the links between neighbouring nodes (the slowest sets the pace).
  const sim::CollectiveModel model(s, m.topology, m.constants);
  sim::CommShape comm = model.shape(static_cast<long long>(n), s.gpus_per_node);
  double network = 1;
  for (const auto& [node, factor] : f.nic) network = std::min(network, factor);
  for (const auto& [link, factor] : f.links)
    if (link.second - link.first == 1 || (link.first == 0 && link.second == s.nodes - 1)) network = std::min(network, factor);
  if (!comm.nvlink_domain_only) comm.network_share *= network;
  double comm_total = 0, comm_end = backward_start;
  const auto buckets = gradient_buckets(shape, param_number(r.params, "bucket_bytes"));
  if (n > 1)
    for (const auto& [floats, done] : buckets) {
      const double t = model.estimate(sim::CollectiveOp::allreduce, comm, static_cast<std::int64_t>(floats * 4)).time_us * 1e-6;
      comm_total += t;
      comm_end = std::max(comm_end, backward_start + (compute - backward_start) * done) + t;  // overlapped with backward
    }
  const double step = std::max(compute, comm_end);
  const double exposed = step - compute;
  const double tokens_step = tokens_rank * static_cast<double>(n);
  const double params = static_cast<double>(train::param_layout(shape).total);
  const std::size_t iterations = iterations_of(r.params);

  per_rank_columns(r, def, n);
  std::normal_distribution<double> unit(0.0, 1.0);
  Samples times{"iteration_time", "s", "rank", "iteration", n, iterations, std::vector<double>(n * iterations)};
  std::vector<double> t(iterations);
  const double tps = tokens_step / step;
  std::string why;
  auto& t_buckets = metric(r, "buckets");
  auto& t_comm_hidden = metric(r, "comm_hidden");
  auto& t_comm_time = metric(r, "comm_time");
  auto& t_flops_per_token = metric(r, "flops_per_token");
  auto& t_gemm_share = metric(r, "gemm_share");
  auto& t_mfu = metric(r, "mfu");
  auto& t_params = metric(r, "params");
  auto& t_step_time = metric(r, "step_time");
  auto& t_step_time_p99 = metric(r, "step_time_p99");
  auto& t_tflops = metric(r, "tflops");
  auto& t_tokens_per_s = metric(r, "tokens_per_s");
  auto& t_tokens_per_s_per_device = metric(r, "tokens_per_s_per_device");
  const auto mfu = suites::train_mfu(fpt, tps / static_cast<double>(n), &s, kernels::Backend::cuda, &why);
  for (std::size_t i = 0; i < n; ++i) {
    for (auto& x : t) x = step * std::max(0.5, 1 + unit(rng) * kTrainStepSpread);
    std::copy(t.begin(), t.end(), times.values.begin() + static_cast<std::ptrdiff_t>(i * iterations));
    const auto st = iterations > 0 ? stats::summarize(t) : stats::Summary{};
    const double median = iterations > 0 ? st.median : step;
    t_step_time[i] = median;
    t_step_time_p99[i] = iterations > 0 ? st.p99 : step;
    t_tokens_per_s[i] = tokens_step / median;
    t_tokens_per_s_per_device[i] = tokens_step / median / static_cast<double>(n);
    t_flops_per_token[i] = fpt;
    t_tflops[i] = fpt * tokens_step / median / static_cast<double>(n) / 1e12;
    t_mfu[i] = mfu ? *mfu * step / median : kNaN;
    t_comm_time[i] = n > 1 ? comm_total : 0.0;
    t_comm_hidden[i] = n > 1 && comm_total > 0 ? 1 - exposed / comm_total : kNaN;
    t_gemm_share[i] = kNaN;  // not modelled: the model does not split the compute by kernel
    // loss_start, loss_end, grad_norm_start stay NaN: learning is not simulated.
    t_params[i] = params;
    t_buckets[i] = n > 1 ? static_cast<double>(buckets.size()) : 0.0;
    r.rank_messages[i] =
        "simulated: the loss (loss_start, loss_end, grad_norm_start) and gemm_share are not modelled and stored as NaN";
  }
  if (iterations > 0) r.samples.push_back(std::move(times));
  // The real run's `loss` curve is not stored: a simulated loss would be invented.
  mark_dead_nodes(r, s.gpus_per_node, f.dead);
  return passes_of(r.params) * step + 0.2;
}

// ---- external ---------------------------------------------------------------------------------

double simulate_external(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m, const Faults& f) {
  std::map<std::string, double> figures;
  try {
    figures = suites::parse_simulated_figures(param_text(r.params, "simulate"));
  } catch (const std::invalid_argument& e) {  // the campaign check refuses it first; defensively
    skip(r, fmt::format("simulate: {}", e.what()));
    return 0;
  }
  if (figures.empty()) {
    skip(r, "an external command cannot be simulated: give the figures to store in the step's `simulate` parameter, "
            "e.g. simulate: \"tokens_per_s=1.2e6 seconds=1500\" (docs/simulation.md)");
    return 0;
  }
  std::vector<std::string> undeclared;
  for (const auto& mdef : def.rank_metrics) {
    const std::string pattern = param_text(r.params, mdef.name.c_str());
    if (!pattern.empty() && !figures.count(mdef.name)) undeclared.push_back(mdef.name);
  }
  if (!undeclared.empty()) {
    skip(r, fmt::format("the step extracts {} from the command's output but `simulate` declares no figure for it",
                        fmt::join(undeclared, ", ")));
    return 0;
  }
  const std::size_t n = static_cast<std::size_t>(m.system.total_gpus());
  per_rank_columns(r, def, n);
  figures.try_emplace("exit_code", 0.0);
  for (const auto& [name, value] : figures)
    if (Column* c = r.per_rank.find(name)) c->values.assign(n, value);
  const std::size_t iterations = iterations_of(r.params);
  const double seconds = figures.count("seconds") ? figures["seconds"] : kNaN;
  if (iterations > 0)
    r.samples.push_back(iteration_samples(n, iterations, [&](std::size_t, std::size_t i) { return i == 0 ? seconds : kNaN; }));
  r.output = fmt::format("(simulated: the command was not run; figures from the step's simulate parameter: {})\n",
                         param_text(r.params, "simulate"));
  mark_dead_nodes(r, m.system.gpus_per_node, f.dead);
  return std::isfinite(seconds) ? seconds : 0;
}

}  // namespace

std::optional<double> simulate_suite_step(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& m,
                                          std::mt19937_64& rng) {
  const std::string& b = r.benchmark;
  if (b != "stream" && b != "hostcopy" && b != "p2p" && b != "burnin" && b != "train" && b != "external")
    return std::nullopt;
  const Faults f(m.faults, m.system.gpus_per_node);
  if (b == "stream") return simulate_stream(r, def, m, f, rng);
  if (b == "hostcopy") return simulate_hostcopy(r, def, m, f, rng);
  if (b == "p2p") return simulate_p2p(r, def, m, f, rng);
  if (b == "burnin") return simulate_burnin(r, def, m, f, rng);
  if (b == "train") return simulate_train(r, def, m, f, rng);
  return simulate_external(r, def, m, f);
}

}  // namespace gpuaccept::harness
