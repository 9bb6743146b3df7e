// gpuaccept-kernels: the kernel benchmarks of gpuaccept as a Google Benchmark binary, for users
// who know its flags (--benchmark_filter, --benchmark_format=json, --benchmark_repetitions, ...).
// It calls the very code the harness calls: GemmSession (kernels/gemm.hpp), StreamSession
// (kernels/stream.hpp) and run_hostcopy (kernels/hostcopy.hpp); nothing is re-implemented here.
//
// Benchmarks (one per line of output):
//   gemm/<dtype>/<m>x<n>x<k>[/<shape>]   every dtype the backend runs; counter FLOP/s = 2mnk / t
//   stream/{copy,scale,add,triad}       counter bytes/s = STREAM's bytes / t
//   hostcopy/{h2d,d2h,bidir}/{pinned,pageable}   cuda only; counter bytes/s
// Timing: manual (UseManualTime + SetIterationTime) from the sessions' own clocks: CUDA events
// on the GPU, steady_clock around the library call on the CPU. Each benchmark checks its answer
// after its timed loop (GEMM: sampled reference and tolerance; stream and hostcopy: every
// element); a wrong answer ends it with SkipWithError, so it reports an error, not a rate.
// A dtype or benchmark the backend cannot run is not registered; the reason goes to stderr.
//
// Flags of its own (before or after Google Benchmark's):
//   --backend=cpu|cuda        default: cuda when a GPU is visible, else cpu
//   --device=N                CUDA ordinal (default 0)
//   --threads=N               OpenBLAS and OpenMP threads on the cpu backend (default: all cores)
//   --gemm_sizes=LIST         comma-separated: N (m = n = k = N) or a named shape (square-4096,
//                             llama70b-qkv-t8192, ...); default 256,1024 on cpu, 1024,8192 on cuda
//   --gemm_dtypes=LIST        default: every dtype the backend runs
//   --stream_elements=N       per array (default 2^25 on cpu: 256 MiB each; 2^28 on cuda)
//   --hostcopy_bytes=N        each way (default 256 MiB)
//
//   bin/gpuaccept-kernels --benchmark_filter='gemm/fp32' --threads=2 --benchmark_repetitions=5
//   bin/gpuaccept-kernels --benchmark_filter=stream/triad --benchmark_format=json
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/gemm.hpp"
#include "kernels/gemm_shapes.hpp"
#include "kernels/hostcopy.hpp"
#include "kernels/stream.hpp"

