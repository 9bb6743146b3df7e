#include "harness/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mpi.h>

#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <span>

#include "harness/campaign.hpp"
#include "harness/execute.hpp"
#include "harness/plan.hpp"
#include "harness/simulate.hpp"
#include "sim/acceptance_plan.hpp"
#include "harness/slurm.hpp"
#include "harness/version.hpp"
#include "kernels/backend.hpp"
#include "results/compare.hpp"
#include "results/contract.hpp"
#include "results/evaluate.hpp"
#include "results/report.hpp"
#include "results/stats.hpp"
#include "results/store.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

namespace {

constexpr int kUsage = 2;

std::string iso_time(double t) {
  if (t <= 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string join_args(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    if (i) out += ' ';
    out += argv[i];
  }
  return out;
}

int command_run(const RunOptions& options) {
  // MPI_Init, as nccl-tests and the OSU benchmarks do: only the main thread calls MPI (the
  // watchdog thread only reads memory that MPI's progress fills). Asking for
  // MPI_THREAD_FUNNELED made Debian's Open MPI 4.1.4 slower on every call: an 8-byte
  // all-reduce at 2 ranks took 0.48 us instead of 0.31 us (same program, alternating runs),
  // which a latency acceptance figure must not carry.
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::cerr << "gpuaccept: error: MPI could not be initialised\n";
    return 3;
  }
  int code = 3;
  try {
    code = run_campaign(options);
  } catch (const std::exception& e) {
    std::cerr << "gpuaccept: error: " << e.what() << '\n';
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Finalize();
  return code;
}

kernels::Backend local_backend(const std::string& wanted) {
  if (wanted == "cpu") return kernels::Backend::cpu;
  if (wanted == "cuda") return kernels::Backend::cuda;
  return kernels::cuda_device_count() > 0 ? kernels::Backend::cuda : kernels::Backend::cpu;
}

int ranks_from_launcher() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return 1;
}

int command_plan(const std::string& path, int ranks, const std::string& backend_override) {
  const auto& registry = suites::Registry::instance();
  Campaign campaign = load_campaign_file(path, registry);
  if (!backend_override.empty()) campaign.backend = backend_override;
  if (!campaign.contract_path.empty()) {
    const Contract contract = load_contract(read_text_file(campaign.contract_path), campaign.contract_path);
    validate(contract, registry.catalog());
  }
  const auto backend = local_backend(campaign.backend);
  const int n = ranks > 0 ? ranks : ranks_from_launcher();
  const std::vector<Step> steps = plan(campaign, registry, backend, n);
  if (!campaign.contract_path.empty()) {
    // A selector that matches none of the planned steps is a typo: say so before anything runs.
    std::vector<PlannedStep> planned;
    for (const auto& s : steps) planned.push_back(PlannedStep{s.benchmark, s.params});
    check_selectors(load_contract(read_text_file(campaign.contract_path), campaign.contract_path), planned);
  }
  std::cout << format_plan(campaign, steps, backend, n);
  return 0;
}

int command_slurm(const std::string& campaign_path, const std::string& script_path, SlurmOptions options,
                  const std::vector<std::string>& env) {
  for (const auto& assignment : env) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(fmt::format("--env: expected NAME=VALUE, found '{}'", assignment));
    options.environment.emplace_back(assignment.substr(0, eq), assignment.substr(eq + 1));
  }
  const Campaign campaign = load_campaign_file(campaign_path, suites::Registry::instance());
  const std::string script = slurm_script(campaign, options);
  if (script_path.empty()) {
    std::cout << script;
    return 0;
  }
  std::ofstream out(script_path, std::ios::trunc);
  out << script;
  out.close();
  if (!out) throw InputError(fmt::format("--output: cannot write {}", script_path));
  std::filesystem::permissions(script_path, std::filesystem::perms::owner_exec | std::filesystem::perms::group_exec,
                               std::filesystem::perm_options::add);
  std::cout << fmt::format("wrote {} (submit with: sbatch {})\n", script_path, shell_quote(script_path));
  return 0;
}

bool use_color(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* term = std::getenv("TERM");
  return isatty(fileno(stdout)) && std::getenv("NO_COLOR") == nullptr && !(term && std::string(term) == "dumb");
}

struct CheckOptions {
  std::string path;
  std::string contract;
  std::size_t max_evidence = 5;
  std::string quarantine;  // file for the hosts to drain; "" for none
  std::string as_of;       // date waivers are judged on
  std::string color = "auto";
};

// Reads a results file and the contract that judges it (given, or stored in the file), and
// adds the steps the stored campaign plans but the file lacks as missing.
struct Judged {
  ResultsFile file;  // its steps are moved to `steps`
  Contract contract;
  std::string source;  // where the contract came from; "" when there is none
  std::vector<StepResult> steps;  // the file's steps, then the planned steps it lacks (missing)
  std::size_t stored = 0;         // how many of `steps` the file holds
  std::span<const StepResult> stored_steps() const { return {steps.data(), stored}; }
};

