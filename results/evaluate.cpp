// Judging a run's StepResults against a contract. The semantics are documented in
// docs/contracts.md ("How a criterion is judged"); in short:
//  - the members of a criterion are the ok ranks of every matching step (rank metrics), or the
//    selected row of each matching step's points table (sweep metrics);
//  - their values are combined into one figure, which must lie within the bound;
//  - whatever a criterion selected and could not judge (no step matched, a step that broke,
//    was skipped or answered wrongly, a rank that did not finish ok, a missing column or
//    point, a NaN) makes it FAIL with a note: a contract never passes on absent evidence.
#include "results/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <unordered_map>

#include "results/stats.hpp"
#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// How many problems a note names before it summarises the rest.
constexpr std::size_t kMaxNoteProblems = 3;

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

bool step_matches(const Criterion& c, const StepResult& step) {
  if (step.benchmark != c.benchmark) return false;
  for (const auto& [name, wanted] : c.select) {
    const auto it = step.params.find(name);
    if (it == step.params.end()) return false;
    const bool any = std::any_of(wanted.begin(), wanted.end(),
                                 [&](const ParamValue& w) { return value_matches(w, it->second); });
    if (!any) return false;
  }
  return true;
}

// The number a point selector value stands for (points tables hold numbers only).
std::optional<double> point_number(const ParamValue& v) {
  if (auto n = as_number(v)) return n;
  if (auto size = size_of(v)) return as_number(*size);
  return std::nullopt;
}

// ---- text --------------------------------------------------------------------------------

std::string format_select(const Criterion& c) {
  std::string out;
  for (const auto& [name, values] : c.select) {
    if (!out.empty()) out += ", ";
    out += name + ": ";
    if (values.size() == 1) {
      out += format_value(values.front());
    } else {
      std::string list;
      for (const auto& v : values) list += (list.empty() ? "" : ", ") + format_value(v);
      out += "[" + list + "]";
    }
  }
  return "{" + out + "}";
}

std::string format_point(const Criterion& c) {
  std::string out;
  for (const auto& [key, value] : c.point) {
    if (!out.empty()) out += ' ';
    out += key + "=" + format_value(value);
  }
  return out;
}

std::string_view what_happened(Status s) {
  switch (s) {
    case Status::ok: return "ran";
    case Status::incorrect: return "gave a wrong answer";
    case Status::skipped: return "was skipped";
    case Status::error: return "failed";
    case Status::timeout: return "timed out";
    case Status::missing: return "never ran";
  }
  return "failed";
}

