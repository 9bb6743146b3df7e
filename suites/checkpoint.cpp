// checkpoint: writing and restoring a model state, as a training job does. Every rank writes
// its shard of a model state of a given total size (a preset with the checkpoint sizes of
// MLPerf Storage's checkpointing workload: 8B, 70B, 405B and 1T parameters with optimizer
// state, or total_bytes), one file per rank or one shared file, from host memory or from GPU
// memory through pinned buffers, then reads it back (restore), every byte checked.
//
// Measures, per iteration (MLPerf Storage's definitions):
//   checkpoint_time = the slowest rank's time from the start (a barrier) to its data being
//                     durable: written, fsync'ed and closed (a checkpoint counts only after fsync)
//   checkpoint_bw   = total bytes of all shards / checkpoint_time                        [GB/s]
//   restore_time, restore_bw: the same for reading it back (after dropping it from the page
//                     cache unless invalidate: false)
// medians over the timed iterations; the points table has one row per iteration, and each
// rank's own times are kept (checkpoint_time_rank) so that a slow client is named.
// Shards: total / ranks rounded up to 4 KiB, written in chunk-sized calls.
// Checks: a wrong, misplaced, stale or missing byte makes the step incorrect.
// Needs: a writable directory with room for the whole checkpoint (checked before anything is
// written); source: device needs the cuda backend (a GPU on every rank), otherwise the step is
// skipped as not applicable. The benchmark works in its own sub-directory and removes it.
// Runs alone:  mpirun -np 8 gpuaccept run with a campaign holding just
//   benchmarks: [{benchmark: checkpoint, params: {dir: /lustre/ckpt, preset: llama3-8b}}]
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "io/agree.hpp"
#include "io/checkpoint.hpp"
#include "io/device_shard.hpp"
#include "io/io_error.hpp"
#include "io/ior.hpp"
#include "io/workdir.hpp"
#include "results/stats.hpp"
#include "suites/registry.hpp"
#include "suites/storage_step.hpp"

