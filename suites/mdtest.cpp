// mdtest: file system metadata rates as mdtest measures them. Every rank creates its files
// (writing write_bytes of the pattern into each), stats them, reads them back (read_bytes,
// every byte checked) and removes them; in one shared directory (mdtest's default, IO500's
// mdtest-hard) or one directory per rank (unique_dir, mdtest -u), optionally spread over a tree
// of directories (depth, branch: mdtest -z, -b). With task_offset (mdtest -N), rank r stats and
// reads the files of rank r + task_offset, so that its own client cache cannot answer.
//
// Measures, per phase, from the barrier that starts it:
//   rate = operations of all ranks / (last end - first start)   -> create_rate, stat_rate, ... [ops/s]
//   rank rate = the rank's operations / its own time            -> create_rate_rank, ... (names a slow client)
// medians over the timed iterations; the points table has one row per iteration. Directory
// tree creation and removal are timed the same way (tree_create_rate, tree_remove_rate).
// Checks: each stat'ed file is a regular file of write_bytes bytes, each byte read is the
// pattern of that file; a missing or wrong file makes the step incorrect.
// Needs: a writable directory with room (space and inodes, checked before anything is
// created); the benchmark works in its own sub-directory there and removes it, also after a failure.
// Runs alone:  mpirun -np 2 gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: mdtest, params: {dir: /lustre/scratch, files: 10000}}]
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "io/agree.hpp"
#include "io/io_error.hpp"
#include "io/mdtest.hpp"
#include "io/workdir.hpp"
#include "results/stats.hpp"
#include "suites/registry.hpp"
#include "suites/storage_step.hpp"

