// ior: storage bandwidth as IOR measures it. Every rank writes its part of a file per process
// (N-N) or of one shared file (N-1, segmented or strided), through POSIX or MPI-IO (independent
// or collective), fsyncs, then reads it back (optionally what another rank wrote: reorder), and
// every byte read is checked against a pattern of file, rank and offset (io/pattern.hpp).
//
// Measures, per iteration and phase (write, read), from the barrier that starts the phase:
//   bandwidth  = total bytes of all ranks / (last end - first start)      -> write_bw, read_bw [GB/s]
//   rank bandwidth = the rank's bytes / its own time                      -> write_bw_rank (names a slow client)
// rank metrics are medians over the timed iterations; the points table has one row per
// iteration. With stonewall: S, ranks stop issuing transfers after S seconds, then (wearout)
// every rank writes as many transfers as the fastest did, as IO500 does; the bytes moved are
// reported. Checks: a wrong, misplaced, stale or missing byte makes the step incorrect, and the
// message says which file, offset and rank, and what the block holds instead.
// Needs: a writable directory with room for the files (checked before anything is written);
// the benchmark works in its own sub-directory there and removes it, also after a failure.
// Runs alone:  mpirun -np 4 gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: ior, params: {dir: /lustre/scratch, layout: segmented, transfer_size: 1M, block_size: 1G}}]
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "io/agree.hpp"
#include "io/io_error.hpp"
#include "io/ior.hpp"
#include "io/workdir.hpp"
#include "results/stats.hpp"
#include "suites/registry.hpp"
#include "suites/storage_step.hpp"

