#include "suites/registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace gpuaccept::suites {

std::string_view to_string(ParamType t) {
  switch (t) {
    case ParamType::integer: return "integer";
    case ParamType::size: return "size";
    case ParamType::real: return "number";
    case ParamType::text: return "string";
    case ParamType::boolean: return "bool";
  }
  return "?";
}

Registry& Registry::instance() {
  static Registry registry;
  return registry;
}

void Registry::add(BenchmarkDef def) {
  if (find(def.name)) throw std::logic_error("benchmark registered twice: " + def.name);
  if (def.default_warmup < 0 || def.default_warmup > 1000000 || def.default_iterations < 1 ||
      def.default_iterations > 10000000)
    throw std::logic_error("benchmark " + def.name + ": default warmup or iterations out of range");
  def.params.push_back({kWarmupParam, ParamType::integer, def.default_warmup,
                        "untimed iterations before timing", 0, 1e6, {}});
  def.params.push_back({kIterationsParam, ParamType::integer, def.default_iterations,
                        "timed iterations", 1, 1e7, {}});
  def.params.push_back({kTimeoutParam, ParamType::real, 600.0,
                        "seconds after which the step is stopped and recorded as timeout", 0.1, 1e6, {}});
  def.params.push_back({kSeedParam, ParamType::integer, std::int64_t{1},
                        "seed of the deterministic input data", 0, 9.0e15, {}});
  def.param_units.emplace(kWarmupParam, "iterations");
  def.param_units.emplace(kIterationsParam, "iterations");
  def.param_units.emplace(kTimeoutParam, "s");
  benchmarks_.push_back(std::move(def));
  std::sort(benchmarks_.begin(), benchmarks_.end(),
            [](const BenchmarkDef& a, const BenchmarkDef& b) { return a.name < b.name; });
}

const BenchmarkDef* Registry::find(std::string_view name) const {
  for (const auto& b : benchmarks_)
    if (b.name == name) return &b;
  return nullptr;
}

Catalog Registry::catalog() const {
  Catalog catalog;
  for (const auto& b : benchmarks_) {
    BenchmarkCatalogEntry e;
    e.name = b.name;
    for (const auto& p : b.params) e.params.push_back(p.name);
    for (const auto& m : b.rank_metrics) e.rank_metrics.push_back(m.name);
    for (const auto& m : b.point_metrics) e.point_metrics.push_back(m.name);
    e.point_keys = b.point_keys;
    catalog.push_back(std::move(e));
  }
  return catalog;
}

Params Registry::defaults(std::string_view benchmark) const {
  Params out;
  if (const BenchmarkDef* def = find(benchmark))
    for (const auto& p : def->params) out.emplace(p.name, p.default_value);
  return out;
}

Registration::Registration(BenchmarkDef (*make)()) { Registry::instance().add(make()); }

namespace {
const ParamValue& lookup(const Params& p, std::string_view name) {
  auto it = p.find(name);
  if (it == p.end()) throw std::logic_error("parameter not bound: " + std::string(name));
  return it->second;
}
}  // namespace

std::int64_t param_int(const Params& p, std::string_view name) {
  if (auto v = as_int(lookup(p, name))) return *v;
  throw std::logic_error("parameter is not an integer: " + std::string(name));
}
double param_real(const Params& p, std::string_view name) {
  if (auto v = as_number(lookup(p, name))) return *v;
  throw std::logic_error("parameter is not a number: " + std::string(name));
}
const std::string& param_text(const Params& p, std::string_view name) {
  return std::get<std::string>(lookup(p, name));
}
bool param_bool(const Params& p, std::string_view name) { return std::get<bool>(lookup(p, name)); }

}  // namespace gpuaccept::suites
