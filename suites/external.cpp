// external: any command (a site's Megatron-LM or torchtitan launch through srun, a vendor
// diagnostic), judged by the same contract as the built-in benchmarks.
//
// Runs `/bin/sh -c COMMAND` in a child process (suites/process.hpp: posix_spawn, its own
// process group, killed as a whole at `time_limit`), with `env` added to its environment and
// GPUACCEPT_RANK / GPUACCEPT_RANKS / GPUACCEPT_LOCAL_RANK set. Its merged stdout and stderr are
// stored in the results file (the step's `output`, at most `max_output` bytes: head and tail).
// Each metric parameter that is set (tokens_per_s, step_time, loss, ...) is a regular expression
// (ECMAScript) whose first capture group is a number; it is matched against every output line,
// and the numbers of the matching lines are reduced by `reduce` (last, first, median, mean, min,
// max) into that metric, which the contract can bound like any other.
// Fails the step with the reason when the command exits non-zero or by a signal (error), runs
// past time_limit (timeout), or a metric's expression matches no line (error).
// `where: first` runs the command on the step's first rank only (the others report its figures):
// right for a launcher such as srun. `where: every` runs it on every rank (a per-node check).
// Runs alone: a campaign holding
//   benchmarks: [{benchmark: external, params: {command: "srun ./train.sh", time_limit: 1800,
//                  tokens_per_s: 'tokens/s: ([0-9.e+]+)', reduce: median}}]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "results/stats.hpp"
#include "suites/external_figures.hpp"
#include "suites/process.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

struct ExtractedMetric {
  const char* name;
  const char* unit;
  Better better;
  const char* help;
};

// The figures a regular expression may fill; contracts name them like any benchmark's metrics.
constexpr ExtractedMetric kExtracted[] = {
    {"tokens_per_s", "tokens/s", Better::higher, "training throughput, all GPUs"},
    {"tokens_per_s_per_device", "tokens/s", Better::higher, "training throughput per GPU"},
    {"samples_per_s", "samples/s", Better::higher, "samples (sequences, images) per second"},
    {"step_time", "s", Better::lower, "time per training step"},
    {"tflops", "TFLOP/s", Better::higher, "model TFLOP/s per GPU"},
    {"mfu", "", Better::higher, "model FLOPs utilisation as the command prints it"},
    {"loss", "", Better::lower, "training loss"},
    {"bandwidth", "GB/s", Better::higher, "a bandwidth"},
    {"latency", "s", Better::lower, "a latency"},
    {"value", "", Better::none, "any other figure"},
};

enum class Reduce { last, first, median, mean, min, max };

Reduce reduce_of(const std::string& s) {
  if (s == "first") return Reduce::first;
  if (s == "median") return Reduce::median;
  if (s == "mean") return Reduce::mean;
  if (s == "min") return Reduce::min;
  if (s == "max") return Reduce::max;
  return Reduce::last;
}

double reduce(Reduce r, const std::vector<double>& v) {
  switch (r) {
    case Reduce::last: return v.back();
    case Reduce::first: return v.front();
    case Reduce::median: return stats::median(v);
    case Reduce::mean: return stats::summarize(v).mean;
    case Reduce::min: return *std::min_element(v.begin(), v.end());
    case Reduce::max: return *std::max_element(v.begin(), v.end());
  }
  return NAN;
}

// "" or why the expression cannot be used.
std::string check_pattern(const std::string& name, const std::string& pattern) {
  try {
    const std::regex re(pattern, std::regex::ECMAScript);
    if (re.mark_count() < 1)
      return fmt::format("{}: the regular expression '{}' has no capture group (the number to extract)", name, pattern);
  } catch (const std::regex_error& e) {
    return fmt::format("{}: '{}' is not a regular expression: {}", name, pattern, e.what());
  }
  return {};
}

struct Matcher {
  std::string name;
  std::regex re;
  std::vector<double> values;
  std::string first_bad;  // a captured text that is not a number
};