namespace gpuaccept::suites {
namespace {

constexpr double kGB = 1e9;

io::IorConfig config_of(const Params& p, int ranks, int ranks_per_node) {
  io::IorConfig c;
  c.api = *io::api_from_string(param_text(p, "api"));
  c.collective = param_bool(p, "collective");
  c.layout.kind = *io::file_layout_from_string(param_text(p, "layout"));
  c.layout.transfer = static_cast<std::uint64_t>(param_int(p, "transfer_size"));
  c.layout.block = static_cast<std::uint64_t>(param_int(p, "block_size"));
  c.layout.segments = static_cast<std::uint64_t>(param_int(p, "segments"));
  c.layout.order = *io::access_order_from_string(param_text(p, "order"));
  c.layout.seed = static_cast<std::uint64_t>(param_int(p, kSeedParam));
  c.layout.ranks = static_cast<std::uint32_t>(std::max(ranks, 1));
  c.direct = param_bool(p, "direct");
  c.fsync = param_bool(p, "fsync");
  c.invalidate = param_bool(p, "invalidate");
  c.stonewall_seconds = param_real(p, "stonewall");
  c.wearout = param_bool(p, "wearout");
  c.read = param_bool(p, "read");
  if (param_bool(p, "reorder")) {
    const auto offset = param_int(p, "reorder_offset");
    c.read_shift = static_cast<std::uint32_t>((offset == 0 ? ranks_per_node : offset) % std::max(ranks, 1));
  }
  return c;
}

RankOutcome run(const RunContext& ctx) {
  const io::IorConfig cfg = config_of(ctx.params, ctx.size, ctx.local_size);
  const io::Pattern pattern(ctx.seed);
  // This rank's share on the file system at once: one iteration's files.
  const bool owns_file = !cfg.layout.shared() || ctx.rank == 0;
  const io::WorkDir::Need need{static_cast<double>(cfg.layout.bytes_per_rank()),
                               (owns_file ? 1.0 : 0.0) + (ctx.rank == 0 ? 1.0 : 0.0)};
  std::optional<io::IorRun> ior;  // declared first: the work directory's cleanup uses it
  RankOutcome out;
  std::vector<io::IterationOutcome> timed;
  std::string warning;
  const collectives::Group node = storage::node_group(ctx);
  storage::Where where;
  try {
    io::WorkDir work(ctx.group, node, param_text(ctx.params, "dir"), "ior", need);
    where = storage::where_of(work);
    if (cfg.read && cfg.read_shift != 0)
      storage::require_peer_on_this_node(ctx, node, where, static_cast<int>((ctx.rank + cfg.read_shift) % ctx.size),
                                         fmt::format("reorder (reads shifted by {} ranks)", cfg.read_shift));
    ior.emplace(ctx.group, cfg, work.path(), pattern);
    work.on_cleanup([&] { ior->remove_files(); });
    const int total = ctx.timing.warmup + ctx.timing.iterations;
    for (int i = 0; i < total; ++i) {
      auto it = ior->iteration(static_cast<std::uint32_t>(i));
      if (i >= ctx.timing.warmup) timed.push_back(std::move(it));
    }
    warning = work.close();
  } catch (const io::StepFailure& f) {
    return storage::failed(f);
  }
  storage::record(out, where);

  std::vector<double> write_bw, read_bw, write_bw_rank, read_bw_rank, write_time, read_time, write_bytes, read_bytes;
  io::VerifyResult checked;
  std::vector<double> wrong_per_iteration;
  for (const auto& it : timed) {
    write_bw.push_back(io::aggregate_rate(it.write.all) / kGB);
    write_bw_rank.push_back(io::rank_rate(it.write.mine) / kGB);
    write_time.push_back(it.write.all.seconds());
    write_bytes.push_back(it.write.mine.amount);
    out.iteration_seconds.push_back(it.write.mine.seconds());
    if (it.read) {
      read_bw.push_back(io::aggregate_rate(it.read->all) / kGB);
      read_bw_rank.push_back(io::rank_rate(it.read->mine) / kGB);
      read_time.push_back(it.read->all.seconds());
      read_bytes.push_back(it.read->mine.amount);
      checked.merge(it.read->verify);
      wrong_per_iteration.push_back(static_cast<double>(it.read->verify.wrong_bytes));
    } else {
      wrong_per_iteration.push_back(0);
    }
  }
  // Wrong bytes over all ranks, per iteration, for the points table.
  ctx.group.allreduce_sum(std::span<double>(wrong_per_iteration));

  out.metrics["write_bw"] = storage::median_of(write_bw);
  out.metrics["read_bw"] = storage::median_of(read_bw);
  out.metrics["write_bw_rank"] = storage::median_of(write_bw_rank);
  out.metrics["read_bw_rank"] = storage::median_of(read_bw_rank);
  out.metrics["write_time"] = storage::median_of(write_time);
  out.metrics["read_time"] = storage::median_of(read_time);
  out.metrics["write_bytes"] = write_bytes.empty() ? NAN : stats::mean(write_bytes);
  out.metrics["read_bytes"] = read_bytes.empty() ? NAN : stats::mean(read_bytes);
  out.metrics["checked_bytes"] = static_cast<double>(checked.checked_bytes);
  out.metrics["wrong_bytes"] = static_cast<double>(checked.wrong_bytes);
  if (!checked.ok()) {
    out.status = Status::incorrect;
    out.message = fmt::format("{} of {} bytes read back were wrong ({} blocks of 4 KiB); first at {}", checked.wrong_bytes,
                              checked.checked_bytes, checked.wrong_blocks, checked.first_wrong);
  } else if (!warning.empty()) {
    out.message = warning;
  }

  Table& t = out.points;
  for (std::size_t i = 0; i < timed.size(); ++i) {
    const auto& it = timed[i];
    t.column("iteration", "", true).values.push_back(static_cast<double>(i));
    t.column("write_bw", "GB/s", false, Better::higher).values.push_back(write_bw[i]);
    t.column("write_time", "s", false, Better::lower).values.push_back(write_time[i]);
    t.column("write_bytes", "B", true).values.push_back(it.write.all.amount);
    t.column("read_bw", "GB/s", false, Better::higher).values.push_back(it.read ? read_bw[i] : NAN);
    t.column("read_time", "s", false, Better::lower).values.push_back(it.read ? read_time[i] : NAN);
    t.column("read_bytes", "B", true).values.push_back(it.read ? it.read->all.amount : 0);
    t.column("stonewall_transfers", "", true).values.push_back(static_cast<double>(it.stonewall_transfers));
    t.column("wrong_bytes", "B", true, Better::lower).values.push_back(wrong_per_iteration[i]);
  }
  if (ctx.rank == 0) {
    const auto& l = cfg.layout;
    std::string log = fmt::format(
        "# {} ranks, {}{}, {}, {}, transfer {}, block {}, segments {}{}{}{}; {} file(s) of {}\n", ctx.size,
        io::to_string(cfg.api), cfg.api == io::Api::mpiio ? (cfg.collective ? " collective" : " independent") : "",
        io::to_string(l.kind), io::to_string(l.order), io::format_bytes(static_cast<double>(l.transfer)),
        io::format_bytes(static_cast<double>(l.block)), l.segments, cfg.direct ? ", O_DIRECT" : "",
        cfg.fsync ? ", fsync" : "", cfg.read_shift ? fmt::format(", reads shifted by {} ranks", cfg.read_shift) : "",
        l.files(), io::format_bytes(static_cast<double>(l.file_bytes())));
    log += fmt::format("{:<7}{:>12}{:>10}{:>11}{:>16}{:>6}\n", "access", "bw(MiB/s)", "bw(GB/s)", "time(s)", "bytes", "iter");
    for (std::size_t i = 0; i < timed.size(); ++i) {
      const auto row = [&](const char* access, const io::PhaseOutcome& ph) {
        const double bw = io::aggregate_rate(ph.all);
        log += fmt::format("{:<7}{:>12.1f}{:>10.3f}{:>11.4f}{:>16.0f}{:>6}\n", access, bw / (1024.0 * 1024.0), bw / kGB,
                           ph.all.seconds(), ph.all.amount, i);
      };
      row("write", timed[i].write);
      if (timed[i].read) row("read", *timed[i].read);
    }
    out.log = std::move(log);
  }
  return out;
}

std::string check(const Params& p) {
  const auto transfer = param_int(p, "transfer_size"), block = param_int(p, "block_size");
  const auto& api = param_text(p, "api");
  const auto& layout = param_text(p, "layout");
  if (auto missing = storage::check_dir(p); !missing.empty()) return missing;
  if (block % transfer != 0)
    return fmt::format("block_size ({}) must be a multiple of transfer_size ({}), as in IOR", block, transfer);
  if (param_bool(p, "direct") && api != "posix")
    return "direct (O_DIRECT) is for api: posix; MPI-IO has no portable O_DIRECT";
  if (param_bool(p, "direct") && transfer % 512 != 0)
    return fmt::format("with direct (O_DIRECT), transfer_size ({}) must be a multiple of the device block size (512 or 4096 bytes)", transfer);
  if (param_bool(p, "collective") && api != "mpiio") return "collective I/O needs api: mpiio";
  if (api == "mpiio" && layout == "file_per_process")
    return "api: mpiio is for the shared file (layout: segmented or strided); file_per_process runs through api: posix";
  if (api == "mpiio" && transfer > 2147483647)
    return fmt::format("transfer_size ({}) is larger than an MPI-IO call can move (2 GiB - 1)", transfer);
  if (param_real(p, "stonewall") > 0 && param_bool(p, "collective"))
    return "stonewall needs independent I/O: every rank must make the same collective calls, so none can stop early";
  return {};
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "ior";
  // Real data on shared storage: one timed iteration and no warm-up by default, as IOR (-i 1).
  b.default_warmup = 0;
  b.default_iterations = 1;
  b.summary = "IOR-style storage bandwidth: N-N or N-1 (segmented, strided), POSIX or MPI-IO, every byte read back and checked";
  b.params = {
      storage::dir_param(),
      {"api", ParamType::text, std::string("posix"), "I/O interface (IOR -a)", {}, {}, {"posix", "mpiio"}},
      {"layout", ParamType::text, std::string("file_per_process"), "file per process (IOR -F) or one shared file, segmented or strided", {}, {}, {"file_per_process", "segmented", "strided"}},
      {"transfer_size", ParamType::size, std::int64_t{1} << 20, "bytes per I/O call (IOR -t)", 1, 1e13, {}},
      {"block_size", ParamType::size, std::int64_t{16} << 20, "contiguous bytes per rank per segment (IOR -b)", 1, 1e16, {}},
      {"segments", ParamType::integer, std::int64_t{1}, "segments (IOR -s)", 1, 1e9, {}},
      {"order", ParamType::text, std::string("sequential"), "transfer order within a rank (random: IOR -z)", {}, {}, {"sequential", "random"}},
      {"direct", ParamType::boolean, false, "O_DIRECT, bypassing the page cache (IOR -B)", {}, {}, {}},
      {"fsync", ParamType::boolean, true, "fsync at the end of the write phase, timed (IOR -e)", {}, {}, {}},
      {"collective", ParamType::boolean, false, "MPI-IO collective calls (IOR -c)", {}, {}, {}},
      {"stonewall", ParamType::real, 0.0, "seconds after which ranks stop writing (IOR -D); 0: off", 0, 1e6, {}},
      {"wearout", ParamType::boolean, true, "after stonewalling, every rank writes as much as the fastest did (IO500)", {}, {}, {}},
      {"reorder", ParamType::boolean, false, "read what another rank wrote (IOR -C)", {}, {}, {}},
      {"reorder_offset", ParamType::integer, std::int64_t{0}, "ranks to shift reads by (IOR -Q); 0: the ranks per node, i.e. the next node", 0, 1e7, {}},
      {"invalidate", ParamType::boolean, false, "drop the files from the page cache before reading (untimed; as fio's invalidate)", {}, {}, {}},
      {"read", ParamType::boolean, true, "read back and check after writing (IOR -r)", {}, {}, {}},
  };
  b.rank_metrics = {
      {"write_bw", "GB/s", Better::higher, "all ranks' bytes / (last end - first start), median over iterations"},
      {"read_bw", "GB/s", Better::higher, "all ranks' bytes / (last end - first start), median over iterations"},
      {"write_bw_rank", "GB/s", Better::higher, "this rank's bytes / its own write time, median"},
      {"read_bw_rank", "GB/s", Better::higher, "this rank's bytes / its own read time, median"},
      {"write_time", "s", Better::lower, "write phase, last end - first start, median"},
      {"read_time", "s", Better::lower, "read phase, last end - first start, median"},
      {"write_bytes", "B", Better::none, "bytes this rank wrote per iteration (mean; less with stonewalling)"},
      {"read_bytes", "B", Better::none, "bytes this rank read per iteration (mean)"},
      {"checked_bytes", "B", Better::none, "bytes this rank read and checked, all iterations"},
      {"wrong_bytes", "B", Better::lower, "of those, bytes that differed from the pattern (or were missing)"},
  };
  b.point_metrics = {
      {"write_bw", "GB/s", Better::higher, "aggregate write bandwidth of the iteration"},
      {"write_time", "s", Better::lower, "write phase time of the iteration"},
      {"write_bytes", "B", Better::none, "bytes all ranks wrote"},
      {"read_bw", "GB/s", Better::higher, "aggregate read bandwidth of the iteration"},
      {"read_time", "s", Better::lower, "read phase time of the iteration"},
      {"read_bytes", "B", Better::none, "bytes all ranks read"},
      {"stonewall_transfers", "", Better::none, "transfers per rank when stonewalling ended the phase (0: off)"},
      {"wrong_bytes", "B", Better::lower, "wrong bytes, all ranks"},
  };
  b.point_keys = {"iteration"};
  for (auto& m : storage::where_metrics()) b.rank_metrics.push_back(std::move(m));
  b.headline = "write_bw";
  b.smoke = {{"dir", std::filesystem::temp_directory_path().string()},
             {"transfer_size", std::int64_t{64} << 10},
             {"block_size", std::int64_t{256} << 10},
             {"segments", std::int64_t{2}}};
  b.check = check;
  b.estimate_seconds = [](const Params& p, kernels::Backend, int ranks) {
    const double bytes = static_cast<double>(param_int(p, "block_size")) * static_cast<double>(param_int(p, "segments")) *
                         std::max(ranks, 1);
    const double rate = 1e9;  // bytes/s over all ranks, rough
    const double phase = bytes / rate;
    const double write = param_real(p, "stonewall") > 0 ? std::min(phase, param_real(p, "stonewall") * 1.5) : phase;
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 0.2 + runs * (write + (param_bool(p, "read") ? write : 0.0) + 0.05);
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
