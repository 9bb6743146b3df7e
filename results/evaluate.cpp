// Judging a run's StepResults against a contract. The semantics are documented in
// docs/contracts.md ("How a criterion is judged"); in short:
//  - the raw values of a criterion are the ok ranks of every matching step (rank metrics), or
//    the selected row of each matching step's points table (sweep metrics);
//  - the scope groups them into members (a rank, a node, a step, a repetition), reducing the
//    values of a group with `reduce`, and `across_repetitions` may merge a member's repetitions;
//  - the members are combined into one figure that must lie within the bound, or each member is
//    held against the median of its peers (outlier rules), or the figure at one scale against
//    the figure at a base scale (scaling); `hold_in` judges each repetition alone;
//  - whatever a criterion selected and could not judge (no step matched, a step that broke,
//    was skipped or answered wrongly, a rank that did not finish ok, a missing column or
//    point, a NaN) makes it FAIL with a note: a contract never passes on absent evidence;
//  - an active waiver turns a failure into WAIVED only when the criterion holds without what
//    the waiver covers; the failure and its evidence are still shown.
#include "results/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <ostream>
#include <set>
#include <unordered_map>

#include "results/stats.hpp"
#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);
// How many problems a note names before it summarises the rest.
constexpr std::size_t kMaxNoteProblems = 3;

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

std::string_view scope_plural(Scope s) {
  switch (s) {
    case Scope::rank: return "ranks";
    case Scope::node: return "nodes";
    case Scope::step: return "steps";
    case Scope::repetition: return "repetitions";
  }
  return "members";
}

std::string_view scope_singular(Scope s) {
  switch (s) {
    case Scope::rank: return "rank";
    case Scope::node: return "node";
    case Scope::step: return "step";
    case Scope::repetition: return "repetition";
  }
  return "member";
}

// ---- values ------------------------------------------------------------------------------

// How far outside the bound a value lies, as a fraction of the bound (as an absolute amount
// when that bound is 0); infinity for a NaN, which no bound can hold.
double shortfall_of(const Bound& bound, double value) {
  if (std::isnan(value)) return kInf;
  const auto relative = [](double distance, double limit) {
    return limit == 0 ? distance : distance / std::fabs(limit);
  };
  if (bound.min && value < *bound.min) return relative(*bound.min - value, *bound.min);
  if (bound.max && value > *bound.max) return relative(value - *bound.max, *bound.max);
  return 0;
}

// Plain combining functions (count and fraction need a bound: see Judge::figure).
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
    case Combine::sum: return v.empty() ? kNaN : stats::sum(v);
    case Combine::stddev: return v.size() < 2 ? kNaN : stats::stddev(v);
    case Combine::cv: return v.size() < 2 ? kNaN : stats::cv(v);
    case Combine::count:
    case Combine::fraction: return kNaN;
  }
  return kNaN;
}

bool needs_two(Combine c) { return c == Combine::stddev || c == Combine::cv; }

// Whether members can be held one by one against the bound: for a figure that is one of the
// members' own values (min, max, a percentile, ...), a member outside the bound is evidence;
// a sum or a spread is a property of the whole set, and no single member is.
bool per_member_evidence(Combine c) {
  return c != Combine::sum && c != Combine::stddev && c != Combine::cv;
}

class RankDirectory {
 public:
  explicit RankDirectory(const RunInfo& run) {
    std::int32_t max_rank = -1;
    bool dense = true;
    for (const auto& r : run.ranks) {
      if (r.rank < 0) dense = false;
      max_rank = std::max(max_rank, r.rank);
    }
    dense = dense && static_cast<std::size_t>(max_rank) < 4 * run.ranks.size() + 64;
    std::unordered_map<std::string, std::int32_t> host_ids;
    host_ids.reserve(run.ranks.size() / 4 + 16);
    if (dense) {
      info_.assign(static_cast<std::size_t>(max_rank + 1), nullptr);
      host_.assign(static_cast<std::size_t>(max_rank + 1), -1);
    }
    for (const auto& r : run.ranks) {
      const auto [it, added] = host_ids.emplace(r.host, static_cast<std::int32_t>(hosts_.size()));
      if (added) hosts_.push_back(r.host);
      if (dense) {
        info_[static_cast<std::size_t>(r.rank)] = &r;
        host_[static_cast<std::size_t>(r.rank)] = it->second;
      } else {
        sparse_.emplace(r.rank, std::make_pair(&r, it->second));
      }
    }
  }
  const RankInfo* find(std::int32_t rank) const {
    if (!info_.empty() || sparse_.empty()) {
      return rank >= 0 && static_cast<std::size_t>(rank) < info_.size() ? info_[static_cast<std::size_t>(rank)] : nullptr;
    }
    const auto it = sparse_.find(rank);
    return it == sparse_.end() ? nullptr : it->second.first;
  }
  // The host's index (0..hosts()-1), or -1 when the rank is not in the run's rank table.
  std::int32_t host_of(std::int32_t rank) const {
    if (!info_.empty() || sparse_.empty()) {
      return rank >= 0 && static_cast<std::size_t>(rank) < host_.size() ? host_[static_cast<std::size_t>(rank)] : -1;
    }
    const auto it = sparse_.find(rank);
    return it == sparse_.end() ? -1 : it->second.second;
  }
  const std::string& host_name(std::int32_t host) const {
    static const std::string unknown;
    return host >= 0 ? hosts_[static_cast<std::size_t>(host)] : unknown;
  }
  std::size_t hosts() const { return hosts_.size(); }