// Evaluation and reports read the communicators' group_ranks; every other sample set stays in
// the file (at full scale they are most of it) until a report draws or exports it.
ReadOptions judged_read_options() { return ReadOptions{SampleLoading::listed, {"group_ranks"}}; }

Judged load_judged(const std::string& path, const std::string& contract_override) {
  Judged j;
  j.file = read_results(path, judged_read_options());
  for (const auto& note : j.file.notes) std::cerr << "gpuaccept: note: " << note << '\n';
  if (!contract_override.empty()) {
    j.contract = load_contract(read_text_file(contract_override), contract_override);
    j.source = contract_override;
  } else if (!j.file.run.contract_yaml.empty()) {
    j.source = fmt::format("{} (as stored in {})", j.file.run.contract_path, path);
    j.contract = load_contract(j.file.run.contract_yaml, j.file.run.contract_path + " (stored)");
  }
  validate(j.contract, suites::Registry::instance().catalog());
  // Steps the stored campaign plans but the file lacks are judged as missing, not ignored. A
  // file without a stored campaign (written by another tool) has nothing to re-plan.
  j.steps = std::move(j.file.steps);
  j.file.steps.clear();
  j.stored = j.steps.size();
  if (j.file.run.campaign_yaml.empty()) return j;
  try {
    const std::string& system = j.file.run.system_yaml;
    const Campaign campaign = load_campaign(j.file.run.campaign_yaml, j.file.run.campaign_path + " (stored)",
                                            suites::Registry::instance(), system.empty() ? nullptr : &system);
    add_missing_steps(campaign, suites::Registry::instance(), j.steps);
  } catch (const InputError& e) {
    std::cerr << "gpuaccept: warning: cannot re-plan the stored campaign, so missing steps are not listed: "
              << e.what() << '\n';
  }
  return j;
}

std::string checked_date(const std::string& date) {
  if (!date.empty() && !is_iso_date(date))
    throw InputError(fmt::format("--as-of: expected a date as YYYY-MM-DD, found '{}'", date));
  return date;
}

void write_quarantine(const std::string& target, const Verdict& verdict) {
  const std::vector<std::string> hosts = verdict.quarantine_hosts();
  std::ofstream out(target, std::ios::trunc);
  for (const auto& h : hosts) out << h << '\n';
  out.close();
  if (!out) throw InputError(fmt::format("--quarantine: cannot write {}", target));
  std::cout << fmt::format("quarantine: {} host{} written to {}\n", hosts.size(), hosts.size() == 1 ? "" : "s", target);
}

int command_check(const CheckOptions& o) {
  EvaluateOptions options;
  options.max_evidence = o.max_evidence;
  options.today = checked_date(o.as_of);
  const Judged j = load_judged(o.path, o.contract);
  const RunInfo& run = j.file.run;
  std::cout << fmt::format("results {}: campaign {} on {}, {} rank(s), {} step(s), {}\n", o.path, run.campaign,
                           run.system, run.rank_count, j.stored,
                           run.end_time > 0 ? "complete" : "INCOMPLETE (the run did not finish)");
  if (j.source.empty()) std::cout << "no contract given or stored: only correctness and step status are judged\n";
  else std::cout << fmt::format("contract {} from {}\n", j.contract.name, j.source);
  const Verdict verdict = evaluate(j.contract, run, j.steps, options);
  print_verdict(std::cout, verdict, PrintOptions{use_color(o.color)});
  if (!o.quarantine.empty()) write_quarantine(o.quarantine, verdict);
  return verdict.exit_code();
}

// ---- compare and calibrate -------------------------------------------------------------------

// Expands shell patterns ourselves, so that a quoted 'results/nightly-*.h5' works (and a
// directory of thousands of files does not meet the shell's argument limit). Sorted, each once.
std::vector<std::string> expand_patterns(const std::vector<std::string>& patterns) {
  std::set<std::string> files;
  for (const auto& pattern : patterns) {
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) files.insert(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc == GLOB_NOMATCH) throw InputError(fmt::format("no file matches '{}'", pattern));
    if (rc != 0) throw InputError(fmt::format("cannot expand '{}'", pattern));
  }
  return {files.begin(), files.end()};
}

PointKeys point_keys_of_registry() {
  PointKeys keys;
  for (const auto& b : suites::Registry::instance().catalog()) keys[b.name] = b.point_keys;
  return keys;
}

ParamDefaults param_defaults_of_registry() {
  ParamDefaults defaults;
  const auto& registry = suites::Registry::instance();
  for (const auto& b : registry.all()) defaults[b.name] = registry.defaults(b.name);
  return defaults;
}

