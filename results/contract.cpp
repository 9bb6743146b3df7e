// Loading and validating contracts. The language is documented in docs/contracts.md.
//
// Where errors point: a value that is wrong (an unknown benchmark, a bad number) is reported at
// the value; a key that is wrong (an unknown key, an unknown select parameter) at the key; a
// key whose value is missing (`bound:` with nothing after it) at the key, since yaml-cpp places
// an empty value at the next token, which would mislead. A combination of keys that does not
// make sense (an outlier rule with a bound, `meets` without count or fraction) is reported at
// the second key.
//
// Criterion::where_of holds, by these names:
//   "id", "description", "benchmark", "metric", "combine", "scope", "reduce",
//   "across_repetitions"                                    the place of the value
//   "select", "point", "bound", "meets", "outliers", "scaling", "hold_in"   the place of the key
//   "select.<param>", "point.<key>"                         the place of that key
//   "bound.min", "bound.max", "meets.min", "meets.max"      the place of the number
#include "results/contract.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr Combine kAllCombines[] = {Combine::min,  Combine::max,    Combine::mean, Combine::median, Combine::p01,
                                    Combine::p05,  Combine::p50,    Combine::p95,  Combine::p99,    Combine::sum,
                                    Combine::stddev, Combine::cv,   Combine::count, Combine::fraction};
constexpr Scope kAllScopes[] = {Scope::rank, Scope::node, Scope::step, Scope::repetition, Scope::communicator};

constexpr const char* kCriterionKeys =
    "id, description, benchmark, select, point, metric, scope, reduce, across_repetitions, combine, meets, "
    "bound, outliers, scaling, hold_in";

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

bool counts_members(Combine c) { return c == Combine::count || c == Combine::fraction; }

std::string combine_names(bool with_counting = true) {
  std::vector<std::string> names;
  for (Combine c : kAllCombines)
    if (with_counting || !counts_members(c)) names.emplace_back(to_string(c));
  return join(names);
}

