// The contract: acceptance criteria on stored metrics, and the waivers a site has granted. Its
// YAML language is documented in docs/contracts.md. Loading checks syntax, shape and the
// combinations of keys; validate() checks names against the catalogue of registered
// benchmarks and check_selectors() checks selectors against a campaign's planned steps, so
// that a typo is reported, with file and line, before anything runs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "results/input_error.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

// How values are combined into one figure: the members of a criterion (`combine`), the ranks
// of one member (`reduce`) or one member's repetitions (`across_repetitions`).
// count and fraction count the members that meet the criterion's `meets` bound.
enum class Combine { min, max, mean, median, p01, p05, p50, p95, p99, sum, stddev, cv, count, fraction };
std::string_view to_string(Combine c);
std::optional<Combine> combine_from_string(std::string_view text);

// What one member of a criterion is.
enum class Scope {
  rank,        // one GPU (rank) in one step: per-rank metrics
  node,        // the ranks of one host in one step, reduced to one value
  step,        // one step: its ranks reduced to one value, or the selected row of its sweep
  repetition,  // everything matching in one repetition of the campaign, reduced to one value
  // one communicator (group) of a collective step at the selected point: a row of its points
  // table with its own `group` (a node, a rail, a pair of nodes, ...). YAML alias: pair.
  communicator,
};
std::string_view to_string(Scope s);
std::optional<Scope> scope_from_string(std::string_view text);

struct Bound {
  std::optional<double> min;  // value must be >= min
  std::optional<double> max;  // value must be <= max
  bool holds(double value) const;
  std::string text() const;   // ">= 1.5", "<= 3", "in [1, 3]"
};

// Which side of the peer median is bad: set by the metric's `better` unless given.
enum class Side { low, high, both };
std::string_view to_string(Side s);

// Every member must lie near the median of its peers: within `ratio` of it, within `mad`
// robust deviations (1.4826 x the median absolute deviation) of it, or, when both are given,
// within at least one of the two (a member is an outlier only when it breaks both).
struct OutlierRule {
  enum class Peers { step, all };
  std::optional<double> ratio;  // (0, 1]: low side value >= ratio x median, high side <= median / ratio
  std::optional<double> mad;    // > 0
  Peers peers = Peers::step;
  std::optional<Side> side;     // default: from the metric's `better`
  std::int64_t max = 0;         // outliers tolerated
  std::string text() const;     // e.g. ">= 0.95 x median, within 4 MAD"
};

// The metric at one scale relative to the same metric at a base scale. The bound applies to
// the ratio (at / base for higher-is-better metrics, base / at for lower-is-better ones).
struct ScalingRule {
  enum class Dim { ranks, nodes };
  enum class Normalise { none, ranks, nodes };
  Dim dim = Dim::nodes;
  std::int64_t base = 1;
  std::optional<std::int64_t> at;  // nullopt: the largest scale present
  Normalise normalise = Normalise::none;
};

// The criterion is judged on each repetition alone and must hold in at least `at_least` of them;
// `of`, when given, is the number of repetitions that must have run.
struct HoldIn {
  std::int64_t at_least = 1;
  std::optional<std::int64_t> of;
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
  Scope scope = Scope::rank;       // the default is rank without `point`, step with it
  Combine reduce = Combine::mean;  // node, step and repetition scopes: how the values of a member combine
  std::optional<Combine> across_repetitions;
  Combine combine = Combine::min;
  std::optional<Bound> meets;       // for combine count and fraction
  std::optional<OutlierRule> outliers;
  std::optional<ScalingRule> scaling;
  std::optional<HoldIn> hold_in;
  Bound bound;                      // unused by outlier rules
  SourceLocation where;  // the criterion's place in the contract file
  std::map<std::string, SourceLocation> where_of;  // place of each key ("metric", "select.m", ...)

  bool is_outlier_rule() const { return outliers.has_value(); }
  // Members are tied to hosts (a rank, a node, a communicator's hosts): waivers may name hosts.
  bool is_per_host() const { return scope == Scope::rank || scope == Scope::node || scope == Scope::communicator; }
};

// A failure the site accepts for a while: of one criterion, on the named hosts (or on all of
// them when none are named), until the end of the `expires` day (UTC).
struct Waiver {
  std::string criterion;
  std::vector<std::string> hosts;
  std::string reason;
  std::string expires;  // YYYY-MM-DD
  SourceLocation where;
};

struct Contract {
  std::string name;
  std::string path;
  std::vector<Criterion> criteria;
  std::vector<Waiver> waivers;
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
// selector on a benchmark without points, or a per-rank metric with a point selector; scope
// communicator on a benchmark whose points have no `group` key.
void validate(const Contract& contract, const Catalog& catalog);

// Whether a step of `benchmark` run with `params` is one the criterion selects. Numbers compare
// by value, sizes ("1M") equal their byte count, words compare exactly.
bool selects(const Criterion& c, std::string_view benchmark, const Params& params);

// Throws InputError at the criterion's `select` (or `benchmark`) when it selects none of the
// planned steps: a selector that matches nothing is a typo, found before anything runs.
struct PlannedStep {
  std::string benchmark;
  Params params;
};
void check_selectors(const Contract& contract, const std::vector<PlannedStep>& planned);

// "2025-07-01" for a valid calendar date, nullopt otherwise.
bool is_iso_date(std::string_view text);

}  // namespace gpuaccept
