// Markdown and JUnit XML reports of a verdict.
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <ostream>

#include "results/report.hpp"

namespace gpuaccept {

namespace {

std::string iso(double t) {
  if (t <= 0) return "";
  const std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string word(Outcome o) {
  switch (o) {
    case Outcome::pass: return "PASS";
    case Outcome::fail: return "FAIL";
    case Outcome::waived: return "WAIVED";
  }
  return "FAIL";
}

constexpr std::size_t kMaxSuspects = 20;

// Suspects that no criterion explains (default pairs rule, bisect culprits).
std::vector<const Suspect*> other_suspects(const Verdict& v) {
  std::vector<const Suspect*> out;
  for (const auto& s : v.suspects)
    if (s.criterion.empty()) out.push_back(&s);
  return out;
}

// The evidence of one criterion as plain text lines, shared by Markdown and JUnit.
std::vector<std::string> evidence_lines(const CriterionVerdict& c) {
  std::vector<std::string> lines;
  if (!c.detail.empty()) lines.push_back((c.kind == "scaling" ? "scales: " : "detail: ") + c.detail);
  if (!c.note.empty()) lines.push_back("note: " + c.note);
  if (!c.waiver.empty()) lines.push_back("waiver: " + c.waiver);
  for (const auto& e : c.worst) {
    lines.push_back(fmt::format("{}  {} {}{}  step {}", describe_member(c, e), format_figure(e.value, c.unit),
                                deviation_text(c, e), e.waived ? " waived" : "", e.step_id));
  }
  if (c.worst_total > c.worst.size()) lines.push_back(fmt::format("... and {} more", c.worst_total - c.worst.size()));
  for (std::size_t i = 0; i < c.suspects.size() && i < kMaxSuspects; ++i) lines.push_back("diagnosis: " + c.suspects[i].text);
  if (c.suspects.size() > kMaxSuspects)
    lines.push_back(fmt::format("diagnosis: ... and {} more suspects", c.suspects.size() - kMaxSuspects));
  if (!c.failing_hosts.empty()) {
    std::string hosts;
    for (std::size_t i = 0; i < c.failing_hosts.size() && i < 50; ++i) hosts += (i ? ", " : "") + c.failing_hosts[i];
    if (c.failing_hosts.size() > 50) hosts += fmt::format(", and {} more", c.failing_hosts.size() - 50);
    lines.push_back(fmt::format("hosts to drain ({}): {}", c.failing_hosts.size(), hosts));
  }
  return lines;
}

std::string summary_of(const Verdict& v) {
  std::size_t failed = 0, waived = 0;
  for (const auto& c : v.criteria) {
    failed += c.outcome == Outcome::fail;
    waived += c.outcome == Outcome::waived;
  }
  std::string s = v.criteria.empty() ? "no criteria"
                  : failed > 0     ? fmt::format("{} of {} criteria failed", failed, v.criteria.size())
                                   : fmt::format("{} of {} criteria passed", v.criteria.size() - waived, v.criteria.size());
  if (waived) s += fmt::format(", {} waived", waived);
  if (!v.broken_steps.empty()) s += fmt::format("; {} step(s) broke", v.broken_steps.size());
  if (!v.incorrect_steps.empty()) s += fmt::format("; {} step(s) gave a wrong answer", v.incorrect_steps.size());
  return s;
}

}  // namespace

std::string markdown_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\n':
      case '\r': out += ' '; break;
      case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#': case '!': case '{': case '}':
        out += '\\';
        out += c;
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') out += "\xEF\xBF\xBD";
        else out += c;
    }
  }
  return out;
}

