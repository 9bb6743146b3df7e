// The HTML report: one self-contained file, no script, no network. A Content-Security-Policy
// forbids scripts and remote loads outright, so even a text that escaped escaping could not run.
// Plots are inline SVG, aggregated before drawing, so that the page stays small at 500,000
// ranks: histograms instead of points, a heat map of at most max_heat_cells cells (groups of
// consecutive hosts, each showing its worst node), bounded lists of the worst members.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <unordered_map>

#include "results/report.hpp"
#include "results/store.hpp"
#include "results/stats.hpp"
#include "results/svg.hpp"

namespace gpuaccept {

namespace {

using svg::escape;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string iso(double t) {
  if (t <= 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px 40px;color:#222;background:#fafafa}
h1{font-size:1.5em;margin:18px 0 6px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:1em;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:.9em;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.banner{display:inline-block;padding:6px 14px;border-radius:4px;font-weight:bold;color:#fff}.PASS{background:#2e7d32}.FAIL{background:#c62828}.WAIVED{background:#b8860b}
span.PASS,span.FAIL,span.WAIVED{padding:1px 6px;border-radius:3px;color:#fff;font-size:.85em;font-weight:bold}
.note{color:#555;font-size:.9em}.muted{color:#777}details{margin:4px 0 10px}summary{cursor:pointer}
svg.plot{display:block;margin:8px 0;background:#fff;border:1px solid #e4e4e4;max-width:100%;height:auto}
svg .pt{font-size:13px;font-weight:bold}svg .tk{font-size:10px;fill:#444}svg .al{font-size:11px;fill:#333}svg .lg{font-size:10px;fill:#333}
svg .ol{font-size:10px;fill:#c62828}svg .hc{font-size:8px;fill:#111}svg .ax{stroke:#333}svg .gr{stroke:#eee}svg .bar{fill:#4a7fb5}svg .band{fill:#1f77b4;opacity:.12}
)";

std::string cell(const std::string& text, bool numeric = false) {
  return fmt::format("<td{}>{}</td>", numeric ? " class=\"n\"" : "", escape(text));
}

std::string word(Outcome o) {
  switch (o) {
    case Outcome::pass: return "PASS";
    case Outcome::fail: return "FAIL";
    case Outcome::waived: return "WAIVED";
  }
  return "FAIL";
}

// Rank -> host index and the hosts in rack order.
class Hosts {
 public:
  explicit Hosts(const RunInfo& run) {
    std::unordered_map<std::string, std::size_t> ids;
    ids.reserve(run.ranks.size() / 4 + 16);
    for (const auto& r : run.ranks) {
      const auto [it, added] = ids.emplace(r.host, names_.size());
      if (added) names_.push_back(r.host);
      by_rank_[r.rank] = it->second;
    }
  }
  // -1 when the rank is not in the run's rank table.
  long host_of(std::int32_t rank) const {
    const auto it = by_rank_.find(rank);
    return it == by_rank_.end() ? -1 : static_cast<long>(it->second);
  }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::int32_t, std::size_t> by_rank_;
};

std::int32_t rank_at(const StepResult& s, std::size_t row) {
  return row < s.ranks.size() ? s.ranks[row] : static_cast<std::int32_t>(row);
}

// The finite values of the ok ranks of a per-rank column.
std::vector<double> ok_values(const StepResult& s, const Column& col) {
  const Column* status = s.per_rank.find("status");
  std::vector<double> out;
  out.reserve(col.values.size());
  for (std::size_t r = 0; r < col.values.size(); ++r) {
    if (status && r < status->values.size() && status->values[r] != 0) continue;
    if (std::isfinite(col.values[r])) out.push_back(col.values[r]);
  }
  return out;
}


class HtmlReport {
 public:
  HtmlReport(std::ostream& out, const ReportInput& in, const HtmlOptions& o)
      : out_(out), in_(in), o_(o), run_(*in.run), steps_(*in.steps), verdict_(*in.verdict), hosts_(run_) {
    std::map<std::string, std::map<std::string, std::set<std::string>>> values;
    std::map<std::string, std::map<std::string, std::size_t>> present;
    std::map<std::string, std::size_t> count;
    for (const auto& st : steps_) {
      ++count[st.benchmark];
      for (const auto& [name, value] : st.params) {
        values[st.benchmark][name].insert(format_value(value));
        ++present[st.benchmark][name];
      }
    }
    for (const auto& [benchmark, names] : values)
      for (const auto& [name, set] : names)
        if (set.size() > 1 || present[benchmark][name] < count[benchmark]) varying_[benchmark].insert(name);
  }

  // "gemm dtype=fp64 rep 1": the benchmark and the parameters that tell its steps apart.
  std::string step_title(const StepResult& s) const {
    std::string out = s.benchmark;
    const auto it = varying_.find(s.benchmark);
    for (const auto& [name, value] : s.params)
      if (it != varying_.end() && it->second.count(name)) out += fmt::format(" {}={}", name, format_value(value));
    if (s.repetition > 0) out += fmt::format(" rep {}", s.repetition);
    return out;
  }

  void write() {
    const bool ok = verdict_.exit_code() == 0;
    const std::string title = fmt::format("gpuaccept: {} on {}", run_.campaign.empty() ? "run" : run_.campaign,
                                          run_.system.empty() ? "(system unknown)" : run_.system);
    out_ << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:; script-src 'none'; base-uri 'none'; form-action 'none'\">\n"
         << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         << "<title>" << escape(title) << " \xE2\x80\x94 " << (ok ? "PASS" : "FAIL") << "</title>\n<style>" << kStyle
         << "</style></head>\n<body>\n";
    out_ << "<h1>" << escape(title) << "</h1>\n";
    out_ << fmt::format("<p><span class=\"banner {0}\" id=\"verdict-banner\">{0}</span> <span class=\"note\">{1}</span></p>\n",
                        ok ? "PASS" : "FAIL", escape(summary()));
    out_ << "<nav class=\"note\"><a href=\"#verdict\">verdict</a> \xC2\xB7 <a href=\"#plots\">plots</a> \xC2\xB7 "
            "<a href=\"#steps\">steps</a> \xC2\xB7 <a href=\"#run\">run</a></nav>\n";
    write_facts();
    write_verdict();
    out_ << "<h2 id=\"plots\">Plots</h2>\n";
    write_bandwidth();
    write_distributions();
    write_heat_map();
    write_timelines();
    write_trends();
    write_steps();
    write_provenance();
    out_ << "<p class=\"muted\">Written by gpuaccept " << escape(run_.tool_version) << "; no scripts, no network: "
         << "this page is the whole report.</p>\n</body></html>\n";
  }

 private:
  std::string summary() const {
    std::size_t failed = 0, waived = 0;
    for (const auto& c : verdict_.criteria) {
      failed += c.outcome == Outcome::fail;
      waived += c.outcome == Outcome::waived;
    }
    std::string s = verdict_.criteria.empty()
                        ? "no criteria"
                    : failed > 0 ? fmt::format("{} of {} criteria failed", failed, verdict_.criteria.size())
                                 : fmt::format("{} of {} criteria passed", verdict_.criteria.size() - waived, verdict_.criteria.size());
    if (waived) s += fmt::format(", {} waived", waived);
    if (!verdict_.broken_steps.empty()) s += fmt::format("; {} step(s) broke", verdict_.broken_steps.size());
    if (!verdict_.incorrect_steps.empty()) s += fmt::format("; {} step(s) gave a wrong answer", verdict_.incorrect_steps.size());
    return s;
  }

  void write_facts() {
    std::map<std::string, std::size_t> devices;
    for (const auto& r : run_.ranks) devices[r.device]++;
    std::string models;
    for (const auto& [d, n] : devices) models += fmt::format("{}{} x {}", models.empty() ? "" : ", ", n, d.empty() ? "(unknown)" : d);
    out_ << "<table>\n";
    const auto row = [&](const char* name, const std::string& value) {
      out_ << "<tr><th>" << name << "</th>" << cell(value) << "</tr>\n";
    };
    row("campaign", run_.campaign);
    row("system", run_.system + (run_.phase.empty() ? "" : ", phase " + run_.phase));
    row("machine", fmt::format("{} ranks on {} hosts; {}", run_.ranks.size(), hosts_.names().size(), models));
    row("backend", run_.backend);
    row("time", fmt::format("{} .. {}{}", iso(run_.start_time), iso(run_.end_time),
                            run_.end_time > 0 ? "" : " (incomplete: the run did not finish)"));
    row("contract", in_.contract_source.empty() ? "none: only correctness and step status are judged"
                                                : verdict_.contract + " from " + in_.contract_source);
    row("waivers judged on", verdict_.as_of);
    row("results file", in_.results_path);
    out_ << "</table>\n";
  }

  void write_verdict() {
    out_ << "<h2 id=\"verdict\">Verdict</h2>\n";
    if (!verdict_.criteria.empty()) {
      out_ << "<table><tr><th>criterion</th><th>measured</th><th>bound</th><th>verdict</th><th>what</th></tr>\n";
      for (const auto& c : verdict_.criteria) {
        std::string what = c.description.empty() ? c.metric : c.description;
        if (!c.point.empty()) what += " (" + c.point + ")";
        out_ << "<tr><td class=\"mono\"><a href=\"#c-" << escape(c.id) << "\">" << escape(c.id) << "</a></td>"
             << cell(format_figure(c.measured, c.measured_unit), true) << cell(c.bound)
             << fmt::format("<td><span class=\"{0}\">{0}</span></td>", word(c.outcome)) << cell(what) << "</tr>\n";
      }
      out_ << "</table>\n";
    }
    for (const auto& c : verdict_.criteria) {
      out_ << fmt::format("<h3 id=\"c-{0}\">{0} <span class=\"{1}\">{1}</span></h3>\n", escape(c.id), word(c.outcome));
      out_ << fmt::format("<p class=\"note\">{} of <code>{}</code>{}, scope {}, {} over {} member(s) in {} step(s): "
                          "measured <b>{}</b>, bound {}</p>\n",
                          escape(c.kind), escape(c.metric), c.point.empty() ? "" : " at " + escape(c.point), escape(c.scope),
                          escape(c.combine), c.members, c.steps, escape(format_figure(c.measured, c.measured_unit)),
                          escape(c.bound));
      if (c.outcome == Outcome::pass) continue;
      if (!c.detail.empty()) out_ << "<p class=\"note\">" << escape(c.detail) << "</p>\n";
      if (!c.note.empty()) out_ << "<p class=\"note\">note: " << escape(c.note) << "</p>\n";
      if (!c.waiver.empty()) out_ << "<p class=\"note\">waiver: " << escape(c.waiver) << "</p>\n";
      if (!c.worst.empty()) {
        bool cpu = false, gpu = false;
        for (const auto& e : c.worst) (e.backend == "cpu" ? cpu : gpu) = true;
        const char* slot = cpu && gpu ? "GPU / CPU rank" : cpu ? "CPU rank" : "GPU";
        out_ << "<table><tr><th>member</th><th>host</th><th>" << slot
             << "</th><th>UUID</th><th>value</th><th>off</th><th>step</th></tr>\n";
        for (const auto& e : c.worst) {
          std::string host = e.host;
          if (!e.label.empty()) {
            for (const auto& h : e.hosts) host += (host.empty() ? "" : ", ") + h;
            if (e.hosts_total > e.hosts.size()) host += fmt::format(", and {} more", e.hosts_total - e.hosts.size());
          }
          std::string who = !e.label.empty() ? e.label + (e.round >= 0 ? fmt::format(", round {}", e.round) : "") +
                                                    fmt::format(" ({} ranks)", e.ranks)
                            : e.rank >= 0                                  ? fmt::format("rank {}", e.rank)
                            : !e.host.empty()                              ? fmt::format("node ({} ranks)", e.ranks)
                            : e.repetition >= 0 && c.scope == "repetition" ? fmt::format("repetition {}", e.repetition)
                            : !c.point.empty()                             ? "point " + c.point
                                                                           : "step";
          if (e.repetition >= 0 && c.scope != "repetition") who += fmt::format(", repetition {}", e.repetition);
          out_ << "<tr>" << cell(who) << cell(host) << cell(e.gpu >= 0 ? std::to_string(e.gpu) : "", true)
               << cell(e.uuid.empty() ? e.device : e.uuid) << cell(format_figure(e.value, c.unit), true)
               << cell(deviation_text(c, e) + (e.waived ? " waived" : "")) << cell(e.step_id) << "</tr>\n";
        }
        out_ << "</table>\n";
        if (c.worst_total > c.worst.size())
          out_ << fmt::format("<p class=\"note\">and {} more</p>\n", c.worst_total - c.worst.size());
      }
      write_suspects(c.suspects, "Diagnosis");
      if (!c.failing_hosts.empty()) {
        out_ << fmt::format("<p class=\"note\">{} host(s) to drain: ", c.failing_hosts.size());
        for (std::size_t i = 0; i < c.failing_hosts.size() && i < 50; ++i)
          out_ << (i ? ", " : "") << "<code>" << escape(c.failing_hosts[i]) << "</code>";
        if (c.failing_hosts.size() > 50) out_ << fmt::format(", and {} more", c.failing_hosts.size() - 50);
        out_ << "</p>\n";
      }
    }
    const auto list = [&](const char* title, const std::vector<std::string>& items) {
      if (items.empty()) return;
      out_ << "<h3>" << title << fmt::format(" ({})</h3>\n<ul>\n", items.size());
      for (std::size_t i = 0; i < items.size() && i < 200; ++i) out_ << "<li>" << escape(items[i]) << "</li>\n";
      if (items.size() > 200) out_ << fmt::format("<li>and {} more</li>\n", items.size() - 200);
      out_ << "</ul>\n";
    };
    std::vector<Suspect> other;
    for (const auto& s : verdict_.suspects)
      if (s.criterion.empty()) other.push_back(s);
    if (!other.empty()) {
      out_ << fmt::format("<h3 id=\"diagnosis\">Diagnosis ({})</h3>\n<p class=\"note\">Read from pairs steps that no "
                          "criterion judges (pairs below 0.9 x the step's median busbw at its largest size) and from "
                          "bisect steps.</p>\n",
                          other.size());
      write_suspects(other, "");
    }
    list("Broken steps", verdict_.broken_steps);
    list("Incorrect steps", verdict_.incorrect_steps);
  }

  void write_suspects(const std::vector<Suspect>& suspects, const char* title) {
    if (suspects.empty()) return;
    if (*title) out_ << "<p class=\"note\"><b>" << title << "</b></p>\n";
    out_ << "<ul class=\"suspects\">\n";
    for (std::size_t i = 0; i < suspects.size() && i < 50; ++i)
      out_ << "<li>" << escape(suspects[i].text) << " <span class=\"muted\">(step " << escape(suspects[i].step_id)
           << ")</span></li>\n";
    if (suspects.size() > 50) out_ << fmt::format("<li>and {} more</li>\n", suspects.size() - 50);
    out_ << "</ul>\n";
  }

  // The contract's busbw bounds of `benchmark` as markers at their message size.
  void add_bound_markers(svg::LinePlot& p, const std::string& benchmark) const {
    if (!in_.contract) return;
    for (const auto& c : in_.contract->criteria) {
      if (c.benchmark != benchmark || c.metric.rfind("busbw", 0) != 0 || c.scaling || c.outliers) continue;
      const auto bytes = c.point.find("bytes");
      if (bytes == c.point.end()) continue;
      const auto x = as_number(bytes->second);
      const auto y = c.bound.min ? c.bound.min : c.bound.max;
      if (x && y) p.markers.push_back(svg::Marker{*x, *y, fmt::format("{}: {} {}", c.id, c.metric, c.bound.text())});
    }
  }

  static const Column* busbw_column(const StepResult& s) {
    if (const Column* c = s.points.find("busbw_oop")) return c;
    for (const auto& c : s.points.columns)
      if (c.name.rfind("busbw", 0) == 0) return &c;
    return nullptr;
  }

  static std::string scope_of(const StepResult& s) {
    const auto it = s.params.find("scope");
    return it == s.params.end() ? std::string() : format_value(it->second);
  }

  // Bus bandwidth against message size, one plot per collective (benchmark) and scope, with the
  // contract's bounds. World, rail and scaling steps draw one line per communicator; node,
  // pairs and bisect steps (up to tens of thousands of communicators) draw the median, min and
  // max over their communicators, and the distribution at one size with the outliers named.
  void write_bandwidth() {
    std::map<std::pair<std::string, std::string>, std::vector<const StepResult*>> by_op;
    for (const auto& s : steps_) {
      if (s.status != Status::ok || !s.points.find("bytes") || !busbw_column(s)) continue;
      by_op[{s.benchmark, scope_of(s)}].push_back(&s);
    }
    if (by_op.empty()) return;
    out_ << "<h3>Bus bandwidth against message size</h3>\n";
    std::size_t plots = 0;
    for (const auto& [key, steps] : by_op) {
      if (plots++ >= o_.max_plots) {
        out_ << fmt::format("<p class=\"note\">{} more collectives not drawn.</p>\n", by_op.size() - o_.max_plots);
        break;
      }
      const auto& [benchmark, scope] = key;
      std::size_t most_groups = 1;
      for (const StepResult* s : steps) most_groups = std::max(most_groups, groups_of(*s));
      const bool many = scope == "node" || scope == "pairs" || scope == "bisect" || most_groups > o_.max_series;
      if (many) {
        for (std::size_t i = 0; i < steps.size() && i < 4; ++i) write_communicator_bandwidth(*steps[i], benchmark, scope);
        if (steps.size() > 4) out_ << fmt::format("<p class=\"note\">4 of {} steps drawn.</p>\n", steps.size());
      } else {
        write_line_bandwidth(steps, benchmark, scope);
      }
    }
  }

  static std::size_t groups_of(const StepResult& s) {
    const Column* group = s.points.find("group");
    if (!group || group->values.empty()) return 1;
    return static_cast<std::size_t>(std::max(0.0, stats::max(group->values))) + 1;
  }

  // One line per (step, communicator, busbw column): world steps, rails, scales.
  void write_line_bandwidth(const std::vector<const StepResult*>& steps, const std::string& benchmark,
                            const std::string& scope) {
    svg::LinePlot p;
    p.title = benchmark + (scope.empty() ? "" : " scope=" + scope) + ": bus bandwidth";
    p.x_label = "message size (bytes)";
    p.x_format = svg::AxisFormat::bytes;
    p.log_x = true;
    std::string unit;
    std::size_t wanted = 0;
    for (const StepResult* sp : steps) {
      const StepResult& s = *sp;
      const Column& bytes = *s.points.find("bytes");
      const Column* group = s.points.find("group");
      const std::size_t groups = groups_of(s);
      const std::vector<std::string> labels =
          group && groups > 1 ? communicator_labels(run_, s) : std::vector<std::string>{};
      for (std::size_t g = 0; g < groups; ++g) {
        for (const auto& col : s.points.columns) {
          if (col.name.rfind("busbw", 0) != 0) continue;
          if (col.name != "busbw_oop" && (steps.size() > 3 || groups > 1)) continue;
          ++wanted;
          if (p.series.size() >= o_.max_series) continue;
          unit = col.unit;
          svg::Series series;
          const std::string who = groups > 1 ? (g < labels.size() ? labels[g] : fmt::format("group {}", g)) + " "
                                             : std::string();
          series.label = fmt::format("{} {}{} ({} ranks)", col.name, who, step_title(s), s.ranks.size());
          for (std::size_t row = 0; row < bytes.values.size() && row < col.values.size(); ++row) {
            if (group && row < group->values.size() && group->values[row] != static_cast<double>(g)) continue;
            series.x.push_back(bytes.values[row]);
            series.y.push_back(col.values[row]);
          }
          series.dashed = col.name != "busbw_oop" && col.name.find("_ip") != std::string::npos;
          p.series.push_back(std::move(series));
        }
      }
    }
    p.y_label = unit.empty() ? "bus bandwidth" : "bus bandwidth (" + unit + ")";
    add_bound_markers(p, benchmark);
    out_ << svg::line_plot(p) << '\n';
    if (wanted > p.series.size())
      out_ << fmt::format("<p class=\"note\">{} of {} lines drawn.</p>\n", p.series.size(), wanted);
  }

  // Many communicators in one step: median, min and max over them at every size, and their
  // distribution at the size a communicator criterion judges (else the largest size).
  void write_communicator_bandwidth(const StepResult& s, const std::string& benchmark, const std::string& scope) {
    const Column& bytes = *s.points.find("bytes");
    const Column& busbw = *busbw_column(s);
    const Column* group = s.points.find("group");
    std::map<double, std::vector<double>> by_size;
    for (std::size_t row = 0; row < bytes.values.size() && row < busbw.values.size(); ++row)
      if (std::isfinite(busbw.values[row])) by_size[bytes.values[row]].push_back(busbw.values[row]);
    if (by_size.empty()) return;
    std::size_t communicators = 0;
    for (const auto& [size, values] : by_size) communicators = std::max(communicators, values.size());
    svg::LinePlot p;
    p.title = fmt::format("{} scope={}: {} over {} communicators ({})", benchmark, scope.empty() ? "-" : scope,
                          busbw.name, communicators, step_title(s));
    p.x_label = "message size (bytes)";
    p.x_format = svg::AxisFormat::bytes;
    p.log_x = true;
    p.y_label = "bus bandwidth" + (busbw.unit.empty() ? std::string() : " (" + busbw.unit + ")");
    svg::Series med{"median", {}, {}, false}, lo{"min", {}, {}, true}, hi{"max", {}, {}, true};
    for (const auto& [size, values] : by_size) {
      med.x.push_back(size), lo.x.push_back(size), hi.x.push_back(size);
      med.y.push_back(stats::median(values));
      lo.y.push_back(stats::min(values));
      hi.y.push_back(stats::max(values));
    }
    p.series = {med, lo, hi};
    add_bound_markers(p, benchmark);
    out_ << svg::line_plot(p) << '\n';

    // The size to show the distribution at, and what names its outliers.
    double at = by_size.rbegin()->first;
    const CriterionVerdict* judged = nullptr;
    if (in_.contract) {
      for (std::size_t i = 0; i < in_.contract->criteria.size() && i < verdict_.criteria.size(); ++i) {
        const Criterion& c = in_.contract->criteria[i];
        if (c.scope != Scope::communicator || c.metric != busbw.name || !selects(c, s.benchmark, s.params)) continue;
        const auto b = c.point.find("bytes");
        if (b == c.point.end() || !as_number(b->second) || !by_size.count(*as_number(b->second))) continue;
        at = *as_number(b->second);
        judged = &verdict_.criteria[i];
        break;
      }
    }
    svg::Histogram h;
    h.values = by_size[at];
    const double median = stats::median(h.values);
    h.title = fmt::format("{} scope={}: {} at {} over {} communicators{}", benchmark, scope.empty() ? "-" : scope, busbw.name,
                          svg::tick_label(at, svg::AxisFormat::bytes), h.values.size(),
                          judged ? " (" + judged->id + ")" : "");
    h.x_label = busbw.name + (busbw.unit.empty() ? "" : " (" + busbw.unit + ")");
    h.vlines.push_back(svg::HLine{median, "median"});
    std::vector<std::string> named;
    if (judged) {
      for (const auto& e : judged->worst) {
        if (e.step_id != s.id) continue;
        h.labelled.push_back(svg::Marker{e.value, 0, fmt::format("{} {} {}", e.label, format_figure(e.value, busbw.unit),
                                                                 deviation_text(*judged, e))});
      }
      if (judged->limits.min && judged->kind == "bound")
        h.vlines.push_back(svg::HLine{*judged->limits.min, "bound >= " + format_figure(*judged->limits.min)});
    } else if (group) {
      // No criterion judges these communicators: name the worst below 0.9 x the median.
      struct Low {
        std::size_t group;
        double value;
      };
      std::vector<Low> low;
      for (std::size_t row = 0; row < bytes.values.size() && row < busbw.values.size() && row < group->values.size(); ++row) {
        if (bytes.values[row] != at) continue;
        const double v = busbw.values[row];
        if (!(v >= 0.9 * median)) low.push_back(Low{static_cast<std::size_t>(std::max(0.0, group->values[row])), v});
      }
      const std::size_t shown = std::min<std::size_t>(low.size(), 10);
      std::partial_sort(low.begin(), low.begin() + static_cast<std::ptrdiff_t>(shown), low.end(),
                        [](const Low& a, const Low& b) { return a.value < b.value; });
      if (shown > 0) {
        const std::vector<std::string> labels = communicator_labels(run_, s);
        for (std::size_t i = 0; i < shown; ++i) {
          const std::string label = low[i].group < labels.size() ? labels[low[i].group] : fmt::format("group {}", low[i].group);
          h.labelled.push_back(svg::Marker{low[i].value, 0,
                                           fmt::format("{} {} ({:+.1f}% vs median)", label, format_figure(low[i].value, busbw.unit),
                                                       median != 0 ? (low[i].value - median) / std::fabs(median) * 100 : 0.0)});
        }
        if (low.size() > shown)
          named.push_back(fmt::format("{} communicators below 0.9 x the median; the {} worst are named.", low.size(), shown));
      }
    }
    out_ << svg::histogram(h) << '\n';
    for (const auto& n : named) out_ << "<p class=\"note\">" << escape(n) << "</p>\n";
  }

  struct Distribution {
    const StepResult* step;
    const Column* column;
    const CriterionVerdict* verdict = nullptr;
    const Criterion* criterion = nullptr;
  };

  std::vector<Distribution> distributions() const {
    std::vector<Distribution> out;
    std::set<std::pair<const StepResult*, std::string>> seen;
    if (in_.contract) {
      for (std::size_t i = 0; i < in_.contract->criteria.size() && i < verdict_.criteria.size(); ++i) {
        const Criterion& c = in_.contract->criteria[i];
        if (!c.point.empty()) continue;
        std::size_t per_criterion = 0;
        for (const auto& s : steps_) {
          if (s.status != Status::ok || !selects(c, s.benchmark, s.params) || per_criterion >= 4) continue;
          const Column* col = s.per_rank.find(c.metric);
          if (!col || !seen.insert({&s, c.metric}).second) continue;
          out.push_back(Distribution{&s, col, &verdict_.criteria[i], &c});
          ++per_criterion;
        }
      }
    }
    for (const auto& s : steps_) {
      if (s.status != Status::ok) continue;
      for (const auto& col : s.per_rank.columns) {
        if (col.name == "rank" || col.name == "status" || col.better != Better::higher) continue;
        if (seen.insert({&s, col.name}).second) out.push_back(Distribution{&s, &col});
        break;  // the first higher-is-better metric of a step not named by the contract
      }
    }
    return out;
  }

  void write_distributions() {
    const auto all = distributions();
    if (all.empty()) return;
    out_ << "<h3>Per-GPU distributions</h3>\n";
    std::size_t n = 0;
    for (const auto& d : all) {
      if (n++ >= o_.max_plots) {
        out_ << fmt::format("<p class=\"note\">{} more distributions not drawn.</p>\n", all.size() - o_.max_plots);
        break;
      }
      svg::Histogram h;
      h.values = ok_values(*d.step, *d.column);
      h.title = fmt::format("{}: {} over {} ranks{}", step_title(*d.step), d.column->name, h.values.size(),
                            d.verdict ? " (" + d.verdict->id + ")" : "");
      h.x_label = d.column->name + (d.column->unit.empty() ? "" : " (" + d.column->unit + ")");
      if (!h.values.empty()) h.vlines.push_back(svg::HLine{stats::median(h.values), "median"});
      if (d.criterion && !d.criterion->outliers && !d.criterion->scaling && d.criterion->scope == Scope::rank &&
          (d.criterion->combine != Combine::count && d.criterion->combine != Combine::fraction)) {
        if (d.criterion->bound.min) h.vlines.push_back(svg::HLine{*d.criterion->bound.min, "bound >= " + format_figure(*d.criterion->bound.min)});
        if (d.criterion->bound.max) h.vlines.push_back(svg::HLine{*d.criterion->bound.max, "bound <= " + format_figure(*d.criterion->bound.max)});
      }
      if (d.criterion && d.criterion->meets && d.criterion->scope == Scope::rank) {
        if (d.criterion->meets->min) h.vlines.push_back(svg::HLine{*d.criterion->meets->min, "bound: meets >= " + format_figure(*d.criterion->meets->min)});
      }
      if (d.verdict && d.verdict->scope == "rank") {
        for (const auto& e : d.verdict->worst) {
          if (e.step_id != d.step->id || e.rank < 0) continue;
          h.labelled.push_back(svg::Marker{e.value, 0,
                                           fmt::format("rank {} {}{} {} {}", e.rank, e.host,
                                                       e.gpu >= 0 ? fmt::format(" {} {}", e.backend == "cpu" ? "cpu rank" : "gpu", e.gpu) : "",
                                                       format_figure(e.value, d.column->unit), deviation_text(*d.verdict, e))});
        }
      }
      out_ << svg::histogram(h) << '\n';
    }
  }

  // The per-node heat map of the first per-rank (or per-node) metric the contract judges.
  void write_heat_map() {
    const StepResult* step = nullptr;
    const Column* column = nullptr;
    std::string why;
    if (in_.contract) {
      for (const auto& c : in_.contract->criteria) {
        if (!c.point.empty() || !c.is_per_host()) continue;
        for (const auto& s : steps_) {
          if (s.status == Status::ok && selects(c, s.benchmark, s.params) && s.per_rank.find(c.metric)) {
            step = &s;
            column = s.per_rank.find(c.metric);
            why = "criterion " + c.id;
            break;
          }
        }
        if (step) break;
      }
    }
    if (!step) {
      for (const auto& s : steps_) {
        if (s.status != Status::ok) continue;
        for (const auto& col : s.per_rank.columns)
          if (col.name != "rank" && col.name != "status" && col.better != Better::none) {
            step = &s;
            column = &col;
            break;
          }
        if (step) break;
      }
    }
    if (!step) return;
    const Column* status = step->per_rank.find("status");
    const std::size_t host_count = hosts_.names().size();
    std::vector<double> sum(host_count + 1, 0.0);
    std::vector<std::size_t> count(host_count + 1, 0);
    for (std::size_t r = 0; r < column->values.size(); ++r) {
      if (status && r < status->values.size() && status->values[r] != 0) continue;
      const double v = column->values[r];
      if (!std::isfinite(v)) continue;
      const long h = hosts_.host_of(rank_at(*step, r));
      const std::size_t i = h < 0 ? host_count : static_cast<std::size_t>(h);
      sum[i] += v;
      count[i]++;
    }
    struct Node {
      const std::string* host;
      double value;
    };
    std::vector<Node> nodes;
    for (std::size_t i = 0; i < host_count; ++i)
      if (count[i] > 0) nodes.push_back(Node{&hosts_.names()[i], sum[i] / static_cast<double>(count[i])});
    if (nodes.empty()) return;
    std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return natural_less(*a.host, *b.host); });
    const bool lower_better = column->better == Better::lower;
    const auto worse = [&](double a, double b) { return lower_better ? a > b : a < b; };
    std::vector<double> values;
    values.reserve(nodes.size());
    for (const auto& n : nodes) values.push_back(n.value);
    const double median = stats::median(values);
    svg::HeatMap m;
    m.unit = column->unit;
    m.good = median;
    m.bad = lower_better ? median * 1.1 : median * 0.9;
    const std::size_t groups = std::min(nodes.size(), o_.max_heat_cells);
    const std::size_t per = (nodes.size() + groups - 1) / groups;
    m.title = fmt::format("{}: {} per node (mean of its ranks){}", step_title(*step), column->name,
                          per > 1 ? fmt::format(", {} nodes per cell showing the worst", per) : "");
    for (std::size_t g = 0; g * per < nodes.size(); ++g) {
      const std::size_t from = g * per, to = std::min(nodes.size(), from + per);
      std::size_t worst = from;
      for (std::size_t i = from; i < to; ++i)
        if (worse(nodes[i].value, nodes[worst].value)) worst = i;
      svg::HeatCell c;
      c.value = nodes[worst].value;
      c.label = *nodes[from].host;
      c.tooltip = per == 1 ? fmt::format("{}: {}", *nodes[from].host, format_figure(nodes[from].value, column->unit))
                           : fmt::format("{} .. {} ({} nodes): worst {} {}", *nodes[from].host, *nodes[to - 1].host,
                                         to - from, *nodes[worst].host, format_figure(nodes[worst].value, column->unit));
      m.cells.push_back(std::move(c));
    }
    out_ << "<h3>Per-node heat map</h3>\n<p class=\"note\">" << escape(why.empty() ? "" : "For " + why + ". ")
         << "Green at the median node (" << escape(format_figure(median, column->unit)) << "), red at 10 % worse; grey: no value.</p>\n";
    out_ << svg::heat_map(m) << '\n';
    std::vector<const Node*> order;
    for (const auto& n : nodes) order.push_back(&n);
    const std::size_t shown = std::min<std::size_t>(10, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
                      [&](const Node* a, const Node* b) { return worse(a->value, b->value); });
    out_ << "<table><tr><th>worst nodes</th><th>" << escape(column->name) << "</th><th>vs median</th></tr>\n";
    for (std::size_t i = 0; i < shown; ++i) {
      out_ << "<tr>" << cell(*order[i]->host) << cell(format_figure(order[i]->value, column->unit), true)
           << cell(median != 0 ? fmt::format("{:+.1f}%", (order[i]->value - median) / std::fabs(median) * 100) : "-", true)
           << "</tr>\n";
    }
    out_ << "</table>\n";
  }

  // Samples over their columns (iterations, or intervals of a burn-in): median, min and max
  // over the ranks.
  void write_timelines() {
    struct Entry {
      const StepResult* step;
      const Samples* samples;
    };
    std::vector<Entry> entries;
    for (const auto& s : steps_) {
      if (s.status != Status::ok) continue;
      for (const auto& smp : s.samples)
        if (smp.cols >= 2 && smp.rows >= 1 && (smp.loaded() || !in_.samples_from.empty()))
          entries.push_back(Entry{&s, &smp});
    }
    if (entries.empty()) return;
    // Throughput over time (burn-in) first, then per-iteration times.
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      const auto rank = [](const Samples& x) {
        return x.name.find("throughput") != std::string::npos || x.col_axis == "time" || x.col_axis == "interval" ? 0 : 1;
      };
      return rank(*a.samples) < rank(*b.samples);
    });
    out_ << "<h3>Over time</h3>\n";
    std::size_t n = 0;
    for (const auto& e : entries) {
      if (n++ >= o_.max_plots) {
        out_ << fmt::format("<p class=\"note\">{} more sample sets not drawn.</p>\n", entries.size() - o_.max_plots);
        break;
      }
      const Samples& smp = *e.samples;
      // Left in the file by the reader: read now, one set at a time (a 500,000-rank set is tens of MB).
      const std::vector<double> read =
          smp.loaded() ? std::vector<double>{} : read_sample_values(in_.samples_from, e.step->id, smp.name);
      const std::vector<double>& values = smp.loaded() ? smp.values : read;
      svg::LinePlot p;
      p.title = fmt::format("{}: {} per {} ({} {}s)", step_title(*e.step), smp.name, smp.col_axis.empty() ? "column" : smp.col_axis,
                            smp.rows, smp.row_axis.empty() ? "row" : smp.row_axis);
      p.x_label = smp.col_axis.empty() ? "column" : smp.col_axis;
      p.y_label = smp.name + (smp.unit.empty() ? "" : " (" + smp.unit + ")");
      svg::Series med{"median over " + smp.row_axis + "s", {}, {}, false};
      svg::Series lo{"min", {}, {}, true};
      svg::Series hi{"max", {}, {}, true};
      std::vector<double> column(smp.rows);
      for (std::size_t c = 0; c < smp.cols; ++c) {
        std::size_t k = 0;
        for (std::size_t r = 0; r < smp.rows; ++r) {
          const double v = values[r * smp.cols + c];
          if (std::isfinite(v)) column[k++] = v;
        }
        const std::span<const double> finite(column.data(), k);
        const double x = static_cast<double>(c + 1);
        med.x.push_back(x), lo.x.push_back(x), hi.x.push_back(x);
        med.y.push_back(k ? stats::median(finite) : kNaN);
        lo.y.push_back(k ? stats::min(finite) : kNaN);
        hi.y.push_back(k ? stats::max(finite) : kNaN);
      }
      p.series = {med};
      if (smp.rows > 1) p.series.push_back(lo), p.series.push_back(hi);
      out_ << svg::line_plot(p) << '\n';
    }
  }

  void write_trends() {
    if (!in_.history || in_.history->metrics.empty()) return;
    const RegressionReport& h = *in_.history;
    std::vector<const MetricComparison*> order;
    for (const auto& m : h.metrics)
      if (m.change != Change::same && m.change != Change::short_history) order.push_back(&m);
    for (const auto& m : h.metrics)
      if (m.change == Change::same || m.change == Change::short_history) order.push_back(&m);
    out_ << fmt::format("<h3>Nightly history</h3>\n<p class=\"note\">{} against the last {} run(s), {} regression(s), "
                        "{} improvement(s); the shaded band is the baseline median \xC2\xB1 the threshold.</p>\n",
                        escape(h.current_label), h.baseline_labels.size(), h.count(Change::regression),
                        h.count(Change::improvement));
    std::size_t n = 0;
    for (const MetricComparison* m : order) {
      if (n++ >= o_.max_plots) {
        out_ << fmt::format("<p class=\"note\">{} more metrics not drawn.</p>\n", order.size() - o_.max_plots);
        break;
      }
      svg::LinePlot p;
      p.title = fmt::format("{} [{}]", m->key.text(), to_string(m->change));
      p.x_label = "run (oldest to current)";
      p.y_label = m->key.metric + (m->current.unit.empty() ? "" : " (" + m->current.unit + ")");
      svg::Series history{"baseline runs", {}, {}, false};
      for (std::size_t i = 0; i < m->history.size(); ++i) {
        history.x.push_back(static_cast<double>(i + 1));
        history.y.push_back(m->history[i]);
      }
      const double x = static_cast<double>(m->history.size() + 1);
      svg::Series current{"current", {x}, {m->current.value}, false};
      p.series = {history, current};
      p.band = std::make_pair(m->median - m->threshold, m->median + m->threshold);
      if (m->change == Change::regression) p.markers.push_back(svg::Marker{x, m->current.value, "regression"});
      out_ << svg::line_plot(p) << '\n';
    }
  }

  void write_steps() {
    out_ << fmt::format("<h2 id=\"steps\">Steps ({})</h2>\n", steps_.size());
    out_ << "<table><tr><th>step</th><th>benchmark</th><th>parameters</th><th>rep</th><th>status</th><th>ranks</th>"
            "<th>seconds</th><th>reason</th></tr>\n";
    for (const auto& s : steps_) {
      out_ << "<tr>" << cell(s.id) << cell(s.benchmark) << cell(format_params(s.params)) << cell(std::to_string(s.repetition), true)
           << cell(std::string(to_string(s.status))) << cell(std::to_string(s.ranks.size()), true)
           << cell(s.end_time > s.start_time ? fmt::format("{:.3f}", s.end_time - s.start_time) : "-", true) << cell(s.reason)
           << "</tr>\n";
    }
    out_ << "</table>\n";
  }

  void write_provenance() {
    out_ << "<h2 id=\"run\">Run</h2>\n<table>\n";
    const auto row = [&](const std::string& name, const std::string& value) {
      out_ << "<tr>" << cell(name) << cell(value) << "</tr>\n";
    };
    row("tool", "gpuaccept " + run_.tool_version + " (" + run_.git_revision + "), results schema " + run_.schema_version);
    row("command line", run_.command_line);
    row("campaign file", run_.campaign_path);
    row("contract file", run_.contract_path);
    for (const auto& [k, v] : run_.versions) row("version: " + k, v);
    for (const auto& [k, v] : run_.environment) row("env: " + k, v);
    out_ << "</table>\n";
    const auto& names = hosts_.names();
    std::vector<std::string> sorted(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(names.size(), 64)));
    std::sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });
    out_ << fmt::format("<details><summary>hosts ({})</summary><p class=\"mono\">", names.size());
    for (std::size_t i = 0; i < sorted.size(); ++i) out_ << (i ? ", " : "") << escape(sorted[i]);
    if (names.size() > sorted.size()) out_ << fmt::format(", and {} more", names.size() - sorted.size());
    out_ << "</p></details>\n";
    if (!run_.campaign_yaml.empty())
      out_ << "<details><summary>campaign</summary><pre>" << escape(run_.campaign_yaml) << "</pre></details>\n";
    if (!run_.contract_yaml.empty())
      out_ << "<details><summary>contract (as stored)</summary><pre>" << escape(run_.contract_yaml) << "</pre></details>\n";
  }

  std::ostream& out_;
  const ReportInput& in_;
  const HtmlOptions& o_;
  const RunInfo& run_;
  const std::vector<StepResult>& steps_;
  const Verdict& verdict_;
  Hosts hosts_;
  std::map<std::string, std::set<std::string>> varying_;  // per benchmark: parameters that differ between steps
};

}  // namespace

bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
    if (da && db) {
      std::size_t ei = i, ej = j;
      while (ei < a.size() && a[ei] >= '0' && a[ei] <= '9') ++ei;
      while (ej < b.size() && b[ej] >= '0' && b[ej] <= '9') ++ej;
      // Compare the numbers without leading zeros by length, then digit by digit.
      std::size_t si = i, sj = j;
      while (si + 1 < ei && a[si] == '0') ++si;
      while (sj + 1 < ej && b[sj] == '0') ++sj;
      if (ei - si != ej - sj) return ei - si < ej - sj;
      const int c = a.substr(si, ei - si).compare(b.substr(sj, ej - sj));
      if (c != 0) return c < 0;
      if (ei - i != ej - j) return ei - i < ej - j;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

void write_html(std::ostream& out, const ReportInput& in, const HtmlOptions& options) {
  HtmlReport(out, in, options).write();
}

}  // namespace gpuaccept