RunMetrics metrics_of_file(const std::string& path, const std::vector<std::string>& only_metrics) {
  const ResultsFile file = read_results(path, ReadOptions{SampleLoading::listed, {}});
  for (const auto& note : file.notes) std::cerr << "gpuaccept: note: " << note << '\n';
  return extract_metrics(path, file.run, file.steps, point_keys_of_registry(), only_metrics,
                         param_defaults_of_registry());
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec);
}

// The runs matched by the patterns, read one at a time (only their figures are kept); files that
// cannot be read are named and left out, since one damaged night must not stop the comparison.
std::vector<RunMetrics> metrics_of_patterns(const std::vector<std::string>& patterns, const std::string& exclude,
                                            const std::vector<std::string>& only_metrics) {
  std::vector<RunMetrics> runs;
  for (const auto& path : expand_patterns(patterns)) {
    if (!exclude.empty() && same_file(path, exclude)) continue;
    try {
      runs.push_back(metrics_of_file(path, only_metrics));
    } catch (const StoreError& e) {
      std::cerr << "gpuaccept: warning: left out of the baseline: " << e.what() << '\n';
    }
  }
  return runs;
}

struct CompareCli {
  std::vector<std::string> files;
  std::vector<std::string> baseline;
  std::size_t last = 10;
  double tolerance = 0.05;
  double mad_k = 3;
  std::size_t min_runs = 3;
  std::string tolerances;
  std::vector<std::string> metrics;
  bool all = false;
  std::string color = "auto";
};

int command_compare(const CompareCli& o) {
  const PrintOptions print{use_color(o.color)};
  if (o.baseline.empty()) {
    if (o.files.size() != 2)
      throw InputError("compare: give two results files (phase A, phase B), or --baseline PATTERN and one results file");
    const RunMetrics a = metrics_of_file(o.files[0], o.metrics);
    const RunMetrics b = metrics_of_file(o.files[1], o.metrics);
    print_phases(std::cout, compare_phases(a, b), print);
    return 0;
  }
  if (o.files.size() != 1)
    throw InputError(fmt::format("compare --baseline: give exactly one results file to compare, found {}", o.files.size()));
  CompareOptions options;
  options.last = std::max<std::size_t>(o.last, 1);
  options.relative = o.tolerance;
  options.mad_k = o.mad_k;
  options.min_runs = std::max<std::size_t>(o.min_runs, 1);
  if (!o.tolerances.empty()) options.tolerances = load_tolerances(read_text_file(o.tolerances), o.tolerances);
  const RunMetrics current = metrics_of_file(o.files[0], o.metrics);
  std::vector<RunMetrics> baseline = metrics_of_patterns(o.baseline, o.files[0], o.metrics);
  if (baseline.empty()) throw InputError("compare --baseline: no readable baseline run (other than the current one)");
  const RegressionReport report = compare_to_baseline(std::move(baseline), current, options);
  print_regressions(std::cout, report, o.all, print);
  return report.exit_code();
}

struct CalibrateCli {
  std::vector<std::string> patterns;
  std::string output;
  double factor = 2;
  double floor = 0.01;
  std::size_t min_runs = 3;
  std::vector<std::string> metrics;
};

int command_calibrate(const CalibrateCli& o) {
  const std::vector<RunMetrics> runs = metrics_of_patterns(o.patterns, "", o.metrics);
  CalibrateOptions options;
  options.factor = o.factor;
  options.floor = o.floor;
  options.min_runs = std::max<std::size_t>(o.min_runs, 2);
  const std::vector<Tolerance> tolerances = calibrate(runs, options);
  double first = 0, last = 0;
  for (const auto& r : runs) {
    if (first == 0 || r.run.start_time < first) first = r.run.start_time;
    last = std::max(last, r.run.start_time);
  }
  const std::string header = fmt::format(
      "Proposed by gpuaccept calibrate from {} runs ({} .. {}).\n"
      "relative = max({:g}, {:g} x p95 of the run-to-run coefficient of variation) over the configurations\n"
      "(keys) of each benchmark, metric and message-size band. Review, then: gpuaccept compare --tolerances FILE",
      runs.size(), iso_time(first), iso_time(last), options.floor, options.factor);
  const std::string text = tolerances_yaml(tolerances, header);
  if (o.output.empty() || o.output == "-") {
    std::cout << text;
  } else {
    std::ofstream out(o.output, std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw InputError(fmt::format("cannot write {}", o.output));
    std::cout << fmt::format("{} tolerance{} from {} runs written to {}\n", tolerances.size(),
                             tolerances.size() == 1 ? "" : "s", runs.size(), o.output);
  }
  return 0;
}

// ---- report ----------------------------------------------------------------------------------

struct ReportCli {
  CheckOptions check;
  std::string html, markdown, junit, json, csv;
  std::string step, table = "per_rank";
  std::vector<std::string> baseline;
  std::size_t last = 10;
  std::string tolerances;
  bool quiet = false;
};

template <typename Write>
void write_output(const std::string& path, const char* what, Write&& write) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  if (!out) throw InputError(fmt::format("cannot write the {} to {}", what, path));
  write(out);
  out.close();
  if (!out) throw InputError(fmt::format("cannot write the {} to {}", what, path));
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  std::cout << fmt::format("{} written to {} ({} bytes)\n", what, path, ec ? 0 : bytes);
}