void write_markdown(std::ostream& out, const ReportInput& in) {
  const RunInfo& run = *in.run;
  const Verdict& v = *in.verdict;
  const bool ok = v.exit_code() == 0;
  out << "# gpuaccept: " << markdown_escape(run.campaign) << " on " << markdown_escape(run.system) << "\n\n";
  out << "**Verdict: " << (ok ? "PASS" : "FAIL") << "** (" << markdown_escape(summary_of(v)) << ")\n\n";
  out << "| | |\n|---|---|\n";
  const auto fact = [&](const char* name, const std::string& value) {
    out << "| " << name << " | " << markdown_escape(value) << " |\n";
  };
  fact("campaign", run.campaign);
  fact("system", run.system + (run.phase.empty() ? "" : ", phase " + run.phase));
  fact("ranks", std::to_string(run.ranks.size()));
  fact("backend", run.backend);
  fact("started", iso(run.start_time));
  fact("finished", run.end_time > 0 ? iso(run.end_time) : "no (incomplete run)");
  fact("contract", in.contract_source.empty() ? "none" : v.contract + " from " + in.contract_source);
  fact("tool", "gpuaccept " + run.tool_version + " (" + run.git_revision + ")");
  fact("results", in.results_path);
  out << '\n';
  if (!v.criteria.empty()) {
    out << "## Criteria\n\n| criterion | measured | bound | verdict |\n|---|---:|---|---|\n";
    for (const auto& c : v.criteria) {
      out << "| " << markdown_escape(c.id) << " | " << markdown_escape(format_figure(c.measured, c.measured_unit)) << " | "
          << markdown_escape(c.bound) << " | " << (c.outcome == Outcome::pass ? "PASS" : "**" + word(c.outcome) + "**")
          << " |\n";
    }
    out << '\n';
    for (const auto& c : v.criteria) {
      if (c.outcome == Outcome::pass) continue;
      out << "### " << word(c.outcome) << ": " << markdown_escape(c.id) << "\n\n";
      if (!c.description.empty()) out << markdown_escape(c.description) << "\n\n";
      out << fmt::format("{} of {}{}, scope {}: measured {}, bound {}.\n\n", markdown_escape(c.kind), markdown_escape(c.metric),
                         c.point.empty() ? "" : " at " + markdown_escape(c.point), c.scope,
                         markdown_escape(format_figure(c.measured, c.measured_unit)), markdown_escape(c.bound));
      if (!c.worst.empty()) {
        out << "| member | value | off | step |\n|---|---:|---|---|\n";
        for (const auto& e : c.worst) {
          out << "| " << markdown_escape(describe_member(c, e)) << " | " << markdown_escape(format_figure(e.value, c.unit))
              << " | " << markdown_escape(deviation_text(c, e) + (e.waived ? " waived" : "")) << " | "
              << markdown_escape(e.step_id) << " |\n";
        }
        out << '\n';
      }
      for (const auto& line : evidence_lines(c)) {
        if (line.rfind("note:", 0) == 0 || line.rfind("waiver:", 0) == 0 || line.rfind("detail:", 0) == 0 ||
            line.rfind("scales:", 0) == 0 || line.rfind("hosts to drain", 0) == 0 || line.rfind("...", 0) == 0 ||
            line.rfind("diagnosis:", 0) == 0)
          out << "- " << markdown_escape(line) << '\n';
      }
      out << '\n';
    }
  }
  const auto list = [&](const char* title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    out << "## " << title << " (" << items.size() << ")\n\n";
    for (const auto& item : items) out << "- " << markdown_escape(item) << '\n';
    out << '\n';
  };
  std::vector<std::string> diagnosis;
  for (const Suspect* s : other_suspects(v)) diagnosis.push_back(s->text);
  list("Diagnosis", diagnosis);
  list("Broken steps", v.broken_steps);
  list("Incorrect steps", v.incorrect_steps);
  out << "## Steps\n\n| step | benchmark | parameters | rep | status | reason |\n|---|---|---|---:|---|---|\n";
  for (const auto& s : *in.steps) {
    out << "| " << markdown_escape(s.id) << " | " << markdown_escape(s.benchmark) << " | "
        << markdown_escape(format_params(s.params)) << " | " << s.repetition << " | " << to_string(s.status) << " | "
        << markdown_escape(s.reason) << " |\n";
  }
}

