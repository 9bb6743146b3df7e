// Judging stored results against a contract. Reads only StepResult/RunInfo.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include "results/contract.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

// waived: the criterion fails, but only because of what an active waiver covers; it is shown
// as WAIVED, with the waiver, and does not fail the run.
enum class Outcome { pass, fail, waived };
std::string_view to_string(Outcome o);

// One member's value as evidence: a rank (host, GPU), a node, a step, a sweep point or a
// repetition, depending on the criterion's scope.
struct Evidence {
  std::string step_id;     // the member's step (the first one when repetitions were merged)
  std::int32_t rank = -1;  // -1 unless the member is one rank
  std::string host;        // the rank's or node's host; "" for step and repetition members
  std::int32_t gpu = -1;   // GPU index on its host (local rank); -1 unless one rank
  std::string device;
  std::string uuid;
  std::int32_t repetition = -1;  // -1 when the member is not tied to one repetition
  std::size_t ranks = 0;         // ranks combined into a node, step or repetition member
  double value = 0;
  double shortfall = 0;  // how far outside the bound (or from the peer median), as a fraction of it
  // Outlier rules: the median of the member's peers, against which shortfall is measured.
  double reference = std::numeric_limits<double>::quiet_NaN();
  bool waived = false;   // on a host an active waiver names
  std::string backend;   // the step's backend: "cuda" names GPUs, "cpu" names CPU ranks
  // Communicator members: the label ("node03<->node17", "node05", "rail 3", "world"), its
  // round (-1 when not tied to one) and its hosts (at most kMaxEvidenceHosts, of hosts_total).
  std::string label;
  std::int32_t group = -1;
  std::int32_t round = -1;
  std::vector<std::string> hosts;
  std::size_t hosts_total = 0;
};

inline constexpr std::size_t kMaxEvidenceHosts = 8;

// What localisation concluded from a pairs step (or a bisect step): a node slow with every
// partner it met, a link slow in one round between two nodes fine with their other partners,
// or a slow pair that the plan cannot attribute either way.
struct Suspect {
  enum class Kind { node, link, pair };
  Kind kind = Kind::node;
  std::vector<std::string> hosts;  // one for a node, two for a link or pair
  std::string text;                // "suspected node node07 (slow with 3 of 3 partners)"
  std::string step_id;             // the pairs or bisect step it was read from
  std::string criterion;           // the criterion whose slow members it explains; "" for the
                                   // default rule on a pairs step and for bisect culprits
};
std::string_view to_string(Suspect::Kind k);

struct CriterionVerdict {
  std::string id;
  std::string description;
  std::string benchmark;
  std::string metric;
  std::string combine;
  std::string scope;          // rank, node, step, repetition
  std::string kind;           // "bound", "outliers" or "scaling"
  std::string bound;          // what the measured figure must meet, as text
  Outcome outcome = Outcome::fail;
  double measured = 0;        // the combined figure (NaN when nothing was measured)
  std::string measured_unit;  // the figure's unit: the metric's, or "outliers", "ranks", ""
  std::size_t members = 0;    // how many values were combined
  std::size_t steps = 0;      // how many steps matched
  std::string note;           // why it failed when no value judged it: missing/broken steps
  std::string detail;         // scaling: both figures; hold_in: the repetitions that held
  std::vector<Evidence> worst;   // members outside the bound, worst first, at most max_evidence
  std::size_t worst_total = 0;   // how many members were outside the bound in all
  std::string unit;           // the metric column's unit, as the steps recorded it
  std::string point;          // the sweep point judged, e.g. "bytes=1048576"; "" for rank metrics
  Bound limits;               // the bound itself (bound is its text), e.g. to tell below from above
  std::string waiver;         // the waivers that apply or have expired, as text; "" when none
  // Hosts with a member that fails this criterion (outside its bound, an outlier, or a rank
  // that did not finish ok), not counting waived ones. Only for rank and node scopes, and
  // only when the criterion failed.
  std::vector<std::string> failing_hosts;
  // scope communicator over scope=pairs steps: what the slow pairs point at (see Suspect).
  std::vector<Suspect> suspects;
};

struct Verdict {
  std::string contract;  // its name
  std::string as_of;     // the date waivers were judged on (YYYY-MM-DD)
  std::vector<CriterionVerdict> criteria;
  // Steps that broke (error, timeout) or gave a wrong answer (incorrect), with reasons.
  std::vector<std::string> broken_steps;
  std::vector<std::string> incorrect_steps;
  // Every suspect named in this run, each once: from the criteria above, from pairs steps no
  // criterion judges (diagnosed with the default rule, see docs/contracts.md), and the culprits
  // bisect steps name. Diagnosis alone does not fail a run; suspected nodes are quarantined.
  std::vector<Suspect> suspects;
  // 0 all pass (or waived), 1 a criterion failed or a step's answer was wrong, 3 a step broke.
  int exit_code() const;
  // The hosts that fail any per-rank or per-node criterion (or a communicator criterion over
  // scope=node steps), and every suspected node, sorted, each once: what to drain.
  std::vector<std::string> quarantine_hosts() const;
};

struct EvaluateOptions {
  std::size_t max_evidence = 5;
  std::string today;  // YYYY-MM-DD that waivers are judged on; "" for today (UTC)
};

Verdict evaluate(const Contract& contract, const RunInfo& run, const std::vector<StepResult>& steps,
                 const EvaluateOptions& options = {});

// The label of every communicator (group) of a collective step, by group: "world", a host,
// "rail 3", "node01<->node02", "8 nodes" (docs/contracts.md); empty without group_ranks.
std::vector<std::string> communicator_labels(const RunInfo& run, const StepResult& step);

// Today's date in UTC, YYYY-MM-DD.
std::string today_utc();

struct PrintOptions {
  bool color = false;  // ANSI colours, for a terminal
};

// The verdict table as people read it in a terminal.
void print_verdict(std::ostream& out, const Verdict& verdict, const PrintOptions& options = {});

// Shared by the reports: "512.4", "123457", "-" for NaN; with a unit when it has one.
std::string format_figure(double value, const std::string& unit = {});
// One evidence member as text: "rank 3  host node10  gpu 3  GPU-..." / "host node10 (8 ranks)" /
// "step gemm-..." / "point bytes=1048576" / "repetition 2".
std::string describe_member(const CriterionVerdict& c, const Evidence& e);
// "rank 3  host node10  gpu 3  GPU-..." on cuda, "... cpu rank 3  <CPU model>" on cpu: how a
// rank's place on its host is named for the step's backend.
std::string device_slot(const Evidence& e);
// The signed distance of an evidence value from its bound (or peer median): "(-26.8%)".
std::string deviation_text(const CriterionVerdict& c, const Evidence& e);

}  // namespace gpuaccept
