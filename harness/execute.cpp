#include "harness/execute.hpp"

#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "collectives/arrivals.hpp"
#include "collectives/group.hpp"
#include "harness/campaign.hpp"
#include "harness/plan.hpp"
#include "harness/version.hpp"
#include "harness/watchdog.hpp"
#include "io/workdir.hpp"
#include "kernels/backend.hpp"
#include "results/contract.hpp"
#include "results/evaluate.hpp"
#include "results/stats.hpp"
#include "results/store.hpp"

extern char** environ;

namespace gpuaccept::harness {

namespace {

using collectives::Group;
using kernels::Backend;

constexpr int kRoot = 0;
constexpr std::size_t kHostBytes = 128, kDeviceBytes = 128, kUuidBytes = 64, kMessageBytes = 512;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char host[kHostBytes] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

// Copies text into a fixed-size field (truncating), and back.
void put_text(std::byte* field, std::size_t size, const std::string& text) {
  std::memset(field, 0, size);
  std::memcpy(field, text.data(), std::min(text.size(), size - 1));
}
std::string get_text(const std::byte* field, std::size_t size) {
  const char* p = reinterpret_cast<const char*>(field);
  return std::string(p, strnlen(p, size));
}

// Who every rank is, gathered once to the writer rank.
std::vector<RankInfo> gather_ranks(const Group& world, int local_rank, const kernels::DeviceInfo& device) {
  const std::size_t record = 4 + kHostBytes + kDeviceBytes + kUuidBytes;
  std::vector<std::byte> mine(record);
  const std::int32_t lr = local_rank;
  std::memcpy(mine.data(), &lr, 4);
  put_text(mine.data() + 4, kHostBytes, hostname());
  put_text(mine.data() + 4 + kHostBytes, kDeviceBytes, device.name);
  put_text(mine.data() + 4 + kHostBytes + kDeviceBytes, kUuidBytes, device.uuid);
  const auto all = world.gather(mine, kRoot);
  std::vector<RankInfo> ranks;
  for (std::size_t r = 0; r * record < all.size(); ++r) {
    const std::byte* p = all.data() + r * record;
    RankInfo info;
    info.rank = static_cast<std::int32_t>(r);
    std::memcpy(&info.local_rank, p, 4);
    info.host = get_text(p + 4, kHostBytes);
    info.device = get_text(p + 4 + kHostBytes, kDeviceBytes);
    info.uuid = get_text(p + 4 + kHostBytes + kDeviceBytes, kUuidBytes);
    ranks.push_back(std::move(info));
  }
  return ranks;
}

// One rank's outcome of a step as a fixed-size record: status, declared metrics, timed
// iterations, message. Fixed size keeps the gather a single MPI_Gather at any scale.
struct RecordLayout {
  std::size_t metrics;
  std::size_t iterations;
  std::size_t bytes() const { return 8 + 8 * metrics + 8 * iterations + kMessageBytes; }
};

std::vector<std::byte> pack(const RecordLayout& layout, const suites::BenchmarkDef& def,
                            const suites::RankOutcome& out) {
  std::vector<std::byte> record(layout.bytes());
  const auto status = static_cast<std::int32_t>(out.status);
  std::memcpy(record.data(), &status, 4);
  std::byte* p = record.data() + 8;
  for (const auto& m : def.rank_metrics) {
    auto it = out.metrics.find(m.name);
    const double v = it == out.metrics.end() ? NAN : it->second;
    std::memcpy(p, &v, 8);
    p += 8;
  }
  for (std::size_t i = 0; i < layout.iterations; ++i) {
    const double v = i < out.iteration_seconds.size() ? out.iteration_seconds[i] : NAN;
    std::memcpy(p, &v, 8);
    p += 8;
  }
  put_text(p, kMessageBytes, out.message);
  return record;
}

// The parameters that tell steps apart on a progress line: those whose value differs from the
// benchmark's default or varies among the campaign's steps of that benchmark (so that a sweep
// over dtype shows dtype=fp64 too). Everything else is the benchmark's default, shown in full
// by `plan` and `show`; with 15 parameters per collective step the full list buried the figure.
class ProgressParams {
 public:
  ProgressParams(const std::vector<Step>& steps, const suites::Registry& registry) {
    std::map<std::string, std::map<std::string, std::string>, std::less<>> first;  // benchmark -> param -> value
    for (const Step& step : steps) {
      auto& seen = first[step.benchmark];
      for (const auto& [name, value] : step.params) {
        const std::string text = format_value(value);
        const auto [it, added] = seen.emplace(name, text);
        if (!added && it->second != text) shown_[step.benchmark].insert(name);
      }
      if (const auto* def = registry.find(step.benchmark))
        for (const auto& spec : def->params)
          if (const auto it = step.params.find(spec.name);
              it != step.params.end() && format_value(it->second) != format_value(spec.default_value))
            shown_[step.benchmark].insert(spec.name);
    }
  }
  std::string operator()(const Step& step) const {
    const auto names = shown_.find(step.benchmark);
    Params shown;
    if (names != shown_.end())
      for (const auto& [name, value] : step.params)
        if (names->second.count(name)) shown.emplace(name, value);
    return format_params(shown);
  }

