// Loading and validating contracts. The language is documented in docs/contracts.md.
//
// Where errors point: a value that is wrong (an unknown benchmark, a bad number) is reported at
// the value; a key that is wrong (an unknown key, an unknown select parameter) at the key; a
// key whose value is missing (`bound:` with nothing after it) at the key, since yaml-cpp places
// an empty value at the next token, which would mislead.
//
// Criterion::where_of holds, by these names:
//   "id", "description", "benchmark", "metric", "combine"   the place of the value
//   "select", "point", "bound"                              the place of the key
//   "select.<param>", "point.<key>"                         the place of that key
//   "bound.min", "bound.max"                                the place of the number
#include "results/contract.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr Combine kAllCombines[] = {Combine::min,    Combine::max, Combine::mean,
                                    Combine::median, Combine::p01, Combine::p05,
                                    Combine::p50,    Combine::p95, Combine::p99};

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string combine_names() {
  std::vector<std::string> names;
  for (Combine c : kAllCombines) names.emplace_back(to_string(c));
  return join(names);
}

bool is_valid_id(std::string_view id) {
  if (id.empty()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// One entry of a YAML mapping, with both nodes, so that errors can point at either.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// The entries of a mapping, in file order, refusing keys that are not scalars or that repeat
// (yaml-cpp keeps both copies of a repeated key and silently reads the first).
std::vector<Entry> entries_of(const YAML::Node& map, const std::string& file, std::string_view what) {
  yaml::require_map(map, file, what);
  std::vector<Entry> out;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar())
      yaml::fail(kv.first, file, fmt::format("{}: keys must be plain names", what));
    const std::string key = kv.first.Scalar();
    for (const auto& seen : out) {
      if (seen.key == key) {
        yaml::fail(kv.first, file,
                   fmt::format("duplicate key '{}' in {} (first given at line {})", key, what,
                               yaml::where(seen.key_node, file).line));
      }
    }
    out.push_back(Entry{key, kv.first, kv.second});
  }
  return out;
}

// A key given with nothing after it: report at the key, not at whatever token comes next.
void require_value(const Entry& e, const std::string& file, std::string_view expected) {
  if (!e.value.IsDefined() || e.value.IsNull())
    yaml::fail(e.key_node, file, fmt::format("'{}' has no value: expected {}", e.key, expected));
}

bool plain(const YAML::Node& scalar) { return scalar.Tag() == "?"; }

// A selector value keeps its YAML type: an integer, a number, true/false, or a string. A quoted
// scalar is always a string ("512" selects the string parameter "512", not the integer).
ParamValue scalar_value(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (plain(node) && !s.empty()) {
    std::int64_t i = 0;
    if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
        ec == std::errc() && p == s.data() + s.size())
      return i;
    double d = 0;
    if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        ec == std::errc() && p == s.data() + s.size() && std::isfinite(d))
      return d;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return s;
}

// A point value: like a selector value, but a size with a unit (64K, 1M, 8G) becomes its
// integer byte count, since points are rows of a numeric table.
ParamValue point_value(const YAML::Node& node) {
  if (plain(node)) {
    if (auto bytes = yaml::parse_size(node.Scalar())) return *bytes;
  }
  return scalar_value(node);
}

std::vector<ParamValue> parse_selector_values(const Entry& e, const std::string& file) {
  const std::string what = fmt::format("select.{}", e.key);
  require_value(e, file, "a value or a list of values");
  std::vector<ParamValue> values;
  if (e.value.IsScalar()) {
    values.push_back(scalar_value(e.value));
  } else if (e.value.IsSequence()) {
    if (e.value.size() == 0)
      yaml::fail(e.value, file, fmt::format("{}: an empty list selects nothing: give at least one value", what));
    for (const auto& item : e.value) {
      if (!item.IsScalar())
        yaml::fail(item, file, fmt::format("{}: expected a value (number, size, word or true/false) in the list", what));
      values.push_back(scalar_value(item));
    }
  } else {
    yaml::fail(e.value, file, fmt::format("{}: expected a value or a list of values, found a mapping", what));
  }
  return values;
}

Bound parse_bound(const Entry& bound_entry, const std::string& file, Criterion& c) {
  require_value(bound_entry, file, "a mapping with min and/or max, e.g. {min: 700}");
  Bound bound;
  for (const auto& e : entries_of(bound_entry.value, file, "bound")) {
    if (e.key != "min" && e.key != "max")
      yaml::fail(e.key_node, file, fmt::format("unknown key '{}' in bound (expected one of: min, max)", e.key));
    require_value(e, file, "a number");
    const double v = yaml::get_number(e.value, file, fmt::format("bound.{}", e.key));
    (e.key == "min" ? bound.min : bound.max) = v;
    c.where_of["bound." + e.key] = yaml::where(e.value, file);
  }
  if (!bound.min && !bound.max)
    yaml::fail(bound_entry.value, file, "bound: expected min and/or max, e.g. {min: 700}, found neither");
  if (bound.min && bound.max && *bound.min > *bound.max) {
    throw InputError(c.where_of["bound.max"],
                     fmt::format("bound: min {} is greater than max {}: no value can meet it", *bound.min,
                                 *bound.max));
  }
  return bound;
}