 private:
  std::vector<const RankInfo*> info_;
  std::vector<std::int32_t> host_;
  std::unordered_map<std::int32_t, std::pair<const RankInfo*, std::int32_t>> sparse_;
  std::vector<std::string> hosts_;
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

// What every criterion needs to know about a step: its configuration (benchmark and
// parameters, the same for all its repetitions) and its scale.
struct StepFacts {
  std::size_t config = 0;
  std::size_t ranks = 0;
  std::size_t nodes = 0;
};

std::vector<StepFacts> facts_of(const std::vector<StepResult>& steps, const RankDirectory& ranks) {
  std::vector<StepFacts> facts(steps.size());
  std::unordered_map<std::string, std::size_t> configs;
  std::vector<std::size_t> stamp(ranks.hosts(), kNone);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const StepResult& s = steps[i];
    const auto [it, added] = configs.emplace(s.benchmark + '\n' + format_params(s.params), configs.size());
    facts[i].config = it->second;
    const std::size_t rows = std::max(s.ranks.size(), s.per_rank.rows());
    facts[i].ranks = rows;
    std::size_t nodes = 0, unknown = 0;
    for (std::size_t row = 0; row < rows; ++row) {
      const std::int32_t host = ranks.host_of(rank_of_row(s, row));
      if (host < 0) {
        ++unknown;
      } else if (stamp[static_cast<std::size_t>(host)] != i) {
        stamp[static_cast<std::size_t>(host)] = i;
        ++nodes;
      }
    }
    facts[i].nodes = nodes + unknown;
  }
  return facts;
}

std::optional<double> point_number(const ParamValue& v) {
  if (auto n = as_number(v)) return n;
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (auto bytes = yaml::parse_size(*s)) return static_cast<double>(*bytes);
  }
  return std::nullopt;
}

// ---- judging one criterion ---------------------------------------------------------------

struct Problem {
  std::string text;
  std::int32_t host = -1;  // the host it concerns, for rank-level problems
};

struct Member {
  std::size_t step = 0;          // the (first) step it comes from
  std::int32_t rank = -1;        // scope rank only
  std::int32_t host = -1;        // scope rank and node
  std::int32_t repetition = -1;  // the repetition, unless repetitions were merged
  std::size_t group = 0;         // its peers, for outlier rules with peers: step
  std::size_t ranks = 1;         // raw values reduced into it
  double value = 0;
  bool waived = false;
};

struct Outside {
  std::size_t member = 0;
  double shortfall = 0;
  double reference = kNaN;
};

struct Judgement {
  double measured = kNaN;
  bool holds = false;
  std::vector<Outside> outside;
  std::vector<Problem> problems;  // found while judging: a missing scale, too few values
  std::string detail;
  std::size_t repetitions = 0;    // hold_in: how many ran
};

struct Waivers {
  bool whole = false;                  // an active waiver without hosts
  std::set<std::string> hosts;         // hosts named by active waivers
  std::string text;
};

