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
    case Scope::communicator: return "communicators";
  }
  return "members";
}

std::string_view scope_singular(Scope s) {
  switch (s) {
    case Scope::rank: return "rank";
    case Scope::node: return "node";
    case Scope::step: return "step";
    case Scope::repetition: return "repetition";
    case Scope::communicator: return "communicator";
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

// ---- collective steps: their communicators ------------------------------------------------

// The `scope` parameter of a collective step (docs/contracts.md, "Communicators").
enum class StepScope { none, world, node, rail, pairs, scaling, bisect };

StepScope step_scope(const StepResult& step) {
  const auto it = step.params.find("scope");
  if (it == step.params.end()) return StepScope::none;
  const auto* text = std::get_if<std::string>(&it->second);
  if (text == nullptr) return StepScope::none;
  if (*text == "world") return StepScope::world;
  if (*text == "node") return StepScope::node;
  if (*text == "rail") return StepScope::rail;
  if (*text == "pairs") return StepScope::pairs;
  if (*text == "scaling") return StepScope::scaling;
  if (*text == "bisect") return StepScope::bisect;
  return StepScope::none;
}

// One communicator (group) of a collective step, from its "group_ranks" samples.
struct CommGroup {
  std::vector<std::int32_t> hosts;  // host indices, distinct, in communicator order
  std::size_t ranks = 0;            // its ranks
  std::int32_t first_local = -1;    // local rank of its first member (rails)
  std::string label;
};

const Samples* find_samples(const StepResult& step, std::string_view name) {
  for (const auto& s : step.samples)
    if (s.name == name) return &s;
  return nullptr;
}

std::string hosts_span(const std::vector<std::int32_t>& hosts, const RankDirectory& ranks) {
  if (hosts.empty()) return "(no hosts)";
  if (hosts.size() == 1) return ranks.host_name(hosts.front());
  return fmt::format("{}..{} ({} nodes)", ranks.host_name(hosts.front()), ranks.host_name(hosts.back()), hosts.size());
}

// The groups of a collective step (one per row of group_ranks; empty when it has none) with
// the labels the layout note gives: "world", a host, "rail 3", "a<->b", "8 nodes", ...
std::vector<CommGroup> communicators_of(const StepResult& step, const RankDirectory& ranks) {
  std::vector<CommGroup> out;
  const Samples* members = find_samples(step, "group_ranks");
  if (members == nullptr || members->values.size() < members->rows * members->cols) return out;
  const StepScope scope = step_scope(step);
  out.resize(members->rows);
  std::vector<std::size_t> stamp(ranks.hosts(), kNone);
  for (std::size_t g = 0; g < members->rows; ++g) {
    CommGroup& group = out[g];
    for (std::size_t c = 0; c < members->cols; ++c) {
      const double v = members->values[g * members->cols + c];
      if (!(v >= 0)) continue;
      const auto rank = static_cast<std::int32_t>(v);
      ++group.ranks;
      if (group.first_local < 0) {
        if (const RankInfo* who = ranks.find(rank)) group.first_local = who->local_rank;
      }
      const std::int32_t host = ranks.host_of(rank);
      if (host >= 0 && stamp[static_cast<std::size_t>(host)] != g) {
        stamp[static_cast<std::size_t>(host)] = g;
        group.hosts.push_back(host);
      }
    }
    switch (scope) {
      case StepScope::world: group.label = "world"; break;
      case StepScope::node:
        group.label = group.hosts.size() == 1 ? ranks.host_name(group.hosts.front())
                      : group.hosts.empty()   ? fmt::format("group {}", g)
                                              : fmt::format("{}..{}", ranks.host_name(group.hosts.front()),
                                                            ranks.host_name(group.hosts.back()));
        break;
      case StepScope::rail: group.label = fmt::format("rail {}", std::max(group.first_local, 0)); break;
      case StepScope::scaling: group.label = fmt::format("{} nodes", group.hosts.size()); break;
      case StepScope::pairs:
      case StepScope::bisect:
      case StepScope::none:
        if (group.hosts.size() == 2)
          group.label = ranks.host_name(group.hosts[0]) + "<->" + ranks.host_name(group.hosts[1]);
        else if (scope == StepScope::none && group.hosts.size() != 1)
          group.label = fmt::format("group {}", g);
        else
          group.label = hosts_span(group.hosts, ranks);
        break;
    }
  }
  return out;
}

// Suspects from the pairs of a scope=pairs step: `judged[g]` says group g had a value at the
// point, `slow[g]` that it was slow (an outlier, or outside the bound). A node slow with every
// partner it met (at least two) is a suspected node; a slow pair of two nodes fine with all
// their other partners (at least one each) is a suspected link; a slow pair that neither
// explains (e.g. two slow nodes that met, or a node that met one partner) is named as a slow
// pair that the plan cannot attribute. Pairs with a suspected node are explained by it.
std::vector<Suspect> diagnose_pairs(const StepResult& step, const std::vector<CommGroup>& groups,
                                    const std::vector<char>& judged, const std::vector<char>& slow,
                                    const RankDirectory& ranks, std::string_view how = "slow") {
  std::vector<Suspect> out;
  const Column* round_col = step.points.find("round");
  const Column* group_col = step.points.find("group");
  std::vector<std::int32_t> round_of(groups.size(), -1);
  if (round_col && group_col) {
    for (std::size_t row = 0; row < group_col->values.size() && row < round_col->values.size(); ++row) {
      const double g = group_col->values[row];
      if (g >= 0 && static_cast<std::size_t>(g) < groups.size())
        round_of[static_cast<std::size_t>(g)] = static_cast<std::int32_t>(round_col->values[row]);
    }
  }
  std::unordered_map<std::int32_t, std::pair<std::size_t, std::size_t>> tally;  // host -> (met, slow)
  bool any_slow = false;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (!judged[g] || groups[g].hosts.size() != 2) continue;
    any_slow = any_slow || slow[g];
    for (std::int32_t h : groups[g].hosts) {
      auto& t = tally[h];
      ++t.first;
      t.second += slow[g] ? 1 : 0;
    }
  }
  if (!any_slow) return out;
  std::set<std::int32_t> suspected;
  std::vector<std::int32_t> order;
  for (const auto& [host, t] : tally)
    if (t.first >= 2 && t.second == t.first) order.push_back(host);
  std::sort(order.begin(), order.end());
  for (std::int32_t host : order) {
    suspected.insert(host);
    const auto& t = tally[host];
    Suspect s;
    s.kind = Suspect::Kind::node;
    s.hosts = {ranks.host_name(host)};
    s.text = fmt::format("suspected node {} ({} with {} of {} partners)", s.hosts[0], how, t.second, t.first);
    s.step_id = step.id;
    out.push_back(std::move(s));
  }
  std::vector<Suspect> links, pairs;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (!judged[g] || !slow[g] || groups[g].hosts.size() != 2) continue;
    const std::int32_t a = groups[g].hosts[0], b = groups[g].hosts[1];
    if (suspected.count(a) || suspected.count(b)) continue;
    const auto& ta = tally[a];
    const auto& tb = tally[b];
    const std::string round = round_of[g] >= 0 ? fmt::format("round {}", round_of[g]) : fmt::format("group {}", g);
    Suspect s;
    s.hosts = {ranks.host_name(a), ranks.host_name(b)};
    s.step_id = step.id;
    if (ta.second == 1 && tb.second == 1 && ta.first >= 2 && tb.first >= 2) {
      s.kind = Suspect::Kind::link;
      s.text = fmt::format("suspected link {}<->{} ({} in {}; {} fine with {} other partner{}, {} with {})", s.hosts[0],
                           s.hosts[1], how, round, s.hosts[0], ta.first - 1, ta.first == 2 ? "" : "s", s.hosts[1],
                           tb.first - 1);
      links.push_back(std::move(s));
    } else {
      s.kind = Suspect::Kind::pair;
      s.text = fmt::format("{} pair {}<->{} in {}, not attributable to a node or a link ({} {} with {} of {} "
                           "partners, {} with {} of {})",
                           how, s.hosts[0], s.hosts[1], round, s.hosts[0], how, ta.second, ta.first, s.hosts[1],
                           tb.second, tb.first);
      pairs.push_back(std::move(s));
    }
  }
  out.insert(out.end(), std::make_move_iterator(links.begin()), std::make_move_iterator(links.end()));
  out.insert(out.end(), std::make_move_iterator(pairs.begin()), std::make_move_iterator(pairs.end()));
  return out;
}

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
  std::int32_t comm = -1;        // scope communicator: its group in the step
  // A row of a scope=scaling step: the scale it was measured at (0: the step's own scale).
  std::size_t scale_nodes = 0;
  std::size_t scale_ranks = 0;
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
    for (auto& m : members_) m.waived = is_waived(m);

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
      if (c_.scope == Scope::communicator) diagnose(v, all);
      if (c_.is_per_host()) fill_failing_hosts(v, all, problems);
    }
    return v;
  }

 private:
  const CommGroup* comm_of(const Member& m) const {
    if (m.comm < 0) return nullptr;
    const auto it = layouts_.find(m.step);
    if (it == layouts_.end() || static_cast<std::size_t>(m.comm) >= it->second.size()) return nullptr;
    return &it->second[static_cast<std::size_t>(m.comm)];
  }

  bool host_waived(std::int32_t host) const {
    return host >= 0 && waivers_.hosts.count(ranks_.host_name(host)) > 0;
  }

  // A communicator is waived when a waiver names one of its hosts (a pair with a waived node).
  bool is_waived(const Member& m) const {
    if (waivers_.hosts.empty()) return false;
    if (const CommGroup* g = comm_of(m))
      return std::any_of(g->hosts.begin(), g->hosts.end(), [&](std::int32_t h) { return host_waived(h); });
    return host_waived(m.host);
  }

  // The pairs steps among the members: what their slow pairs point at.
  void diagnose(CriterionVerdict& v, const Judgement& j) const {
    std::map<std::size_t, std::pair<std::vector<char>, std::vector<char>>> by_step;  // judged, slow
    for (const auto& m : members_) {
      const auto it = layouts_.find(m.step);
      if (m.comm < 0 || it == layouts_.end() || step_scope(steps_[m.step]) != StepScope::pairs) continue;
      auto& flags = by_step[m.step];
      if (flags.first.empty()) flags.first.assign(it->second.size(), 0), flags.second.assign(it->second.size(), 0);
      if (static_cast<std::size_t>(m.comm) < flags.first.size()) flags.first[static_cast<std::size_t>(m.comm)] = 1;
    }
    for (const auto& o : j.outside) {
      const Member& m = members_[o.member];
      const auto it = by_step.find(m.step);
      if (it != by_step.end() && static_cast<std::size_t>(m.comm) < it->second.second.size())
        it->second.second[static_cast<std::size_t>(m.comm)] = 1;
    }
    for (const auto& [step, flags] : by_step) {
      // A rule on the iteration-time spread (time_cv_*) finds links and nodes that are unstable
      // (intermittently slow, e.g. flapping) rather than slow on average.
      const std::string_view how = c_.metric.starts_with("time_cv") ? "unstable" : "slow";
      for (auto& s : diagnose_pairs(steps_[step], layouts_.at(step), flags.first, flags.second, ranks_, how)) {
        if (std::none_of(v.suspects.begin(), v.suspects.end(), [&](const Suspect& x) { return x.text == s.text; }))
          v.suspects.push_back(std::move(s));
      }
    }
  }

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
    const bool per_comm = c_.scope == Scope::communicator;
    const bool scaling_rows = c_.scaling && step_scope(step) == StepScope::scaling;
    const Column* group = step.points.find("group");
    const Column* nodes = step.points.find("nodes");
    if ((per_comm || scaling_rows) && group == nullptr) {
      problems_.push_back({fmt::format("step {} has no point column 'group': {} needs a collective step's "
                                       "per-communicator rows",
                                       step.id, per_comm ? "scope communicator" : "scaling within a step")});
      return;
    }
    if (scaling_rows && nodes == nullptr) {
      problems_.push_back({fmt::format("step {} has no point column 'nodes': its scales are unknown", step.id)});
      return;
    }
    const std::vector<CommGroup>* comms = nullptr;
    if (per_comm || scaling_rows) comms = &(layouts_[index] = communicators_of(step, ranks_));
    if (per_comm && comms->empty()) {
      problems_.push_back({fmt::format("step {} has no 'group_ranks' samples: the ranks and hosts of its "
                                       "communicators are unknown",
                                       step.id)});
      return;
    }
    bool found = false;
    for (std::size_t row = 0; row < metric->values.size(); ++row) {
      const bool match = std::all_of(keys.begin(), keys.end(), [&](const auto& k) {
        return k.second && row < k.first->values.size() && k.first->values[row] == *k.second;
      });
      if (!match) continue;
      found = true;
      Raw raw{index, -1, metric->values[row]};
      if (group && row < group->values.size() && group->values[row] >= 0)
        raw.group = static_cast<std::int32_t>(group->values[row]);
      if (scaling_rows && row < nodes->values.size() && nodes->values[row] >= 1) {
        raw.scale_nodes = static_cast<std::size_t>(nodes->values[row]);
        const bool known = raw.group >= 0 && static_cast<std::size_t>(raw.group) < comms->size();
        // Without group_ranks, a scale's ranks follow the step's ranks per node.
        raw.scale_ranks = known && (*comms)[static_cast<std::size_t>(raw.group)].ranks > 0
                              ? (*comms)[static_cast<std::size_t>(raw.group)].ranks
                              : raw.scale_nodes * std::max<std::size_t>(facts_[index].ranks, 1) /
                                    std::max<std::size_t>(facts_[index].nodes, 1);
      }
      raws_.push_back(raw);
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
      m.scale_nodes = r.scale_nodes;
      m.scale_ranks = r.scale_ranks;
      if (c_.scope == Scope::communicator) {
        m.comm = r.group;
        const auto it = layouts_.find(r.step);
        if (it != layouts_.end() && r.group >= 0 && static_cast<std::size_t>(r.group) < it->second.size())
          m.ranks = it->second[static_cast<std::size_t>(r.group)].ranks;
      }
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
      case Scope::communicator: members_ = std::move(base); break;  // one row per communicator
      case Scope::step:
        // The rows of a scope=scaling step stay apart by scale.
        members_ = reduce_groups(base, [&](const Member& m) { return u(m.step) << 32 | u(m.scale_nodes); }, c_.reduce,
                                 false);
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
            const std::uint64_t who = m.comm >= 0        ? u(m.comm)
                                      : m.rank >= 0      ? u(m.rank)
                                      : m.host >= 0      ? u(m.host) | 1u << 31
                                      : m.scale_nodes > 0 ? u(m.scale_nodes) | 1u << 30
                                                          : 0;
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

  std::size_t nodes_of(const Member& m) const { return m.scale_nodes > 0 ? m.scale_nodes : facts_[m.step].nodes; }
  std::size_t ranks_of(const Member& m) const { return m.scale_nodes > 0 ? m.scale_ranks : facts_[m.step].ranks; }
  std::size_t scale_of(const Member& m) const {
    return c_.scaling->dim == ScalingRule::Dim::nodes ? nodes_of(m) : ranks_of(m);
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
      const Member& first = members_[members.front()];
      if (rule.normalise == ScalingRule::Normalise::ranks)
        v /= static_cast<double>(std::max<std::size_t>(ranks_of(first), 1));
      if (rule.normalise == ScalingRule::Normalise::nodes)
        v /= static_cast<double>(std::max<std::size_t>(nodes_of(first), 1));
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
      if (ma.comm != mb.comm) return ma.comm < mb.comm;
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
      e.backend = steps_[m.step].backend;
      if (const CommGroup* g = comm_of(m)) {
        e.label = g->label;
        e.group = m.comm;
        e.ranks = g->ranks;
        e.round = round_of(m);
        e.hosts_total = g->hosts.size();
        for (std::size_t h = 0; h < g->hosts.size() && h < kMaxEvidenceHosts; ++h)
          e.hosts.push_back(ranks_.host_name(g->hosts[h]));
      } else if (m.comm >= 0) {
        e.label = fmt::format("group {}", m.comm);
        e.group = m.comm;
      }
      e.value = m.value;
      e.shortfall = outside[i]->shortfall;
      e.reference = outside[i]->reference;
      e.waived = m.waived;
      v.worst.push_back(std::move(e));
    }
    if (c_.combine == Combine::count || c_.combine == Combine::fraction) v.limits = *c_.meets;
  }

  // The round of a communicator member: its row's `round` column, -1 when there is none.
  std::int32_t round_of(const Member& m) const {
    const StepResult& step = steps_[m.step];
    const Column* group = step.points.find("group");
    const Column* round = step.points.find("round");
    const StepScope scope = step_scope(step);
    if (!group || !round || (scope != StepScope::pairs && scope != StepScope::bisect && scope != StepScope::scaling))
      return -1;  // world, node and rail communicators all run at once: no rounds to tell apart
    for (std::size_t row = 0; row < group->values.size() && row < round->values.size(); ++row)
      if (group->values[row] == m.comm) return static_cast<std::int32_t>(round->values[row]);
    return -1;
  }

  void fill_failing_hosts(CriterionVerdict& v, const Judgement& j, const std::vector<Problem>& problems) const {
    std::set<std::int32_t> hosts;
    for (const auto& o : j.outside) {
      const Member& m = members_[o.member];
      if (m.host >= 0 && !m.waived) hosts.insert(m.host);
      // A node-scoped communicator is the node (or NVLink domain) itself: its hosts are to drain.
      if (const CommGroup* g = comm_of(m); g && !m.waived && step_scope(steps_[m.step]) == StepScope::node)
        hosts.insert(g->hosts.begin(), g->hosts.end());
    }
    std::set<std::string> suspected;
    for (const auto& s : v.suspects)
      if (s.kind == Suspect::Kind::node && waivers_.hosts.count(s.hosts.front()) == 0) suspected.insert(s.hosts.front());
    for (const auto& p : problems) {
      if (p.host >= 0 && waivers_.hosts.count(ranks_.host_name(p.host)) == 0) hosts.insert(p.host);
    }
    if (waivers_.whole) return;
    for (std::int32_t h : hosts) suspected.insert(ranks_.host_name(h));
    v.failing_hosts.assign(suspected.begin(), suspected.end());
  }

  struct Raw {
    std::size_t step;
    std::int32_t rank;
    double value;
    std::int32_t group = -1;      // the row's communicator (scope communicator)
    std::size_t scale_nodes = 0;  // the row's scale (rows of a scope=scaling step)
    std::size_t scale_ranks = 0;
  };

  const Criterion& c_;
  const std::vector<StepResult>& steps_;
  const std::vector<StepFacts>& facts_;
  const RankDirectory& ranks_;
  const Waivers& waivers_;
  std::vector<Raw> raws_;
  std::vector<Member> members_;
  std::unordered_map<std::size_t, std::vector<CommGroup>> layouts_;  // step -> its communicators
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