namespace gpuaccept::suites {
namespace {

io::MdtestConfig config_of(const Params& p) {
  io::MdtestConfig c;
  c.files_per_rank = static_cast<std::uint64_t>(param_int(p, "files"));
  c.unique_dir = param_bool(p, "unique_dir");
  c.depth = static_cast<std::uint32_t>(param_int(p, "depth"));
  c.branch = static_cast<std::uint32_t>(param_int(p, "branch"));
  c.write_bytes = static_cast<std::uint64_t>(param_int(p, "write_bytes"));
  c.read_bytes = static_cast<std::uint64_t>(param_int(p, "read_bytes"));
  c.task_offset = static_cast<std::uint32_t>(param_int(p, "task_offset"));
  return c;
}

// The phases, in the order they run, with their metric names and mdtest's words for them.
struct PhaseName {
  const char* metric;
  const char* label;
  io::MetadataPhase io::MdtestOutcome::*phase;
};
constexpr PhaseName kPhases[] = {
    {"create", "File creation", &io::MdtestOutcome::create},
    {"stat", "File stat", &io::MdtestOutcome::stat},
    {"read", "File read", &io::MdtestOutcome::read},
    {"remove", "File removal", &io::MdtestOutcome::remove},
    {"tree_create", "Tree creation", &io::MdtestOutcome::tree_create},
    {"tree_remove", "Tree removal", &io::MdtestOutcome::tree_remove},
};

RankOutcome run(const RunContext& ctx) {
  const io::MdtestConfig cfg = config_of(ctx.params);
  const io::Pattern pattern(ctx.seed);
  const double directories = static_cast<double>(io::tree_directories(cfg.depth, cfg.branch));
  const bool owns_tree = cfg.unique_dir || ctx.rank == 0;
  // Files are at least one block each on most file systems; directories one block.
  const double file_blocks = std::ceil(static_cast<double>(cfg.write_bytes) / 4096.0) * 4096.0;
  const io::WorkDir::Need need{static_cast<double>(cfg.files_per_rank) * file_blocks + (owns_tree ? directories * 4096 : 0),
                               static_cast<double>(cfg.files_per_rank) + (owns_tree ? directories : 0)};
  std::optional<io::MdtestRun> mdtest;  // declared first: the work directory's cleanups use it
  std::vector<io::MdtestOutcome> timed;
  std::string warning;
  const collectives::Group node = storage::node_group(ctx);
  storage::Where where;
  try {
    io::WorkDir work(ctx.group, node, param_text(ctx.params, "dir"), "mdtest", need);
    where = storage::where_of(work);
    if (cfg.task_offset % static_cast<std::uint32_t>(ctx.size) != 0)
      storage::require_peer_on_this_node(ctx, node, where, static_cast<int>((ctx.rank + cfg.task_offset) % ctx.size),
                                         fmt::format("task_offset: {}", cfg.task_offset));
    // On node-local storage, each node's first rank makes the shared directory there.
    mdtest.emplace(ctx.group, cfg, work.path(), pattern, where.node_local && node.rank() == 0);
    work.on_cleanup([&] { mdtest->remove_files(); });
    work.on_directory_cleanup([&] { mdtest->remove_directories(); });
    const int total = ctx.timing.warmup + ctx.timing.iterations;
    for (int i = 0; i < total; ++i) {
      auto it = mdtest->iteration(static_cast<std::uint32_t>(i));
      if (i >= ctx.timing.warmup) timed.push_back(std::move(it));
    }
    warning = work.close();
  } catch (const io::StepFailure& f) {
    return storage::failed(f);
  }

  RankOutcome out;
  storage::record(out, where);
  std::uint64_t checked = 0, wrong = 0;
  std::string first_wrong;
  std::vector<double> wrong_per_iteration;
  for (const auto& it : timed) {
    checked += it.checked_files;
    wrong += it.wrong_files;
    if (first_wrong.empty()) first_wrong = it.first_wrong;
    wrong_per_iteration.push_back(static_cast<double>(it.wrong_files));
    out.iteration_seconds.push_back(it.create.mine.seconds());
  }
  ctx.group.allreduce_sum(std::span<double>(wrong_per_iteration));
  for (std::size_t i = 0; i < timed.size(); ++i) out.points.column("iteration", "", true).values.push_back(static_cast<double>(i));
  for (const auto& phase : kPhases) {
    std::vector<double> rate, rank_rate;
    for (const auto& it : timed) {
      rate.push_back(io::aggregate_rate((it.*phase.phase).all));
      rank_rate.push_back(io::rank_rate((it.*phase.phase).mine));
    }
    out.metrics[fmt::format("{}_rate", phase.metric)] = rate.empty() ? NAN : stats::median(rate);
    out.metrics[fmt::format("{}_rate_rank", phase.metric)] = rank_rate.empty() ? NAN : stats::median(rank_rate);
    for (std::size_t i = 0; i < rate.size(); ++i)
      out.points.column(fmt::format("{}_rate", phase.metric), "ops/s", false, Better::higher).values.push_back(rate[i]);
  }
  for (double w : wrong_per_iteration) out.points.column("wrong_files", "", true, Better::lower).values.push_back(w);
  out.metrics["files"] = static_cast<double>(cfg.files_per_rank);
  out.metrics["checked_files"] = static_cast<double>(checked);
  out.metrics["wrong_files"] = static_cast<double>(wrong);
  if (wrong > 0) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} files checked were wrong; first: {}", wrong, checked, first_wrong);
  } else if (!warning.empty()) {
    out.message = warning;
  }
  if (ctx.rank == 0) {
    std::string log = fmt::format("# {} ranks, {} files per rank in {}, {} director{} (depth {}, branch {}), write {}, read {}{}\n",
                                  ctx.size, cfg.files_per_rank, cfg.unique_dir ? "a directory per rank" : "one shared directory",
                                  directories, directories == 1 ? "y" : "ies", cfg.depth, cfg.branch,
                                  io::format_bytes(static_cast<double>(cfg.write_bytes)),
                                  io::format_bytes(static_cast<double>(cfg.read_bytes)),
                                  cfg.task_offset ? fmt::format(", stat and read shifted by {} ranks", cfg.task_offset) : "");
    log += fmt::format("{:<16}{:>14}{:>14}{:>14}\n", "Operation", "Max", "Min", "Median");
    for (const auto& phase : kPhases) {
      const Column* c = out.points.find(fmt::format("{}_rate", phase.metric));
      if (!c || c->values.empty()) continue;
      log += fmt::format("{:<16}{:>14.1f}{:>14.1f}{:>14.1f}\n", phase.label, stats::max(c->values), stats::min(c->values),
                         stats::median(c->values));
    }
    out.log = std::move(log);
  }
  return out;
}