Waivers waivers_for(const Contract& contract, const Criterion& c, const std::string& today) {
  Waivers w;
  std::vector<std::string> parts;
  for (const auto& waiver : contract.waivers) {
    if (waiver.criterion != c.id) continue;
    std::string hosts;
    for (const auto& h : waiver.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
    const std::string on = hosts.empty() ? "" : fmt::format(" on {}", hosts);
    if (today <= waiver.expires) {
      w.whole = w.whole || waiver.hosts.empty();
      w.hosts.insert(waiver.hosts.begin(), waiver.hosts.end());
      parts.push_back(fmt::format("waived{} until {}: {}", on, waiver.expires, waiver.reason));
    } else {
      parts.push_back(fmt::format("waiver{} expired on {} and no longer applies: {}", on, waiver.expires, waiver.reason));
    }
  }
  for (const auto& p : parts) w.text += (w.text.empty() ? "" : "; ") + p;
  return w;
}

class Judge {
 public:
  Judge(const Criterion& c, const std::vector<StepResult>& steps, const std::vector<StepFacts>& facts,
        const RankDirectory& ranks, const Waivers& waivers)
      : c_(c), steps_(steps), facts_(facts), ranks_(ranks), waivers_(waivers) {}

  CriterionVerdict judge(std::size_t max_evidence) {
    CriterionVerdict v;
    v.id = c_.id;
    v.description = c_.description;
    v.benchmark = c_.benchmark;
    v.metric = c_.metric;
    v.combine = std::string(to_string(c_.combine));
    v.scope = std::string(to_string(c_.scope));
    v.kind = c_.outliers ? "outliers" : c_.scaling ? "scaling" : "bound";
    v.limits = c_.bound;
    v.point = format_point(c_);
    v.measured = kNaN;

    collect(v);
    build_members();
    for (auto& m : members_) m.waived = m.host >= 0 && waivers_.hosts.count(ranks_.host_name(m.host)) > 0;

    v.members = members_.size();
    v.unit = unit_;
    v.measured_unit = measured_unit();
    v.bound = bound_text();

    const Judgement all = judge_members(false);
    v.measured = all.measured;
    v.detail = all.detail;
    std::vector<Problem> problems = problems_;
    problems.insert(problems.end(), all.problems.begin(), all.problems.end());
    v.note = note(problems);
    const bool clean = problems.empty();
    if (all.holds && clean) {
      v.outcome = Outcome::pass;
    } else if (waivers_.whole) {
      v.outcome = Outcome::waived;
    } else if (!waivers_.hosts.empty()) {
      const Judgement unwaived = judge_members(true);
      const bool unwaived_clean =
          unwaived.problems.empty() && std::all_of(problems_.begin(), problems_.end(), [&](const Problem& p) {
            return p.host >= 0 && waivers_.hosts.count(ranks_.host_name(p.host)) > 0;
          });
      v.outcome = unwaived.holds && unwaived_clean ? Outcome::waived : Outcome::fail;
      if (v.outcome == Outcome::waived && !std::isnan(unwaived.measured)) {
        v.detail += (v.detail.empty() ? "" : "; ") +
                    fmt::format("without the waived hosts: {}", format_figure(unwaived.measured, v.measured_unit));
      }
    } else {
      v.outcome = Outcome::fail;
    }
    v.waiver = waivers_.text;
    if (v.outcome != Outcome::pass) {
      fill_evidence(v, all, max_evidence);
      if (c_.is_per_host()) fill_failing_hosts(v, all, problems);
    }
    return v;
  }

 private:
  // ---- raw values ----

  void collect(CriterionVerdict& v) {
    bool benchmark_seen = false;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const StepResult& step = steps_[i];
      benchmark_seen = benchmark_seen || step.benchmark == c_.benchmark;
      if (!selects(c_, step.benchmark, step.params)) continue;
      ++v.steps;
      if (step.status != Status::ok) {
        problems_.push_back({describe_step(step)});
        continue;
      }
      if (c_.point.empty()) collect_ranks(i);
      else collect_point(i);
    }
    if (v.steps == 0) {
      problems_.push_back({benchmark_seen ? fmt::format("no step of benchmark {} matched select {}", c_.benchmark,
                                                        format_select(c_))
                                          : fmt::format("no step of benchmark {} in this run", c_.benchmark)});
    }
    std::size_t without_value = 0;
    for (const auto& r : raws_) without_value += std::isnan(r.value) ? 1 : 0;
    if (without_value > 0)
      problems_.push_back({fmt::format("{} no value (NaN)", plural(without_value, "member has", "members have"))});
    if (v.steps > 0 && raws_.empty() && problems_.empty())
      problems_.push_back({"the matching steps recorded no value to judge"});
  }

  void take_column(const Column& col) {
    if (unit_.empty()) unit_ = col.unit;
    if (!better_known_) {
      better_ = col.better;
      better_known_ = true;
    }
  }

  void collect_ranks(std::size_t index) {
    const StepResult& step = steps_[index];
    const Column* metric = step.per_rank.find(c_.metric);
    if (metric == nullptr) {
      problems_.push_back({fmt::format("step {} recorded no per-rank metric '{}'", step.id, c_.metric)});
      return;
    }
    take_column(*metric);
    const Column* status = step.per_rank.find("status");
    raws_.reserve(raws_.size() + metric->values.size());
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
        problems_.push_back({std::move(text), ranks_.host_of(rank)});
        continue;
      }
      raws_.push_back(Raw{index, rank, metric->values[row]});
    }
  }

  void collect_point(std::size_t index) {
    const StepResult& step = steps_[index];
    const Column* metric = step.points.find(c_.metric);
    if (metric == nullptr) {
      problems_.push_back({fmt::format("step {} recorded no sweep metric '{}'", step.id, c_.metric)});
      return;
    }
    take_column(*metric);
    std::vector<std::pair<const Column*, std::optional<double>>> keys;
    for (const auto& [key, value] : c_.point) {
      const Column* col = step.points.find(key);
      if (col == nullptr) {
        problems_.push_back({fmt::format("step {} has no point column '{}'", step.id, key)});
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
      raws_.push_back(Raw{index, -1, metric->values[row]});
    }
    if (!found) problems_.push_back({fmt::format("step {} has no point {}", step.id, format_point(c_))});
  }

  // ---- members ----

  // Groups members by a key and reduces each group's finite values with `how`.
  template <typename Key>
  std::vector<Member> reduce_groups(const std::vector<Member>& in, Key key_of, Combine how, bool merge_reps) {
    std::unordered_map<std::uint64_t, std::size_t> index;
    std::vector<Member> out;
    std::vector<std::vector<double>> values;
    index.reserve(in.size() / 4 + 16);
    for (const auto& m : in) {
      const auto [it, added] = index.emplace(key_of(m), out.size());
      if (added) {
        Member first = m;
        first.ranks = 0;
        if (merge_reps) first.repetition = -1;
        out.push_back(first);
        values.emplace_back();
      }
      Member& into = out[it->second];
      into.ranks += merge_reps ? (into.ranks == 0 ? m.ranks : 0) : m.ranks;
      if (!std::isnan(m.value)) values[it->second].push_back(m.value);
    }
    for (std::size_t i = 0; i < out.size(); ++i) out[i].value = combine_values(how, values[i]);
    return out;
  }

  void build_members() {
    std::vector<Member> base;
    base.reserve(raws_.size());
    for (const auto& r : raws_) {
      Member m;
      m.step = r.step;
      m.rank = r.rank;
      m.host = r.rank >= 0 ? ranks_.host_of(r.rank) : -1;
      m.repetition = steps_[r.step].repetition;
      m.group = r.step;
      m.value = r.value;
      base.push_back(m);
    }
    const auto u = [](auto x) { return static_cast<std::uint64_t>(static_cast<std::uint32_t>(x)); };
    switch (c_.scope) {
      case Scope::rank: members_ = std::move(base); break;
      case Scope::node:
        // A rank missing from the run's rank table keeps a group of its own.
        members_ = reduce_groups(
            base, [&](const Member& m) { return u(m.step) << 32 | (m.host >= 0 ? u(m.host) : u(m.rank) | 1u << 31); },
            c_.reduce, false);
        for (auto& m : members_) m.rank = m.host >= 0 ? -1 : m.rank;
        break;
      case Scope::step:
        members_ = reduce_groups(base, [&](const Member& m) { return u(m.step); }, c_.reduce, false);
        for (auto& m : members_) m.rank = -1, m.host = -1, m.group = 0;  // steps are each other's peers
        break;
      case Scope::repetition:
        members_ = reduce_groups(base, [&](const Member& m) { return u(m.repetition); }, c_.reduce, false);
        for (auto& m : members_) m.rank = -1, m.host = -1, m.group = 0;
        break;
    }
    if (c_.across_repetitions) {
      members_ = reduce_groups(
          members_,
          [&](const Member& m) {
            const std::uint64_t who = m.rank >= 0 ? u(m.rank) : m.host >= 0 ? u(m.host) | 1u << 31 : 0;
            return u(facts_[m.step].config) << 32 | who;
          },
          *c_.across_repetitions, true);
      for (auto& m : members_) m.group = c_.is_per_host() ? facts_[m.step].config : 0;
    }
  }

  // ---- judging ----

  // The criterion's figure over the members `idx` (count and fraction against `meets`).
  double figure(const std::vector<std::size_t>& idx, Combine how, std::vector<Problem>& problems) const {
    if (how == Combine::count || how == Combine::fraction) {
      if (idx.empty()) return kNaN;
      std::size_t meeting = 0;
      for (std::size_t i : idx) meeting += c_.meets->holds(members_[i].value) ? 1 : 0;
      return how == Combine::count ? static_cast<double>(meeting)
                                   : static_cast<double>(meeting) / static_cast<double>(idx.size());
    }
    std::vector<double> values;
    values.reserve(idx.size());
    for (std::size_t i : idx)
      if (!std::isnan(members_[i].value)) values.push_back(members_[i].value);
    if (needs_two(how) && values.size() == 1)
      problems.push_back({fmt::format("{} needs at least 2 {}, found 1", to_string(how), scope_plural(c_.scope))});
    return combine_values(how, values);
  }

  Judgement judge_bound(const std::vector<std::size_t>& idx) const {
    Judgement j;
    j.measured = figure(idx, c_.combine, j.problems);
    j.holds = !std::isnan(j.measured) && c_.bound.holds(j.measured);
    const bool counting = c_.combine == Combine::count || c_.combine == Combine::fraction;
    if (counting || per_member_evidence(c_.combine)) {
      const Bound& each = counting ? *c_.meets : c_.bound;
      for (std::size_t i : idx) {
        if (each.holds(members_[i].value)) continue;
        j.outside.push_back(Outside{i, shortfall_of(each, members_[i].value), kNaN});
      }
    }
    return j;
  }

  Side side() const {
    if (c_.outliers->side) return *c_.outliers->side;
    switch (better_) {
      case Better::higher: return Side::low;
      case Better::lower: return Side::high;
      case Better::none: return Side::both;
    }
    return Side::both;
  }

  Judgement judge_outliers(const std::vector<std::size_t>& idx) const {
    const OutlierRule& rule = *c_.outliers;
    const Side bad = side();
    std::map<std::size_t, std::vector<std::size_t>> groups;
    for (std::size_t i : idx) groups[rule.peers == OutlierRule::Peers::all ? 0 : members_[i].group].push_back(i);
    Judgement j;
    std::size_t outliers = 0;
    for (const auto& [group, members] : groups) {
      std::vector<double> values;
      values.reserve(members.size());
      for (std::size_t i : members)
        if (!std::isnan(members_[i].value)) values.push_back(members_[i].value);
      if (values.empty()) continue;
      const double median = stats::median(values);
      const double sigma = rule.mad ? stats::robust_sigma(values) : 0;
      for (std::size_t i : members) {
        const double x = members_[i].value;
        const double below = median - x, above = x - median;
        const double distance = bad == Side::low ? below : bad == Side::high ? above : std::fabs(x - median);
        bool out = std::isnan(x);
        if (!out) {
          bool breaks_ratio = true, breaks_mad = true;
          if (rule.ratio) {
            const double r = *rule.ratio;
            const bool low = x < r * median, high = x > median / r;
            breaks_ratio = bad == Side::low ? low : bad == Side::high ? high : (low || high);
          }
          if (rule.mad) breaks_mad = distance > *rule.mad * sigma;
          out = breaks_ratio && breaks_mad;
        }
        if (!out) continue;
        ++outliers;
        const double shortfall = std::isnan(x) ? kInf : median == 0 ? std::fabs(x) : std::fabs(x - median) / std::fabs(median);
        j.outside.push_back(Outside{i, shortfall, median});
      }
    }
    j.measured = static_cast<double>(outliers);
    j.holds = !idx.empty() && outliers <= static_cast<std::size_t>(rule.max);
    return j;
  }

  Judgement judge_set(const std::vector<std::size_t>& idx) const {
    return c_.outliers ? judge_outliers(idx) : judge_bound(idx);
  }

  std::size_t scale_of(const Member& m) const {
    const StepFacts& f = facts_[m.step];
    return c_.scaling->dim == ScalingRule::Dim::nodes ? f.nodes : f.ranks;
  }

  Judgement judge_scaling(const std::vector<std::size_t>& idx) const {
    const ScalingRule& rule = *c_.scaling;
    const std::string_view dim = rule.dim == ScalingRule::Dim::nodes ? "nodes" : "ranks";
    std::map<std::size_t, std::vector<std::size_t>> by_scale;
    for (std::size_t i : idx) by_scale[scale_of(members_[i])].push_back(i);
    Judgement j;
    std::string present;
    for (const auto& [scale, _] : by_scale) present += (present.empty() ? "" : ", ") + std::to_string(scale);
    if (present.empty()) present = "none";
    const auto base_it = by_scale.find(static_cast<std::size_t>(rule.base));
    const std::size_t at = rule.at ? static_cast<std::size_t>(*rule.at) : (by_scale.empty() ? 0 : by_scale.rbegin()->first);
    const auto at_it = by_scale.find(at);
    if (base_it == by_scale.end()) {
      j.problems.push_back({fmt::format("no step at the base scale of {} {} (scales present: {})", rule.base, dim, present)});
    }
    if (at_it == by_scale.end() && rule.at) {
      j.problems.push_back({fmt::format("no step at {} {} (scales present: {})", at, dim, present)});
    }
    if (base_it == by_scale.end() || at_it == by_scale.end()) return j;
    if (at_it == base_it) {
      j.problems.push_back({fmt::format("only the base scale ({} {}) was measured: nothing to scale to", rule.base, dim)});
      return j;
    }
    const auto value_at = [&](const std::vector<std::size_t>& members) {
      double v = figure(members, c_.combine, j.problems);
      const StepFacts& f = facts_[members_[members.front()].step];
      if (rule.normalise == ScalingRule::Normalise::ranks) v /= static_cast<double>(std::max<std::size_t>(f.ranks, 1));
      if (rule.normalise == ScalingRule::Normalise::nodes) v /= static_cast<double>(std::max<std::size_t>(f.nodes, 1));
      return v;
    };
    const double base = value_at(base_it->second);
    const double top = value_at(at_it->second);
    j.measured = better_ == Better::lower ? base / top : top / base;
    j.holds = std::isfinite(j.measured) && c_.bound.holds(j.measured);
    const std::string per = rule.normalise == ScalingRule::Normalise::ranks   ? " per rank"
                            : rule.normalise == ScalingRule::Normalise::nodes ? " per node"
                                                                              : "";
    j.detail = fmt::format("{} {}: {}{}; base {} {}: {}{}", at, dim, format_figure(top, unit_), per, rule.base, dim,
                           format_figure(base, unit_), per);
    return j;
  }

  Judgement judge_hold_in(const std::vector<std::size_t>& idx) const {
    const HoldIn& hold = *c_.hold_in;
    std::map<std::int32_t, std::vector<std::size_t>> by_rep;
    for (std::size_t i : idx) by_rep[members_[i].repetition].push_back(i);
    Judgement j;
    std::size_t held = 0;
    std::vector<std::string> failed;
    for (const auto& [rep, members] : by_rep) {
      Judgement one = judge_set(members);
      if (one.holds && one.problems.empty()) {
        ++held;
        continue;
      }
      failed.push_back(fmt::format("{} ({})", rep, format_figure(one.measured, measured_unit_of_set())));
      j.outside.insert(j.outside.end(), one.outside.begin(), one.outside.end());
    }
    j.repetitions = by_rep.size();
    j.measured = static_cast<double>(held);
    j.holds = held >= static_cast<std::size_t>(hold.at_least) && (!hold.of || by_rep.size() >= static_cast<std::size_t>(*hold.of));
    if (hold.of && by_rep.size() < static_cast<std::size_t>(*hold.of)) {
      j.problems.push_back({fmt::format("{} ran, and the criterion asks for {} of {}",
                                        plural(by_rep.size(), "repetition", "repetitions"), hold.at_least, *hold.of)});
    }
    std::string failed_text;
    for (const auto& f : failed) failed_text += (failed_text.empty() ? "" : ", ") + f;
    j.detail = fmt::format("held in {} of {}", held, plural(by_rep.size(), "repetition", "repetitions"));
    if (!failed.empty()) j.detail += "; failed in repetition " + failed_text;
    return j;
  }

  Judgement judge_members(bool exclude_waived) const {
    std::vector<std::size_t> idx;
    idx.reserve(members_.size());
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (!exclude_waived || !members_[i].waived) idx.push_back(i);
    if (c_.scaling) return judge_scaling(idx);
    if (c_.hold_in) return judge_hold_in(idx);
    return judge_set(idx);
  }

  // ---- text ----

  std::string measured_unit_of_set() const {
    if (c_.outliers) return "outliers";
    if (c_.scaling) return "";
    switch (c_.combine) {
      case Combine::count: return std::string(scope_plural(c_.scope));
      case Combine::fraction:
      case Combine::cv: return "";
      default: return unit_;
    }
  }

  std::string measured_unit() const {
    if (c_.hold_in) return fmt::format("of {} reps", repetitions_present());
    return measured_unit_of_set();
  }

  std::size_t repetitions_present() const {
    std::set<std::int32_t> reps;
    for (const auto& m : members_) reps.insert(m.repetition);
    return reps.size();
  }

  std::string bound_text() const {
    std::string inner;
    if (c_.outliers) inner = c_.outliers->text();
    else if (c_.scaling)
      inner = fmt::format("{} x {} {}", c_.bound.text(), c_.scaling->base,
                          c_.scaling->dim == ScalingRule::Dim::nodes ? "nodes" : "ranks");
    else inner = c_.bound.text();
    if (c_.hold_in) {
      inner += fmt::format(" in >= {}", c_.hold_in->at_least);
      if (c_.hold_in->of) inner += fmt::format(" of {}", *c_.hold_in->of);
    }
    return inner;
  }

  static std::string note(const std::vector<Problem>& problems) {
    std::string out;
    for (std::size_t i = 0; i < problems.size() && i < kMaxNoteProblems; ++i) {
      if (!out.empty()) out += "; ";
      out += problems[i].text;
    }
    if (problems.size() > kMaxNoteProblems)
      out += fmt::format("; and {} more", plural(problems.size() - kMaxNoteProblems, "problem", "problems"));
    return out;
  }

  void fill_evidence(CriterionVerdict& v, const Judgement& j, std::size_t max_evidence) const {
    std::vector<const Outside*> outside;
    outside.reserve(j.outside.size());
    for (const auto& o : j.outside) outside.push_back(&o);
    v.worst_total = outside.size();
    const auto worse_first = [&](const Outside* a, const Outside* b) {
      if (a->shortfall != b->shortfall) return a->shortfall > b->shortfall;
      const Member& ma = members_[a->member];
      const Member& mb = members_[b->member];
      if (ma.step != mb.step) return ma.step < mb.step;
      if (ma.host != mb.host) return ma.host < mb.host;
      return ma.rank < mb.rank;
    };
    const std::size_t shown = std::min(max_evidence, outside.size());
    std::partial_sort(outside.begin(), outside.begin() + static_cast<std::ptrdiff_t>(shown), outside.end(),
                      worse_first);
    const bool show_repetition = c_.scope == Scope::repetition || c_.hold_in.has_value();
    for (std::size_t i = 0; i < shown; ++i) {
      const Member& m = members_[outside[i]->member];
      Evidence e;
      e.step_id = steps_[m.step].id;
      e.rank = m.rank;
      e.host = ranks_.host_name(m.host);
      if (m.rank >= 0) {
        if (const RankInfo* who = ranks_.find(m.rank)) {
          e.host = who->host;
          e.gpu = who->local_rank;
          e.device = who->device;
          e.uuid = who->uuid;
        }
      }
      e.repetition = show_repetition ? m.repetition : -1;
      e.ranks = c_.scope == Scope::rank || !c_.point.empty() ? 0 : m.ranks;
      e.value = m.value;
      e.shortfall = outside[i]->shortfall;
      e.reference = outside[i]->reference;
      e.waived = m.waived;
      v.worst.push_back(std::move(e));
    }
    if (c_.combine == Combine::count || c_.combine == Combine::fraction) v.limits = *c_.meets;
  }

  void fill_failing_hosts(CriterionVerdict& v, const Judgement& j, const std::vector<Problem>& problems) const {
    std::set<std::int32_t> hosts;
    for (const auto& o : j.outside) {
      const Member& m = members_[o.member];
      if (m.host >= 0 && !m.waived) hosts.insert(m.host);
    }
    for (const auto& p : problems) {
      if (p.host >= 0 && waivers_.hosts.count(ranks_.host_name(p.host)) == 0) hosts.insert(p.host);
    }
    if (waivers_.whole) return;
    for (std::int32_t h : hosts) v.failing_hosts.push_back(ranks_.host_name(h));
    std::sort(v.failing_hosts.begin(), v.failing_hosts.end());
  }

  struct Raw {
    std::size_t step;
    std::int32_t rank;
    double value;
  };

  const Criterion& c_;
  const std::vector<StepResult>& steps_;
  const std::vector<StepFacts>& facts_;
  const RankDirectory& ranks_;
  const Waivers& waivers_;
  std::vector<Raw> raws_;
  std::vector<Member> members_;
  std::vector<Problem> problems_;
  std::string unit_;
  Better better_ = Better::none;
  bool better_known_ = false;
};

