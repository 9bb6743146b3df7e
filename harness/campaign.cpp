#include "harness/campaign.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "results/system.hpp"
#include "results/yaml_util.hpp"

namespace gpuaccept::harness {

namespace {

using suites::ParamSpec;
using suites::ParamType;

std::string expected_text(const ParamSpec& spec) {
  std::string what;
  switch (spec.type) {
    case ParamType::integer: what = "an integer"; break;
    case ParamType::size: what = "a size in bytes (e.g. 4096, 64K, 8M, 1G)"; break;
    case ParamType::real: what = "a number"; break;
    case ParamType::boolean: what = "true or false"; break;
    case ParamType::text:
      what = spec.choices.empty() ? "a string" : "one of: " + fmt::format("{}", fmt::join(spec.choices, ", "));
      if (!spec.sets.empty()) {
        std::vector<std::string> names;
        for (const auto& [name, members] : spec.sets) names.push_back(name);
        what += fmt::format(" (or a set: {})", fmt::join(names, ", "));
      }
      break;
  }
  if (spec.min && spec.max) what += fmt::format(" in [{:g}, {:g}]", *spec.min, *spec.max);
  else if (spec.min) what += fmt::format(" >= {:g}", *spec.min);
  else if (spec.max) what += fmt::format(" <= {:g}", *spec.max);
  return what;
}

ParamValue convert(const YAML::Node& node, const ParamSpec& spec, const std::string& file) {
  const std::string what = fmt::format("parameter '{}'", spec.name);
  auto bad = [&](const std::string& found) {
    yaml::fail(node, file, fmt::format("{}: expected {}, found {}", what, expected_text(spec), found));
  };
  if (!node.IsScalar()) bad(node.IsSequence() ? "a nested list" : node.IsMap() ? "a mapping" : "nothing");
  const std::string& raw = node.Scalar();
  ParamValue value;
  double numeric = 0;
  switch (spec.type) {
    case ParamType::integer: {
      std::int64_t v = 0;
      try {
        v = yaml::get_int(node, file, what);
      } catch (const InputError&) {
        bad(fmt::format("'{}'", raw));
      }
      value = v;
      numeric = static_cast<double>(v);
      break;
    }
    case ParamType::size: {
      auto v = yaml::parse_size(raw);
      if (!v) {
        if (!raw.empty() && raw.front() == '-') bad(fmt::format("'{}' (a size cannot be negative)", raw));
        bad(fmt::format("'{}'", raw));
      }
      value = *v;
      numeric = static_cast<double>(*v);
      break;
    }
    case ParamType::real: {
      double v = 0;
      try {
        v = yaml::get_number(node, file, what);
      } catch (const InputError&) {
        bad(fmt::format("'{}'", raw));
      }
      value = v;
      numeric = v;
      break;
    }
    case ParamType::boolean: {
      bool v = false;
      try {
        v = yaml::get_bool(node, file, what);
      } catch (const InputError&) {
        bad(fmt::format("'{}'", raw));
      }
      value = v;
      break;
    }
    case ParamType::text: {
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), raw) == spec.choices.end())
        bad(fmt::format("'{}'", raw));
      value = raw;
      break;
    }
  }
  if (spec.type == ParamType::integer || spec.type == ParamType::size || spec.type == ParamType::real) {
    if ((spec.min && numeric < *spec.min) || (spec.max && numeric > *spec.max))
      bad(fmt::format("{} (out of range)", raw));
  }
  return value;
}

std::vector<ParamValue> convert_values(const YAML::Node& node, const ParamSpec& spec, const std::string& file) {
  std::vector<ParamValue> values;
  // A scalar naming one of the parameter's sets expands to its members.
  const auto add = [&](const YAML::Node& item) {
    if (spec.type == ParamType::text && item.IsScalar())
      if (const auto set = spec.sets.find(item.Scalar()); set != spec.sets.end()) {
        for (const auto& member : set->second) values.emplace_back(member);
        return;
      }
    values.push_back(convert(item, spec, file));
  };
  if (node.IsSequence()) {
    if (node.size() == 0) yaml::fail(node, file, fmt::format("parameter '{}': the list is empty", spec.name));
    for (const auto& item : node) add(item);
  } else {
    add(node);
  }
  return values;
}

