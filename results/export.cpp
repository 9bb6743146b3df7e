// JSON and CSV exports of a run's tables. JSON carries everything (run, verdict, every step's
// tables with units); CSV carries one table of one step, for a spreadsheet or pandas.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <unordered_map>

#include "results/report.hpp"
#include "results/store.hpp"

namespace gpuaccept {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json param_json(const ParamValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return number(*d);
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  return std::get<std::string>(v);
}

json table_json(const Table& t) {
  json columns = json::array();
  for (const auto& c : t.columns) {
    json values = json::array();
    for (double v : c.values) {
      if (c.integer && std::isfinite(v)) values.push_back(static_cast<std::int64_t>(v));
      else values.push_back(number(v));
    }
    columns.push_back({{"name", c.name}, {"unit", c.unit}, {"integer", c.integer}, {"better", to_string(c.better)},
                       {"values", std::move(values)}});
  }
  return {{"rows", t.rows()}, {"columns", std::move(columns)}};
}

// `samples_from`: the file to read the sample sets from that `s` holds without values.
json step_json(const StepResult& s, const std::string& samples_from) {
  json params = json::object();
  for (const auto& [k, v] : s.params) params[k] = param_json(v);
  json samples = json::array();
  for (const auto& smp : s.samples) {
    json values = json::array();
    const std::vector<double> read = smp.loaded() || samples_from.empty()
                                         ? std::vector<double>{}
                                         : read_sample_values(samples_from, s.id, smp.name);
    for (double v : smp.loaded() ? smp.values : read) values.push_back(number(v));
    samples.push_back({{"name", smp.name}, {"unit", smp.unit}, {"row_axis", smp.row_axis}, {"col_axis", smp.col_axis},
                       {"rows", smp.rows}, {"cols", smp.cols}, {"values", std::move(values)}});
  }
  return {{"id", s.id}, {"benchmark", s.benchmark}, {"params", std::move(params)}, {"backend", s.backend},
          {"repetition", s.repetition}, {"status", to_string(s.status)}, {"reason", s.reason},
          {"start_time", number(s.start_time)}, {"end_time", number(s.end_time)}, {"ranks", s.ranks},
          {"rank_messages", s.rank_messages}, {"per_rank", table_json(s.per_rank)}, {"points", table_json(s.points)},
          {"samples", std::move(samples)}};
}

json suspects_json(const std::vector<Suspect>& suspects) {
  json out = json::array();
  for (const auto& s : suspects) {
    out.push_back({{"kind", to_string(s.kind)}, {"hosts", s.hosts}, {"text", s.text}, {"step", s.step_id},
                   {"criterion", s.criterion}});
  }
  return out;
}

json verdict_json(const Verdict& v) {
  json criteria = json::array();
  for (const auto& c : v.criteria) {
    json worst = json::array();
    for (const auto& e : c.worst) {
      worst.push_back({{"step", e.step_id}, {"rank", e.rank}, {"host", e.host}, {"gpu", e.gpu}, {"device", e.device},
                       {"uuid", e.uuid}, {"repetition", e.repetition}, {"ranks", e.ranks}, {"value", number(e.value)},
                       {"shortfall", number(e.shortfall)}, {"reference", number(e.reference)}, {"waived", e.waived},
                       {"backend", e.backend}});
      if (!e.label.empty()) {
        worst.back()["communicator"] = {{"label", e.label}, {"group", e.group}, {"round", e.round},
                                        {"hosts", e.hosts}, {"hosts_total", e.hosts_total}};
      }
    }
    criteria.push_back({{"id", c.id}, {"description", c.description}, {"benchmark", c.benchmark}, {"metric", c.metric},
                        {"point", c.point}, {"scope", c.scope}, {"kind", c.kind}, {"combine", c.combine},
                        {"bound", c.bound}, {"outcome", to_string(c.outcome)}, {"measured", number(c.measured)},
                        {"measured_unit", c.measured_unit}, {"unit", c.unit}, {"members", c.members}, {"steps", c.steps},
                        {"note", c.note}, {"detail", c.detail}, {"waiver", c.waiver}, {"worst", std::move(worst)},
                        {"worst_total", c.worst_total}, {"failing_hosts", c.failing_hosts},
                        {"suspects", suspects_json(c.suspects)}});
  }
  return {{"contract", v.contract}, {"as_of", v.as_of}, {"exit_code", v.exit_code()}, {"criteria", std::move(criteria)},
          {"broken_steps", v.broken_steps}, {"incorrect_steps", v.incorrect_steps},
          {"suspects", suspects_json(v.suspects)}, {"quarantine", v.quarantine_hosts()}};
}

// RFC 4180 quoting; a text cell that a spreadsheet would run as a formula gets a leading quote.
std::string csv_text(const std::string& text) {
  std::string value = text;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@')) value = "'" + value;
  if (value.find_first_of(",\"\n\r") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += "\"\"";
    else out += c;
  }
  return out + "\"";
}

std::string csv_number(double v, bool integer) {
  if (!std::isfinite(v)) return "";
  if (integer) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);
}

}  // namespace