// ---- printing ----------------------------------------------------------------------------

std::string detail_of(const CriterionVerdict& v) {
  std::string what = v.metric;
  if (!v.point.empty()) what += " at " + v.point;
  if (v.members == 0) return fmt::format("({}: nothing measured)", what);
  const auto scope = scope_from_string(v.scope).value_or(Scope::rank);
  const std::string members = plural(v.members, scope_singular(scope), scope_plural(scope));
  if (v.kind == "outliers") {
    return fmt::format("({}, {} of {} {})", what, format_figure(v.measured), members,
                       v.measured == 1 ? "is an outlier" : "are outliers");
  }
  if (v.kind == "scaling") return fmt::format("({}, {} at two scales)", what, v.combine);
  if (scope == Scope::rank) {
    return fmt::format("({}, {} over {} in {})", what, v.combine, members, plural(v.steps, "step", "steps"));
  }
  if (!v.point.empty() && scope == Scope::step) return fmt::format("({}, {} over {})", what, v.combine, members);
  return fmt::format("({}, {} over {})", what, v.combine, members);
}

std::string_view colour_of(Outcome o) {
  switch (o) {
    case Outcome::pass: return "\033[32m";
    case Outcome::fail: return "\033[1;31m";
    case Outcome::waived: return "\033[33m";
  }
  return "";
}