Criterion parse_criterion(const YAML::Node& node, const std::string& file, std::size_t index) {
  const std::string what = fmt::format("criterion {} of 'criteria'", index + 1);
  Criterion c;
  c.where = yaml::where(node, file);
  bool has_bound = false;
  for (const auto& e : entries_of(node, file, what)) {
    const auto value_place = [&] { return yaml::where(e.value, file); };
    if (e.key == "id") {
      require_value(e, file, "a name made of letters, digits, '_', '.', '-'");
      c.id = yaml::get_string(e.value, file, "id");
      if (!is_valid_id(c.id))
        yaml::fail(e.value, file,
                   fmt::format("id '{}': expected a name made of letters, digits, '_', '.', '-'", c.id));
      c.where_of["id"] = value_place();
    } else if (e.key == "description") {
      require_value(e, file, "a sentence");
      c.description = yaml::get_string(e.value, file, "description");
      c.where_of["description"] = value_place();
    } else if (e.key == "benchmark") {
      require_value(e, file, "a benchmark name, e.g. gemm");
      c.benchmark = yaml::get_string(e.value, file, "benchmark");
      c.where_of["benchmark"] = value_place();
    } else if (e.key == "metric") {
      require_value(e, file, "a metric name, e.g. tflops");
      c.metric = yaml::get_string(e.value, file, "metric");
      c.where_of["metric"] = value_place();
    } else if (e.key == "combine") {
      require_value(e, file, fmt::format("one of: {}", combine_names()));
      const std::string text = yaml::get_string(e.value, file, "combine");
      const auto combine = combine_from_string(text);
      if (!combine)
        yaml::fail(e.value, file,
                   fmt::format("unknown combine '{}' (expected one of: {})", text, combine_names()));
      c.combine = *combine;
      c.where_of["combine"] = value_place();
    } else if (e.key == "select") {
      require_value(e, file, "a mapping of step parameters, e.g. {dtype: fp64}");
      c.where_of["select"] = yaml::where(e.key_node, file);
      for (const auto& s : entries_of(e.value, file, "select")) {
        c.select[s.key] = parse_selector_values(s, file);
        c.where_of["select." + s.key] = yaml::where(s.key_node, file);
      }
    } else if (e.key == "point") {
      require_value(e, file, "a mapping naming one sweep point, e.g. {bytes: 1M}");
      c.where_of["point"] = yaml::where(e.key_node, file);
      for (const auto& p : entries_of(e.value, file, "point")) {
        require_value(p, file, "a value, e.g. 1M");
        if (!p.value.IsScalar())
          yaml::fail(p.value, file,
                     fmt::format("point.{}: expected one value (a point is one row of the sweep)", p.key));
        c.point[p.key] = point_value(p.value);
        c.where_of["point." + p.key] = yaml::where(p.key_node, file);
      }
    } else if (e.key == "bound") {
      c.where_of["bound"] = yaml::where(e.key_node, file);
      c.bound = parse_bound(e, file, c);
      has_bound = true;
    } else {
      yaml::fail(e.key_node, file,
                 fmt::format("unknown key '{}' in {} (expected one of: id, description, benchmark, select, "
                             "point, metric, combine, bound)",
                             e.key, what));
    }
  }
  const auto missing = [&](std::string_view key) {
    yaml::fail(node, file,
               fmt::format("{}{}: missing required key '{}' (required: id, benchmark, metric, bound)", what,
                           c.id.empty() ? "" : fmt::format(" ('{}')", c.id), key));
  };
  if (c.id.empty()) missing("id");
  if (c.benchmark.empty()) missing("benchmark");
  if (c.metric.empty()) missing("metric");
  if (!has_bound) missing("bound");
  return c;
}

std::string file_stem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

const SourceLocation& place(const Criterion& c, const std::string& key) {
  const auto it = c.where_of.find(key);
  return it != c.where_of.end() ? it->second : c.where;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string sorted_list(std::vector<std::string> names) {
  if (names.empty()) return "(none)";
  std::sort(names.begin(), names.end());
  return join(names);
}

}  // namespace

std::string_view to_string(Combine c) {
  switch (c) {
    case Combine::min: return "min";
    case Combine::max: return "max";
    case Combine::mean: return "mean";
    case Combine::median: return "median";
    case Combine::p01: return "p01";
    case Combine::p05: return "p05";
    case Combine::p50: return "p50";
    case Combine::p95: return "p95";
    case Combine::p99: return "p99";
  }
  return "min";
}

std::optional<Combine> combine_from_string(std::string_view text) {
  for (Combine c : kAllCombines)
    if (to_string(c) == text) return c;
  return std::nullopt;
}

bool Bound::holds(double value) const {
  if (std::isnan(value)) return false;
  if (min && value < *min) return false;
  if (max && value > *max) return false;
  return true;
}

std::string Bound::text() const {
  if (min && max) return fmt::format("in [{}, {}]", *min, *max);
  if (min) return fmt::format(">= {}", *min);
  if (max) return fmt::format("<= {}", *max);
  return "any";
}