RankOutcome run_here(const RunContext& ctx) {
  CommandSpec spec;
  spec.command = param_text(ctx.params, "command");
  spec.env = parse_env_list(param_text(ctx.params, "env"));
  spec.env.emplace_back("GPUACCEPT_RANK", std::to_string(ctx.rank));
  spec.env.emplace_back("GPUACCEPT_RANKS", std::to_string(ctx.size));
  spec.env.emplace_back("GPUACCEPT_LOCAL_RANK", std::to_string(ctx.local_rank));
  spec.time_limit_s = param_real(ctx.params, "time_limit");
  spec.max_output = static_cast<std::size_t>(param_int(ctx.params, "max_output"));
  std::vector<Matcher> matchers;
  for (const auto& m : kExtracted)
    if (const auto& pattern = param_text(ctx.params, m.name); !pattern.empty())
      matchers.push_back({m.name, std::regex(pattern, std::regex::ECMAScript), {}, {}});
  spec.on_line = [&](std::string_view line) {
    std::match_results<std::string_view::const_iterator> match;
    for (auto& m : matchers) {
      if (!std::regex_search(line.begin(), line.end(), match, m.re)) continue;
      const std::string text = match[1].str();
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) m.values.push_back(v);
      else if (m.first_bad.empty()) m.first_bad = text;
    }
  };
  const CommandResult r = run_command(spec);

  RankOutcome out;
  out.output = r.output;
  out.iteration_seconds = {r.seconds};
  out.metrics["exit_code"] = r.exited ? static_cast<double>(r.exit_code) : NAN;
  out.metrics["seconds"] = r.seconds;
  out.metrics["output_bytes"] = static_cast<double>(r.output_bytes);
  const Reduce how = reduce_of(param_text(ctx.params, "reduce"));
  std::string unmatched;
  for (const auto& m : matchers) {
    if (!m.values.empty()) {
      out.metrics[m.name] = reduce(how, m.values);
    } else {
      out.metrics[m.name] = NAN;
      unmatched += fmt::format("{}{} ('{}'{})", unmatched.empty() ? "" : ", ", m.name, param_text(ctx.params, m.name),
                               m.first_bad.empty() ? "" : fmt::format(" captured '{}', not a number", m.first_bad));
    }
  }
  for (const auto& m : kExtracted) out.metrics.try_emplace(m.name, NAN);

  // The last lines of output say why, more often than not.
  auto tail = [&] {
    std::string t = r.output;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    std::size_t pos = t.size();
    for (int lines = 0; lines < 3 && pos != std::string::npos && pos > 0; ++lines) pos = t.rfind('\n', pos - 1);
    t = pos == std::string::npos ? t : t.substr(pos + 1);
    if (t.size() > 400) t = "..." + t.substr(t.size() - 400);
    return t.empty() ? std::string("(no output)") : "last output: " + t;
  };
  if (r.timed_out) {
    out.status = Status::timeout;
    out.message = fmt::format("the command ran past its time limit of {} s and was killed; {}", spec.time_limit_s, tail());
  } else if (!r.exited) {
    out.status = Status::error;
    out.message = fmt::format("the command was killed by signal {} ({}); {}", r.signal, strsignal(r.signal), tail());
  } else if (r.exit_code != 0) {
    out.status = Status::error;
    out.message = fmt::format("the command exited with status {}; {}", r.exit_code, tail());
  } else if (!unmatched.empty()) {
    out.status = Status::error;
    out.message = fmt::format("no line of the command's output matched {}", unmatched);
  }
  if (ctx.rank == 0)
    out.log = fmt::format("# exit {} after {:.3g} s, {} bytes of output\n", r.exited ? std::to_string(r.exit_code) : "by signal",
                          r.seconds, r.output_bytes);
  return out;
}