std::string verdict_word(Outcome o) {
  switch (o) {
    case Outcome::pass: return "PASS";
    case Outcome::fail: return "FAIL";
    case Outcome::waived: return "WAIVED";
  }
  return "FAIL";
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
      const std::string id = e.uuid.empty() ? e.device : e.uuid;
      l.gpu = e.gpu >= 0 ? fmt::format("gpu {}{}", e.gpu, id.empty() ? "" : "  " + id) : id;
    } else if (!e.host.empty()) {
      l.who = "host " + e.host;
      l.host = fmt::format("({})", plural(e.ranks, "rank", "ranks"));
    } else if (e.repetition >= 0 && v.scope == "repetition") {
      l.who = fmt::format("repetition {}", e.repetition);
    } else if (!v.point.empty()) {
      l.who = "point " + v.point;
    } else {
      l.who = fmt::format("step ({})", plural(e.ranks, "rank", "ranks"));
    }
    if (e.repetition >= 0 && v.scope != "repetition") l.who += fmt::format(" rep {}", e.repetition);
    l.value = format_figure(e.value, v.unit);
    l.off = deviation_text(v, e);
    if (e.waived) l.off += " waived";
    l.step = v.scope == "repetition" ? "" : "step " + e.step_id;
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
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << "    " << (first ? "worst: " : "       ") << text << '\n';
    first = false;
  }
  if (v.worst_total > v.worst.size()) {
    out << "    " << (first ? "worst: " : "       ")
        << fmt::format("... and {} more {}\n", v.worst_total - v.worst.size(),
                       v.kind == "outliers" ? "outliers" : "outside the bound");
  }
}

}  // namespace

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::pass: return "pass";
    case Outcome::fail: return "fail";
    case Outcome::waived: return "waived";
  }
  return "fail";
}