std::string scope_names() {
  std::vector<std::string> names;
  for (Scope s : kAllScopes) names.emplace_back(to_string(s));
  names.emplace_back("pair");
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

[[noreturn]] void unknown_key(const Entry& e, const std::string& file, std::string_view what,
                              std::string_view expected) {
  yaml::fail(e.key_node, file, fmt::format("unknown key '{}' in {} (expected one of: {})", e.key, what, expected));
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

// `bound` and `meets`: a mapping with min and/or max.
Bound parse_bound(const Entry& bound_entry, const std::string& file, Criterion& c) {
  const std::string& name = bound_entry.key;
  require_value(bound_entry, file, "a mapping with min and/or max, e.g. {min: 700}");
  Bound bound;
  for (const auto& e : entries_of(bound_entry.value, file, name)) {
    if (e.key != "min" && e.key != "max") unknown_key(e, file, name, "min, max");
    require_value(e, file, "a number");
    const double v = yaml::get_number(e.value, file, fmt::format("{}.{}", name, e.key));
    (e.key == "min" ? bound.min : bound.max) = v;
    c.where_of[name + "." + e.key] = yaml::where(e.value, file);
  }
  if (!bound.min && !bound.max)
    yaml::fail(bound_entry.value, file, fmt::format("{}: expected min and/or max, e.g. {{min: 700}}, found neither", name));
  if (bound.min && bound.max && *bound.min > *bound.max) {
    throw InputError(c.where_of[name + ".max"],
                     fmt::format("{}: min {} is greater than max {}: no value can meet it", name, *bound.min,
                                 *bound.max));
  }
  return bound;
}

Combine parse_combine(const Entry& e, const std::string& file, bool allow_counting) {
  require_value(e, file, fmt::format("one of: {}", combine_names(allow_counting)));
  const std::string text = yaml::get_string(e.value, file, e.key);
  const auto combine = combine_from_string(text);
  if (!combine)
    yaml::fail(e.value, file, fmt::format("unknown {} '{}' (expected one of: {})", e.key, text, combine_names(allow_counting)));
  if (!allow_counting && counts_members(*combine)) {
    yaml::fail(e.value, file,
               fmt::format("{}: '{}' counts members against 'meets' and applies only to combine (expected one of: {})",
                           e.key, text, combine_names(false)));
  }
  return *combine;
}

std::int64_t positive_int(const YAML::Node& node, const std::string& file, std::string_view what) {
  const std::int64_t v = yaml::get_int(node, file, what);
  if (v < 1) yaml::fail(node, file, fmt::format("{}: expected a positive integer, found {}", what, v));
  return v;
}

OutlierRule parse_outliers(const Entry& entry, const std::string& file) {
  require_value(entry, file, "a mapping with ratio and/or mad, e.g. {ratio: 0.95}");
  OutlierRule rule;
  for (const auto& e : entries_of(entry.value, file, "outliers")) {
    require_value(e, file, "a value");
    if (e.key == "ratio") {
      const double r = yaml::get_number(e.value, file, "outliers.ratio");
      if (!(r > 0 && r <= 1))
        yaml::fail(e.value, file, fmt::format("outliers.ratio: expected a fraction of the median in (0, 1], e.g. 0.95, found {}", r));
      rule.ratio = r;
    } else if (e.key == "mad") {
      const double k = yaml::get_number(e.value, file, "outliers.mad");
      if (!(k > 0)) yaml::fail(e.value, file, fmt::format("outliers.mad: expected a positive number of robust deviations, e.g. 4, found {}", k));
      rule.mad = k;
    } else if (e.key == "peers") {
      const std::string text = yaml::get_string(e.value, file, "outliers.peers");
      if (text == "step") rule.peers = OutlierRule::Peers::step;
      else if (text == "all") rule.peers = OutlierRule::Peers::all;
      else yaml::fail(e.value, file, fmt::format("outliers.peers: unknown '{}' (expected one of: step, all)", text));
    } else if (e.key == "side") {
      const std::string text = yaml::get_string(e.value, file, "outliers.side");
      if (text == "low") rule.side = Side::low;
      else if (text == "high") rule.side = Side::high;
      else if (text == "both") rule.side = Side::both;
      else yaml::fail(e.value, file, fmt::format("outliers.side: unknown '{}' (expected one of: low, high, both)", text));
    } else if (e.key == "max") {
      rule.max = yaml::get_int(e.value, file, "outliers.max");
      if (rule.max < 0) yaml::fail(e.value, file, "outliers.max: expected how many outliers are tolerated (0 or more)");
    } else {
      unknown_key(e, file, "outliers", "ratio, mad, peers, side, max");
    }
  }
  if (!rule.ratio && !rule.mad)
    yaml::fail(entry.value, file, "outliers: expected ratio and/or mad, e.g. {ratio: 0.95} or {mad: 4}, found neither");
  return rule;
}

// {nodes: 2} or {ranks: 16}; `at` also takes `max`.
void parse_scale(const Entry& entry, const std::string& file, ScalingRule& rule, bool is_base, bool& dim_set) {
  const std::string what = fmt::format("scaling.{}", entry.key);
  require_value(entry, file, "a mapping, e.g. {nodes: 2}");
  const auto entries = entries_of(entry.value, file, what);
  if (entries.size() != 1)
    yaml::fail(entry.value, file, fmt::format("{}: expected exactly one of nodes or ranks, e.g. {{nodes: 2}}", what));
  const Entry& e = entries.front();
  if (e.key != "nodes" && e.key != "ranks") unknown_key(e, file, what, "nodes, ranks");
  require_value(e, file, is_base ? "a number of nodes or ranks" : "a number, or max");
  const auto dim = e.key == "nodes" ? ScalingRule::Dim::nodes : ScalingRule::Dim::ranks;
  if (dim_set && dim != rule.dim)
    yaml::fail(e.key_node, file, "scaling: base and at must count the same thing (both nodes or both ranks)");
  rule.dim = dim;
  dim_set = true;
  const std::string sub = fmt::format("{}.{}", what, e.key);
  if (is_base) {
    rule.base = positive_int(e.value, file, sub);
  } else if (e.value.IsScalar() && e.value.Scalar() == "max") {
    rule.at.reset();
  } else {
    rule.at = positive_int(e.value, file, sub);
  }
}

ScalingRule parse_scaling(const Entry& entry, const std::string& file) {
  require_value(entry, file, "a mapping with base (and at), e.g. {base: {nodes: 2}}");
  ScalingRule rule;
  bool dim_set = false, has_base = false;
  for (const auto& e : entries_of(entry.value, file, "scaling")) {
    if (e.key == "base") {
      parse_scale(e, file, rule, true, dim_set);
      has_base = true;
    } else if (e.key == "at") {
      parse_scale(e, file, rule, false, dim_set);
    } else if (e.key == "normalise") {
      require_value(e, file, "none, ranks or nodes");
      const std::string text = yaml::get_string(e.value, file, "scaling.normalise");
      if (text == "none") rule.normalise = ScalingRule::Normalise::none;
      else if (text == "ranks") rule.normalise = ScalingRule::Normalise::ranks;
      else if (text == "nodes") rule.normalise = ScalingRule::Normalise::nodes;
      else yaml::fail(e.value, file, fmt::format("scaling.normalise: unknown '{}' (expected one of: none, ranks, nodes)", text));
    } else {
      unknown_key(e, file, "scaling", "base, at, normalise");
    }
  }
  if (!has_base) yaml::fail(entry.value, file, "scaling: missing required key 'base', e.g. base: {nodes: 2}");
  if (rule.at && *rule.at == rule.base)
    yaml::fail(entry.value, file, fmt::format("scaling: at and base are the same scale ({}): nothing to compare", rule.base));
  return rule;
}

HoldIn parse_hold_in(const Entry& entry, const std::string& file) {
  require_value(entry, file, "a mapping, e.g. {at_least: 4, of: 5}");
  HoldIn hold;
  if (entry.value.IsScalar()) {
    hold.at_least = positive_int(entry.value, file, "hold_in");
    return hold;
  }
  bool has_at_least = false;
  for (const auto& e : entries_of(entry.value, file, "hold_in")) {
    require_value(e, file, "a positive integer");
    if (e.key == "at_least") {
      hold.at_least = positive_int(e.value, file, "hold_in.at_least");
      has_at_least = true;
    } else if (e.key == "of") {
      hold.of = positive_int(e.value, file, "hold_in.of");
    } else {
      unknown_key(e, file, "hold_in", "at_least, of");
    }
  }
  if (!has_at_least) yaml::fail(entry.value, file, "hold_in: missing required key 'at_least', e.g. {at_least: 4, of: 5}");
  if (hold.of && hold.at_least > *hold.of) {
    yaml::fail(entry.value, file,
               fmt::format("hold_in: at_least {} is more than of {}: it can never hold", hold.at_least, *hold.of));
  }
  return hold;
}

const SourceLocation& place(const Criterion& c, const std::string& key) {
  const auto it = c.where_of.find(key);
  return it != c.where_of.end() ? it->second : c.where;
}

// Keys that cannot go together, or that need another: checked once the criterion is read.
void check_combinations(const Criterion& c, const std::string& what) {
  const auto has = [&](const char* key) { return c.where_of.count(key) > 0; };
  const auto refuse = [&](const char* key, const std::string& why) {
    throw InputError(place(c, key), fmt::format("criterion '{}': {}", c.id, why));
  };
  (void)what;
  if (c.outliers && has("bound"))
    refuse("outliers", "has both 'bound' and 'outliers': an outlier rule judges members against their peers, "
                       "a bound against a number; write two criteria");
  if (c.outliers && has("combine"))
    refuse("combine", "'combine' does not apply to an outlier rule: every member is judged against its peers");
  if (c.outliers && c.scaling) refuse("scaling", "'scaling' and 'outliers' cannot be combined; write two criteria");
  if (counts_members(c.combine) && !c.meets)
    refuse("combine", fmt::format("combine: {} counts the members that meet a bound: give it as 'meets', "
                                  "e.g. meets: {{min: 700}}",
                                  to_string(c.combine)));
  if (c.meets && !counts_members(c.combine))
    refuse("meets", "'meets' applies only to combine: count or combine: fraction");
  if (c.scope == Scope::communicator && c.point.empty())
    refuse("scope", "scope communicator judges the rows of a collective step's points table, one per "
                    "communicator: name the point, e.g. point: {bytes: 64M}");
  if (c.scope == Scope::communicator && c.scaling)
    refuse("scaling", "'scaling' compares scales (steps, or the rows of a scope=scaling step): use scope step");
  if (!c.point.empty() && (c.scope == Scope::rank || c.scope == Scope::node))
    refuse("scope", fmt::format("scope {} needs a per-rank metric, but 'point' names a row of a sweep, which is "
                                "measured once per step (use scope step, repetition or communicator)",
                                to_string(c.scope)));
  if (has("reduce") && c.scope == Scope::rank)
    refuse("reduce", "'reduce' combines the ranks of one member, but with scope rank each member is one rank "
                     "(use scope node, step or repetition)");
  if (has("reduce") && c.scope == Scope::communicator)
    refuse("reduce", "'reduce' does not apply to scope communicator: each member is one row of the points table, "
                     "already one value per communicator");
  if (c.across_repetitions && c.scope == Scope::repetition)
    refuse("across_repetitions", "'across_repetitions' combines the repetitions of one member, but with scope "
                                 "repetition each member is a repetition");
  if (c.hold_in && c.across_repetitions)
    refuse("hold_in", "'hold_in' judges each repetition alone, so 'across_repetitions' cannot merge them");
  if (c.hold_in && c.scaling) refuse("hold_in", "'hold_in' cannot be combined with 'scaling'");
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
      c.combine = parse_combine(e, file, true);
      c.where_of["combine"] = value_place();
    } else if (e.key == "reduce") {
      c.reduce = parse_combine(e, file, false);
      c.where_of["reduce"] = value_place();
    } else if (e.key == "across_repetitions") {
      c.across_repetitions = parse_combine(e, file, false);
      c.where_of["across_repetitions"] = value_place();
    } else if (e.key == "scope") {
      require_value(e, file, fmt::format("one of: {}", scope_names()));
      const std::string text = yaml::get_string(e.value, file, "scope");
      const auto scope = scope_from_string(text);
      if (!scope) yaml::fail(e.value, file, fmt::format("unknown scope '{}' (expected one of: {})", text, scope_names()));
      c.scope = *scope;
      c.where_of["scope"] = value_place();
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
    } else if (e.key == "meets") {
      c.where_of["meets"] = yaml::where(e.key_node, file);
      c.meets = parse_bound(e, file, c);
    } else if (e.key == "outliers") {
      c.where_of["outliers"] = yaml::where(e.key_node, file);
      c.outliers = parse_outliers(e, file);
    } else if (e.key == "scaling") {
      c.where_of["scaling"] = yaml::where(e.key_node, file);
      c.scaling = parse_scaling(e, file);
    } else if (e.key == "hold_in") {
      c.where_of["hold_in"] = yaml::where(e.key_node, file);
      c.hold_in = parse_hold_in(e, file);
    } else {
      yaml::fail(e.key_node, file, fmt::format("unknown key '{}' in {} (expected one of: {})", e.key, what, kCriterionKeys));
    }
  }
  const auto missing = [&](std::string_view key) {
    yaml::fail(node, file,
               fmt::format("{}{}: missing required key '{}' (required: id, benchmark, metric, bound; or outliers "
                           "instead of bound)",
                           what, c.id.empty() ? "" : fmt::format(" ('{}')", c.id), key));
  };
  if (c.id.empty()) missing("id");
  if (c.benchmark.empty()) missing("benchmark");
  if (c.metric.empty()) missing("metric");
  if (!has_bound && !c.outliers) missing("bound");
  if (!c.where_of.count("scope")) c.scope = c.point.empty() ? Scope::rank : Scope::step;
  check_combinations(c, what);
  return c;
}

