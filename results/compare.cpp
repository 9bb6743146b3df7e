// Nightly regression, calibration of tolerances, and phase comparison. The rules are
// documented in docs/reports.md; in short:
//  - a run is reduced to figures keyed by (benchmark, parameters, metric, point): the median
//    over ok ranks for per-rank metrics, the row's value for sweep metrics, each the median
//    over the configuration's repetitions;
//  - a baseline is the median and the robust deviation (1.4826 x MAD) of a figure over the
//    last N runs; tonight's figure regresses when it is worse than the median by more than
//    max(tolerance x |median|, k x robust deviation);
//  - calibration proposes tolerance = factor x p95 of the run-to-run coefficients of variation
//    of the figures of one (benchmark, metric, message-size band).
#include "results/compare.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <ostream>
#include <set>
#include <unordered_map>

#include "results/input_error.hpp"
#include "results/stats.hpp"
#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNoColumn = static_cast<std::size_t>(-1);

std::string format_key_value(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9.2e18) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{:g}", v);
}

struct Accumulator {
  MetricValue proto;
  std::vector<double> value, per_node, total;
};

double median_of(std::vector<double>& v) { return v.empty() ? kNaN : stats::median(v); }

std::string date_of(double t) {
  if (t <= 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  return fmt::format("{:+.1f}%", fraction * 100.0);
}

// Labels that show only the parameters that tell configurations apart.
class Labeller {
 public:
  void add(const MetricKey& key, const Params& params) {
    auto& names = seen_[key.benchmark];
    ++count_[key.benchmark];
    for (const auto& [name, value] : params) names[name].insert(format_value(value));
    for (const auto& [name, _] : params) present_[key.benchmark][name]++;
  }
  std::string label(const MetricKey& key, const Params& params) const {
    std::string out = key.benchmark;
    const auto& names = seen_.at(key.benchmark);
    const auto& present = present_.at(key.benchmark);
    const std::size_t total = count_.at(key.benchmark);
    for (const auto& [name, value] : params) {
      const bool varies = names.at(name).size() > 1 || present.at(name) < total;
      if (varies) out += fmt::format(" {}={}", name, format_value(value));
    }
    out += " " + key.metric;
    if (!key.point.empty()) out += " @ " + key.point;
    return out;
  }

 private:
  std::map<std::string, std::map<std::string, std::set<std::string>>> seen_;
  std::map<std::string, std::map<std::string, std::size_t>> present_;
  std::map<std::string, std::size_t> count_;
};

std::string_view paint_start(Change c) {
  switch (c) {
    case Change::regression: return "\033[1;31m";
    case Change::improvement: return "\033[32m";
    case Change::changed: return "\033[33m";
    default: return "";
  }
}

std::string change_word(Change c) {
  switch (c) {
    case Change::same: return "same";
    case Change::regression: return "REGRESSION";
    case Change::improvement: return "improved";
    case Change::changed: return "changed";
    case Change::short_history: return "new";
  }
  return "";
}

// A table printed with columns padded to their widest cell; the first column left-aligned.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, std::size_t colour_column,
                 const std::vector<std::string>& colours) {
  if (rows.empty()) return;
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (std::size_t ri = 0; ri < rows.size(); ++ri) {
    std::string line;
    for (std::size_t i = 0; i < rows[ri].size(); ++i) {
      const std::string& cell = rows[ri][i];
      std::string padded = i == 0 ? fmt::format("{:<{}}", cell, width[i]) : fmt::format("{:>{}}", cell, width[i]);
      if (i == colour_column && ri < colours.size() && !colours[ri].empty())
        padded = colours[ri] + padded + "\033[0m";
      line += (i ? "  " : "") + padded;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

// Rows in a readable order: by benchmark, configuration and metric, then by point numerically
// (MetricKey orders "bytes=16384" after "bytes=1048576", as text).
bool reading_order(const MetricKey& a, const MetricValue& va, const MetricKey& b, const MetricValue& vb) {
  if (a.benchmark != b.benchmark) return a.benchmark < b.benchmark;
  if (a.params != b.params) return a.params < b.params;
  if (a.metric != b.metric) return a.metric < b.metric;
  if (va.point_value != vb.point_value) return va.point_value < vb.point_value;
  return a.point < b.point;
}

}  // namespace

std::string MetricKey::text() const {
  std::string out = benchmark;
  if (!params.empty()) out += " " + params;
  out += " " + metric;
  if (!point.empty()) out += " @ " + point;
  return out;
}

std::string_view to_string(Change c) {
  switch (c) {
    case Change::same: return "same";
    case Change::regression: return "regression";
    case Change::improvement: return "improvement";
    case Change::changed: return "changed";
    case Change::short_history: return "short_history";
  }
  return "same";
}

RunMetrics extract_metrics(const std::string& label, const RunInfo& run, const std::vector<StepResult>& steps,
                           const PointKeys& point_keys, const std::vector<std::string>& only_metrics,
                           const ParamDefaults& defaults) {
  RunMetrics m;
  m.label = label;
  m.run = run;
  m.run.ranks.clear();
  std::unordered_map<std::int32_t, std::size_t> host_of;
  std::unordered_map<std::string, std::size_t> hosts;
  for (const auto& r : run.ranks) {
    const auto [it, added] = hosts.emplace(r.host, hosts.size());
    host_of[r.rank] = it->second;
    m.devices[r.device]++;
  }
  m.ranks = run.ranks.size();
  m.nodes = hosts.size();
  const auto wanted = [&](const std::string& name) {
    return only_metrics.empty() || std::find(only_metrics.begin(), only_metrics.end(), name) != only_metrics.end();
  };

  std::map<MetricKey, Accumulator> acc;
  std::vector<double> node_sum(hosts.size() + 1);
  std::vector<char> node_used(hosts.size() + 1);
  for (const auto& step : steps) {
    if (step.status != Status::ok) continue;
    const auto d = defaults.find(step.benchmark);
    const std::string params = format_params(d == defaults.end() ? step.params : without_defaults(step.params, d->second));
    const Column* status = step.per_rank.find("status");
    const std::size_t rows = step.per_rank.rows();
    std::set<std::size_t> step_hosts;
    for (std::size_t row = 0; row < rows; ++row) {
      const std::int32_t rank = row < step.ranks.size() ? step.ranks[row] : static_cast<std::int32_t>(row);
      const auto it = host_of.find(rank);
      step_hosts.insert(it == host_of.end() ? hosts.size() : it->second);
    }
    const std::size_t nodes = step_hosts.size();
    for (const auto& col : step.per_rank.columns) {
      if (col.name == "rank" || col.name == "status" || !wanted(col.name)) continue;
      std::vector<double> values;
      std::fill(node_sum.begin(), node_sum.end(), 0.0);
      std::fill(node_used.begin(), node_used.end(), 0);
      for (std::size_t row = 0; row < col.values.size(); ++row) {
        if (status && row < status->values.size() && status->values[row] != 0) continue;
        const double v = col.values[row];
        if (std::isnan(v)) continue;
        values.push_back(v);
        const std::int32_t rank = row < step.ranks.size() ? step.ranks[row] : static_cast<std::int32_t>(row);
        const auto it = host_of.find(rank);
        const std::size_t h = it == host_of.end() ? hosts.size() : it->second;
        node_sum[h] += v;
        node_used[h] = 1;
      }
      if (values.empty()) continue;
      std::vector<double> per_node;
      for (std::size_t h = 0; h < node_sum.size(); ++h)
        if (node_used[h]) per_node.push_back(node_sum[h]);
      Accumulator& a = acc[MetricKey{step.benchmark, params, col.name, ""}];
      a.proto = MetricValue{step.params, col.unit, col.better, true, "", 0, 0, 0, 0, rows, nodes};
      a.value.push_back(stats::median(values));
      a.per_node.push_back(stats::median(per_node));
      a.total.push_back(stats::sum(values));
    }
    if (step.points.columns.empty()) continue;
    std::vector<std::string> keys;
    if (const auto it = point_keys.find(step.benchmark); it != point_keys.end()) {
      for (const auto& k : it->second)
        if (step.points.find(k)) keys.push_back(k);
    }
    if (keys.empty()) keys.push_back(step.points.columns.front().name);
    const Column& key_col = *step.points.find(keys.front());
    for (const auto& col : step.points.columns) {
      if (std::find(keys.begin(), keys.end(), col.name) != keys.end() || !wanted(col.name)) continue;
      for (std::size_t row = 0; row < col.values.size() && row < key_col.values.size(); ++row) {
        const double v = col.values[row];
        if (std::isnan(v)) continue;
        const double at = key_col.values[row];
        Accumulator& a = acc[MetricKey{step.benchmark, params, col.name, key_col.name + "=" + format_key_value(at)}];
        a.proto = MetricValue{step.params, col.unit, col.better, false, key_col.name, at, 0, 0, 0, rows, nodes};
        a.value.push_back(v);
        a.per_node.push_back(v);
        a.total.push_back(v);
      }
    }
  }
  for (auto& [key, a] : acc) {
    MetricValue v = a.proto;
    v.value = median_of(a.value);
    v.per_node = median_of(a.per_node);
    v.total = median_of(a.total);
    m.metrics.emplace(key, std::move(v));
  }
  return m;
}

// ---- tolerances ------------------------------------------------------------------------------

const std::vector<double>& calibration_bands() {
  // Band edges in bytes: [0, 64K), [64K, 1M), [1M, 64M), [64M, inf).
  static const std::vector<double> edges = {0, 65536, 1048576, 67108864};
  return edges;
}

std::vector<Tolerance> load_tolerances(const std::string& yaml_text, const std::string& path) {
  const YAML::Node root = yaml::parse(yaml_text, path);
  if (!root.IsMap()) throw InputError(SourceLocation{path, 1, 1}, "a tolerances file is a mapping with 'tolerances'");
  yaml::check_keys(root, path, {"tolerances"}, "the tolerances file");
  const YAML::Node list = root["tolerances"];
  if (!list || !list.IsSequence())
    yaml::fail(root, path, "tolerances: expected a list, each item with benchmark, metric and relative");
  std::vector<Tolerance> out;
  for (const auto& item : list) {
    yaml::check_keys(item, path, {"benchmark", "metric", "bytes", "relative", "p95_cv", "keys", "runs"}, "a tolerance");
    Tolerance t;
    for (const char* required : {"benchmark", "metric", "relative"}) {
      if (!item[required]) yaml::fail(item, path, fmt::format("a tolerance: missing required key '{}'", required));
    }
    t.benchmark = yaml::get_string(item["benchmark"], path, "benchmark");
    t.metric = yaml::get_string(item["metric"], path, "metric");
    t.relative = yaml::get_number(item["relative"], path, "relative");
    if (!(t.relative >= 0)) yaml::fail(item["relative"], path, "relative: expected a fraction >= 0, e.g. 0.05");
    if (const YAML::Node bytes = item["bytes"]) {
      yaml::check_keys(bytes, path, {"min", "max"}, "bytes");
      if (bytes["min"]) t.bytes_min = static_cast<double>(yaml::get_size(bytes["min"], path, "bytes.min"));
      if (bytes["max"]) t.bytes_max = static_cast<double>(yaml::get_size(bytes["max"], path, "bytes.max"));
    }
    if (item["p95_cv"]) t.p95_cv = yaml::get_number(item["p95_cv"], path, "p95_cv");
    if (item["keys"]) t.keys = static_cast<std::size_t>(yaml::get_int(item["keys"], path, "keys"));
    if (item["runs"]) t.runs = static_cast<std::size_t>(yaml::get_int(item["runs"], path, "runs"));
    out.push_back(std::move(t));
  }
  return out;
}

std::string tolerances_yaml(const std::vector<Tolerance>& tolerances, const std::string& header_comment) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "tolerances" << YAML::Value << YAML::BeginSeq;
  for (const auto& t : tolerances) {
    e << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "benchmark" << YAML::Value << t.benchmark;
    e << YAML::Key << "metric" << YAML::Value << t.metric;
    if (t.bytes_min || t.bytes_max) {
      e << YAML::Key << "bytes" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (t.bytes_min) e << YAML::Key << "min" << YAML::Value << static_cast<std::int64_t>(*t.bytes_min);
      if (t.bytes_max) e << YAML::Key << "max" << YAML::Value << static_cast<std::int64_t>(*t.bytes_max);
      e << YAML::EndMap;
    }
    e << YAML::Key << "relative" << YAML::Value << fmt::format("{:.3g}", t.relative);
    e << YAML::Key << "p95_cv" << YAML::Value << fmt::format("{:.3g}", t.p95_cv);
    e << YAML::Key << "keys" << YAML::Value << t.keys;
    e << YAML::Key << "runs" << YAML::Value << t.runs;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  std::string out;
  std::size_t start = 0;
  while (start < header_comment.size()) {
    const std::size_t end = header_comment.find('\n', start);
    const std::string line = header_comment.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out += "# " + line + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out + e.c_str() + "\n";
}

std::vector<Tolerance> calibrate(const std::vector<RunMetrics>& runs, const CalibrateOptions& options) {
  if (runs.size() < options.min_runs) {
    throw InputError(fmt::format("calibrate needs at least {} runs to measure a run-to-run spread, found {}",
                                 options.min_runs, runs.size()));
  }
  std::set<MetricKey> keys;
  for (const auto& r : runs)
    for (const auto& [k, _] : r.metrics) keys.insert(k);
  struct Band {
    std::vector<double> cvs;
    std::size_t runs = 0;
  };
  // (benchmark, metric, band index; -1 without bands)
  std::map<std::tuple<std::string, std::string, int>, Band> bands;
  const auto& edges = calibration_bands();
  for (const auto& key : keys) {
    std::vector<double> values;
    const MetricValue* proto = nullptr;
    for (const auto& r : runs) {
      const auto it = r.metrics.find(key);
      if (it == r.metrics.end() || std::isnan(it->second.value)) continue;
      values.push_back(it->second.value);
      proto = &it->second;
    }
    if (values.size() < options.min_runs || proto == nullptr) continue;
    const double m = stats::mean(values);
    if (m == 0) continue;
    int band = -1;
    if (!proto->per_rank && proto->point_key == "bytes") {
      band = 0;
      for (std::size_t i = 0; i < edges.size(); ++i)
        if (proto->point_value >= edges[i]) band = static_cast<int>(i);
    }
    Band& b = bands[{key.benchmark, key.metric, band}];
    b.cvs.push_back(stats::cv(values));
    b.runs = std::max(b.runs, values.size());
  }
  std::vector<Tolerance> out;
  for (auto& [id, b] : bands) {
    Tolerance t;
    t.benchmark = std::get<0>(id);
    t.metric = std::get<1>(id);
    const int band = std::get<2>(id);
    if (band >= 0) {
      t.bytes_min = edges[static_cast<std::size_t>(band)];
      if (static_cast<std::size_t>(band) + 1 < edges.size()) t.bytes_max = edges[static_cast<std::size_t>(band) + 1];
    }
    t.p95_cv = stats::percentile(b.cvs, 95);
    // Round the proposal up to three significant digits, so that the file reads cleanly.
    const double raw = std::max(options.floor, options.factor * t.p95_cv);
    const double scale = std::pow(10.0, std::floor(std::log10(raw)) - 2);
    t.relative = std::ceil(raw / scale - 1e-9) * scale;
    t.keys = b.cvs.size();
    t.runs = b.runs;
    out.push_back(std::move(t));
  }
  return out;
}

// ---- regression ------------------------------------------------------------------------------

std::size_t RegressionReport::count(Change c) const {
  return static_cast<std::size_t>(
      std::count_if(metrics.begin(), metrics.end(), [&](const MetricComparison& m) { return m.change == c; }));
}

namespace {

double tolerance_for(const MetricKey& key, const MetricValue& v, const CompareOptions& o) {
  const Tolerance* general = nullptr;
  for (const auto& t : o.tolerances) {
    if (t.benchmark != key.benchmark || t.metric != key.metric) continue;
    if (!t.bytes_min && !t.bytes_max) {
      general = &t;
      continue;
    }
    if (v.per_rank || v.point_key != "bytes") continue;
    if (t.bytes_min && v.point_value < *t.bytes_min) continue;
    if (t.bytes_max && v.point_value >= *t.bytes_max) continue;
    return t.relative;
  }
  return general ? general->relative : o.relative;
}

}  // namespace

RegressionReport compare_to_baseline(std::vector<RunMetrics> baseline, const RunMetrics& current,
                                     const CompareOptions& options) {
  std::stable_sort(baseline.begin(), baseline.end(),
                   [](const RunMetrics& a, const RunMetrics& b) { return a.run.start_time < b.run.start_time; });
  if (baseline.size() > options.last)
    baseline.erase(baseline.begin(), baseline.end() - static_cast<std::ptrdiff_t>(options.last));
  RegressionReport report;
  report.current_label = current.label;
  report.current_time = current.run.start_time;
  for (const auto& b : baseline) {
    report.baseline_labels.push_back(b.label);
    report.baseline_times.push_back(b.run.start_time);
  }
  for (const auto& [key, value] : current.metrics) {
    if (std::isnan(value.value)) continue;
    MetricComparison c;
    c.key = key;
    c.current = value;
    std::vector<double> finite;
    for (const auto& b : baseline) {
      const auto it = b.metrics.find(key);
      const double v = it == b.metrics.end() ? kNaN : it->second.value;
      c.history.push_back(v);
      if (!std::isnan(v)) finite.push_back(v);
    }
    if (finite.empty()) continue;  // not present in the baseline: nothing to compare with
    c.runs = finite.size();
    c.median = stats::median(finite);
    c.sigma = stats::robust_sigma(finite);
    c.delta = value.value - c.median;
    c.relative = c.median != 0 ? c.delta / std::fabs(c.median) : (c.delta == 0 ? 0 : kNaN);
    c.tolerance = tolerance_for(key, value, options);
    c.threshold = std::max(c.tolerance * std::fabs(c.median), options.mad_k * c.sigma);
    if (c.runs < options.min_runs) {
      c.change = Change::short_history;
    } else if (std::fabs(c.delta) <= c.threshold) {
      c.change = Change::same;
    } else if (value.better == Better::higher) {
      c.change = c.delta < 0 ? Change::regression : Change::improvement;
    } else if (value.better == Better::lower) {
      c.change = c.delta > 0 ? Change::regression : Change::improvement;
    } else {
      c.change = Change::changed;
    }
    report.metrics.push_back(std::move(c));
  }
  std::stable_sort(report.metrics.begin(), report.metrics.end(), [](const MetricComparison& x, const MetricComparison& y) {
    return reading_order(x.key, x.current, y.key, y.current);
  });
  std::set<MetricKey> missing;
  for (const auto& b : baseline)
    for (const auto& [key, _] : b.metrics)
      if (!current.metrics.count(key)) missing.insert(key);
  report.missing_tonight = missing.size();
  for (const auto& k : missing) {
    if (report.missing_examples.size() >= 5) break;
    report.missing_examples.push_back(k.text());
  }
  return report;
}

void print_regressions(std::ostream& out, const RegressionReport& report, bool all, const PrintOptions& options) {
  const std::size_t n = report.baseline_labels.size();
  out << fmt::format("baseline: {} run{}", n, n == 1 ? "" : "s");
  if (n > 0) out << fmt::format(", {} .. {}", date_of(report.baseline_times.front()), date_of(report.baseline_times.back()));
  out << '\n';
  for (std::size_t i = 0; i < n; ++i)
    out << fmt::format("  {}  {}\n", date_of(report.baseline_times[i]), report.baseline_labels[i]);
  out << fmt::format("current:  {}  {}\n\n", date_of(report.current_time), report.current_label);

  Labeller labels;
  for (const auto& m : report.metrics) labels.add(m.key, m.current.params);
  std::vector<std::vector<std::string>> rows = {{"metric", "baseline median", "± robust dev", "runs", "current", "change",
                                                 "threshold", "verdict"}};
  std::vector<std::string> colours = {""};
  std::vector<const MetricComparison*> flagged;
  for (const auto& m : report.metrics) {
    const bool notable = m.change == Change::regression || m.change == Change::improvement || m.change == Change::changed;
    if (notable) flagged.push_back(&m);
    if (!all && !notable) continue;
    rows.push_back({labels.label(m.key, m.current.params), format_figure(m.median, m.current.unit),
                    format_figure(m.sigma), std::to_string(m.runs), format_figure(m.current.value, m.current.unit),
                    std::isnan(m.relative) ? format_figure(m.delta) : percent(m.relative),
                    m.median != 0 ? fmt::format("{:.1f}%", m.threshold / std::fabs(m.median) * 100) : format_figure(m.threshold),
                    change_word(m.change)});
    colours.emplace_back(options.color ? std::string(paint_start(m.change)) : std::string());
  }
  if (rows.size() > 1) {
    print_table(out, rows, 7, colours);
    out << '\n';
  }
  const std::size_t regressions = report.count(Change::regression);
  out << fmt::format("{} metric{} compared: {} regression{}, {} improvement{}, {} changed (no direction), {} same, "
                     "{} with fewer than the minimum baseline runs\n",
                     report.metrics.size(), report.metrics.size() == 1 ? "" : "s", regressions,
                     regressions == 1 ? "" : "s", report.count(Change::improvement),
                     report.count(Change::improvement) == 1 ? "" : "s", report.count(Change::changed),
                     report.count(Change::same), report.count(Change::short_history));
  if (report.missing_tonight > 0) {
    out << fmt::format("{} metric{} of the baseline {} absent from the current run, e.g. {}\n", report.missing_tonight,
                       report.missing_tonight == 1 ? "" : "s", report.missing_tonight == 1 ? "is" : "are",
                       report.missing_examples.front());
  }
  if (!flagged.empty() && n > 0) {
    out << "\ntrend of the flagged metrics (oldest first):\n";
    std::vector<std::vector<std::string>> trend;
    std::vector<std::string> header = {"metric"};
    for (double t : report.baseline_times) header.push_back(date_of(t).substr(5));
    header.push_back("current");
    trend.push_back(header);
    const std::size_t max_rows = 20;
    for (std::size_t i = 0; i < flagged.size() && i < max_rows; ++i) {
      std::vector<std::string> row = {labels.label(flagged[i]->key, flagged[i]->current.params)};
      for (double v : flagged[i]->history) row.push_back(format_figure(v));
      row.push_back(format_figure(flagged[i]->current.value));
      trend.push_back(row);
    }
    print_table(out, trend, kNoColumn, {});
    if (flagged.size() > max_rows) out << fmt::format("... and {} more\n", flagged.size() - max_rows);
  }
  const std::string verdict = regressions > 0 ? "REGRESSION" : "no regression";
  out << '\n'
      << "verdict: "
      << (options.color ? fmt::format("{}{}\033[0m", regressions > 0 ? "\033[1;31m" : "\033[32m", verdict) : verdict)
      << '\n';
}

// ---- phases ----------------------------------------------------------------------------------

std::string describe_devices(const RunMetrics& m) {
  std::string models;
  for (const auto& [device, count] : m.devices)
    models += fmt::format("{}{}x {}", models.empty() ? "" : ", ", count, device.empty() ? "(unknown)" : device);
  return fmt::format("{} rank{} on {} node{}{}", m.ranks, m.ranks == 1 ? "" : "s", m.nodes, m.nodes == 1 ? "" : "s",
                     models.empty() ? "" : " (" + models + ")");
}

PhaseReport compare_phases(const RunMetrics& a, const RunMetrics& b) {
  PhaseReport r;
  r.a = a;
  r.a.metrics.clear();
  r.b = b;
  r.b.metrics.clear();
  std::set<std::string> da, db;
  for (const auto& [d, _] : a.devices) da.insert(d);
  for (const auto& [d, _] : b.devices) db.insert(d);
  r.devices_differ = da != db;
  for (const auto& [key, va] : a.metrics) {
    const auto it = b.metrics.find(key);
    if (it == b.metrics.end()) {
      r.only_a.push_back(key);
      continue;
    }
    const MetricValue& vb = it->second;
    PhaseRow row;
    row.key = key;
    row.a = va;
    row.b = vb;
    row.delta = vb.value - va.value;
    row.relative = va.value != 0 ? row.delta / std::fabs(va.value) : kNaN;
    row.node_delta = vb.per_node - va.per_node;
    double ratio = kNaN;
    if (va.per_rank) {
      const double per_a = va.total / static_cast<double>(std::max<std::size_t>(va.ranks, 1));
      const double per_b = vb.total / static_cast<double>(std::max<std::size_t>(vb.ranks, 1));
      ratio = per_b / per_a;
    } else {
      ratio = vb.value / va.value;
    }
    row.efficiency = va.better == Better::higher ? ratio : va.better == Better::lower ? 1.0 / ratio : kNaN;
    if (!std::isfinite(row.efficiency)) row.efficiency = kNaN;
    r.rows.push_back(std::move(row));
  }
  for (const auto& [key, _] : b.metrics)
    if (!a.metrics.count(key)) r.only_b.push_back(key);
  std::stable_sort(r.rows.begin(), r.rows.end(),
                   [](const PhaseRow& x, const PhaseRow& y) { return reading_order(x.key, x.a, y.key, y.a); });
  return r;
}

void print_phases(std::ostream& out, const PhaseReport& r, const PrintOptions& options) {
  const auto head = [&](const char* name, const RunMetrics& m) {
    out << fmt::format("{}: {}  system {}{}, {}\n", name, m.label, m.run.system.empty() ? "-" : m.run.system,
                       m.run.phase.empty() ? "" : " phase " + m.run.phase, describe_devices(m));
  };
  head("A", r.a);
  head("B", r.b);
  if (r.devices_differ) {
    out << (options.color ? "\033[33m" : "")
        << "note: the device models differ: per-GPU deltas compare different GPUs" << (options.color ? "\033[0m" : "")
        << '\n';
  }
  out << '\n';
  Labeller labels;
  for (const auto& row : r.rows) labels.add(row.key, row.a.params);
  std::vector<std::vector<std::string>> rows = {
      {"metric", "A", "B", "delta", "change", "A per node", "B per node", "A ranks", "B ranks", "efficiency"}};
  for (const auto& row : r.rows) {
    rows.push_back({labels.label(row.key, row.a.params), format_figure(row.a.value, row.a.unit),
                    format_figure(row.b.value, row.b.unit), format_figure(row.delta), percent(row.relative),
                    row.a.per_rank ? format_figure(row.a.per_node) : "-", row.b.per_rank ? format_figure(row.b.per_node) : "-",
                    std::to_string(row.a.ranks), std::to_string(row.b.ranks),
                    std::isnan(row.efficiency) ? "-" : fmt::format("{:.3f}", row.efficiency)});
  }
  print_table(out, rows, kNoColumn, {});
  out << fmt::format("\n{} metric{} in both; {} only in A; {} only in B\n", r.rows.size(), r.rows.size() == 1 ? "" : "s",
                     r.only_a.size(), r.only_b.size());
  out << "A and B: per-rank metrics are the median GPU (per node: the median node's sum); efficiency is the\n"
         "per-GPU mean of B over A (sweep metrics: B over A), inverted where lower is better.\n";
}

}  // namespace gpuaccept