namespace gpuaccept::suites {
namespace {

constexpr double kGB = 1e9;

std::uint64_t total_bytes(const Params& p) {
  if (const auto* preset = io::find_checkpoint_preset(param_text(p, "preset"))) return preset->bytes;
  return static_cast<std::uint64_t>(param_int(p, "total_bytes"));
}

io::IorConfig config_of(const Params& p, int ranks) {
  const std::uint64_t shard = io::shard_bytes(total_bytes(p), static_cast<std::uint32_t>(std::max(ranks, 1)));
  io::IorConfig c;
  c.api = *io::api_from_string(param_text(p, "api"));
  c.collective = false;
  c.layout.kind = param_text(p, "layout") == "shared" ? io::FileLayout::segmented : io::FileLayout::file_per_process;
  c.layout.block = shard;
  c.layout.transfer = std::min<std::uint64_t>(static_cast<std::uint64_t>(param_int(p, "chunk")), shard);
  c.layout.segments = 1;
  c.layout.ranks = static_cast<std::uint32_t>(std::max(ranks, 1));
  c.layout.seed = static_cast<std::uint64_t>(param_int(p, kSeedParam));
  c.direct = param_bool(p, "direct");
  c.fsync = true;
  c.invalidate = param_bool(p, "invalidate");
  c.read = true;
  c.file_prefix = "checkpoint";
  return c;
}

RankOutcome run(const RunContext& ctx) {
  const io::IorConfig cfg = config_of(ctx.params, ctx.size);
  const bool from_device = param_text(ctx.params, "source") == "device";
  const io::Pattern pattern(ctx.seed);
  const auto rank = static_cast<std::uint32_t>(ctx.rank);
  const std::uint64_t shard = cfg.layout.block;
  const io::WorkDir::Need need{static_cast<double>(shard),
                               (!cfg.layout.shared() || ctx.rank == 0 ? 1.0 : 0.0) + (ctx.rank == 0 ? 1.0 : 0.0)};

  // Declared before the work directory, whose cleanup uses them.
  std::optional<io::DeviceShard> device_shard;
  std::optional<io::IorRun> checkpoint;
  std::vector<io::IterationOutcome> timed;
  std::string warning;
  const collectives::Group node = storage::node_group(ctx);
  storage::Where where;
  try {
    io::WorkDir work(ctx.group, node, param_text(ctx.params, "dir"), "checkpoint", need);
    where = storage::where_of(work);
    io::DataHooks hooks;
    if (from_device) {
      // The shard lives in GPU memory; writes copy it out chunk by chunk through pinned
      // buffers, restores copy it back in (io/staging.hpp overlaps the copies with the I/O).
      std::string error;
      try {
        device_shard.emplace(ctx.device, shard);
      } catch (const std::exception& e) {
        error = e.what();
      }
      io::agree(ctx.group, error);
      const std::uint64_t chunk = cfg.layout.transfer;
      hooks.allocate_slots = [&](std::size_t count, std::size_t bytes) { return device_shard->pinned_slots(count, bytes); };
      hooks.produce = [&, chunk](std::uint64_t i, std::uint64_t, std::span<std::byte> data) {
        device_shard->download(i * chunk, data);
      };
      hooks.consume = [&, chunk](std::uint64_t i, std::uint64_t, std::span<const std::byte> data) {
        device_shard->upload(i * chunk, data);
      };
    }
    checkpoint.emplace(ctx.group, cfg, work.path(), pattern, std::move(hooks));
    work.on_cleanup([&] { checkpoint->remove_files(); });
    const int total = ctx.timing.warmup + ctx.timing.iterations;
    for (int i = 0; i < total; ++i) {
      const auto generation = static_cast<std::uint32_t>(i);
      if (device_shard) {
        // The model state of this iteration, in GPU memory before the clock starts.
        const auto sequence = cfg.layout.sequence(rank);
        io::AlignedBuffer staging(static_cast<std::size_t>(cfg.layout.transfer));
        const io::DataTag tag{cfg.layout.file_of(rank), rank, generation};
        for (std::uint64_t t = 0; t < sequence.size(); ++t) {
          const auto data = staging.span().first(sequence.bytes(t));
          pattern.fill(data, tag, sequence.offset(t));
          device_shard->upload(t * cfg.layout.transfer, data);
        }
      }
      auto it = checkpoint->iteration(generation);
      if (i >= ctx.timing.warmup) timed.push_back(std::move(it));
    }
    warning = work.close();
  } catch (const io::StepFailure& f) {
    return storage::failed(f);
  }

  RankOutcome out;
  storage::record(out, where);
  std::vector<double> write_time, write_bw, read_time, read_bw, write_rank, read_rank, wrong;
  io::VerifyResult checked;
  for (const auto& it : timed) {
    write_time.push_back(it.write.all.slowest_seconds);
    write_bw.push_back(io::per_second(it.write.all.amount, it.write.all.slowest_seconds) / kGB);
    write_rank.push_back(it.write.mine.seconds());
    read_time.push_back(it.read->all.slowest_seconds);
    read_bw.push_back(io::per_second(it.read->all.amount, it.read->all.slowest_seconds) / kGB);
    read_rank.push_back(it.read->mine.seconds());
    checked.merge(it.read->verify);
    wrong.push_back(static_cast<double>(it.read->verify.wrong_bytes));
    out.iteration_seconds.push_back(it.write.mine.seconds());
  }
  ctx.group.allreduce_sum(std::span<double>(wrong));
  out.metrics["checkpoint_time"] = storage::median_of(write_time);
  out.metrics["checkpoint_bw"] = storage::median_of(write_bw);
  out.metrics["restore_time"] = storage::median_of(read_time);
  out.metrics["restore_bw"] = storage::median_of(read_bw);
  out.metrics["checkpoint_time_rank"] = storage::median_of(write_rank);
  out.metrics["restore_time_rank"] = storage::median_of(read_rank);
  out.metrics["shard_bytes"] = static_cast<double>(shard);
  out.metrics["checkpoint_bytes"] = timed.empty() ? NAN : timed.front().write.all.amount;
  out.metrics["checked_bytes"] = static_cast<double>(checked.checked_bytes);
  out.metrics["wrong_bytes"] = static_cast<double>(checked.wrong_bytes);
  if (!checked.ok()) {
    out.status = Status::incorrect;
    out.message = fmt::format("restore read back {} wrong bytes of {} ({} blocks of 4 KiB); first at {}", checked.wrong_bytes,
                              checked.checked_bytes, checked.wrong_blocks, checked.first_wrong);
  } else if (!warning.empty()) {
    out.message = warning;
  }
  Table& t = out.points;
  for (std::size_t i = 0; i < timed.size(); ++i) {
    t.column("iteration", "", true).values.push_back(static_cast<double>(i));
    t.column("checkpoint_time", "s", false, Better::lower).values.push_back(write_time[i]);
    t.column("checkpoint_bw", "GB/s", false, Better::higher).values.push_back(write_bw[i]);
    t.column("restore_time", "s", false, Better::lower).values.push_back(read_time[i]);
    t.column("restore_bw", "GB/s", false, Better::higher).values.push_back(read_bw[i]);
    t.column("wrong_bytes", "B", true, Better::lower).values.push_back(wrong[i]);
  }
  if (ctx.rank == 0) {
    const auto& preset = param_text(ctx.params, "preset");
    std::string log = fmt::format("# checkpoint of {} ({}) from {} memory: {} ranks x {} shards, {}, {}, chunk {}{}, fsync\n",
                                  io::format_bytes(static_cast<double>(total_bytes(ctx.params))), preset,
                                  from_device ? "GPU" : "host", ctx.size, io::format_bytes(static_cast<double>(shard)),
                                  cfg.layout.shared() ? "one shared file" : "one file per rank", io::to_string(cfg.api),
                                  io::format_bytes(static_cast<double>(cfg.layout.transfer)), cfg.direct ? ", O_DIRECT" : "");
    log += fmt::format("{:>9}{:>16}{:>10}{:>14}{:>10}\n", "iteration", "checkpoint(s)", "GB/s", "restore(s)", "GB/s");
    for (std::size_t i = 0; i < timed.size(); ++i)
      log += fmt::format("{:>9}{:>16.4f}{:>10.3f}{:>14.4f}{:>10.3f}\n", i, write_time[i], write_bw[i], read_time[i], read_bw[i]);
    out.log = std::move(log);
  }
  return out;
}

std::string check(const Params& p) {
  if (auto missing = storage::check_dir(p); !missing.empty()) return missing;
  if (param_bool(p, "direct") && param_int(p, "chunk") % 4096 != 0)
    return fmt::format("with direct (O_DIRECT), chunk ({}) must be a multiple of 4096 bytes", param_int(p, "chunk"));
  if (param_bool(p, "direct") && param_text(p, "api") != "posix") return "direct (O_DIRECT) is for api: posix";
  if (param_text(p, "api") == "mpiio" && param_text(p, "layout") != "shared")
    return "api: mpiio is for the shared file (layout: shared); file_per_rank runs through api: posix";
  if (param_text(p, "api") == "mpiio" && param_int(p, "chunk") > 2147483647)
    return fmt::format("chunk ({}) is larger than an MPI-IO call can move (2 GiB - 1)", param_int(p, "chunk"));
  return {};
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "checkpoint";
  // Real data on shared storage: one timed iteration and no warm-up by default, one checkpoint written and restored.
  b.default_warmup = 0;
  b.default_iterations = 1;
  b.summary = "checkpoint write (fsync'ed) and restore of a model state, MLPerf Storage sizes, every byte restored checked";
  std::vector<std::string> presets{"custom"};
  for (const auto& preset : io::checkpoint_presets()) presets.emplace_back(preset.name);
  b.params = {
      storage::dir_param(),
      {"preset", ParamType::text, std::string("custom"), "model state size as MLPerf Storage checkpoints it (105 GB, 912 GB, 5.29 TB, 18 TB), or custom: total_bytes", {}, {}, presets},
      {"total_bytes", ParamType::size, std::int64_t{1} << 30, "bytes of the whole model state (preset: custom)", 1, 1e16, {}},
      {"layout", ParamType::text, std::string("file_per_rank"), "one file per rank, or one shared file", {}, {}, {"file_per_rank", "shared"}},
      {"api", ParamType::text, std::string("posix"), "I/O interface", {}, {}, {"posix", "mpiio"}},
      {"chunk", ParamType::size, std::int64_t{64} << 20, "bytes per write or read call", 1, 1e12, {}},
      {"source", ParamType::text, std::string("host"), "where the model state lives: host memory, or GPU memory (cuda backend)", {}, {}, {"host", "device"}},
      {"direct", ParamType::boolean, false, "O_DIRECT, bypassing the page cache", {}, {}, {}},
      {"invalidate", ParamType::boolean, true, "drop the checkpoint from the page cache before restoring it (untimed)", {}, {}, {}},
  };
  b.rank_metrics = {
      {"checkpoint_time", "s", Better::lower, "slowest rank's write + fsync + close time, median over iterations"},
      {"checkpoint_bw", "GB/s", Better::higher, "checkpoint bytes / checkpoint_time"},
      {"restore_time", "s", Better::lower, "slowest rank's read time, median"},
      {"restore_bw", "GB/s", Better::higher, "checkpoint bytes / restore_time"},
      {"checkpoint_time_rank", "s", Better::lower, "this rank's own checkpoint time, median"},
      {"restore_time_rank", "s", Better::lower, "this rank's own restore time, median"},
      {"shard_bytes", "B", Better::none, "bytes of this rank's shard"},
      {"checkpoint_bytes", "B", Better::none, "bytes of all shards"},
      {"checked_bytes", "B", Better::none, "bytes this rank restored and checked, all iterations"},
      {"wrong_bytes", "B", Better::lower, "of those, bytes that differed from what was written (or were missing)"},
  };
  b.point_metrics = {
      {"checkpoint_time", "s", Better::lower, "checkpoint time of the iteration"},
      {"checkpoint_bw", "GB/s", Better::higher, "checkpoint bandwidth of the iteration"},
      {"restore_time", "s", Better::lower, "restore time of the iteration"},
      {"restore_bw", "GB/s", Better::higher, "restore bandwidth of the iteration"},
      {"wrong_bytes", "B", Better::lower, "wrong bytes, all ranks"},
  };
  b.point_keys = {"iteration"};
  for (auto& m : storage::where_metrics()) b.rank_metrics.push_back(std::move(m));
  b.headline = "checkpoint_bw";
  b.smoke = {{"dir", std::filesystem::temp_directory_path().string()},
             {"total_bytes", std::int64_t{1} << 20},
             {"chunk", std::int64_t{256} << 10}};
  b.applicable = [](const Params& p, kernels::Backend backend) -> std::string {
    if (param_text(p, "source") != "device") return {};
    if (!io::device_shard_compiled())
      return "source: device checkpoints from GPU memory, and this build has no CUDA backend";
    if (backend != kernels::Backend::cuda)
      return "source: device checkpoints from GPU memory and needs the cuda backend (a GPU visible to every rank); "
             "this run uses the cpu backend";
    return {};
  };
  b.check = check;
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) {
    const double bytes = static_cast<double>(total_bytes(p));
    const double runs = static_cast<double>(param_int(p, kWarmupParam) + param_int(p, kIterationsParam));
    return 0.2 + runs * 2.0 * bytes / 1e9;  // write and read at about 1 GB/s over all ranks, rough
  };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