Waiver parse_waiver(const YAML::Node& node, const std::string& file, std::size_t index,
                    const std::vector<Criterion>& criteria) {
  const std::string what = fmt::format("waiver {} of 'waivers'", index + 1);
  Waiver w;
  w.where = yaml::where(node, file);
  const Criterion* target = nullptr;
  YAML::Node hosts_node;
  for (const auto& e : entries_of(node, file, what)) {
    if (e.key == "criterion") {
      require_value(e, file, "the id of a criterion of this contract");
      w.criterion = yaml::get_string(e.value, file, "criterion");
      const auto it = std::find_if(criteria.begin(), criteria.end(), [&](const Criterion& c) { return c.id == w.criterion; });
      if (it == criteria.end()) {
        std::vector<std::string> ids;
        for (const auto& c : criteria) ids.push_back(c.id);
        yaml::fail(e.value, file, fmt::format("{}: unknown criterion '{}' (expected one of: {})", what, w.criterion, join(ids)));
      }
      target = &*it;
    } else if (e.key == "hosts") {
      require_value(e, file, "a host name or a list of host names");
      hosts_node = e.key_node;
      if (e.value.IsScalar()) {
        w.hosts.push_back(e.value.Scalar());
      } else if (e.value.IsSequence() && e.value.size() > 0) {
        for (const auto& h : e.value) w.hosts.push_back(yaml::get_string(h, file, "hosts"));
      } else {
        yaml::fail(e.value, file, "hosts: expected a host name or a non-empty list of host names");
      }
    } else if (e.key == "reason") {
      require_value(e, file, "why the failure is accepted, e.g. a ticket number");
      w.reason = yaml::get_string(e.value, file, "reason");
    } else if (e.key == "expires") {
      require_value(e, file, "a date, YYYY-MM-DD");
      w.expires = yaml::get_string(e.value, file, "expires");
      if (!is_iso_date(w.expires))
        yaml::fail(e.value, file, fmt::format("expires: expected a date as YYYY-MM-DD, e.g. 2025-07-01, found '{}'", w.expires));
    } else {
      unknown_key(e, file, what, "criterion, hosts, reason, expires");
    }
  }
  const auto missing = [&](std::string_view key, std::string_view why) {
    yaml::fail(node, file, fmt::format("{}: missing required key '{}' ({})", what, key, why));
  };
  if (w.criterion.empty()) missing("criterion", "the id of the criterion it waives");
  if (w.reason.empty()) missing("reason", "a waiver must say why");
  if (w.expires.empty()) missing("expires", "a waiver must end: give the last day it applies, YYYY-MM-DD");
  if (!w.hosts.empty() && target && !target->is_per_host()) {
    yaml::fail(hosts_node, file,
               fmt::format("{}: criterion '{}' judges {}s, not hosts, so a waiver for it cannot name hosts "
                           "(leave out 'hosts' to waive the whole criterion)",
                           what, w.criterion, to_string(target->scope)));
  }
  return w;
}

