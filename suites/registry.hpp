// The benchmark registry. A benchmark is one file in suites/ that ends with
//   GPUACCEPT_REGISTER_BENCHMARK(make_my_benchmark);
// where make_my_benchmark() returns its BenchmarkDef: name, parameter schema, metrics and
// the phases below. suites/ is an OBJECT library, so no registration is dropped by the linker.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collectives/group.hpp"
#include "kernels/backend.hpp"
#include "kernels/timing.hpp"
#include "results/contract.hpp"
#include "results/step_result.hpp"
#include "results/system.hpp"

namespace gpuaccept::suites {

enum class ParamType { integer, size, real, text, boolean };
std::string_view to_string(ParamType t);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::integer;
  ParamValue default_value;
  std::string help;
  std::optional<double> min;          // inclusive
  std::optional<double> max;          // inclusive
  std::vector<std::string> choices;   // for text parameters: the accepted values
  // Named sets of choices: a campaign value naming a set stands for all its members, in order
  // (gemm `shape: square` is square-1024 ... square-16384, one step each).
  std::map<std::string, std::vector<std::string>> sets = {};  // "= {}": aggregate initialisers may leave it out
};

struct MetricSpec {
  std::string name;
  std::string unit;
  Better better = Better::higher;
  std::string help;
};

// Where and how one rank runs a step.
struct RunContext {
  const Params& params;
  kernels::Backend backend;
  const collectives::Group& group;  // the ranks of this step (the control plane)
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  int device = 0;                   // CUDA ordinal (cuda backend)
  int cpu_threads = 1;              // threads this rank may use (cpu backend)
  kernels::TimingPolicy timing;     // from the step's warmup/iterations parameters
  std::uint64_t seed = 1;
  // The campaign's system description, or nullptr when it names none: figures that need it
  // (ratio to peak, MFU) are then left out, never guessed.
  const SystemDescription* system = nullptr;
};

// What one rank reports. Metrics must be the benchmark's declared rank metrics (a missing
// one is stored as NaN). Points, samples, log and output are taken from rank 0 only: collective
// benchmarks fill them identically on every rank.
struct RankOutcome {
  Status status = Status::ok;
  std::string message;                    // why, when not ok: the harness adds rank and host
  std::map<std::string, double> metrics;
  std::vector<double> iteration_seconds;  // this rank's timed iterations, gathered per rank
  Table points;
  std::vector<Samples> samples;
  std::string log;                        // printed under the progress line (e.g. nccl-tests table)
  std::string output;                     // stored with the step (StepResult::output); keep it bounded
};

// The global defaults of the warmup and iterations parameters (BenchmarkDef may differ).
inline constexpr std::int64_t kDefaultWarmup = 2;
inline constexpr std::int64_t kDefaultIterations = 10;

struct BenchmarkDef {
  std::string name;
  std::string summary;
  std::vector<ParamSpec> params;
  // What a parameter's value counts, by parameter name, as `gpuaccept list` prints it after the
  // default ("s", "elements"); size parameters are bytes without saying so.
  std::map<std::string, std::string, std::less<>> param_units;
  std::vector<MetricSpec> rank_metrics;
  std::vector<MetricSpec> point_metrics;  // columns of the points table (sweeps)
  std::vector<std::string> point_keys;    // point columns a contract may select on, e.g. "bytes"
  // The figure shown on the progress line: a rank metric (min and median over ranks) or a
  // point metric (at the largest point of the sweep).
  std::string headline;
  // Parameter values for a tiny run (seconds at most): the registry's smoke test runs every
  // benchmark with them.
  Params smoke;
  // Can it run here? "" when yes, otherwise the reason it is not applicable (step skipped).
  std::function<std::string(const Params&, kernels::Backend)> applicable;
  // Checks across parameters (e.g. min_bytes <= max_bytes): "" or what is wrong.
  std::function<std::string(const Params&)> check;
  // Rough seconds for one step, for `plan`.
  std::function<double(const Params&, kernels::Backend, int ranks)> estimate_seconds;
  // Defaults of the warmup and iterations parameters that the registry appends to every
  // benchmark: the global ones unless a benchmark's own differ (ior: 0 and 1, as IOR's -i 1).
  // A campaign's `defaults:` and a step's own values still win.
  std::int64_t default_warmup = kDefaultWarmup;
  std::int64_t default_iterations = kDefaultIterations;
  // Every rank of the step calls this; it sets up, runs, verifies and tears down.
  std::function<RankOutcome(const RunContext&)> run;
};

// Parameters every benchmark has, appended by the registry.
inline constexpr const char* kWarmupParam = "warmup";
inline constexpr const char* kIterationsParam = "iterations";
inline constexpr const char* kTimeoutParam = "timeout";
inline constexpr const char* kSeedParam = "seed";

class Registry {
 public:
  static Registry& instance();
  void add(BenchmarkDef def);
  const BenchmarkDef* find(std::string_view name) const;
  const std::vector<BenchmarkDef>& all() const { return benchmarks_; }
  Catalog catalog() const;
  // Every parameter of a benchmark at its default value; {} for an unknown benchmark.
  Params defaults(std::string_view benchmark) const;

 private:
  std::vector<BenchmarkDef> benchmarks_;
};

struct Registration {
  explicit Registration(BenchmarkDef (*make)());
};

// Typed access to bound parameters (the harness has validated them against the schema).
std::int64_t param_int(const Params& p, std::string_view name);
double param_real(const Params& p, std::string_view name);
const std::string& param_text(const Params& p, std::string_view name);
bool param_bool(const Params& p, std::string_view name);

}  // namespace gpuaccept::suites

#define GPUACCEPT_CONCAT_INNER(a, b) a##b
#define GPUACCEPT_CONCAT(a, b) GPUACCEPT_CONCAT_INNER(a, b)
#define GPUACCEPT_REGISTER_BENCHMARK(make)                                         \
  static const ::gpuaccept::suites::Registration GPUACCEPT_CONCAT(gpuaccept_registration_, \
                                                                  __LINE__){make}
