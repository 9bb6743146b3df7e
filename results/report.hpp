// Reports of a judged run, for people and for tools: a self-contained HTML page with inline
// SVG plots, Markdown, JUnit XML (one test case per criterion and per step), and JSON/CSV
// exports of the step tables. Documented in docs/reports.md. Every text that comes from a
// config, a host or a benchmark is escaped for the format it goes into.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "results/compare.hpp"
#include "results/contract.hpp"
#include "results/evaluate.hpp"
#include "results/step_result.hpp"

namespace gpuaccept {

struct ReportInput {
  std::string results_path;
  const RunInfo* run = nullptr;
  const std::vector<StepResult>* steps = nullptr;
  const Verdict* verdict = nullptr;
  const Contract* contract = nullptr;        // for the bounds drawn in plots; may be null
  std::string contract_source;               // where the contract came from; "" when none
  const RegressionReport* history = nullptr; // nightly trend, when a baseline was given
  // The file to read the sample sets from that the steps hold without values (read_results with
  // SampleLoading::listed): the HTML timelines and the JSON export read them one at a time.
  // "" when the steps hold all of theirs.
  std::string samples_from = {};
};

struct HtmlOptions {
  std::size_t max_plots = 16;       // per kind of plot
  std::size_t max_heat_cells = 1536;
  std::size_t max_series = 10;      // lines per bandwidth plot
};

void write_html(std::ostream& out, const ReportInput& in, const HtmlOptions& options = {});
void write_markdown(std::ostream& out, const ReportInput& in);
// JUnit XML as Jenkins and GitLab read it: a suite "contract" with one test case per criterion
// (failure with the evidence; WAIVED as skipped, with the waiver) and a suite "steps" with one
// test case per step (error for a step that broke, failure for a wrong answer, skipped when
// not applicable).
void write_junit(std::ostream& out, const ReportInput& in);

// The run, the verdict and every step's tables and samples (or only the step `step_id`) as JSON.
void write_json(std::ostream& out, const ReportInput& in, const std::string& step_id = {});
// One table of one step as CSV: "per_rank" (joined with the rank's host, GPU index, device and
// UUID) or "points".
void write_csv(std::ostream& out, const RunInfo& run, const StepResult& step, std::string_view table);

std::string xml_escape(std::string_view text);
std::string markdown_escape(std::string_view text);
// "node2" < "node10": digits compare as numbers, so host lists read in rack order.
bool natural_less(std::string_view a, std::string_view b);

}  // namespace gpuaccept