int command_report(const ReportCli& o) {
  if (!o.csv.empty() && o.step.empty())
    throw InputError("--csv needs --step ID: a CSV file holds one table of one step (see `gpuaccept show RESULTS`)");
  EvaluateOptions options;
  options.max_evidence = o.check.max_evidence;
  options.today = checked_date(o.check.as_of);
  const Judged j = load_judged(o.check.path, o.check.contract);
  if (!o.step.empty()) {
    const auto stored = j.stored_steps();
    const bool found = std::any_of(stored.begin(), stored.end(), [&](const StepResult& s) { return s.id == o.step; });
    if (!found)
      throw InputError(fmt::format("{}: no step with id '{}' (run `gpuaccept show {}` for the list)", o.check.path, o.step,
                                   o.check.path));
  }
  const Verdict verdict = evaluate(j.contract, j.file.run, j.steps, options);
  std::optional<RegressionReport> history;
  if (!o.baseline.empty()) {
    CompareOptions compare;
    compare.last = std::max<std::size_t>(o.last, 1);
    if (!o.tolerances.empty()) compare.tolerances = load_tolerances(read_text_file(o.tolerances), o.tolerances);
    const PointKeys keys = point_keys_of_registry();
    std::vector<RunMetrics> baseline = metrics_of_patterns(o.baseline, o.check.path, {});
    if (baseline.empty()) throw InputError("report --baseline: no readable baseline run (other than this one)");
    history = compare_to_baseline(std::move(baseline), extract_metrics(o.check.path, j.file.run, j.steps, keys, {},
                                                                                 param_defaults_of_registry()),
                                  compare);
  }
  if (!o.quiet) print_verdict(std::cout, verdict, PrintOptions{use_color(o.check.color)});
  ReportInput in;
  in.results_path = o.check.path;
  in.samples_from = j.file.path.string();
  in.run = &j.file.run;
  in.steps = &j.steps;
  in.verdict = &verdict;
  in.contract = &j.contract;
  in.contract_source = j.source;
  in.history = history ? &*history : nullptr;
  if (!o.html.empty()) write_output(o.html, "HTML report", [&](std::ostream& out) { write_html(out, in); });
  if (!o.markdown.empty()) write_output(o.markdown, "Markdown report", [&](std::ostream& out) { write_markdown(out, in); });
  if (!o.junit.empty()) write_output(o.junit, "JUnit XML", [&](std::ostream& out) { write_junit(out, in); });
  if (!o.json.empty()) write_output(o.json, "JSON export", [&](std::ostream& out) { write_json(out, in, o.step); });
  if (!o.csv.empty()) {
    for (const auto& s : j.stored_steps()) {
      if (s.id != o.step) continue;
      const Table& t = o.table == "points" ? s.points : s.per_rank;
      if (t.columns.empty())
        throw InputError(fmt::format("step {} has no {} table", o.step, o.table));
      write_output(o.csv, "CSV export", [&](std::ostream& out) { write_csv(out, j.file.run, s, o.table); });
    }
  }
  return verdict.exit_code();
}

std::string headline_of(const StepResult& s) {
  const auto* def = suites::Registry::instance().find(s.benchmark);
  if (!def || def->headline.empty() || s.status != Status::ok) return s.reason;
  return headline(*def, s);
}

void print_table(const Table& t, std::size_t max_rows) {
  std::string header;
  for (const auto& c : t.columns) {
    const std::string name = c.unit.empty() ? c.name : fmt::format("{}({})", c.name, c.unit);
    header += fmt::format(" {:>14}", name);
  }
  std::cout << header << '\n';
  for (std::size_t r = 0; r < t.rows() && r < max_rows; ++r) {
    std::string line;
    for (const auto& c : t.columns) {
      const double v = c.values[r];
      line += c.integer ? fmt::format(" {:>14}", static_cast<std::int64_t>(v)) : fmt::format(" {:>14.6g}", v);
    }
    std::cout << line << '\n';
  }
  if (t.rows() > max_rows) std::cout << fmt::format("  ... {} more rows\n", t.rows() - max_rows);
}

