// The contract: acceptance criteria on stored metrics. Its YAML language is documented in
// docs/contracts.md. Loading checks syntax and shape; validate() checks names against the
// catalogue of registered benchmarks, so that a typo is reported before anything runs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "results/input_error.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

// How the values of the members (ranks, or sweep points) are combined into one figure.
enum class Combine { min, max, mean, median, p01, p05, p50, p95, p99 };
std::string_view to_string(Combine c);
std::optional<Combine> combine_from_string(std::string_view text);

struct Bound {
  std::optional<double> min;  // value must be >= min
  std::optional<double> max;  // value must be <= max
  bool holds(double value) const;
  std::string text() const;   // ">= 1.5", "<= 3", "in [1, 3]"
};

struct Criterion {
  std::string id;
  std::string description;
  std::string benchmark;
  // Step parameters that must match. A list means "any of these values".
  std::map<std::string, std::vector<ParamValue>> select;
  // For sweep metrics (columns of the points table): which row, e.g. {bytes: 1048576}.
  std::map<std::string, ParamValue> point;
  std::string metric;
  Combine combine = Combine::min;
  Bound bound;
  SourceLocation where;  // the criterion's place in the contract file
  std::map<std::string, SourceLocation> where_of;  // place of each key ("metric", "select.m", ...)
};

struct Contract {
  std::string name;
  std::string path;
  std::vector<Criterion> criteria;
};

// Parses a contract. Throws InputError (file:line:col) on the first problem.
Contract load_contract(const std::string& yaml_text, const std::string& path);

// What the registry knows, as plain data (results/ knows nothing of suites/).
struct BenchmarkCatalogEntry {
  std::string name;
  std::vector<std::string> params;         // parameter names
  std::vector<std::string> rank_metrics;   // per-rank metric columns
  std::vector<std::string> point_metrics;  // columns of the points table (sweeps)
  std::vector<std::string> point_keys;     // columns that can select a point, e.g. "bytes"
};
using Catalog = std::vector<BenchmarkCatalogEntry>;

// Throws InputError at the offending key: unknown benchmark, parameter or metric; a point
// selector on a benchmark without points, or a per-rank metric with a point selector.
void validate(const Contract& contract, const Catalog& catalog);

}  // namespace gpuaccept
