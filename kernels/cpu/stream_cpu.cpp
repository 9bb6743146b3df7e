// STREAM on the CPU: OpenMP threads, static schedule, first touch by the thread that later
// uses each part of the arrays (so that pages land on its NUMA node), as the reference
// STREAM program does.
#include <omp.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "kernels/stream.hpp"

namespace gpuaccept::kernels::detail {

namespace {

struct FreeDeleter {
  void operator()(double* p) const { std::free(p); }
};
using Array = std::unique_ptr<double[], FreeDeleter>;

Array allocate(std::int64_t n) {
  const std::size_t bytes = (static_cast<std::size_t>(n) * sizeof(double) + 4095) / 4096 * 4096;
  auto* p = static_cast<double*>(std::aligned_alloc(4096, bytes));
  if (!p) throw KernelError(fmt::format("stream: cannot allocate {:.1f} MiB", static_cast<double>(bytes) / (1 << 20)));
  return Array(p);
}

}  // namespace

StreamRun run_stream_cpu(const StreamConfig& config) {
  const std::int64_t n = config.elements;
  Array a_owner = allocate(n), b_owner = allocate(n), c_owner = allocate(n);
  double* a = a_owner.get();
  double* b = b_owner.get();
  double* c = c_owner.get();
  const int threads = config.threads > 0 ? config.threads : 1;
  const double s = kStreamScalar;

#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t i = 0; i < n; ++i) {
    a[i] = 1.0;
    b[i] = 2.0;
    c[i] = 0.0;
  }

  StreamRun run;
  const int passes = config.timing.warmup + config.timing.iterations;
  for (int pass = 0; pass < passes; ++pass) {
    const bool timed = pass >= config.timing.warmup;
    for (int k = 0; k < 4; ++k) {
      const auto start = std::chrono::steady_clock::now();
      switch (static_cast<StreamKernel>(k)) {
        case StreamKernel::copy:
#pragma omp parallel for schedule(static) num_threads(threads)
          for (std::int64_t i = 0; i < n; ++i) c[i] = a[i];
          break;
        case StreamKernel::scale:
#pragma omp parallel for schedule(static) num_threads(threads)
          for (std::int64_t i = 0; i < n; ++i) b[i] = s * c[i];
          break;
        case StreamKernel::add:
#pragma omp parallel for schedule(static) num_threads(threads)
          for (std::int64_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
          break;
        case StreamKernel::triad:
#pragma omp parallel for schedule(static) num_threads(threads)
          for (std::int64_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
          break;
      }
      const auto stop = std::chrono::steady_clock::now();
      if (timed) run.seconds[static_cast<std::size_t>(k)].push_back(std::chrono::duration<double>(stop - start).count());
    }
  }
  stream_check(a, b, c, n, passes, run);
  return run;
}

}  // namespace gpuaccept::kernels::detail