// "(hosts node01, node02)" when the label does not already name them; "" otherwise.
std::string communicator_hosts(const Evidence& e) {
  if (e.hosts.empty()) return "";
  std::string joined;
  for (const auto& h : e.hosts) joined += (joined.empty() ? "" : ", ") + h;
  if (e.hosts_total > e.hosts.size()) joined += fmt::format(", and {} more", e.hosts_total - e.hosts.size());
  if (e.hosts.size() == 1 && e.label == e.hosts.front()) return fmt::format("({} ranks)", e.ranks);
  if (e.hosts.size() == 2 && e.label == e.hosts[0] + "<->" + e.hosts[1]) return fmt::format("({} ranks)", e.ranks);
  return fmt::format("(hosts {}; {} ranks)", joined, e.ranks);
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
    if (!e.label.empty()) {
      l.who = e.label;
      l.host = communicator_hosts(e);
      if (e.round >= 0) l.gpu = fmt::format("round {}", e.round);
    } else if (e.rank >= 0) {
      l.who = fmt::format("rank {}", e.rank);
      l.host = e.host.empty() ? "" : "host " + e.host;
      l.gpu = device_slot(e);
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

// Suspects, bounded: a broken spine can make hundreds of slow pairs.
constexpr std::size_t kMaxSuspectsPrinted = 10;

void print_suspects(std::ostream& out, const std::vector<Suspect>& suspects, std::string_view indent) {
  for (std::size_t i = 0; i < suspects.size() && i < kMaxSuspectsPrinted; ++i)
    out << indent << suspects[i].text << '\n';
  if (suspects.size() > kMaxSuspectsPrinted)
    out << indent << fmt::format("... and {} more suspects\n", suspects.size() - kMaxSuspectsPrinted);
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

std::string device_slot(const Evidence& e) {
  const std::string id = e.uuid.empty() ? e.device : e.uuid;
  if (e.gpu < 0) return id;
  const std::string slot = e.backend == "cpu" ? fmt::format("cpu rank {}", e.gpu) : fmt::format("gpu {}", e.gpu);
  return id.empty() ? slot : slot + "  " + id;
}

std::string describe_member(const CriterionVerdict& v, const Evidence& e) {
  std::string out;
  if (!e.label.empty()) {
    out = "communicator " + e.label;
    if (e.round >= 0) out += fmt::format("  round {}", e.round);
    if (const std::string hosts = communicator_hosts(e); !hosts.empty()) out += "  " + hosts;
  } else if (e.rank >= 0) {
    out = fmt::format("rank {}", e.rank);
    if (!e.host.empty()) out += "  host " + e.host;
    if (const std::string slot = device_slot(e); !slot.empty()) out += "  " + slot;
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
  // A criterion's suspected nodes are in its failing hosts (unless waived); these are the rest.
  for (const auto& s : suspects)
    if (s.kind == Suspect::Kind::node && s.criterion.empty()) hosts.insert(s.hosts.front());
  return {hosts.begin(), hosts.end()};
}

std::vector<std::string> communicator_labels(const RunInfo& run, const StepResult& step) {
  const RankDirectory ranks(run);
  std::vector<std::string> out;
  for (auto& g : communicators_of(step, ranks)) out.push_back(std::move(g.label));
  return out;
}

std::string_view to_string(Suspect::Kind k) {
  switch (k) {
    case Suspect::Kind::node: return "node";
    case Suspect::Kind::link: return "link";
    case Suspect::Kind::pair: return "pair";
  }
  return "node";
}

namespace {

// A scope=pairs step that no communicator criterion judges is still diagnosed: its pairs at the
// largest message size, slow when their busbw_oop is below kDefaultSlowRatio x the step's median.
constexpr double kDefaultSlowRatio = 0.9;

std::vector<Suspect> diagnose_uncovered(const StepResult& step, const RankDirectory& ranks) {
  const Column* bytes = step.points.find("bytes");
  const Column* busbw = step.points.find("busbw_oop");
  const Column* group = step.points.find("group");
  if (!bytes || !busbw || !group || bytes->values.empty()) return {};
  const double largest = stats::max(bytes->values);
  const std::vector<CommGroup> groups = communicators_of(step, ranks);
  if (groups.empty()) return {};
  std::vector<double> values(groups.size(), kNaN);
  std::vector<char> judged(groups.size(), 0), slow(groups.size(), 0);
  std::vector<double> finite;
  for (std::size_t row = 0; row < bytes->values.size() && row < busbw->values.size() && row < group->values.size(); ++row) {
    const double g = group->values[row];
    if (bytes->values[row] != largest || !(g >= 0) || static_cast<std::size_t>(g) >= groups.size()) continue;
    values[static_cast<std::size_t>(g)] = busbw->values[row];
    judged[static_cast<std::size_t>(g)] = 1;
    if (std::isfinite(busbw->values[row])) finite.push_back(busbw->values[row]);
  }
  if (finite.empty()) return {};
  const double median = stats::median(finite);
  for (std::size_t g = 0; g < groups.size(); ++g)
    slow[g] = judged[g] && !(values[g] >= kDefaultSlowRatio * median) ? 1 : 0;
  return diagnose_pairs(step, groups, judged, slow, ranks);
}

// The nodes a bisect step names: ranks whose per-rank `suspect` is 1.
std::vector<Suspect> bisect_culprits(const StepResult& step, const RankDirectory& ranks) {
  std::vector<Suspect> out;
  const Column* suspect = step.per_rank.find("suspect");
  if (!suspect) return out;
  std::set<std::int32_t> hosts;
  for (std::size_t row = 0; row < suspect->values.size(); ++row)
    if (suspect->values[row] == 1) hosts.insert(ranks.host_of(rank_of_row(step, row)));
  for (std::int32_t h : hosts) {
    if (h < 0) continue;
    Suspect s;
    s.kind = Suspect::Kind::node;
    s.hosts = {ranks.host_name(h)};
    s.text = fmt::format("suspected node {} (named by bisect step {})", s.hosts[0], step.id);
    s.step_id = step.id;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Verdict evaluate(const Contract& contract, const RunInfo& run, const std::vector<StepResult>& steps,
                 const EvaluateOptions& options) {
  const RankDirectory ranks(run);
  const std::vector<StepFacts> facts = facts_of(steps, ranks);
  Verdict verdict;
  verdict.contract = contract.name;
  verdict.as_of = options.today.empty() ? today_utc() : options.today;
  const auto add_suspect = [&](Suspect s) {
    const bool seen = std::any_of(verdict.suspects.begin(), verdict.suspects.end(), [&](const Suspect& x) {
      return x.kind == s.kind && x.hosts == s.hosts;
    });
    if (!seen) verdict.suspects.push_back(std::move(s));
  };
  for (const auto& c : contract.criteria) {
    const Waivers waivers = waivers_for(contract, c, verdict.as_of);
    verdict.criteria.push_back(Judge(c, steps, facts, ranks, waivers).judge(options.max_evidence));
    CriterionVerdict& v = verdict.criteria.back();
    for (auto& s : v.suspects) s.criterion = v.id;
    if (v.outcome == Outcome::fail)
      for (const auto& s : v.suspects) add_suspect(s);
  }
  for (const auto& step : steps) {
    if (step.status != Status::ok) continue;
    if (step_scope(step) == StepScope::pairs) {
      const bool covered = std::any_of(contract.criteria.begin(), contract.criteria.end(), [&](const Criterion& c) {
        return c.scope == Scope::communicator && selects(c, step.benchmark, step.params);
      });
      if (!covered)
        for (auto& s : diagnose_uncovered(step, ranks)) add_suspect(std::move(s));
    }
    for (auto& s : bisect_culprits(step, ranks)) add_suspect(std::move(s));
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
    print_suspects(out, c.suspects, "    diagnosis: ");
  }
  const auto print_list = [&](std::string_view title, const std::vector<std::string>& items) {
    if (items.empty()) return;
    if (block_printed) out << '\n';
    block_printed = true;
    out << title << " (" << items.size() << "):\n";
    for (const auto& item : items) out << "  " << item << '\n';
  };
  std::vector<Suspect> other;
  for (const auto& s : verdict.suspects)
    if (s.criterion.empty()) other.push_back(s);
  if (!other.empty()) {
    if (block_printed) out << '\n';
    block_printed = true;
    out << "diagnosis (" << other.size() << "):\n";
    print_suspects(out, other, "  ");
  }
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