int command_show(const std::string& path, const std::string& step_id, std::size_t max_rows) {
  // Samples are listed by name and shape only: their values stay in the file.
  const ResultsFile file = read_results(path, ReadOptions{SampleLoading::listed, {}});
  for (const auto& note : file.notes) std::cerr << "gpuaccept: note: " << note << '\n';
  const RunInfo& run = file.run;
  if (!step_id.empty()) {
    for (const auto& s : file.steps) {
      if (s.id != step_id) continue;
      std::cout << fmt::format("step {}: {} {}  repetition {}  backend {}\n", s.id, s.benchmark, format_params(s.params),
                               s.repetition, s.backend);
      std::cout << fmt::format("status {}{}  started {}  took {:.3f} s\n", to_string(s.status),
                               s.reason.empty() ? "" : " (" + s.reason + ")", iso_time(s.start_time),
                               s.end_time - s.start_time);
      if (s.per_rank.rows()) {
        std::cout << "\nper rank:\n";
        print_table(s.per_rank, max_rows);
      }
      if (s.points.rows()) {
        std::cout << "\npoints:\n";
        print_table(s.points, max_rows);
      }
      for (const auto& smp : s.samples)
        std::cout << fmt::format("\nsamples {}: {} {} x {} {} ({})\n", smp.name, smp.rows, smp.row_axis, smp.cols,
                                 smp.col_axis, smp.unit);
      if (!s.output.empty()) {
        std::cout << fmt::format("\noutput ({} bytes):\n{}", s.output.size(), s.output);
        if (s.output.back() != '\n') std::cout << '\n';
      }
      return 0;
    }
    throw InputError(fmt::format("{}: no step with id '{}' (run `gpuaccept show {}` for the list)", path, step_id, path));
  }
  std::cout << fmt::format("results   {}{}\n", file.path.string(), file.path.string() != path ? " (backup)" : "");
  std::cout << fmt::format("campaign  {}   system {}{}   backend {}\n", run.campaign, run.system,
                           run.phase.empty() ? "" : "   phase " + run.phase, run.backend);
  std::cout << fmt::format("tool      gpuaccept {} ({}), schema {}\n", run.tool_version, run.git_revision, run.schema_version);
  std::cout << fmt::format("time      {} .. {}{}\n", iso_time(run.start_time), iso_time(run.end_time),
                           run.end_time > 0 ? "" : "  (incomplete: the run did not finish)");
  std::cout << fmt::format("command   {}\n", run.command_line);
  std::cout << fmt::format("ranks     {}\n", run.rank_count);
  for (std::size_t i = 0; i < run.ranks.size() && i < max_rows; ++i) {
    const auto& r = run.ranks[i];
    std::cout << fmt::format("  {:>5}  {:<20} local {:>2}  {}{}\n", r.rank, r.host, r.local_rank, r.device,
                             r.uuid.empty() ? "" : "  " + r.uuid);
  }
  if (run.ranks.size() > max_rows) std::cout << fmt::format("  ... {} more ranks\n", run.ranks.size() - max_rows);
  std::cout << fmt::format("steps     {}\n", file.steps.size());
  for (const auto& s : file.steps) {
    // The parameters that tell steps apart (not at their default); `--step ID` shows them all.
    const Params shown = without_defaults(s.params, suites::Registry::instance().defaults(s.benchmark));
    std::cout << fmt::format("  {:<27} {:<9} {:<10} {}\n", s.id, to_string(s.status), s.benchmark,
                             shown.empty() ? std::string("(all defaults)") : format_params(shown));
    if (auto h = headline_of(s); !h.empty()) std::cout << fmt::format("  {:<27} {}\n", "", h);
  }
  return 0;
}

std::string describe_param(const suites::BenchmarkDef& b, const suites::ParamSpec& p) {
  std::string text = fmt::format("{} = {}", to_string(p.type), format_value(p.default_value));
  // The unit after the default: sizes are bytes, shown in binary units too (256 MiB).
  const auto declared = b.param_units.find(p.name);
  const std::string unit = declared != b.param_units.end()           ? declared->second
                           : p.type == suites::ParamType::size ? std::string("B")
                                                               : std::string();
  if (!unit.empty()) text += " " + unit;
  if (p.type == suites::ParamType::size) {
    if (const auto bytes = as_int(p.default_value); bytes && *bytes >= 1024) {
      static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
      double value = static_cast<double>(*bytes);
      int u = -1;
      while (value >= 1024 && u < 3) {
        value /= 1024;
        ++u;
      }
      text += fmt::format(" ({:g} {})", value, kUnits[u]);
    }
  }
  if (!p.sets.empty()) {
    std::vector<std::string> sets;
    for (const auto& [name, members] : p.sets) sets.push_back(fmt::format("{} ({})", name, members.size()));
    text += fmt::format("  sets: {}", fmt::join(sets, ", "));
  }
  if (!p.choices.empty()) text += fmt::format("  [{}]", fmt::join(p.choices, "|"));
  if (p.min && p.max) text += fmt::format("  [{:g} .. {:g}]", *p.min, *p.max);
  return text;
}