Contract load_contract(const std::string& yaml_text, const std::string& path) {
  const YAML::Node root = yaml::parse(yaml_text, path);
  if (!root.IsDefined() || root.IsNull())
    throw InputError(SourceLocation{path, 1, 1}, "the contract is empty: expected a mapping with 'criteria'");
  Contract contract;
  contract.path = path;
  contract.name = file_stem(path);
  std::optional<Entry> criteria_entry;
  for (const auto& e : entries_of(root, path, "the contract")) {
    if (e.key == "contract") {
      require_value(e, path, "the contract's name");
      contract.name = yaml::get_string(e.value, path, "contract");
    } else if (e.key == "criteria") {
      require_value(e, path, "a list of criteria");
      criteria_entry = e;
    } else {
      yaml::fail(e.key_node, path,
                 fmt::format("unknown key '{}' in the contract (expected one of: contract, criteria)", e.key));
    }
  }
  if (!criteria_entry)
    yaml::fail(root, path, "the contract: missing required key 'criteria' (a list of criteria)");
  const YAML::Node& criteria = criteria_entry->value;
  if (!criteria.IsSequence())
    yaml::fail(criteria, path, "criteria: expected a list of criteria (each item starting with '- id:')");
  if (criteria.size() == 0)
    yaml::fail(criteria, path, "criteria: the list is empty: a contract needs at least one criterion");

  std::map<std::string, SourceLocation> seen;
  std::size_t index = 0;
  for (const auto& item : criteria) {
    Criterion c = parse_criterion(item, path, index++);
    const SourceLocation id_place = place(c, "id");
    if (const auto it = seen.find(c.id); it != seen.end()) {
      throw InputError(id_place, fmt::format("duplicate criterion id '{}' (first used at line {})", c.id,
                                             it->second.line));
    }
    seen.emplace(c.id, id_place);
    contract.criteria.push_back(std::move(c));
  }
  return contract;
}

void validate(const Contract& contract, const Catalog& catalog) {
  for (const auto& c : contract.criteria) {
    const auto entry = std::find_if(catalog.begin(), catalog.end(),
                                    [&](const BenchmarkCatalogEntry& b) { return b.name == c.benchmark; });
    if (entry == catalog.end()) {
      std::vector<std::string> names;
      for (const auto& b : catalog) names.push_back(b.name);
      throw InputError(place(c, "benchmark"), fmt::format("criterion '{}': unknown benchmark '{}' (expected one of: {})",
                                                          c.id, c.benchmark, sorted_list(names)));
    }
    for (const auto& [param, values] : c.select) {
      if (!contains(entry->params, param)) {
        throw InputError(place(c, "select." + param),
                         fmt::format("criterion '{}': unknown select parameter '{}' of benchmark {} "
                                     "(expected one of: {})",
                                     c.id, param, c.benchmark, sorted_list(entry->params)));
      }
    }
    if (!c.point.empty()) {
      if (entry->point_keys.empty()) {
        throw InputError(place(c, "point"),
                         fmt::format("criterion '{}': benchmark {} has no sweep points, so 'point' cannot "
                                     "select one (its metrics are per rank: {})",
                                     c.id, c.benchmark, sorted_list(entry->rank_metrics)));
      }
      for (const auto& [key, value] : c.point) {
        if (!contains(entry->point_keys, key)) {
          throw InputError(place(c, "point." + key),
                           fmt::format("criterion '{}': unknown point key '{}' of benchmark {} (expected one of: {})",
                                       c.id, key, c.benchmark, sorted_list(entry->point_keys)));
        }
      }
    }
    const bool rank_metric = contains(entry->rank_metrics, c.metric);
    const bool point_metric = contains(entry->point_metrics, c.metric);
    if (!rank_metric && !point_metric) {
      std::vector<std::string> all = entry->rank_metrics;
      all.insert(all.end(), entry->point_metrics.begin(), entry->point_metrics.end());
      throw InputError(place(c, "metric"), fmt::format("criterion '{}': unknown metric '{}' of benchmark {} "
                                                       "(expected one of: {})",
                                                       c.id, c.metric, c.benchmark, sorted_list(all)));
    }
    if (c.point.empty() && !rank_metric) {
      throw InputError(place(c, "metric"),
                       fmt::format("criterion '{}': metric '{}' of benchmark {} is measured per sweep point: "
                                   "name the point with 'point' (a key of: {}), e.g. point: {{{}: 1M}}; "
                                   "values are never averaged over sizes",
                                   c.id, c.metric, c.benchmark, sorted_list(entry->point_keys),
                                   entry->point_keys.empty() ? "bytes" : entry->point_keys.front()));
    }
    if (!c.point.empty() && !point_metric) {
      throw InputError(place(c, "point"),
                       fmt::format("criterion '{}': metric '{}' of benchmark {} is per rank, and 'point' "
                                   "applies only to sweep metrics (expected one of: {})",
                                   c.id, c.metric, c.benchmark, sorted_list(entry->point_metrics)));
    }
  }
}

}  // namespace gpuaccept