 private:
  std::map<std::string, std::set<std::string>, std::less<>> shown_;
};

std::string status_word(Status s) {
  std::string w(to_string(s));
  for (auto& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return w;
}

// Builds the StepResult on the writer rank from the gathered records and rank 0's outcome.
StepResult assemble(const Step& step, const suites::BenchmarkDef& def, Backend backend,
                    const RecordLayout& layout, const std::vector<std::byte>& records,
                    suites::RankOutcome&& root, const std::vector<RankInfo>& ranks, double start, double end) {
  StepResult r;
  r.id = step.id;
  r.benchmark = step.benchmark;
  r.params = step.params;
  r.backend = std::string(kernels::to_string(backend));
  r.repetition = step.repetition;
  r.start_time = start;
  r.end_time = end;
  const std::size_t n = records.size() / layout.bytes();
  r.per_rank.column("rank", "", true);
  r.per_rank.column("status", "", true);
  for (const auto& m : def.rank_metrics) r.per_rank.column(m.name, m.unit, false, m.better);
  // References only once every column exists (adding one may move the others).
  auto& rank_col = r.per_rank.columns[0];
  auto& status_col = r.per_rank.columns[1];
  Samples iterations{"iteration_time", "s", "rank", "iteration", n, layout.iterations, {}};
  Status overall = Status::ok;
  std::string first_reason;
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* p = records.data() + i * layout.bytes();
    std::int32_t code = 0;
    std::memcpy(&code, p, 4);
    const auto status = static_cast<Status>(code);
    r.ranks.push_back(static_cast<std::int32_t>(i));
    rank_col.values.push_back(static_cast<double>(i));
    status_col.values.push_back(code);
    const std::byte* q = p + 8;
    for (std::size_t m = 0; m < layout.metrics; ++m, q += 8) {
      double v = 0;
      std::memcpy(&v, q, 8);
      r.per_rank.columns[2 + m].values.push_back(v);
    }
    for (std::size_t it = 0; it < layout.iterations; ++it, q += 8) {
      double v = 0;
      std::memcpy(&v, q, 8);
      iterations.values.push_back(v);
    }
    std::string message = get_text(q, kMessageBytes);
    if (status != Status::ok && first_reason.empty()) {
      const RankInfo* who = i < ranks.size() ? &ranks[i] : nullptr;
      first_reason = fmt::format("rank {} (host {}{}{}): {}", i, who ? who->host : "?",
                                 who && !who->uuid.empty() ? ", " : "", who ? who->uuid : "", message);
    }
    overall = worse(overall, status);
    r.rank_messages.push_back(std::move(message));
  }
  r.status = overall;
  if (overall != Status::ok) {
    std::size_t bad = 0;
    for (double c : status_col.values) bad += c != 0;
    r.reason = bad > 1 ? fmt::format("{} ({} of {} ranks not ok)", first_reason, bad, n) : first_reason;
  }
  r.points = std::move(root.points);
  r.output = std::move(root.output);
  if (layout.iterations > 0) r.samples.push_back(std::move(iterations));
  for (auto& s : root.samples) r.samples.push_back(std::move(s));
  return r;
}

std::string timestamp_for_file(double t) {
  const std::time_t secs = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Rank 0 decides; every rank learns the decision (an int) and the text to print.
struct Decision {
  int code = 0;
  std::string message;
};
Decision share(const Group& world, Decision d) {
  std::int32_t code = d.code;
  world.broadcast(std::as_writable_bytes(std::span(&code, 1)), kRoot);
  world.broadcast(d.message, kRoot);
  return Decision{code, d.message};
}

// Shares rank 0's decision and prints a failure once. Returns its exit status, 0 to go on.
int settle(const Group& world, Decision& d) {
  d = share(world, d);
  if (d.code != 0 && world.rank() == kRoot) std::cerr << d.message << '\n';
  return d.code;
}

// Colour only on a terminal the user is looking at. Launchers (Open MPI's I/O forwarding,
// srun --pty) give ranks a pseudo-terminal even when their own output goes to a file or a
// pipe, so under a launcher there is no colour; NO_COLOR turns it off everywhere.
bool colour_wanted() {
  for (const char* var : {"NO_COLOR", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (std::getenv(var)) return false;
  return isatty(STDOUT_FILENO) != 0;
}

std::string join_lines(const std::set<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += id + "\n";
  return out;
}

std::set<std::string> split_lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.insert(line);
  return out;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string v(text, static_cast<std::size_t>(length));
  if (auto cut = v.find_first_of("\n,"); cut != std::string::npos) v.resize(cut);
  return v;
}

}  // namespace

std::string headline(const suites::BenchmarkDef& def, const StepResult& r) {
  if (def.headline.empty()) return {};
  if (const Column* c = r.per_rank.find(def.headline); c && !c->values.empty()) {
    return fmt::format("{} min {:.4g} median {:.4g} {}", def.headline, stats::min(c->values),
                       stats::median(c->values), c->unit);
  }
  if (const Column* c = r.points.find(def.headline); c && !c->values.empty()) {
    if (const Column* bytes = r.points.find("bytes"); bytes && !bytes->values.empty())
      return fmt::format("{} {:.4g} {} at {} B", def.headline, c->values.back(), c->unit,
                         static_cast<std::int64_t>(bytes->values.back()));
    return fmt::format("{} {:.4g} {} at the last point", def.headline, c->values.back(), c->unit);
  }
  return {};
}


std::map<std::string, std::string> sanitized_environment() {
  static const char* const prefixes[] = {"NCCL_", "OMPI_", "PMIX_", "CUDA_", "SLURM_", "UCX_", "HDF5_",
                                         "OPENBLAS_", "OMP_", "GPUACCEPT_", "NVIDIA_", "FI_"};
  static const char* const secret_words[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY"};
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    bool keep = false;
    for (const char* p : prefixes) keep = keep || name.rfind(p, 0) == 0;
    for (const char* w : secret_words) keep = keep && name.find(w) == std::string::npos;
    if (keep) env[name] = entry.substr(eq + 1);
  }
  return env;
}

int run_campaign(const RunOptions& options) {
  Group world = Group::world();
  const int rank = world.rank();
  const int size = world.size();
  const auto& registry = suites::Registry::instance();
  const bool root = rank == kRoot;

  // Rank 0 reads the files and broadcasts their text: every rank parses the very same bytes.
  std::string campaign_text, contract_text, contract_path;
  Decision read;
  if (root) {
    try {
      campaign_text = read_text_file(options.campaign_path);
    } catch (const InputError& e) {
      read = {2, fmt::format("gpuaccept: error: {}", e.what())};
    }
  }
  if (const int code = settle(world, read)) return code;
  world.broadcast(campaign_text, kRoot);

  Campaign campaign;
  Contract contract;
  Decision valid;
  try {
    campaign = load_campaign(campaign_text, options.campaign_path, registry);
    contract_path = options.contract.empty() ? campaign.contract_path : options.contract;
    if (!options.backend.empty()) campaign.backend = options.backend;
    if (root && !contract_path.empty()) {
      contract_text = read_text_file(contract_path);
      contract = load_contract(contract_text, contract_path);
      validate(contract, registry.catalog());
      // A selector that matches none of the planned steps is a typo: say so before running.
      std::vector<PlannedStep> planned;
      for (const auto& s : plan(campaign, registry, Backend::cpu, 1)) planned.push_back(PlannedStep{s.benchmark, s.params});
      check_selectors(contract, planned);
    }
  } catch (const InputError& e) {
    valid = {2, fmt::format("gpuaccept: error: {}", e.what())};
  }
  if (const int code = settle(world, valid)) return code;

  // Backend: cuda only where every rank sees a GPU.
  const Group local = world.node_local();
  const int local_rank = local.rank(), local_size = local.size();
  std::string why_no_gpu;
  const int gpus = kernels::cuda_device_count(&why_no_gpu);
  double min_gpus[1] = {static_cast<double>(gpus)};
  world.allreduce_min(min_gpus);
  Backend backend = Backend::cpu;
  if (campaign.backend == "cuda" || (campaign.backend == "auto" && min_gpus[0] > 0)) backend = Backend::cuda;
  if (backend == Backend::cuda && min_gpus[0] <= 0) {
    if (root)
      std::cerr << fmt::format("gpuaccept: error: backend cuda was asked for, but a rank sees no GPU ({})\n",
                               why_no_gpu.empty() ? "some rank has none" : why_no_gpu);
    return 2;
  }
  const int device = backend == Backend::cuda && gpus > 0 ? local_rank % gpus : -1;
  const int hw_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int cpu_threads = std::max(1, hw_threads / std::max(1, local_size));
  const auto ranks = gather_ranks(world, local_rank, kernels::describe_device(backend, device));

  const auto steps = plan(campaign, registry, backend, size);

  // The writer: create or resume, and learn which steps are already stored.
  std::optional<ResultsWriter> writer;
  std::vector<StepResult> results;  // everything the verdict judges (stored before + now)
  RunInfo info;
  std::mutex writer_mutex;
  Decision opened;
  std::string done_text;
  if (root) {
    try {
      info.schema_version = kSchemaVersion;
      info.tool_version = std::string(tool_version());
      info.git_revision = std::string(git_revision());
      info.campaign = campaign.name;
      info.system = campaign.system;
      info.phase = campaign.phase;
      info.backend = std::string(kernels::to_string(backend));
      info.start_time = now_seconds();
      info.rank_count = size;
      info.command_line = options.command_line;
      info.campaign_yaml = campaign_text;
      info.campaign_path = options.campaign_path;
      info.contract_yaml = contract_text;
      info.contract_path = contract_path;
      if (campaign.system_description) {
        info.system_yaml = campaign.system_description->text;
        info.system_path = campaign.system_description->path;
      }
      info.versions = kernels::library_versions();
      info.versions["mpi"] = mpi_library_version();
      info.versions["hdf5"] = hdf5_library_version();
      info.versions["gpuaccept"] = std::string(tool_version());
      info.environment = sanitized_environment();
      info.ranks = ranks;
      std::set<std::string> done;
      if (!options.resume.empty()) {
        ResultsFile existing;
        writer.emplace(ResultsWriter::resume(options.resume, existing));
        for (const auto& note : existing.notes) std::cerr << "gpuaccept: note: " << note << '\n';
        if (existing.run.campaign != campaign.name)
          throw InputError(fmt::format("{} holds campaign '{}', not '{}': resume it with its own campaign",
                                       options.resume, existing.run.campaign, campaign.name));
        if (existing.run.rank_count != size)
          std::cerr << fmt::format("gpuaccept: warning: {} was started with {} ranks, this run has {}\n",
                                   options.resume, existing.run.rank_count, size);
        info = existing.run;
        for (auto& s : existing.steps) {
          const bool broken = s.status == Status::error || s.status == Status::timeout;
          if (options.retry_failed && broken) continue;
          done.insert(s.id);
          results.push_back(std::move(s));
        }
      } else {
        std::string out = options.output;
        if (out.empty()) {
          std::filesystem::create_directories(campaign.output_dir);
          out = (std::filesystem::path(campaign.output_dir) /
                 fmt::format("{}-{}.h5", campaign.name, timestamp_for_file(info.start_time)))
                    .string();
        } else if (auto parent = std::filesystem::path(out).parent_path(); !parent.empty()) {
          std::filesystem::create_directories(parent);
        }
        writer.emplace(ResultsWriter::create(out, info));
      }
      done_text = join_lines(done);
      opened.message = writer->path().string();
    } catch (const InputError& e) {
      opened = {2, fmt::format("gpuaccept: error: {}", e.what())};
    } catch (const StoreError& e) {
      opened = {2, fmt::format("gpuaccept: error: {}", e.what())};
    } catch (const std::filesystem::filesystem_error& e) {
      opened = {2, fmt::format("gpuaccept: error: cannot create the results folder: {}", e.what())};
    }
  }
  if (const int code = settle(world, opened)) return code;
  world.broadcast(done_text, kRoot);
  const std::set<std::string> done = split_lines(done_text);

  if (root) {
    std::cout << fmt::format("gpuaccept {} ({}): campaign {} on {}, {} rank(s), backend {}, {} step(s){}\n",
                             tool_version(), git_revision(), campaign.name, campaign.system, size,
                             kernels::to_string(backend), steps.size(),
                             done.empty() ? "" : fmt::format(" ({} already stored)", done.size()));
    std::cout << fmt::format("results: {}\n", opened.message) << std::flush;
  }

  const ProgressParams progress_params(steps, registry);
  Watchdog watchdog;
  const std::size_t width = std::to_string(steps.size()).size();
  for (const Step& step : steps) {
    if (done.count(step.id)) continue;
    const suites::BenchmarkDef& def = *registry.find(step.benchmark);
    const double started = now_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    suites::RankOutcome outcome;
    const RecordLayout layout{def.rank_metrics.size(),
                              static_cast<std::size_t>(suites::param_int(step.params, suites::kIterationsParam))};

    const std::string not_applicable = def.applicable ? def.applicable(step.params, backend) : std::string();
    StepResult result;
    if (!not_applicable.empty()) {
      // Every rank reaches the same verdict from the same inputs: no communication needed.
      if (!root) continue;
      result.id = step.id;
      result.benchmark = step.benchmark;
      result.params = step.params;
      result.backend = std::string(kernels::to_string(backend));
      result.repetition = step.repetition;
      result.status = Status::skipped;
      result.reason = not_applicable;
      result.start_time = started;
      result.end_time = now_seconds();
    } else {
      const double timeout = suites::param_real(step.params, suites::kTimeoutParam);
      watchdog.arm(timeout, [&, started] {
        if (root) {
          std::lock_guard lock(writer_mutex);
          StepResult t;
          t.id = step.id;
          t.benchmark = step.benchmark;
          t.params = step.params;
          t.backend = std::string(kernels::to_string(backend));
          t.repetition = step.repetition;
          t.status = Status::timeout;
          t.reason = fmt::format("the step ran past its timeout of {:g} s", timeout);
          // A hung collective: which ranks had not entered it, when that can be known.
          if (const auto* board = collectives::ArrivalBoard::current())
            if (const std::string missing = board->missing_text(); !missing.empty()) t.reason += "; " + missing;
          t.start_time = started;
          t.end_time = now_seconds();
          try {
            writer->write_step(t);
          } catch (const std::exception& e) {
            std::cerr << "gpuaccept: error: could not record the timeout: " << e.what() << '\n';
          }
          std::cout << fmt::format("[{:>{}}/{}] {:<10} {}  TIMEOUT after {:g} s: stopping the run (exit 3)\n",
                                   step.index + 1, width, steps.size(), step.benchmark,
                                   progress_params(step), timeout)
                    << std::flush;
        } else {
          // Let the writer rank record the timeout before the launcher tears the job down.
          std::this_thread::sleep_for(std::chrono::seconds(5));
        }
        io::remove_work_dirs_now();  // storage steps' scratch directories: no destructor runs after _Exit
        std::_Exit(3);
      });
      suites::RunContext ctx{step.params, backend, world, rank, size, local_rank, local_size, device, cpu_threads,
                             kernels::TimingPolicy{static_cast<int>(suites::param_int(step.params, suites::kWarmupParam)),
                                                   static_cast<int>(layout.iterations)},
                             static_cast<std::uint64_t>(suites::param_int(step.params, suites::kSeedParam)),
                             campaign.system_description.get()};
      try {
        outcome = def.run(ctx);
      } catch (const std::exception& e) {
        outcome = suites::RankOutcome{};
        outcome.status = Status::error;
        outcome.message = e.what();
        std::cerr << fmt::format("gpuaccept: rank {} ({}): step {} failed: {}\n", rank, hostname(), step.id, e.what());
      }
      const auto records = world.gather(pack(layout, def, outcome), kRoot);
      watchdog.disarm();
      if (!root) continue;
      result = assemble(step, def, backend, layout, records, std::move(outcome), ranks, started, now_seconds());
    }

    // Writer rank only from here.
    {
      std::lock_guard lock(writer_mutex);
      try {
        writer->write_step(result);
      } catch (const StoreError& e) {
        // Nothing more can be recorded: stop the whole job rather than run steps for nothing.
        std::cerr << fmt::format("gpuaccept: error: {}\n", e.what());
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string line = fmt::format("[{:>{}}/{}] {:<10} {}  {:.2f} s  {}", step.index + 1, width, steps.size(),
                                   step.benchmark, progress_params(step), elapsed, status_word(result.status));
    if (result.status == Status::ok) {
      if (auto h = headline(def, result); !h.empty()) line += "  " + h;
    } else {
      line += ": " + result.reason;
    }
    std::cout << line << '\n';
    if (!options.quiet && !outcome.log.empty() && result.status != Status::skipped) {
      std::istringstream log(outcome.log);
      for (std::string l; std::getline(log, l);) std::cout << "    " << l << '\n';
    }
    std::cout << std::flush;
    results.push_back(std::move(result));
  }

  int code = 0;
  if (root) {
    try {
      writer->finish(now_seconds());
    } catch (const StoreError& e) {
      std::cerr << fmt::format("gpuaccept: error: {}\n", e.what());
      code = 3;
    }
    const Verdict verdict = evaluate(contract, info, results);
    std::cout << '\n';
    if (contract_path.empty()) std::cout << "no contract: only correctness and step status are judged\n";
    else std::cout << fmt::format("contract {} ({})\n", contract.name, contract_path);
    print_verdict(std::cout, verdict, PrintOptions{colour_wanted()});
    std::cout << fmt::format("results: {}\n", opened.message) << std::flush;
    code = std::max(code, verdict.exit_code());
  }
  std::int32_t shared = code;
  world.broadcast(std::as_writable_bytes(std::span(&shared, 1)), kRoot);
  return shared;
}

}  // namespace gpuaccept::harness
