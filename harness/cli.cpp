#include "harness/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mpi.h>

#include <cmath>
#include <ctime>
#include <iostream>

#include "harness/campaign.hpp"
#include "harness/execute.hpp"
#include "harness/plan.hpp"
#include "harness/version.hpp"
#include "kernels/backend.hpp"
#include "results/contract.hpp"
#include "results/evaluate.hpp"
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
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
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
  std::cout << format_plan(campaign, plan(campaign, registry, backend, n), backend, n);
  return 0;
}

int command_check(const std::string& path, const std::string& contract_override, std::size_t max_evidence) {
  const ResultsFile file = read_results(path);
  for (const auto& note : file.notes) std::cerr << "gpuaccept: note: " << note << '\n';
  Contract contract;
  std::string source;
  if (!contract_override.empty()) {
    contract = load_contract(read_text_file(contract_override), contract_override);
    source = contract_override;
  } else if (!file.run.contract_yaml.empty()) {
    source = fmt::format("{} (as stored in {})", file.run.contract_path, path);
    contract = load_contract(file.run.contract_yaml, file.run.contract_path + " (stored)");
  }
  validate(contract, suites::Registry::instance().catalog());
  std::cout << fmt::format("results {}: campaign {} on {}, {} rank(s), {} step(s), {}\n", path, file.run.campaign,
                           file.run.system, file.run.rank_count, file.steps.size(),
                           file.run.end_time > 0 ? "complete" : "INCOMPLETE (the run did not finish)");
  if (source.empty()) std::cout << "no contract given or stored: only correctness and step status are judged\n";
  else std::cout << fmt::format("contract {} from {}\n", contract.name, source);
  // Steps the stored campaign plans but the file lacks are judged as missing, not ignored.
  std::vector<StepResult> steps = file.steps;
  try {
    const Campaign campaign = load_campaign(file.run.campaign_yaml, file.run.campaign_path + " (stored)",
                                            suites::Registry::instance());
    add_missing_steps(campaign, suites::Registry::instance(), steps);
  } catch (const InputError& e) {
    std::cerr << "gpuaccept: warning: cannot re-plan the stored campaign, so missing steps are not listed: "
              << e.what() << '\n';
  }
  EvaluateOptions options;
  options.max_evidence = max_evidence;
  const Verdict verdict = evaluate(contract, file.run, steps, options);
  print_verdict(std::cout, verdict);
  return verdict.exit_code();
}

std::string headline_of(const StepResult& s) {
  const auto* def = suites::Registry::instance().find(s.benchmark);
  if (!def || def->headline.empty() || s.status != Status::ok) return s.reason;
  if (const Column* c = s.per_rank.find(def->headline); c && !c->values.empty())
    return fmt::format("{} min {:.4g} median {:.4g} {}", c->name, stats::min(c->values), stats::median(c->values), c->unit);
  if (const Column* c = s.points.find(def->headline); c && !c->values.empty())
    return fmt::format("{} {:.4g} {} at largest point", c->name, c->values.back(), c->unit);
  return {};
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
  const ResultsFile file = read_results(path);
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
    std::cout << fmt::format("  {:<27} {:<9} {:<10} {}\n", s.id, to_string(s.status), s.benchmark, format_params(s.params));
    if (auto h = headline_of(s); !h.empty()) std::cout << fmt::format("  {:<27} {}\n", "", h);
  }
  return 0;
}

std::string describe_param(const suites::ParamSpec& p) {
  std::string text = fmt::format("{} = {}", to_string(p.type), format_value(p.default_value));
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
    std::cout << fmt::format("{}\n  {}\n  parameters:\n", b.name, b.summary);
    for (const auto& p : b.params) std::cout << fmt::format("    {:<14} {:<44} {}\n", p.name, describe_param(p), p.help);
    std::cout << "  per-rank metrics:\n";
    for (const auto& m : b.rank_metrics)
      std::cout << fmt::format("    {:<14} {:<10} {:<7} {}\n", m.name, m.unit.empty() ? "-" : m.unit, to_string(m.better), m.help);
    if (!b.point_metrics.empty()) {
      std::cout << fmt::format("  sweep metrics (select a point by {}):\n", fmt::join(b.point_keys, " or "));
      for (const auto& m : b.point_metrics)
        std::cout << fmt::format("    {:<14} {:<10} {:<7} {}\n", m.name, m.unit.empty() ? "-" : m.unit, to_string(m.better), m.help);
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
  app.set_version_flag("--version", std::string(GPUACCEPT_VERSION " (" GPUACCEPT_GIT_REVISION ")"));
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
  planc->add_option("campaign", plan_path, "campaign YAML")->required();
  planc->add_option("-n,--ranks", plan_ranks, "ranks the estimate assumes (default: from the launcher, else 1)");
  planc->add_option("--backend", plan_backend, "override the campaign's backend")->check(CLI::IsMember({"auto", "cpu", "cuda"}));

  std::string check_path, check_contract;
  std::size_t check_evidence = 5;
  auto* check = app.add_subcommand("check", "Judge a stored results file again (with its stored contract, or another)");
  check->add_option("results", check_path, "results file (.h5)")->required();
  check->add_option("-c,--contract", check_contract, "contract YAML (default: the one stored in the results)");
  check->add_option("--max-evidence", check_evidence, "worst members listed per failed criterion");

  std::string show_path, show_step;
  std::size_t show_rows = 32;
  auto* show = app.add_subcommand("show", "Print what a results file holds");
  show->add_option("results", show_path, "results file (.h5)")->required();
  show->add_option("-s,--step", show_step, "one step's per-rank table, sweep points and samples");
  show->add_option("--rows", show_rows, "at most this many rows per table");

  std::string list_only;
  auto* list = app.add_subcommand("list", "List the registered benchmarks, their parameters and metrics");
  list->add_option("benchmark", list_only, "only this benchmark");

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
    if (*planc) return command_plan(plan_path, plan_ranks, plan_backend);
    if (*check) return command_check(check_path, check_contract, check_evidence);
    if (*show) return command_show(show_path, show_step, show_rows);
    if (*list) return command_list(list_only);
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
