// Comparing runs: nightly regression against a baseline of earlier runs, tolerances calibrated
// from the run-to-run spread, and phase comparison (phase 1 against phase 2 of a machine).
// Documented in docs/reports.md. Reads only StepResult/RunInfo.
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "results/evaluate.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

// Which points-table columns name a row, per benchmark (the registry's point_keys). A
// benchmark not listed is keyed by the first column of its points table.
using PointKeys = std::map<std::string, std::vector<std::string>, std::less<>>;
// Per benchmark, its parameters at their default values (the registry's): a configuration is
// matched across runs by the parameters that differ from these, so that a file written before
// a parameter was added still matches one written after, where the new one is at its default.
using ParamDefaults = std::map<std::string, Params, std::less<>>;

// One figure of a run that can be found again in another run: a per-rank metric of a step
// configuration (benchmark and parameters, all repetitions), or a sweep metric at one point.
struct MetricKey {
  std::string benchmark;
  std::string params;  // format_params() of the parameters that differ from the defaults
  std::string metric;
  std::string point;   // "bytes=1048576" for sweep metrics; "" for per-rank metrics
  auto operator<=>(const MetricKey&) const = default;
  std::string text() const;  // "gemm dtype=bf16 m=8192 tflops", "allreduce ... busbw_oop @ bytes=1048576"
};

struct MetricValue {
  Params params;
  std::string unit;
  Better better = Better::none;
  bool per_rank = false;
  std::string point_key;      // the first point column ("bytes") for sweep metrics
  double point_value = 0;     // its value in this row
  // Per-rank metrics: the median over the ok ranks ("per GPU"), the median over hosts of the
  // sum of a host's ranks ("per node"), and the sum over ranks (the machine). Sweep metrics:
  // all three are the row's value. Each is the median over the configuration's repetitions.
  double value = 0;
  double per_node = 0;
  double total = 0;
  std::size_t ranks = 0;  // ranks in the step
  std::size_t nodes = 0;  // hosts among them
};

// The figures of one run, small enough to keep many runs in memory.
struct RunMetrics {
  std::string label;  // the file, as given
  RunInfo run;        // without its rank table
  std::size_t ranks = 0;
  std::size_t nodes = 0;
  std::map<std::string, std::size_t> devices;  // GPU (or CPU) model -> ranks
  std::map<MetricKey, MetricValue> metrics;
};

// Only the ok steps count; `only_metrics` (when not empty) keeps just those metric names.
RunMetrics extract_metrics(const std::string& label, const RunInfo& run, const std::vector<StepResult>& steps,
                           const PointKeys& point_keys, const std::vector<std::string>& only_metrics = {},
                           const ParamDefaults& defaults = {});

// ---- tolerances (gpuaccept calibrate writes them, compare --tolerances reads them) -------------

struct Tolerance {
  std::string benchmark;
  std::string metric;
  std::optional<double> bytes_min;  // the band of message sizes it applies to: [min, max)
  std::optional<double> bytes_max;
  double relative = 0.05;
  // What calibration saw (for the file's reader): configurations, runs and the p95 of their cv.
  std::size_t keys = 0;
  std::size_t runs = 0;
  double p95_cv = 0;
};

// Parses a tolerances file. Throws InputError with file:line:col.
std::vector<Tolerance> load_tolerances(const std::string& yaml_text, const std::string& path);
std::string tolerances_yaml(const std::vector<Tolerance>& tolerances, const std::string& header_comment);

struct CalibrateOptions {
  double factor = 2.0;   // proposed tolerance = factor x the p95 of the cv, ...
  double floor = 0.01;   // ... but at least this
  std::size_t min_runs = 3;
};

// The bands of message sizes that calibration keeps apart: latency-bound small messages are far
// noisier than bandwidth-bound large ones.
const std::vector<double>& calibration_bands();

// Proposes a relative tolerance per (benchmark, metric, size band) from the spread of each
// configuration's value over the runs. Throws InputError when fewer than min_runs runs are given.
std::vector<Tolerance> calibrate(const std::vector<RunMetrics>& runs, const CalibrateOptions& options = {});

// ---- nightly regression ----------------------------------------------------------------------

enum class Change { same, regression, improvement, changed, short_history };
std::string_view to_string(Change c);

struct CompareOptions {
  std::size_t last = 10;        // baseline: the last N runs (by start time)
  double relative = 0.05;       // default tolerance, when no tolerance file names the metric
  double mad_k = 3.0;           // and k robust deviations of the baseline
  std::size_t min_runs = 3;     // fewer baseline values: short history, never a regression
  std::vector<Tolerance> tolerances;
};

struct MetricComparison {
  MetricKey key;
  MetricValue current;
  std::vector<double> history;  // the baseline runs' values, oldest first; NaN where absent
  std::size_t runs = 0;         // baseline runs with a value
  double median = 0;            // of the baseline
  double sigma = 0;             // 1.4826 x MAD of the baseline
  double delta = 0;             // current - median
  double relative = 0;          // delta / |median|
  double threshold = 0;         // max(tolerance x |median|, k x sigma)
  double tolerance = 0;         // the relative tolerance applied
  Change change = Change::same;
};

struct RegressionReport {
  std::vector<std::string> baseline_labels;  // oldest first
  std::vector<double> baseline_times;
  std::string current_label;
  double current_time = 0;
  std::vector<MetricComparison> metrics;     // every metric present in both, in key order
  std::size_t missing_tonight = 0;           // baseline metrics the current run lacks
  std::vector<std::string> missing_examples;
  std::size_t count(Change c) const;
  int exit_code() const { return count(Change::regression) > 0 ? 1 : 0; }
};

// `baseline` in any order: it is sorted by start time and cut to the last options.last runs.
RegressionReport compare_to_baseline(std::vector<RunMetrics> baseline, const RunMetrics& current,
                                     const CompareOptions& options = {});

// The table of changes (every metric with `all`), then the trend of the flagged ones.
void print_regressions(std::ostream& out, const RegressionReport& report, bool all, const PrintOptions& options = {});

// ---- phase comparison ------------------------------------------------------------------------

struct PhaseRow {
  MetricKey key;
  MetricValue a, b;
  double delta = 0;       // b - a of the per-GPU (or sweep) value
  double relative = 0;    // delta / |a|
  double node_delta = 0;  // the same per node (per-rank metrics)
  double efficiency = 0;  // scaling efficiency: (b.total / b.ranks) / (a.total / a.ranks), or b / a
                          // for sweep metrics; inverted where lower is better; NaN where meaningless
};

struct PhaseReport {
  RunMetrics a, b;  // without their metrics
  std::vector<PhaseRow> rows;
  std::vector<MetricKey> only_a, only_b;
  bool devices_differ = false;
};

PhaseReport compare_phases(const RunMetrics& a, const RunMetrics& b);
void print_phases(std::ostream& out, const PhaseReport& report, const PrintOptions& options = {});

// "8x NVIDIA H100 80GB HBM3, 2x ..." and "16 GPUs on 2 nodes".
std::string describe_devices(const RunMetrics& m);

}  // namespace gpuaccept