const ParamSpec* find_spec(const suites::BenchmarkDef& def, std::string_view name) {
  for (const auto& p : def.params)
    if (p.name == name) return &p;
  return nullptr;
}

std::string param_names(const suites::BenchmarkDef& def) {
  std::vector<std::string> names;
  for (const auto& p : def.params) names.push_back(p.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<Params> cartesian(const std::vector<std::pair<std::string, std::vector<ParamValue>>>& axes) {
  std::vector<Params> out{Params{}};
  for (const auto& [name, values] : axes) {
    std::vector<Params> next;
    for (const auto& partial : out)
      for (const auto& v : values) {
        Params p = partial;
        p[name] = v;
        next.push_back(std::move(p));
      }
    out = std::move(next);
  }
  return out;
}

}  // namespace

bool names_system_file(const std::string& system) {
  const auto ext = std::filesystem::path(system).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(SourceLocation{path, 0, 0}, "no such file");
  if (std::filesystem::is_directory(path, ec)) throw InputError(SourceLocation{path, 0, 0}, "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(SourceLocation{path, 0, 0}, "cannot be read (permission denied?)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Campaign load_campaign(const std::string& text, const std::string& path, const suites::Registry& registry,
                       const std::string* stored_system) {
  const YAML::Node root = yaml::parse(text, path);
  if (!root.IsMap()) yaml::fail(root, path, "a campaign must be a mapping with at least 'campaign' and 'benchmarks'");
  yaml::check_keys(root,
                   path,
                   {"campaign", "description", "system", "phase", "backend", "repetitions", "contract",
                    "output_dir", "defaults", "benchmarks"},
                   "the campaign");
  Campaign c;
  c.path = path;
  c.text = text;
  if (!root["campaign"]) yaml::fail(root, path, "missing required key 'campaign' (the campaign's name)");
  c.name = yaml::get_string(root["campaign"], path, "campaign");
  // The name becomes part of file names: no '/', no control characters (spaces and quotes are
  // fine: every script we write quotes it).
  const bool control = std::any_of(c.name.begin(), c.name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; });
  if (c.name.empty() || c.name.find('/') != std::string::npos || control)
    yaml::fail(root["campaign"], path, "campaign: expected a name without '/' or control characters");
  if (root["description"]) c.description = yaml::get_string(root["description"], path, "description");
  c.system = root["system"] ? yaml::get_string(root["system"], path, "system") : "unnamed";
  if (names_system_file(c.system)) {
    const auto base = std::filesystem::path(path).parent_path();
    const std::string file =
        std::filesystem::path(c.system).is_absolute() ? c.system : (base / c.system).lexically_normal().string();
    try {
      c.system_description = std::make_shared<const SystemDescription>(
          stored_system ? load_system(*stored_system, file + " (stored)") : load_system_file(file));
    } catch (const InputError& e) {
      // Both places: where the campaign names it, and what is wrong inside the description.
      yaml::fail(root["system"], path, fmt::format("system: {}", e.what()));
    }
    c.system = c.system_description->name;
  }
  c.phase = root["phase"] ? yaml::get_string(root["phase"], path, "phase") : "";
  if (root["backend"]) {
    c.backend = yaml::get_string(root["backend"], path, "backend");
    if (c.backend != "auto" && c.backend != "cpu" && c.backend != "cuda")
      yaml::fail(root["backend"], path, fmt::format("backend: expected one of: auto, cpu, cuda, found '{}'", c.backend));
  }
  if (root["repetitions"]) {
    const auto reps = yaml::get_int(root["repetitions"], path, "repetitions");
    if (reps < 1 || reps > 10000) yaml::fail(root["repetitions"], path, "repetitions: expected an integer in [1, 10000]");
    c.repetitions = static_cast<int>(reps);
  }
  if (root["contract"]) {
    const auto contract = yaml::get_string(root["contract"], path, "contract");
    const auto base = std::filesystem::path(path).parent_path();
    c.contract_path = std::filesystem::path(contract).is_absolute() ? contract : (base / contract).lexically_normal().string();
  }
  if (root["output_dir"]) c.output_dir = yaml::get_string(root["output_dir"], path, "output_dir");

  YAML::Node defaults = root["defaults"];
  if (defaults) yaml::require_map(defaults, path, "defaults");

  const YAML::Node list = root["benchmarks"];
  if (!list) yaml::fail(root, path, "missing required key 'benchmarks' (the list of benchmarks to run)");
  if (!list.IsSequence() || list.size() == 0)
    yaml::fail(list, path, "benchmarks: expected a non-empty list of {benchmark: NAME, params: {...}}");

  // Every default must be a parameter of at least one benchmark, or it is a typo.
  if (defaults) {
    for (const auto& kv : defaults) {
      const std::string key = kv.first.Scalar();
      bool used = false;
      for (const auto& def : registry.all()) used = used || find_spec(def, key);
      if (!used) yaml::fail(kv.first, path, fmt::format("defaults: '{}' is a parameter of no registered benchmark", key));
    }
  }

  for (const auto& item : list) {
    yaml::check_keys(item, path, {"benchmark", "params"}, "a benchmarks entry");
    if (!item["benchmark"]) yaml::fail(item, path, "a benchmarks entry needs 'benchmark: NAME'");
    CampaignEntry entry;
    entry.where = yaml::where(item, path);
    entry.benchmark = yaml::get_string(item["benchmark"], path, "benchmark");
    const suites::BenchmarkDef* def = registry.find(entry.benchmark);
    if (!def) {
      std::vector<std::string> names;
      for (const auto& b : registry.all()) names.push_back(b.name);
      yaml::fail(item["benchmark"], path, fmt::format("unknown benchmark '{}' (registered: {})", entry.benchmark, fmt::join(names, ", ")));
    }
    std::map<std::string, std::vector<ParamValue>> given;
    if (defaults) {
      for (const auto& kv : defaults)
        if (const ParamSpec* spec = find_spec(*def, kv.first.Scalar()))
          given[spec->name] = convert_values(kv.second, *spec, path);
    }
    if (const YAML::Node params = item["params"]) {
      yaml::require_map(params, path, "params");
      for (const auto& kv : params) {
        const std::string key = kv.first.Scalar();
        const ParamSpec* spec = find_spec(*def, key);
        if (!spec)
          yaml::fail(kv.first, path, fmt::format("unknown parameter '{}' of benchmark {} (expected one of: {})", key, def->name, param_names(*def)));
        given[key] = convert_values(kv.second, *spec, path);
      }
    }
    std::vector<std::pair<std::string, std::vector<ParamValue>>> axes;
    for (const auto& spec : def->params) {
      auto it = given.find(spec.name);
      axes.emplace_back(spec.name, it != given.end() ? it->second : std::vector<ParamValue>{spec.default_value});
    }
    entry.expanded = cartesian(axes);
    if (def->check) {
      for (const auto& p : entry.expanded) {
        const std::string problem = def->check(p);
        if (!problem.empty()) {
          const YAML::Node params = item["params"];
          yaml::fail(params ? params : item, path, fmt::format("benchmark {}: {}", def->name, problem));
        }
      }
    }
    c.entries.push_back(std::move(entry));
  }
  return c;
}

Campaign load_campaign_file(const std::string& path, const suites::Registry& registry) {
  return load_campaign(read_text_file(path), path, registry);
}

}  // namespace gpuaccept::harness