std::string file_stem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string sorted_list(std::vector<std::string> names) {
  if (names.empty()) return "(none)";
  std::sort(names.begin(), names.end());
  return join(names);
}

// ---- matching ----------------------------------------------------------------------------

bool numbers_equal(const ParamValue& a, const ParamValue& b) {
  const auto* ai = std::get_if<std::int64_t>(&a);
  const auto* bi = std::get_if<std::int64_t>(&b);
  if (ai && bi) return *ai == *bi;
  return *as_number(a) == *as_number(b);
}

// A size written with a unit ("1M") as a number, so that it can equal an integer parameter.
std::optional<ParamValue> size_of(const ParamValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto bytes = yaml::parse_size(*s)) return ParamValue{*bytes};
  }
  return std::nullopt;
}

bool value_matches(const ParamValue& want, const ParamValue& have) {
  const bool want_number = as_number(want).has_value();
  const bool have_number = as_number(have).has_value();
  if (want_number && have_number) return numbers_equal(want, have);
  if (!want_number && have_number) {
    const auto size = size_of(want);
    return size && numbers_equal(*size, have);
  }
  if (want_number && !have_number) {
    const auto size = size_of(have);
    return size && numbers_equal(want, *size);
  }
  if (const auto* wb = std::get_if<bool>(&want)) {
    const auto* hb = std::get_if<bool>(&have);
    return hb && *wb == *hb;
  }
  const auto* ws = std::get_if<std::string>(&want);
  const auto* hs = std::get_if<std::string>(&have);
  return ws && hs && *ws == *hs;
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
    case Combine::sum: return "sum";
    case Combine::stddev: return "stddev";
    case Combine::cv: return "cv";
    case Combine::count: return "count";
    case Combine::fraction: return "fraction";
  }
  return "min";
}

