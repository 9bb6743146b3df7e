#include "results/step_result.hpp"

#include <cmath>
#include <fmt/format.h>

namespace gpuaccept {

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::incorrect: return "incorrect";
    case Status::skipped: return "skipped";
    case Status::error: return "error";
    case Status::timeout: return "timeout";
    case Status::missing: return "missing";
  }
  return "unknown";
}

std::optional<Status> status_from_string(std::string_view text) {
  for (Status s : {Status::ok, Status::incorrect, Status::skipped, Status::error, Status::timeout,
                   Status::missing}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

namespace {
int severity(Status s) {
  switch (s) {
    case Status::ok: return 0;
    case Status::skipped: return 1;
    case Status::incorrect: return 2;
    case Status::missing: return 3;
    case Status::timeout: return 4;
    case Status::error: return 5;
  }
  return 5;
}
}  // namespace

Status worse(Status a, Status b) { return severity(a) >= severity(b) ? a : b; }

std::string format_value(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{:g}", *d);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

Params without_defaults(const Params& params, const Params& defaults) {
  Params out;
  for (const auto& [name, value] : params) {
    const auto d = defaults.find(name);
    const bool same = d != defaults.end() && (d->second == value || [&] {
      // 64 written as an integer and 64.0 as a real are the same value.
      const auto a = as_number(value), b = as_number(d->second);
      return a && b && *a == *b && !std::holds_alternative<bool>(value) && !std::holds_alternative<bool>(d->second);
    }());
    if (!same) out.emplace(name, value);
  }
  return out;
}

std::string format_params(const Params& p) {
  std::string out;
  for (const auto& [name, value] : p) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    out += format_value(value);
  }
  return out;
}

std::optional<std::int64_t> as_int(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d) && std::floor(*d) == *d) return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

std::optional<double> as_number(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::nullopt;
}

std::string_view to_string(Better b) {
  switch (b) {
    case Better::higher: return "higher";
    case Better::lower: return "lower";
    case Better::none: return "none";
  }
  return "none";
}

const Column* Table::find(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

Column* Table::find(std::string_view name) {
  for (auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

Column& Table::column(std::string_view name, std::string_view unit, bool integer, Better better) {
  if (auto* c = find(name)) return *c;
  columns.push_back(Column{std::string(name), std::string(unit), integer, better, {}});
  return columns.back();
}

}  // namespace gpuaccept