int command_list(const std::string& only) {
  const auto& registry = suites::Registry::instance();
  bool found = false;
  for (const auto& b : registry.all()) {
    if (!only.empty() && b.name != only) continue;
    found = true;
    // Columns as wide as this benchmark's longest name, so that long names keep them aligned.
    std::size_t width = 14;
    for (const auto& p : b.params) width = std::max(width, p.name.size());
    for (const auto& m : b.rank_metrics) width = std::max(width, m.name.size());
    for (const auto& m : b.point_metrics) width = std::max(width, m.name.size());
    const auto metric_line = [&](const suites::MetricSpec& m) {
      return fmt::format("    {:<{}} {:<10} {:<7} {}\n", m.name, width, m.unit.empty() ? "-" : m.unit,
                         to_string(m.better), m.help);
    };
    std::cout << fmt::format("{}\n  {}\n  parameters:\n", b.name, b.summary);
    for (const auto& p : b.params)
      std::cout << fmt::format("    {:<{}} {:<44} {}\n", p.name, width, describe_param(b, p), p.help);
    std::cout << "  per-rank metrics:\n";
    for (const auto& m : b.rank_metrics) std::cout << metric_line(m);
    if (!b.point_metrics.empty()) {
      std::cout << fmt::format("  sweep metrics (select a point by {}):\n", fmt::join(b.point_keys, " or "));
      for (const auto& m : b.point_metrics) std::cout << metric_line(m);
    }
    std::cout << '\n';
  }
  if (!found) throw InputError(fmt::format("unknown benchmark '{}' (see `gpuaccept list`)", only));
  std::string why;
  const int gpus = kernels::cuda_device_count(&why);
  std::cout << fmt::format("backends: cpu{}; GPUs visible: {}{}\n", kernels::cuda_compiled() ? ", cuda" : "", gpus,
                           gpus == 0 && !why.empty() ? " (" + why + ")" : "");
  return 0;
}

}  // namespace

