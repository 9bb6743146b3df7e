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

// The arrays in host memory, first touched by the threads that use them; each kernel is one
// OpenMP parallel loop with a static schedule, timed with steady_clock around it.
class CpuStreamSession final : public StreamSession {
 public:
  explicit CpuStreamSession(const StreamConfig& config)
      : StreamSession(config),
        a_(allocate(config.elements)),
        b_(allocate(config.elements)),
        c_(allocate(config.elements)),
        threads_(config.threads > 0 ? config.threads : 1) {
    const std::int64_t n = config.elements;
    double* a = a_.get();
    double* b = b_.get();
    double* c = c_.get();
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (std::int64_t i = 0; i < n; ++i) {
      a[i] = 1.0;
      b[i] = 2.0;
      c[i] = 0.0;
    }
  }

  void verify(StreamRun& run) override { stream_check(a_.get(), b_.get(), c_.get(), config_.elements, expected_, run); }

 private:
  double run_kernel(StreamKernel kernel) override {
    const std::int64_t n = config_.elements;
    double* a = a_.get();
    double* b = b_.get();
    double* c = c_.get();
    const double s = kStreamScalar;
    const int threads = threads_;
    const auto start = std::chrono::steady_clock::now();
    switch (kernel) {
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
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  Array a_, b_, c_;
  int threads_;
};

}  // namespace

std::unique_ptr<StreamSession> open_stream_session_cpu(const StreamConfig& config) {
  return std::make_unique<CpuStreamSession>(config);
}

}  // namespace gpuaccept::kernels::detail