namespace gpuaccept::kernels {
namespace {

struct Options {
  Backend backend = Backend::cpu;
  int device = 0;
  int threads = 1;
  std::vector<std::string> gemm_sizes;
  std::vector<DType> gemm_dtypes;
  std::int64_t stream_elements = 0;
  std::int64_t hostcopy_bytes = std::int64_t{256} << 20;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

std::int64_t parse_count(const std::string& flag, const std::string& text, std::int64_t minimum = 1) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < minimum)
    throw std::invalid_argument(fmt::format("{}: expected an integer of at least {}, found '{}'", flag, minimum, text));
  return value;
}

// Takes our flags out of argv (Google Benchmark rejects flags it does not know).
Options parse(int& argc, char** argv) {
  Options o;
  std::optional<std::string> backend, sizes, dtypes;
  std::optional<std::int64_t> threads, elements;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value_of = [&](const char* name) -> std::optional<std::string> {
      const std::string prefix = std::string("--") + name + "=";
      if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
      return std::nullopt;
    };
    if (const auto v = value_of("backend")) {
      backend = *v;
    } else if (const auto d = value_of("device")) {
      o.device = static_cast<int>(parse_count("--device", *d, 0));
    } else if (const auto t = value_of("threads")) {
      threads = parse_count("--threads", *t);
    } else if (const auto sz = value_of("gemm_sizes")) {
      sizes = *sz;
    } else if (const auto dt = value_of("gemm_dtypes")) {
      dtypes = *dt;
    } else if (const auto e = value_of("stream_elements")) {
      elements = parse_count("--stream_elements", *e);
    } else if (const auto hb = value_of("hostcopy_bytes")) {
      o.hostcopy_bytes = parse_count("--hostcopy_bytes", *hb);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (backend) {
    const auto b = backend_from_string(*backend);
    if (!b) throw std::invalid_argument(fmt::format("--backend: expected cpu or cuda, found '{}'", *backend));
    o.backend = *b;
  } else {
    o.backend = cuda_device_count() > 0 ? Backend::cuda : Backend::cpu;
  }
  if (o.backend == Backend::cuda && cuda_device_count() == 0) {
    std::string why;
    cuda_device_count(&why);
    throw std::invalid_argument("--backend=cuda: no GPU: " + why);
  }
  o.threads = static_cast<int>(threads.value_or(std::max(1u, std::thread::hardware_concurrency())));
  const bool gpu = o.backend == Backend::cuda;
  o.gemm_sizes = split(sizes.value_or(gpu ? "1024,8192" : "256,1024"));
  if (dtypes) {
    for (const auto& name : split(*dtypes)) {
      const auto t = dtype_from_string(name);
      if (!t) throw std::invalid_argument(fmt::format("--gemm_dtypes: unknown dtype '{}'", name));
      o.gemm_dtypes.push_back(*t);
    }
  } else {
    o.gemm_dtypes.assign(std::begin(kAllDTypes), std::end(kAllDTypes));
  }
  o.stream_elements = elements.value_or(gpu ? std::int64_t{1} << 28 : std::int64_t{1} << 25);
  return o;
}

// One session at a time, kept while Google Benchmark calls the same benchmark again (to size
// its iteration count, and for repetitions), replaced when the next benchmark starts.
template <typename Session>
struct Slot {
  std::string owner;
  std::unique_ptr<Session> session;
};
Slot<GemmSession> gemm_slot;
Slot<StreamSession> stream_slot;

void release_others(const std::string& name) {
  if (gemm_slot.owner != name) gemm_slot = {};
  if (stream_slot.owner != name) stream_slot = {};
}

void report_error(benchmark::State& state, const std::string& what) {
  state.SkipWithError(what.c_str());
  for (auto _ : state) {  // an error ends the loop at once; the loop must still be entered
  }
}

void gemm_benchmark(benchmark::State& state, const std::string& name, const GemmConfig& config, Backend backend) {
  try {
    release_others(name);
    if (gemm_slot.owner != name) {
      gemm_slot.session = open_gemm_session(backend, config);
      gemm_slot.owner = name;
    }
    GemmSession& session = *gemm_slot.session;
    const TimingPolicy one{0, 1};
    session.time_iterations({1, 0});  // warm: the first call after another benchmark pays for caches
    for (auto _ : state) state.SetIterationTime(session.time_iterations(one).front());
    GemmRun check;
    session.verify(check);
    if (check.wrong > 0) {
      state.SkipWithError(fmt::format("{} of {} checked elements wrong; first: {}", check.wrong, check.checked,
                                      check.first_wrong)
                              .c_str());
      return;
    }
    state.counters["FLOP/s"] = benchmark::Counter(gemm_flops(config), benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(session.algorithm());
  } catch (const NotApplicable& e) {
    report_error(state, std::string("not applicable: ") + e.what());
  } catch (const std::exception& e) {
    report_error(state, e.what());
  }
}

void stream_benchmark(benchmark::State& state, const std::string& name, StreamKernel kernel,
                      const StreamConfig& config, Backend backend) {
  try {
    release_others(name);
    if (stream_slot.owner != name) {
      stream_slot.session = open_stream_session(backend, config);
      stream_slot.owner = name;
    }
    StreamSession& session = *stream_slot.session;
    session.run(kernel);  // warm
    for (auto _ : state) state.SetIterationTime(session.run(kernel));
    StreamRun check;
    session.verify(check);
    if (check.wrong > 0) {
      state.SkipWithError(fmt::format("{} of {} elements wrong; first: {}", check.wrong, check.checked,
                                      check.first_wrong)
                              .c_str());
      return;
    }
    state.counters["bytes/s"] = benchmark::Counter(stream_bytes(kernel, config.elements),
                                                   benchmark::Counter::kIsIterationInvariantRate);
  } catch (const std::exception& e) {
    report_error(state, e.what());
  }
}

void hostcopy_benchmark(benchmark::State& state, CopyDirection direction, HostMemory memory,
                        const HostcopyConfig& base) {
  try {
    release_others("");
    HostcopyConfig config = base;
    config.pinned = memory == HostMemory::pinned;
    config.pageable = memory == HostMemory::pageable;
    config.timing = {0, 1};
    double bytes = 0;
    for (auto _ : state) {
      const HostcopyRun run = run_hostcopy(Backend::cuda, config);
      for (const auto& m : run.measurements) {
        if (m.direction != direction || m.memory != memory) continue;
        if (m.wrong > 0) {
          state.SkipWithError(fmt::format("{} of {} words wrong; first: {}", m.wrong, m.checked, m.first_wrong).c_str());
          return;
        }
        state.SetIterationTime(m.seconds.front());
        bytes = m.bytes;
      }
    }
    state.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  } catch (const std::exception& e) {
    report_error(state, e.what());
  }
}

void register_all(const Options& o) {
  for (DType dtype : o.gemm_dtypes) {
    std::string reason;
    if (!gemm_supported(o.backend, dtype, &reason)) {
      std::cerr << "gpuaccept-kernels: gemm/" << to_string(dtype) << ": " << reason << "\n";
      continue;
    }
    for (const std::string& size : o.gemm_sizes) {
      GemmConfig c;
      c.dtype = dtype;
      c.device = o.device;
      c.cpu_threads = o.threads;
      std::string name;
      if (const GemmShape* shape = find_gemm_shape(size)) {
        c.m = shape->m;
        c.n = shape->n;
        c.k = shape->k;
        c.ta = shape->ta;
        c.tb = shape->tb;
        name = fmt::format("gemm/{}/{}x{}x{}/{}", to_string(dtype), c.m, c.n, c.k, shape->name);
      } else {
        c.m = c.n = c.k = parse_count("--gemm_sizes", size);
        if (dtype == DType::fp8 || dtype == DType::int8) c.ta = Transpose::t;  // cuBLASLt's TN layout
        name = fmt::format("gemm/{}/{}x{}x{}", to_string(dtype), c.m, c.n, c.k);
      }
      if (const std::string problem = gemm_layout_problem(c); !problem.empty()) {
        std::cerr << "gpuaccept-kernels: " << name << ": " << problem << "\n";
        continue;
      }
      if (const std::string why = gemm_unavailable_on_device(o.backend, c); !why.empty()) {
        std::cerr << "gpuaccept-kernels: " << name << ": " << why << "\n";
        continue;
      }
      benchmark::RegisterBenchmark(name.c_str(), [name, c, b = o.backend](benchmark::State& state) {
        gemm_benchmark(state, name, c, b);
      })->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  }
  StreamConfig stream;
  stream.elements = o.stream_elements;
  stream.threads = o.threads;
  stream.device = o.device;
  for (std::size_t k = 0; k < 4; ++k) {
    const std::string name = fmt::format("stream/{}", kStreamKernelNames[k]);
    benchmark::RegisterBenchmark(name.c_str(), [name, k, stream, b = o.backend](benchmark::State& state) {
      stream_benchmark(state, name, static_cast<StreamKernel>(k), stream, b);
    })->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  std::string reason;
  if (!hostcopy_supported(o.backend, &reason)) {
    std::cerr << "gpuaccept-kernels: hostcopy: " << reason << "\n";
    return;
  }
  HostcopyConfig copy;
  copy.bytes = o.hostcopy_bytes;
  copy.device = o.device;
  for (std::size_t d = 0; d < 3; ++d)
    for (std::size_t m = 0; m < 2; ++m) {
      const std::string name = fmt::format("hostcopy/{}/{}", kCopyDirectionNames[d], kHostMemoryNames[m]);
      benchmark::RegisterBenchmark(name.c_str(), [d, m, copy](benchmark::State& state) {
        hostcopy_benchmark(state, static_cast<CopyDirection>(d), static_cast<HostMemory>(m), copy);
      })->UseManualTime()->Unit(benchmark::kMillisecond);
    }
}

}  // namespace
}  // namespace gpuaccept::kernels

int main(int argc, char** argv) {
  using namespace gpuaccept::kernels;
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "gpuaccept-kernels: error: " << e.what() << "\n";
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  register_all(options);
  benchmark::AddCustomContext("gpuaccept.backend", std::string(to_string(options.backend)));
  benchmark::AddCustomContext("gpuaccept.threads", std::to_string(options.threads));
  const DeviceInfo device = describe_device(options.backend, options.device);
  benchmark::AddCustomContext("gpuaccept.device", device.name);
  for (const auto& [library, version] : library_versions()) benchmark::AddCustomContext("gpuaccept." + library, version);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