std::string describe_step(const StepResult& step) {
  const std::string params = format_params(step.params);
  std::string out = fmt::format("step {} ({}{}{}) {}", step.id, step.benchmark, params.empty() ? "" : " ",
                                params, what_happened(step.status));
  if (!step.reason.empty()) out += ": " + step.reason;
  return out;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string format_number(double v) {
  if (std::isnan(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1e4 && a < 1e12) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::string with_unit(double v, const std::string& unit) {
  if (std::isnan(v) || unit.empty()) return format_number(v);
  return format_number(v) + " " + unit;
}

// ---- evaluation --------------------------------------------------------------------------

struct Member {
  std::size_t step = 0;     // index into the steps
  std::int32_t rank = -1;   // -1 for a sweep point
  double value = 0;
  double shortfall = 0;     // 0 inside the bound
};

// How far outside the bound a value lies, as a fraction of the bound (as an absolute amount
// when that bound is 0); infinity for a NaN, which no bound can hold.
double shortfall_of(const Bound& bound, double value) {
  if (std::isnan(value)) return std::numeric_limits<double>::infinity();
  const auto relative = [](double distance, double limit) {
    return limit == 0 ? distance : distance / std::fabs(limit);
  };
  if (bound.min && value < *bound.min) return relative(*bound.min - value, *bound.min);
  if (bound.max && value > *bound.max) return relative(value - *bound.max, *bound.max);
  return 0;
}

double combine_values(Combine how, std::span<const double> v) {
  switch (how) {
    case Combine::min: return stats::min(v);
    case Combine::max: return stats::max(v);
    case Combine::mean: return stats::mean(v);
    case Combine::median: return stats::median(v);
    case Combine::p01: return stats::percentile(v, 1);
    case Combine::p05: return stats::percentile(v, 5);
    case Combine::p50: return stats::percentile(v, 50);
    case Combine::p95: return stats::percentile(v, 95);
    case Combine::p99: return stats::percentile(v, 99);
  }
  return kNaN;
}

class RankDirectory {
 public:
  explicit RankDirectory(const RunInfo& run) {
    for (const auto& r : run.ranks) by_rank_.emplace(r.rank, &r);
  }
  const RankInfo* find(std::int32_t rank) const {
    const auto it = by_rank_.find(rank);
    return it == by_rank_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<std::int32_t, const RankInfo*> by_rank_;
};

// A rank's status as the per-rank table stores it (a number); anything unreadable is an error.
Status status_of(double stored) {
  if (!std::isfinite(stored) || stored < 0 || stored > static_cast<double>(Status::missing)) return Status::error;
  return static_cast<Status>(static_cast<std::int32_t>(stored));
}

std::int32_t rank_of_row(const StepResult& step, std::size_t row) {
  if (row < step.ranks.size()) return step.ranks[row];
  if (const Column* col = step.per_rank.find("rank"); col && row < col->values.size())
    return static_cast<std::int32_t>(col->values[row]);
  return static_cast<std::int32_t>(row);
}

class CriterionJudge {
 public:
  CriterionJudge(const Criterion& c, const std::vector<StepResult>& steps, const RankDirectory& ranks)
      : c_(c), steps_(steps), ranks_(ranks) {}

  CriterionVerdict judge(std::size_t max_evidence) {
    CriterionVerdict v;
    v.id = c_.id;
    v.description = c_.description;
    v.metric = c_.metric;
    v.combine = std::string(to_string(c_.combine));
    v.bound = c_.bound.text();
    v.limits = c_.bound;
    v.point = format_point(c_);
    v.measured = kNaN;

    bool benchmark_seen = false;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const StepResult& step = steps_[i];
      benchmark_seen = benchmark_seen || step.benchmark == c_.benchmark;
      if (!step_matches(c_, step)) continue;
      ++v.steps;
      if (step.status != Status::ok) {
        problems_.push_back(describe_step(step));
        continue;
      }
      if (c_.point.empty()) collect_ranks(i);
      else collect_point(i);
    }
    if (v.steps == 0) {
      problems_.push_back(benchmark_seen ? fmt::format("no step of benchmark {} matched select {}",
                                                       c_.benchmark, format_select(c_))
                                         : fmt::format("no step of benchmark {} in this run", c_.benchmark));
    }

    std::vector<double> finite;
    finite.reserve(members_.size());
    std::size_t without_value = 0;
    for (auto& m : members_) {
      if (std::isnan(m.value)) ++without_value;
      else finite.push_back(m.value);
      m.shortfall = c_.bound.holds(m.value) ? 0 : shortfall_of(c_.bound, m.value);
    }
    if (without_value > 0) problems_.push_back(fmt::format("{} no value (NaN)", plural(without_value, "member has", "members have")));
    if (v.steps > 0 && members_.empty() && problems_.empty())
      problems_.push_back("the matching steps recorded no value to judge");

    v.members = members_.size();
    v.unit = unit_;
    v.measured = finite.empty() ? kNaN : combine_values(c_.combine, finite);
    const bool holds = !finite.empty() && c_.bound.holds(v.measured);
    v.outcome = holds && problems_.empty() ? Outcome::pass : Outcome::fail;
    v.note = note();
    if (v.outcome == Outcome::fail) fill_evidence(v, max_evidence);
    return v;
  }

 private:
  void take_unit(const Column& col) {
    if (unit_.empty()) unit_ = col.unit;
  }

  void collect_ranks(std::size_t index) {
    const StepResult& step = steps_[index];
    const Column* metric = step.per_rank.find(c_.metric);
    if (metric == nullptr) {
      problems_.push_back(fmt::format("step {} recorded no per-rank metric '{}'", step.id, c_.metric));
      return;
    }
    take_unit(*metric);
    const Column* status = step.per_rank.find("status");
    for (std::size_t row = 0; row < metric->values.size(); ++row) {
      const std::int32_t rank = rank_of_row(step, row);
      const Status rank_status =
          status && row < status->values.size() ? status_of(status->values[row]) : Status::ok;
      if (rank_status != Status::ok) {
        const RankInfo* who = ranks_.find(rank);
        std::string text = fmt::format("step {}: rank {}{} {}", step.id, rank,
                                       who ? " on " + who->host : std::string(), what_happened(rank_status));
        if (row < step.rank_messages.size() && !step.rank_messages[row].empty())
          text += ": " + step.rank_messages[row];
        problems_.push_back(std::move(text));
        continue;
      }
      members_.push_back(Member{index, rank, metric->values[row], 0});
    }
  }

  void collect_point(std::size_t index) {
    const StepResult& step = steps_[index];
    const Column* metric = step.points.find(c_.metric);
    if (metric == nullptr) {
      problems_.push_back(fmt::format("step {} recorded no sweep metric '{}'", step.id, c_.metric));
      return;
    }
    take_unit(*metric);
    std::vector<std::pair<const Column*, std::optional<double>>> keys;
    for (const auto& [key, value] : c_.point) {
      const Column* col = step.points.find(key);
      if (col == nullptr) {
        problems_.push_back(fmt::format("step {} has no point column '{}'", step.id, key));
        return;
      }
      keys.emplace_back(col, point_number(value));
    }
    bool found = false;
    for (std::size_t row = 0; row < metric->values.size(); ++row) {
      const bool match = std::all_of(keys.begin(), keys.end(), [&](const auto& k) {
        return k.second && row < k.first->values.size() && k.first->values[row] == *k.second;
      });
      if (!match) continue;
      found = true;
      members_.push_back(Member{index, -1, metric->values[row], 0});
    }
    if (!found) problems_.push_back(fmt::format("step {} has no point {}", step.id, format_point(c_)));
  }

  std::string note() const {
    std::string out;
    for (std::size_t i = 0; i < problems_.size() && i < kMaxNoteProblems; ++i) {
      if (!out.empty()) out += "; ";
      out += problems_[i];
    }
    if (problems_.size() > kMaxNoteProblems)
      out += fmt::format("; and {} more", plural(problems_.size() - kMaxNoteProblems, "problem", "problems"));
    return out;
  }

  void fill_evidence(CriterionVerdict& v, std::size_t max_evidence) const {
    std::vector<const Member*> outside;
    for (const auto& m : members_)
      if (m.shortfall > 0) outside.push_back(&m);
    v.worst_total = outside.size();
    const auto worse_first = [](const Member* a, const Member* b) {
      if (a->shortfall != b->shortfall) return a->shortfall > b->shortfall;
      if (a->step != b->step) return a->step < b->step;
      return a->rank < b->rank;
    };
    const std::size_t shown = std::min(max_evidence, outside.size());
    std::partial_sort(outside.begin(), outside.begin() + static_cast<std::ptrdiff_t>(shown), outside.end(),
                      worse_first);
    for (std::size_t i = 0; i < shown; ++i) {
      const Member& m = *outside[i];
      Evidence e;
      e.step_id = steps_[m.step].id;
      e.rank = m.rank;
      if (m.rank >= 0) {
        if (const RankInfo* who = ranks_.find(m.rank)) {
          e.host = who->host;
          e.device = who->device;
          e.uuid = who->uuid;
        }
      }
      e.value = m.value;
      e.shortfall = m.shortfall;
      v.worst.push_back(std::move(e));
    }
  }

  const Criterion& c_;
  const std::vector<StepResult>& steps_;
  const RankDirectory& ranks_;
  std::vector<Member> members_;
  std::vector<std::string> problems_;
  std::string unit_;
};

// ---- printing ----------------------------------------------------------------------------

std::string detail_of(const CriterionVerdict& v) {
  std::string what = v.metric;
  if (!v.point.empty()) what += " at " + v.point;
  if (v.members == 0) return fmt::format("({}: nothing measured)", what);
  if (v.point.empty()) {
    return fmt::format("({}, {} over {} in {})", what, v.combine, plural(v.members, "rank", "ranks"),
                       plural(v.steps, "step", "steps"));
  }
  return fmt::format("({}, {} over {})", what, v.combine, plural(v.members, "step", "steps"));
}

// The signed distance from the bound, as people read it: "-60.0%" below a minimum.
std::string deviation(const CriterionVerdict& v, const Evidence& e) {
  if (std::isnan(e.value)) return "(no value)";
  double limit = 0;
  if (v.limits.min && e.value < *v.limits.min) limit = *v.limits.min;
  else if (v.limits.max && e.value > *v.limits.max) limit = *v.limits.max;
  else return "";
  if (limit == 0) return fmt::format("({:+.4g})", e.value - limit);
  return fmt::format("({:+.1f}%)", (e.value - limit) / std::fabs(limit) * 100.0);
}

void print_evidence(std::ostream& out, const CriterionVerdict& v) {
  struct Line {
    std::string who, host, gpu, value, off, step;
  };
  std::vector<Line> lines;
  for (const auto& e : v.worst) {
    Line l;
    if (e.rank >= 0) {
      l.who = fmt::format("rank {}", e.rank);
      l.host = e.host.empty() ? "" : "host " + e.host;
      l.gpu = e.uuid.empty() ? e.device : e.uuid;
    } else {
      l.who = "point " + v.point;
    }
    l.value = with_unit(e.value, v.unit);
    l.off = deviation(v, e);
    l.step = "step " + e.step_id;
    lines.push_back(std::move(l));
  }
  std::size_t w_who = 0, w_host = 0, w_gpu = 0, w_value = 0, w_off = 0;
  for (const auto& l : lines) {
    w_who = std::max(w_who, l.who.size());
    w_host = std::max(w_host, l.host.size());
    w_gpu = std::max(w_gpu, l.gpu.size());
    w_value = std::max(w_value, l.value.size());
    w_off = std::max(w_off, l.off.size());
  }
  bool first = true;
  for (const auto& l : lines) {
    std::string text = fmt::format("{:<{}}", l.who, w_who);
    if (w_host) text += fmt::format("  {:<{}}", l.host, w_host);
    if (w_gpu) text += fmt::format("  {:<{}}", l.gpu, w_gpu);
    text += fmt::format("  {:>{}} {:<{}}  {}", l.value, w_value, l.off, w_off, l.step);
    out << "    " << (first ? "worst: " : "       ") << text << '\n';
    first = false;
  }
  if (v.worst_total > v.worst.size()) {
    out << "    " << (first ? "worst: " : "       ")
        << fmt::format("... and {} more outside the bound\n", v.worst_total - v.worst.size());
  }
}

}  // namespace

int Verdict::exit_code() const {
  if (!broken_steps.empty()) return 3;
  const bool failed = std::any_of(criteria.begin(), criteria.end(),
                                  [](const CriterionVerdict& c) { return c.outcome == Outcome::fail; });
  if (failed || !incorrect_steps.empty()) return 1;
  return 0;
}

Verdict evaluate(const Contract& contract, const RunInfo& run, const std::vector<StepResult>& steps,
                 const EvaluateOptions& options) {
  const RankDirectory ranks(run);
  Verdict verdict;
  for (const auto& c : contract.criteria)
    verdict.criteria.push_back(CriterionJudge(c, steps, ranks).judge(options.max_evidence));
  for (const auto& step : steps) {
    switch (step.status) {
      case Status::error:
      case Status::timeout:
      case Status::missing: verdict.broken_steps.push_back(describe_step(step)); break;
      case Status::incorrect: verdict.incorrect_steps.push_back(describe_step(step)); break;
      case Status::ok:
      case Status::skipped: break;
    }
  }
  return verdict;
}

void print_verdict(std::ostream& out, const Verdict& verdict) {
  std::size_t w_id = 9, w_measured = 8, w_bound = 5;
  std::vector<std::string> measured;
  for (const auto& c : verdict.criteria) {
    measured.push_back(with_unit(c.measured, c.unit));
    w_id = std::max(w_id, c.id.size());
    w_measured = std::max(w_measured, measured.back().size());
    w_bound = std::max(w_bound, c.bound.size());
  }
  w_id += 3;
  w_measured += 3;
  w_bound += 3;
  // Blocks (the table, each list of steps, the verdict line) are separated by a blank line.
  bool block_printed = !verdict.criteria.empty();
  if (block_printed) {
    out << fmt::format("{:<{}}{:<{}}{:<{}}{}\n", "criterion", w_id, "measured", w_measured, "bound", w_bound,
                       "verdict");
  }
  std::size_t failed = 0;
  for (std::size_t i = 0; i < verdict.criteria.size(); ++i) {
    const auto& c = verdict.criteria[i];
    const bool pass = c.outcome == Outcome::pass;
    failed += pass ? 0 : 1;
    std::string line = fmt::format("{:<{}}{:<{}}{:<{}}{}", c.id, w_id, measured[i], w_measured, c.bound,
                                   w_bound, pass ? "PASS" : "FAIL");
    if (!pass) line += "  " + detail_of(c);
    out << line << '\n';
    if (pass) continue;
    if (!c.note.empty()) out << "    note: " << c.note << '\n';
    print_evidence(out, c);
  }
  const auto print_list = [&](std::string_view title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    if (block_printed) out << '\n';
    block_printed = true;
    out << title << " (" << items.size() << "):\n";
    for (const auto& item : items) out << "  " << item << '\n';
  };
  print_list("broken steps", verdict.broken_steps);
  print_list("incorrect steps", verdict.incorrect_steps);

  const std::size_t total = verdict.criteria.size();
  std::string summary = total == 0   ? std::string("no criteria")
                        : failed > 0 ? fmt::format("{} of {} failed", failed, plural(total, "criterion", "criteria"))
                                     : fmt::format("{} of {} passed", total, plural(total, "criterion", "criteria"));
  if (!verdict.broken_steps.empty())
    summary += fmt::format("; {} broke", plural(verdict.broken_steps.size(), "step", "steps"));
  if (!verdict.incorrect_steps.empty())
    summary += fmt::format("; {} a wrong answer", plural(verdict.incorrect_steps.size(), "step gave", "steps gave"));
  if (block_printed) out << '\n';
  out << fmt::format("verdict: {} ({})\n", verdict.exit_code() == 0 ? "PASS" : "FAIL", summary);
}

}  // namespace gpuaccept