std::string format_figure(double v, const std::string& unit) {
  std::string text;
  if (std::isnan(v)) return "-";
  const double a = std::fabs(v);
  if (std::isinf(v)) text = v > 0 ? "inf" : "-inf";
  else if (a >= 1e4 && a < 1e12) text = fmt::format("{:.0f}", v);
  else text = fmt::format("{:.4g}", v);
  return unit.empty() ? text : text + " " + unit;
}

std::string deviation_text(const CriterionVerdict& v, const Evidence& e) {
  if (std::isnan(e.value)) return "(no value)";
  if (!std::isnan(e.reference)) {
    if (e.reference == 0) return fmt::format("({:+.4g} vs peer median 0)", e.value);
    return fmt::format("({:+.1f}% vs peer median {})", (e.value - e.reference) / std::fabs(e.reference) * 100.0,
                       format_figure(e.reference));
  }
  double limit = 0;
  if (v.limits.min && e.value < *v.limits.min) limit = *v.limits.min;
  else if (v.limits.max && e.value > *v.limits.max) limit = *v.limits.max;
  else return "";
  if (limit == 0) return fmt::format("({:+.4g})", e.value - limit);
  return fmt::format("({:+.1f}%)", (e.value - limit) / std::fabs(limit) * 100.0);
}