// where: first. Rank 0 runs it; every rank reports its figures (so that the contract's view
// over ranks is rank 0's), and only rank 0 carries a failure.
RankOutcome run(const RunContext& ctx) {
  if (param_text(ctx.params, "where") == "every" || ctx.size == 1) return run_here(ctx);
  RankOutcome out;
  std::string shared;
  if (ctx.rank == 0) {
    try {
      out = run_here(ctx);
    } catch (const std::exception& e) {  // the others wait in the broadcast: never leave them there
      out.status = Status::error;
      out.message = e.what();
    }
    for (const auto& [name, value] : out.metrics) shared += fmt::format("{} {:.17g}\n", name, value);
  }
  ctx.group.broadcast(shared, 0);
  if (ctx.rank != 0) {
    std::size_t pos = 0;
    while (pos < shared.size()) {
      const auto nl = shared.find('\n', pos);
      const auto line = shared.substr(pos, nl - pos);
      const auto sp = line.find(' ');
      out.metrics[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
      pos = nl + 1;
    }
    out.iteration_seconds = {out.metrics["seconds"]};
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "external";
  b.summary = "any command (e.g. a site's training launch) with a time limit; output stored, figures extracted by regular expressions";
  b.params = {
      {"command", ParamType::text, std::string(""), "run as /bin/sh -c COMMAND in a child process", {}, {}, {}},
      {"env", ParamType::text, std::string(""), "NAME=value pairs, separated by spaces, added to the command's environment", {}, {}, {}},
      {"time_limit", ParamType::real, 300.0, "seconds after which the command's process group is killed (less than timeout)", 0.01, 1e7, {}},
      {"max_output", ParamType::size, std::int64_t{1} << 20, "bytes of output kept in the results file (head and tail)", 1024, 1e9, {}},
      {"reduce", ParamType::text, std::string("last"), "how the values of several matching lines become one", {}, {},
       {"last", "first", "median", "mean", "min", "max"}},
      {"simulate", ParamType::text, std::string(""),
       "figures gpuaccept simulate stores for this step, 'metric=value ...' (a real run ignores them; '': the "
       "simulation skips the step)", {}, {}, {}},
      {"where", ParamType::text, std::string("first"), "first: the step's first rank runs it; every: each rank does", {}, {}, {"first", "every"}},
  };
  for (const auto& m : kExtracted)
    b.params.push_back({m.name, ParamType::text, std::string(""),
                        fmt::format("regular expression whose first group is {} ('' : not extracted)", m.help), {}, {}, {}});
  b.rank_metrics = {
      {"exit_code", "", Better::none, "the command's exit status (NaN when killed by a signal)"},
      {"seconds", "s", Better::lower, "wall time of the command"},
      {"output_bytes", "B", Better::none, "bytes the command printed (more than is kept when over max_output)"},
  };
  for (const auto& m : kExtracted)
    b.rank_metrics.push_back({m.name, m.unit, m.better, fmt::format("{}, from the output (NaN when its expression is not set)", m.help)});
  b.headline = "seconds";
  b.smoke = {{"command", std::string("echo 'step 1 tokens/s: 100'; echo 'step 2 tokens/s: 120'")},
             {"tokens_per_s", std::string("tokens/s: ([0-9.]+)")}};
  b.check = [](const Params& p) -> std::string {
    if (param_text(p, "command").empty()) return "command is empty: give the command to run";
    try {
      parse_env_list(param_text(p, "env"));
    } catch (const std::invalid_argument& e) {
      return fmt::format("env: {}", e.what());
    }
    if (param_real(p, "time_limit") >= param_real(p, kTimeoutParam))
      return fmt::format("time_limit ({} s) must be shorter than the step's timeout ({} s), so that the command is "
                         "killed and its output kept before the step is abandoned",
                         param_real(p, "time_limit"), param_real(p, kTimeoutParam));
    for (const auto& m : kExtracted)
      if (const auto& pattern = param_text(p, m.name); !pattern.empty())
        if (auto why = check_pattern(m.name, pattern); !why.empty()) return why;
    try {
      for (const auto& [name, value] : parse_simulated_figures(param_text(p, "simulate"))) {
        const bool known = name == "seconds" || name == "exit_code" || name == "output_bytes" ||
                           std::any_of(std::begin(kExtracted), std::end(kExtracted),
                                       [&](const ExtractedMetric& m) { return name == m.name; });
        if (!known) return fmt::format("simulate: {} is not a metric of the external benchmark", name);
      }
    } catch (const std::invalid_argument& e) {
      return fmt::format("simulate: {} (expected 'metric=value metric=value ...')", e.what());
    }
    return {};
  };
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) { return param_real(p, "time_limit"); };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