void write_junit(std::ostream& out, const ReportInput& in) {
  const RunInfo& run = *in.run;
  const Verdict& v = *in.verdict;
  std::size_t failures = 0, skipped = 0;
  for (const auto& c : v.criteria) {
    failures += c.outcome == Outcome::fail;
    skipped += c.outcome == Outcome::waived;
  }
  std::size_t step_failures = 0, step_errors = 0, step_skipped = 0;
  double total = 0;
  for (const auto& s : *in.steps) {
    step_failures += s.status == Status::incorrect;
    step_errors += s.status == Status::error || s.status == Status::timeout || s.status == Status::missing;
    step_skipped += s.status == Status::skipped;
    if (s.end_time > s.start_time) total += s.end_time - s.start_time;
  }
  const std::string campaign = run.campaign.empty() ? "run" : run.campaign;
  const std::string classname = xml_escape("gpuaccept." + campaign);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << fmt::format("<testsuites name=\"gpuaccept\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                     v.criteria.size() + in.steps->size(), failures + step_failures, step_errors, skipped + step_skipped, total);
  out << fmt::format("  <testsuite name=\"{}.contract\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"0\""
                     " timestamp=\"{}\">\n",
                     classname, v.criteria.size(), failures, skipped, iso(run.start_time));
  out << "    <properties>\n";
  const auto property = [&](const char* name, const std::string& value) {
    out << fmt::format("      <property name=\"{}\" value=\"{}\"/>\n", name, xml_escape(value));
  };
  property("campaign", run.campaign);
  property("system", run.system);
  property("phase", run.phase);
  property("contract", v.contract);
  property("ranks", std::to_string(run.ranks.size()));
  property("tool_version", run.tool_version);
  property("git_revision", run.git_revision);
  property("results", in.results_path);
  property("waivers_as_of", v.as_of);
  out << "    </properties>\n";
  for (const auto& c : v.criteria) {
    out << fmt::format("    <testcase classname=\"{}.contract\" name=\"{}\" time=\"0\">\n", classname, xml_escape(c.id));
    const std::string headline = fmt::format("{}: measured {}, bound {}", c.description.empty() ? c.metric : c.description,
                                             format_figure(c.measured, c.measured_unit), c.bound);
    std::string body;
    for (const auto& line : evidence_lines(c)) body += line + "\n";
    if (c.outcome == Outcome::fail) {
      out << fmt::format("      <failure type=\"criterion\" message=\"{}\">{}</failure>\n", xml_escape(headline), xml_escape(body));
    } else if (c.outcome == Outcome::waived) {
      out << fmt::format("      <skipped message=\"{}\"/>\n", xml_escape("WAIVED: " + c.waiver));
      out << fmt::format("      <system-out>{}</system-out>\n", xml_escape(headline + "\n" + body));
    } else {
      out << fmt::format("      <system-out>{}</system-out>\n", xml_escape(headline));
    }
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n";
  out << fmt::format("  <testsuite name=\"{}.steps\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\""
                     " timestamp=\"{}\">\n",
                     classname, in.steps->size(), step_failures, step_errors, step_skipped, total, iso(run.start_time));
  for (const auto& s : *in.steps) {
    const std::string params = format_params(s.params);
    const double seconds = s.end_time > s.start_time ? s.end_time - s.start_time : 0;
    out << fmt::format("    <testcase classname=\"{}.steps.{}\" name=\"{}\" time=\"{:.3f}\">\n", classname,
                       xml_escape(s.benchmark), xml_escape(s.id + (params.empty() ? "" : " (" + params + ")")), seconds);
    const std::string reason = s.reason.empty() ? std::string(to_string(s.status)) : s.reason;
    std::string named;
    for (const Suspect* x : other_suspects(v))
      if (x->step_id == s.id) named += x->text + "\n";
    switch (s.status) {
      case Status::ok:
        if (!named.empty()) out << fmt::format("      <system-out>{}</system-out>\n", xml_escape(named));
        break;
      case Status::skipped: out << fmt::format("      <skipped message=\"{}\"/>\n", xml_escape(reason)); break;
      case Status::incorrect:
        out << fmt::format("      <failure type=\"incorrect\" message=\"{}\">{}</failure>\n", xml_escape(reason), xml_escape(reason));
        break;
      case Status::error:
      case Status::timeout:
      case Status::missing:
        out << fmt::format("      <error type=\"{}\" message=\"{}\">{}</error>\n", to_string(s.status), xml_escape(reason),
                           xml_escape(reason));
        break;
    }
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n</testsuites>\n";
}

}  // namespace gpuaccept