std::string check(const Params& p) {
  if (auto missing = storage::check_dir(p); !missing.empty()) return missing;
  if (param_int(p, "read_bytes") > param_int(p, "write_bytes"))
    return fmt::format("read_bytes ({}) is larger than write_bytes ({}): a file holds only what was written",
                       param_int(p, "read_bytes"), param_int(p, "write_bytes"));
  const double directories = static_cast<double>(io::tree_directories(static_cast<std::uint32_t>(param_int(p, "depth")),
                                                                      static_cast<std::uint32_t>(param_int(p, "branch"))));
  if (directories > 1e6)
    return fmt::format("a tree of depth {} and branch {} has {:.0f} directories; at most 1000000", param_int(p, "depth"),
                       param_int(p, "branch"), directories);
  return {};
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "mdtest";
  // Real data on shared storage: one timed iteration and no warm-up by default, as mdtest (-i 1).
  b.default_warmup = 0;
  b.default_iterations = 1;
  b.summary = "mdtest-style metadata rates: create, stat, read, remove per rank or in a shared directory, every file checked";
  b.params = {
      storage::dir_param(),
      {"files", ParamType::integer, std::int64_t{1000}, "files per rank (mdtest -n)", 1, 1e9, {}},
      {"unique_dir", ParamType::boolean, false, "one directory per rank (mdtest -u) instead of one shared", {}, {}, {}},
      {"depth", ParamType::integer, std::int64_t{0}, "depth of the directory tree (mdtest -z)", 0, 20, {}},
      {"branch", ParamType::integer, std::int64_t{1}, "directories under each directory of the tree (mdtest -b)", 1, 1000, {}},
      {"write_bytes", ParamType::size, std::int64_t{0}, "bytes written into each file at creation (mdtest -w)", 0, 1e9, {}},
      {"read_bytes", ParamType::size, std::int64_t{0}, "bytes read from each file (mdtest -e)", 0, 1e9, {}},
      {"task_offset", ParamType::integer, std::int64_t{0}, "stat and read the files of the rank this far on (mdtest -N)", 0, 1e7, {}},
  };
  b.rank_metrics = {
      {"create_rate", "ops/s", Better::higher, "file creates of all ranks / phase time, median over iterations"},
      {"stat_rate", "ops/s", Better::higher, "file stats of all ranks / phase time"},
      {"read_rate", "ops/s", Better::higher, "file reads (open, read, close) of all ranks / phase time"},
      {"remove_rate", "ops/s", Better::higher, "file removals of all ranks / phase time"},
      {"tree_create_rate", "ops/s", Better::higher, "directory creates / phase time"},
      {"tree_remove_rate", "ops/s", Better::higher, "directory removals / phase time"},
      {"create_rate_rank", "ops/s", Better::higher, "this rank's creates / its own time"},
      {"stat_rate_rank", "ops/s", Better::higher, "this rank's stats / its own time"},
      {"read_rate_rank", "ops/s", Better::higher, "this rank's reads / its own time"},
      {"remove_rate_rank", "ops/s", Better::higher, "this rank's removals / its own time"},
      {"tree_create_rate_rank", "ops/s", Better::higher, "this rank's directory creates / its own time (0 if it creates none)"},
      {"tree_remove_rate_rank", "ops/s", Better::higher, "this rank's directory removals / its own time"},
      {"files", "", Better::none, "files per rank"},
      {"checked_files", "", Better::none, "files this rank stat'ed and read, all iterations"},
      {"wrong_files", "", Better::lower, "of those, missing or with a wrong type, size or content"},
  };
  for (const auto& phase : kPhases)
    b.point_metrics.push_back({fmt::format("{}_rate", phase.metric), "ops/s", Better::higher, fmt::format("{} rate of the iteration", phase.label)});
  b.point_metrics.push_back({"wrong_files", "", Better::lower, "wrong files, all ranks"});
  b.point_keys = {"iteration"};
  for (auto& m : storage::where_metrics()) b.rank_metrics.push_back(std::move(m));
  b.headline = "create_rate";
  b.smoke = {{"dir", std::filesystem::temp_directory_path().string()},
             {"files", std::int64_t{20}},
             {"write_bytes", std::int64_t{3901}},
             {"read_bytes", std::int64_t{3901}}};
  b.check = check;
  b.estimate_seconds = [](const Params& p, kernels::Backend, int ranks) {
    const double operations = 4.0 * static_cast<double>(param_int(p, "files")) * std::max(ranks, 1);
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 0.2 + runs * operations / 20000.0;  // ops/s over all ranks, rough
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
