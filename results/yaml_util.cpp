#include "results/yaml_util.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace gpuaccept::yaml {

namespace {
std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return fmt::format("'{}'", n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an undefined node";
  }
}
}  // namespace

YAML::Node parse(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(SourceLocation{file, e.mark.line + 1, e.mark.column + 1},
                     fmt::format("YAML syntax error: {}", e.msg));
  }
}

SourceLocation where(const YAML::Node& node, const std::string& file) {
  if (!node.IsDefined()) return SourceLocation{file, 0, 0};
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return SourceLocation{file, 0, 0};
  return SourceLocation{file, m.line + 1, m.column + 1};
}

void fail(const YAML::Node& node, const std::string& file, const std::string& message) {
  throw InputError(where(node, file), message);
}

void require_map(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (!node.IsMap()) fail(node, file, fmt::format("{} must be a mapping, found {}", what, kind_of(node)));
}

void check_keys(const YAML::Node& map, const std::string& file,
                std::initializer_list<std::string_view> allowed, std::string_view what) {
  require_map(map, file, what);
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (auto a : allowed) known = known || (a == key);
    if (!known) {
      std::string list;
      for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
      fail(kv.first, file, fmt::format("unknown key '{}' in {} (expected one of: {})", key, what, list));
    }
  }
}

std::string get_string(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (!node.IsScalar()) fail(node, file, fmt::format("{}: expected a string, found {}", what, kind_of(node)));
  return node.Scalar();
}

double get_number(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(v)) return v;
  }
  fail(node, file, fmt::format("{}: expected a number, found {}", what, kind_of(node)));
}

std::int64_t get_int(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  fail(node, file, fmt::format("{}: expected an integer, found {}", what, kind_of(node)));
}

bool get_bool(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  fail(node, file, fmt::format("{}: expected true or false, found {}", what, kind_of(node)));
}

std::optional<std::int64_t> parse_size(std::string_view text) {
  double number = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || !std::isfinite(number) || number < 0) return std::nullopt;
  std::string_view unit(p, static_cast<std::size_t>(text.data() + text.size() - p));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  double scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else return std::nullopt;
  const double bytes = number * scale;
  if (bytes > static_cast<double>(std::numeric_limits<std::int64_t>::max()) || std::floor(bytes) != bytes)
    return std::nullopt;
  return static_cast<std::int64_t>(bytes);
}

std::int64_t get_size(const YAML::Node& node, const std::string& file, std::string_view what) {
  if (node.IsScalar()) {
    if (auto v = parse_size(node.Scalar())) return *v;
  }
  fail(node, file,
       fmt::format("{}: expected a size in bytes (e.g. 4096, 64K, 8M, 1G), found {}", what, kind_of(node)));
}

}  // namespace gpuaccept::yaml