std::optional<Combine> combine_from_string(std::string_view text) {
  for (Combine c : kAllCombines)
    if (to_string(c) == text) return c;
  return std::nullopt;
}

std::string_view to_string(Scope s) {
  switch (s) {
    case Scope::rank: return "rank";
    case Scope::node: return "node";
    case Scope::step: return "step";
    case Scope::repetition: return "repetition";
    case Scope::communicator: return "communicator";
  }
  return "rank";
}

std::optional<Scope> scope_from_string(std::string_view text) {
  for (Scope s : kAllScopes)
    if (to_string(s) == text) return s;
  if (text == "pair") return Scope::communicator;  // the word people use for scope=pairs steps
  return std::nullopt;
}

std::string_view to_string(Side s) {
  switch (s) {
    case Side::low: return "low";
    case Side::high: return "high";
    case Side::both: return "both";
  }
  return "both";
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

std::string OutlierRule::text() const {
  std::vector<std::string> parts;
  if (ratio) parts.push_back(fmt::format("{} x median", *ratio));
  if (mad) parts.push_back(fmt::format("{} MAD", *mad));
  std::string out = "within " + join(parts, " or ");
  if (max > 0) out += fmt::format(", <= {} out", max);
  return out;
}

bool is_iso_date(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (t[i] < '0' || t[i] > '9') return false;
  const int year = std::stoi(std::string(t.substr(0, 4)));
  const int month = std::stoi(std::string(t.substr(5, 2)));
  const int day = std::stoi(std::string(t.substr(8, 2)));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

Contract load_contract(const std::string& yaml_text, const std::string& path) {
  const YAML::Node root = yaml::parse(yaml_text, path);
  if (!root.IsDefined() || root.IsNull())
    throw InputError(SourceLocation{path, 1, 1}, "the contract is empty: expected a mapping with 'criteria'");
  Contract contract;
  contract.path = path;
  contract.name = file_stem(path);
  std::optional<Entry> criteria_entry, waivers_entry;
  for (const auto& e : entries_of(root, path, "the contract")) {
    if (e.key == "contract") {
      require_value(e, path, "the contract's name");
      contract.name = yaml::get_string(e.value, path, "contract");
    } else if (e.key == "criteria") {
      require_value(e, path, "a list of criteria");
      criteria_entry = e;
    } else if (e.key == "waivers") {
      waivers_entry = e;
    } else {
      yaml::fail(e.key_node, path,
                 fmt::format("unknown key '{}' in the contract (expected one of: contract, criteria, waivers)", e.key));
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
  if (waivers_entry && waivers_entry->value.IsDefined() && !waivers_entry->value.IsNull()) {
    const YAML::Node& waivers = waivers_entry->value;
    if (!waivers.IsSequence())
      yaml::fail(waivers, path, "waivers: expected a list of waivers (each item starting with '- criterion:')");
    std::size_t w = 0;
    for (const auto& item : waivers) contract.waivers.push_back(parse_waiver(item, path, w++, contract.criteria));
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
    if (c.scope == Scope::communicator && !contains(entry->point_keys, "group")) {
      throw InputError(place(c, "scope"),
                       fmt::format("criterion '{}': scope communicator needs a benchmark whose points are kept per "
                                   "communicator (a 'group' point key, as the collectives have), but benchmark {} "
                                   "has point keys: {}",
                                   c.id, c.benchmark, sorted_list(entry->point_keys)));
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

bool selects(const Criterion& c, std::string_view benchmark, const Params& params) {
  if (benchmark != c.benchmark) return false;
  for (const auto& [name, wanted] : c.select) {
    const auto it = params.find(name);
    if (it == params.end()) return false;
    const bool any = std::any_of(wanted.begin(), wanted.end(),
                                 [&](const ParamValue& w) { return value_matches(w, it->second); });
    if (!any) return false;
  }
  return true;
}

void check_selectors(const Contract& contract, const std::vector<PlannedStep>& planned) {
  for (const auto& c : contract.criteria) {
    std::size_t of_benchmark = 0;
    bool any = false;
    std::map<std::string, std::set<std::string>> values;  // what the planned steps run with
    for (const auto& s : planned) {
      if (s.benchmark != c.benchmark) continue;
      ++of_benchmark;
      any = any || selects(c, s.benchmark, s.params);
      for (const auto& [name, _] : c.select) {
        if (const auto it = s.params.find(name); it != s.params.end()) values[name].insert(format_value(it->second));
      }
    }
    if (any) continue;
    if (of_benchmark == 0) {
      throw InputError(place(c, "benchmark"),
                       fmt::format("criterion '{}': the campaign runs no {} step, so the criterion can never be met",
                                   c.id, c.benchmark));
    }
    std::vector<std::string> runs;
    for (const auto& [name, set] : values)
      runs.push_back(fmt::format("{}: {}", name, join(std::vector<std::string>(set.begin(), set.end()), "|")));
    throw InputError(place(c, "select"),
                     fmt::format("criterion '{}': select matches none of the {} planned {} step{} (they run with {})",
                                 c.id, of_benchmark, c.benchmark, of_benchmark == 1 ? "" : "s",
                                 runs.empty() ? "other parameters" : join(runs, "; ")));
  }
}

}  // namespace gpuaccept