std::string describe_member(const CriterionVerdict& v, const Evidence& e) {
  std::string out;
  if (e.rank >= 0) {
    out = fmt::format("rank {}", e.rank);
    if (!e.host.empty()) out += "  host " + e.host;
    if (e.gpu >= 0) out += fmt::format("  gpu {}", e.gpu);
    if (!e.uuid.empty()) out += "  " + e.uuid;
    else if (!e.device.empty()) out += "  " + e.device;
  } else if (!e.host.empty()) {
    out = fmt::format("host {} ({})", e.host, plural(e.ranks, "rank", "ranks"));
  } else if (e.repetition >= 0 && v.scope == "repetition") {
    out = fmt::format("repetition {}", e.repetition);
  } else if (!v.point.empty()) {
    out = "point " + v.point;
  } else {
    out = "step " + e.step_id;
  }
  if (e.repetition >= 0 && v.scope != "repetition") out += fmt::format("  repetition {}", e.repetition);
  return out;
}

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

int Verdict::exit_code() const {
  if (!broken_steps.empty()) return 3;
  const bool failed = std::any_of(criteria.begin(), criteria.end(),
                                  [](const CriterionVerdict& c) { return c.outcome == Outcome::fail; });
  if (failed || !incorrect_steps.empty()) return 1;
  return 0;
}