void write_json(std::ostream& out, const ReportInput& in, const std::string& step_id) {
  const RunInfo& run = *in.run;
  json ranks = json::array();
  for (const auto& r : run.ranks)
    ranks.push_back({{"rank", r.rank}, {"host", r.host}, {"local_rank", r.local_rank}, {"device", r.device}, {"uuid", r.uuid}});
  json steps = json::array();
  for (const auto& s : *in.steps)
    if (step_id.empty() || s.id == step_id) steps.push_back(step_json(s, in.samples_from));
  json doc = {
      {"format", "gpuaccept-export-1"},
      {"results", in.results_path},
      {"run",
       {{"schema_version", run.schema_version}, {"tool_version", run.tool_version}, {"git_revision", run.git_revision},
        {"campaign", run.campaign}, {"system", run.system}, {"phase", run.phase}, {"backend", run.backend},
        {"start_time", number(run.start_time)}, {"end_time", number(run.end_time)}, {"rank_count", run.rank_count},
        {"command_line", run.command_line}, {"campaign_path", run.campaign_path}, {"contract_path", run.contract_path},
        {"versions", run.versions}, {"environment", run.environment}, {"ranks", std::move(ranks)}}},
      {"verdict", verdict_json(*in.verdict)},
      {"steps", std::move(steps)},
  };
  // Invalid UTF-8 from a host name must not abort the export: replace it.
  out << doc.dump(1, ' ', false, json::error_handler_t::replace) << '\n';
}

void write_csv(std::ostream& out, const RunInfo& run, const StepResult& step, std::string_view table) {
  const bool per_rank = table == "per_rank";
  const Table& t = per_rank ? step.per_rank : step.points;
  std::unordered_map<std::int32_t, const RankInfo*> who;
  if (per_rank)
    for (const auto& r : run.ranks) who[r.rank] = &r;
  std::string header;
  for (const auto& c : t.columns) {
    header += (header.empty() ? "" : ",") + csv_text(c.name);
    if (per_rank && c.name == "rank") header += ",host,gpu,device,uuid";
  }
  out << header << "\n";
  for (std::size_t r = 0; r < t.rows(); ++r) {
    std::string line;
    for (const auto& c : t.columns) {
      if (!line.empty()) line += ',';
      line += csv_number(c.values[r], c.integer);
      if (per_rank && c.name == "rank") {
        const std::int32_t rank = r < step.ranks.size() ? step.ranks[r] : static_cast<std::int32_t>(c.values[r]);
        const auto it = who.find(rank);
        if (it == who.end()) {
          line += ",,,,";
        } else {
          line += fmt::format(",{},{},{},{}", csv_text(it->second->host), it->second->local_rank, csv_text(it->second->device),
                              csv_text(it->second->uuid));
        }
      }
    }
    out << line << "\n";
  }
}

}  // namespace gpuaccept