int main_cli(int argc, char** argv) {
  CLI::App app{"gpuaccept: benchmarks and acceptance tests for GPU supercomputers.\n"
               "Exit status: 0 all criteria pass, 1 a criterion fails, 2 bad input or usage, 3 a step broke."};
  app.set_version_flag("--version", fmt::format("{} ({})", tool_version(), git_revision()));
  app.require_subcommand(1);

  RunOptions run_options;
  auto* run = app.add_subcommand("run", "Run a campaign under MPI (mpirun/srun), store every step, judge the contract");
  run->add_option("campaign", run_options.campaign_path, "campaign YAML")->required();
  run->add_option("-o,--output", run_options.output, "results file (default: <output_dir>/<campaign>-<UTC time>.h5)");
  run->add_option("--resume", run_options.resume, "continue this results file: run only the steps it lacks");
  run->add_flag("--retry-failed", run_options.retry_failed, "with --resume, also re-run steps stored as error or timeout");
  run->add_option("--backend", run_options.backend, "override the campaign's backend")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  run->add_option("--contract", run_options.contract, "judge with this contract instead of the campaign's");
  run->add_flag("-q,--quiet", run_options.quiet, "progress lines and verdict only, no per-step tables");
  run->footer("Example: mpirun -np 2 gpuaccept run configs/local.yaml");

  std::string plan_path, plan_backend;
  int plan_ranks = 0;
  auto* planc = app.add_subcommand("plan", "Print the steps of a campaign and their estimated duration, without running");
  std::string plan_system;
  auto* plan_campaign = planc->add_option("campaign", plan_path, "campaign YAML");
  auto* plan_system_opt = planc->add_option(
      "--system", plan_system, "instead of a campaign: the whole-machine acceptance plan of this system description");
  plan_campaign->excludes(plan_system_opt);
  planc->add_option("-n,--ranks", plan_ranks, "ranks the estimate assumes (default: from the launcher, else 1)");
  planc->add_option("--backend", plan_backend, "override the campaign's backend")->check(CLI::IsMember({"auto", "cpu", "cuda"}));

  SimulateOptions sim_options;
  auto* simulatec = app.add_subcommand(
      "simulate", "Simulate a campaign on the machine its system description names; write the results file a real run would");
  simulatec->add_option("campaign", sim_options.campaign_path, "campaign YAML naming a system description")->required();
  simulatec->add_option("-o,--output", sim_options.output, "results file (default: <output_dir>/<campaign>-sim-<time>.h5)");
  simulatec->add_option("--faults", sim_options.faults_path, "faults to inject (YAML, docs/simulation.md)");
  simulatec->add_option("--calibrate", sim_options.calibrate_path,
                        "a real results file: its GEMM, stream, hostcopy, p2p, node all-reduce and ior figures replace the model's");
  simulatec->add_option("--seed", sim_options.seed, "seed of the per-GPU spread")->capture_default_str();
  simulatec->add_option("--spread", sim_options.gpu_spread, "coefficient of variation of per-GPU rates")
      ->capture_default_str()->check(CLI::Range(0.0, 0.5));
  simulatec->footer("Then: gpuaccept check RESULTS.h5 (judged with the campaign's contract), gpuaccept report ...");

  std::string slurm_campaign, slurm_script_path;
  SlurmOptions slurm_options;
  std::vector<std::string> slurm_env;
  auto* slurmc = app.add_subcommand("slurm", "Write the sbatch script that runs a campaign on a Slurm cluster");
  slurmc->add_option("campaign", slurm_campaign, "campaign YAML")->required();
  slurmc->add_option("-o,--output", slurm_script_path, "write the script here (default: standard output)");
  slurmc->add_option("-N,--nodes", slurm_options.nodes, "nodes (default: the system description's, else 1)");
  slurmc->add_option("--tasks-per-node", slurm_options.tasks_per_node,
                     "ranks per node (default: the description's GPUs per node, else 1)");
  slurmc->add_option("--gpus-per-task", slurm_options.gpus_per_task,
                     "GPUs per rank (default: 1 with a system description, else none requested)");
  slurmc->add_option("--cpus-per-task", slurm_options.cpus_per_task, "CPUs per rank (default: Slurm's)");
  slurmc->add_option("-t,--time", slurm_options.time_limit, "time limit, as sbatch --time")->capture_default_str();
  slurmc->add_option("-p,--partition", slurm_options.partition, "partition");
  slurmc->add_option("-A,--account", slurm_options.account, "account");
  slurmc->add_option("--results", slurm_options.results, "results file (default: <output_dir>/<campaign>-<job id>.h5)");
  slurmc->add_option("--log-dir", slurm_options.log_dir, "folder for the job's output (default: the campaign's output_dir)");
  slurmc->add_option("--gpuaccept", slurm_options.gpuaccept, "the gpuaccept binary on the compute nodes (default: this one)");
  slurmc->add_option("--env", slurm_env, "NAME=VALUE exported in the script (repeatable), e.g. NCCL_IB_HCA=mlx5");
  slurmc->add_option("--run-arg", slurm_options.run_args, "extra argument to 'gpuaccept run' (repeatable)");
  slurmc->footer("Example: gpuaccept slurm configs/full.yaml -p gpu -t 04:00:00 -o full.sbatch && sbatch full.sbatch");

  CheckOptions check_options;
  auto* check = app.add_subcommand("check", "Judge a stored results file again (with its stored contract, or another)");
  check->add_option("results", check_options.path, "results file (.h5)")->required();
  check->add_option("-c,--contract", check_options.contract, "contract YAML (default: the one stored in the results)");
  check->add_option("--max-evidence", check_options.max_evidence, "worst members listed per failed criterion");
  check->add_option("--quarantine", check_options.quarantine,
                    "write the hosts that fail a per-rank or per-node criterion to this file, one per line "
                    "(for scontrol update state=drain, or a Slurm exclude list)");
  check->add_option("--as-of", check_options.as_of, "judge waivers as on this date, YYYY-MM-DD (default: today, UTC)");
  check->add_option("--color", check_options.color, "colour the verdict: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));

  std::string show_path, show_step;
  std::size_t show_rows = 32;
  auto* show = app.add_subcommand("show", "Print what a results file holds");
  show->add_option("results", show_path, "results file (.h5)")->required();
  show->add_option("-s,--step", show_step, "one step's per-rank table, sweep points and samples");
  show->add_option("--rows", show_rows, "at most this many rows per table");

  std::string list_only;
  auto* list = app.add_subcommand("list", "List the registered benchmarks, their parameters and metrics");
  list->add_option("benchmark", list_only, "only this benchmark");

  CompareCli compare_options;
  auto* compare = app.add_subcommand(
      "compare", "Nightly regression against a baseline of earlier runs, or phase A against phase B");
  compare->add_option("results", compare_options.files, "results file (with --baseline), or two: phase A and phase B")
      ->required();
  compare->add_option("-b,--baseline", compare_options.baseline,
                      "earlier runs: a file or a quoted pattern, e.g. 'results/nightly-*.h5' (repeatable)")
      ->allow_extra_args(false);
  compare->add_option("--last", compare_options.last, "baseline: the last N runs by start time")->capture_default_str();
  compare->add_option("--tolerance", compare_options.tolerance, "relative tolerance where no tolerances file names the metric")
      ->capture_default_str();
  compare->add_option("--mad", compare_options.mad_k, "and k robust deviations (1.4826 x MAD) of the baseline")
      ->capture_default_str();
  compare->add_option("--min-runs", compare_options.min_runs, "baseline runs needed before a change is flagged")
      ->capture_default_str();
  compare->add_option("--tolerances", compare_options.tolerances, "per-metric tolerances, as `gpuaccept calibrate` writes them");
  compare->add_option("-m,--metric", compare_options.metrics, "only this metric (repeatable)")
      ->allow_extra_args(false);
  compare->add_flag("--all", compare_options.all, "list every metric, not only the changed ones");
  compare->add_option("--color", compare_options.color, "auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  compare->footer("Exit status: 1 when a metric regressed (with --baseline), 0 otherwise, 2 bad input.\n"
                  "Examples:\n  gpuaccept compare --baseline 'results/nightly-*.h5' tonight.h5\n"
                  "  gpuaccept compare phase1.h5 phase2.h5");

  ReportCli report_options;
  auto* report = app.add_subcommand("report", "Write reports of a judged results file: HTML, Markdown, JUnit XML, JSON, CSV");
  report->add_option("results", report_options.check.path, "results file (.h5)")->required();
  report->add_option("-c,--contract", report_options.check.contract, "contract YAML (default: the one stored in the results)");
  report->add_option("--html", report_options.html, "a self-contained HTML page with plots");
  report->add_option("--markdown", report_options.markdown, "a Markdown summary (for a wiki or a merge request)");
  report->add_option("--junit", report_options.junit, "JUnit XML: one test case per criterion and per step (Jenkins, GitLab)");
  report->add_option("--json", report_options.json, "the run, the verdict and every step's tables (or --step's) as JSON");
  report->add_option("--csv", report_options.csv, "one table of one step as CSV (needs --step)");
  report->add_option("-s,--step", report_options.step, "the step to export (--json, --csv)");
  report->add_option("--table", report_options.table, "which table of the step for --csv")
      ->check(CLI::IsMember({"per_rank", "points"}))
      ->capture_default_str();
  report->add_option("-b,--baseline", report_options.baseline, "earlier runs for the nightly history plots (file or quoted pattern)")
      ->allow_extra_args(false);
  report->add_option("--last", report_options.last, "baseline: the last N runs")->capture_default_str();
  report->add_option("--tolerances", report_options.tolerances, "per-metric tolerances for the history (from calibrate)");
  report->add_option("--max-evidence", report_options.check.max_evidence, "worst members listed per failed criterion");
  report->add_option("--as-of", report_options.check.as_of, "judge waivers as on this date, YYYY-MM-DD");
  report->add_option("--color", report_options.check.color, "auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  report->add_flag("-q,--quiet", report_options.quiet, "do not print the verdict table");
  report->footer("Exit status as for check: 0 pass, 1 a criterion failed, 2 bad input, 3 a step broke.\n"
                 "Example: gpuaccept report run.h5 --html run.html --junit run.xml");

  CalibrateCli calibrate_options;
  auto* calibratec = app.add_subcommand("calibrate", "Propose per-metric tolerances from the run-to-run spread of earlier runs");
  calibratec->add_option("results", calibrate_options.patterns, "results files or quoted patterns, e.g. 'results/*.h5'")
      ->required();
  calibratec->add_option("-o,--output", calibrate_options.output, "write the tolerances here (default: standard output)");
  calibratec->add_option("--factor", calibrate_options.factor, "tolerance = factor x p95 of the cv")->capture_default_str();
  calibratec->add_option("--floor", calibrate_options.floor, "but at least this")->capture_default_str();
  calibratec->add_option("--min-runs", calibrate_options.min_runs, "runs a figure needs to be calibrated")->capture_default_str();
  calibratec->add_option("-m,--metric", calibrate_options.metrics, "only this metric (repeatable)")
      ->allow_extra_args(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "gpuaccept: error: " << e.what() << "\nRun 'gpuaccept --help' (or 'gpuaccept COMMAND --help').\n";
    return kUsage;
  }

  try {
    if (*run) {
      run_options.command_line = join_args(argc, argv);
      return command_run(run_options);
    }
    if (*planc && !plan_system.empty()) {
      const SystemDescription system = load_system_file(plan_system);
      std::cout << sim::format_acceptance_plan(system, sim::plan_acceptance(system));
      return 0;
    }
    if (*planc && plan_path.empty()) throw InputError("plan: give a campaign, or --system SYSTEM.yaml");
    if (*planc) return command_plan(plan_path, plan_ranks, plan_backend);
    if (*simulatec) {
      sim_options.command_line = join_args(argc, argv);
      sim_options.log = &std::cout;
      const std::string written = simulate_campaign(sim_options);  // prints its calibration first
      std::cout << "simulated results: " << written << '\n';
      return 0;
    }
    if (*slurmc) return command_slurm(slurm_campaign, slurm_script_path, slurm_options, slurm_env);
    if (*check) return command_check(check_options);
    if (*show) return command_show(show_path, show_step, show_rows);
    if (*list) return command_list(list_only);
    if (*compare) return command_compare(compare_options);
    if (*calibratec) return command_calibrate(calibrate_options);
    if (*report) return command_report(report_options);
  } catch (const InputError& e) {
    std::cerr << "gpuaccept: error: " << e.what() << '\n';
    return kUsage;
  } catch (const StoreError& e) {
    std::cerr << "gpuaccept: error: " << e.what() << '\n';
    return kUsage;
  } catch (const std::exception& e) {
    std::cerr << "gpuaccept: error: " << e.what() << '\n';
    return 3;
  }
  return kUsage;
}

}  // namespace gpuaccept::harness