std::vector<std::string> Verdict::quarantine_hosts() const {
  std::set<std::string> hosts;
  for (const auto& c : criteria) {
    if (c.outcome != Outcome::fail) continue;
    hosts.insert(c.failing_hosts.begin(), c.failing_hosts.end());
  }
  return {hosts.begin(), hosts.end()};
}

Verdict evaluate(const Contract& contract, const RunInfo& run, const std::vector<StepResult>& steps,
                 const EvaluateOptions& options) {
  const RankDirectory ranks(run);
  const std::vector<StepFacts> facts = facts_of(steps, ranks);
  Verdict verdict;
  verdict.contract = contract.name;
  verdict.as_of = options.today.empty() ? today_utc() : options.today;
  for (const auto& c : contract.criteria) {
    const Waivers waivers = waivers_for(contract, c, verdict.as_of);
    verdict.criteria.push_back(Judge(c, steps, facts, ranks, waivers).judge(options.max_evidence));
  }
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

void print_verdict(std::ostream& out, const Verdict& verdict, const PrintOptions& options) {
  const auto paint = [&](std::string_view colour, const std::string& text) {
    return options.color ? fmt::format("{}{}\033[0m", colour, text) : text;
  };
  std::size_t w_id = 9, w_measured = 8, w_bound = 5;
  std::vector<std::string> measured;
  for (const auto& c : verdict.criteria) {
    measured.push_back(format_figure(c.measured, c.measured_unit));
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
    const std::string header = fmt::format("{:<{}}{:<{}}{:<{}}{}", "criterion", w_id, "measured", w_measured, "bound",
                                           w_bound, "verdict");
    out << paint("\033[1m", header) << '\n';
  }
  std::size_t failed = 0, waived = 0;
  for (std::size_t i = 0; i < verdict.criteria.size(); ++i) {
    const auto& c = verdict.criteria[i];
    const bool pass = c.outcome == Outcome::pass;
    failed += c.outcome == Outcome::fail ? 1 : 0;
    waived += c.outcome == Outcome::waived ? 1 : 0;
    std::string line = fmt::format("{:<{}}{:<{}}{:<{}}", c.id, w_id, measured[i], w_measured, c.bound, w_bound);
    line += paint(colour_of(c.outcome), verdict_word(c.outcome));
    if (!pass) line += "  " + detail_of(c);
    out << line << '\n';
    if (pass) continue;
    if (!c.detail.empty()) out << "    " << (c.kind == "scaling" ? "scales: " : "detail: ") << c.detail << '\n';
    if (!c.note.empty()) out << "    note: " << c.note << '\n';
    if (!c.waiver.empty()) out << "    " << paint(colour_of(Outcome::waived), "waiver: " + c.waiver) << '\n';
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
                                     : fmt::format("{} of {} passed", total - waived, plural(total, "criterion", "criteria"));
  if (waived > 0) summary += fmt::format("; {} waived", waived);
  if (!verdict.broken_steps.empty())
    summary += fmt::format("; {} broke", plural(verdict.broken_steps.size(), "step", "steps"));
  if (!verdict.incorrect_steps.empty())
    summary += fmt::format("; {} a wrong answer", plural(verdict.incorrect_steps.size(), "step gave", "steps gave"));
  if (block_printed) out << '\n';
  const bool ok = verdict.exit_code() == 0;
  out << "verdict: " << paint(colour_of(ok ? Outcome::pass : Outcome::fail), ok ? "PASS" : "FAIL")
      << fmt::format(" ({})\n", summary);
}

}  // namespace gpuaccept
