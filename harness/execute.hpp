// Running a campaign SPMD under MPI: every rank executes every step; each rank checks its
// own answer; fixed-size per-rank records are gathered to rank 0, which writes each finished
// step to the results file at once, then judges the run against the contract.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gpuaccept {
struct StepResult;
namespace suites {
struct BenchmarkDef;
}
}  // namespace gpuaccept

namespace gpuaccept::harness {

struct RunOptions {
  std::string campaign_path;
  std::string output;           // results file; "" = <output_dir>/<campaign>-<time>.h5
  std::string resume;           // results file to continue; "" = a new run
  bool retry_failed = false;    // with resume: also re-run steps stored as error/timeout
  std::string backend;          // overrides the campaign's backend when not ""
  std::string contract;         // overrides the campaign's contract when not ""
  bool quiet = false;           // no per-step tables, only progress lines and verdict
  std::string command_line;
};

// Call between MPI_Init and MPI_Finalize on every rank. Returns the exit status, the same on
// every rank: 0 all criteria pass, 1 a criterion fails, 2 bad input, 3 a step broke.
int run_campaign(const RunOptions& options);

// The one-line figure of a finished step, as the progress lines and `show` print it: the
// benchmark's headline metric, its min and median over ranks (a per-rank metric) or its value
// at the largest message size (a points column); "" when the benchmark names none.
std::string headline(const suites::BenchmarkDef& def, const StepResult& r);

// Environment variables kept as provenance: launcher and library settings, never secrets.
std::map<std::string, std::string> sanitized_environment();

}  // namespace gpuaccept::harness
