// Judging stored results against a contract. Reads only StepResult/RunInfo.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "results/contract.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

enum class Outcome { pass, fail };

// One member's value as evidence: a rank (host, GPU) or a sweep point of a step.
struct Evidence {
  std::string step_id;
  std::int32_t rank = -1;  // -1 for step-level (point) values
  std::string host;
  std::string device;
  std::string uuid;
  double value = 0;
  double shortfall = 0;  // how far outside the bound, as a fraction of the bound (0.12 = 12 %)
};

struct CriterionVerdict {
  std::string id;
  std::string description;
  std::string metric;
  std::string combine;
  std::string bound;          // Bound::text()
  Outcome outcome = Outcome::fail;
  double measured = 0;        // the combined value (NaN when nothing was measured)
  std::size_t members = 0;    // how many values were combined
  std::size_t steps = 0;      // how many steps matched
  std::string note;           // why it failed when no value judged it: missing/broken steps
  std::vector<Evidence> worst;   // members outside the bound, worst first, at most max_evidence
  std::size_t worst_total = 0;   // how many members were outside the bound in all
  std::string unit;           // the metric column's unit, as the steps recorded it
  std::string point;          // the sweep point judged, e.g. "bytes=1048576"; "" for rank metrics
  Bound limits;               // the bound itself (bound is its text), e.g. to tell below from above
};

struct Verdict {
  std::vector<CriterionVerdict> criteria;
  // Steps that broke (error, timeout) or gave a wrong answer (incorrect), with reasons.
  std::vector<std::string> broken_steps;
  std::vector<std::string> incorrect_steps;
  // 0 all pass, 1 a criterion failed or a step's answer was wrong, 3 a step itself broke.
  int exit_code() const;
};

struct EvaluateOptions {
  std::size_t max_evidence = 5;
};

Verdict evaluate(const Contract& contract, const RunInfo& run, const std::vector<StepResult>& steps,
                 const EvaluateOptions& options = {});

// The verdict table as people read it in a terminal.
void print_verdict(std::ostream& out, const Verdict& verdict);

}  // namespace gpuaccept
