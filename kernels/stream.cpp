#include "kernels/stream.hpp"

#include <fmt/format.h>

#include <cmath>

namespace gpuaccept::kernels {

double stream_bytes(StreamKernel kernel, std::int64_t elements) {
  const double arrays = kernel == StreamKernel::copy || kernel == StreamKernel::scale ? 2 : 3;
  return arrays * static_cast<double>(elements) * sizeof(double);
}

std::array<double, 3> stream_step(const std::array<double, 3>& values, StreamKernel kernel) {
  auto [a, b, c] = values;
  switch (kernel) {
    case StreamKernel::copy: c = a; break;
    case StreamKernel::scale: b = kStreamScalar * c; break;
    case StreamKernel::add: c = a + b; break;
    case StreamKernel::triad: a = b + kStreamScalar * c; break;
  }
  return {a, b, c};
}

std::array<double, 3> stream_expected(int passes) {
  std::array<double, 3> values{1, 2, 0};
  for (int p = 0; p < passes; ++p)
    for (StreamKernel k : {StreamKernel::copy, StreamKernel::scale, StreamKernel::add, StreamKernel::triad})
      values = stream_step(values, k);
  return values;
}

void stream_check(const double* a, const double* b, const double* c, std::int64_t n, int passes, StreamRun& run) {
  stream_check(a, b, c, n, stream_expected(passes), run);
}

void stream_check(const double* a, const double* b, const double* c, std::int64_t n,
                  const std::array<double, 3>& expected, StreamRun& run) {
  const double* arrays[3] = {a, b, c};
  const char names[3] = {'a', 'b', 'c'};
  run.checked = 0;
  run.wrong = 0;
  for (int k = 0; k < 3; ++k) {
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = arrays[k][i];
      ++run.checked;
      if (!(std::fabs(v - expected[k]) <= 1e-13 * std::fabs(expected[k]))) {
        if (run.wrong == 0)
          run.first_wrong = fmt::format("{}[{}] = {:.17g}, expected {:.17g}", names[k], i, v, expected[k]);
        ++run.wrong;
      }
    }
  }
}

bool stream_supported(Backend backend, std::string* reason) {
  if (backend == Backend::cuda && !cuda_compiled()) {
    if (reason) *reason = "this gpuaccept was built without CUDA";
    return false;
  }
  return true;
}

std::unique_ptr<StreamSession> open_stream_session(Backend backend, const StreamConfig& config) {
  if (config.elements <= 0) throw KernelError("stream: the arrays need at least one element");
#if defined(GPUACCEPT_HAVE_CUDA)
  if (backend == Backend::cuda) return detail::open_stream_session_cuda(config);
#else
  if (backend == Backend::cuda) throw KernelError("stream: this gpuaccept was built without CUDA");
#endif
  return detail::open_stream_session_cpu(config);
}

StreamRun run_stream(Backend backend, const StreamConfig& config) {
  const auto session = open_stream_session(backend, config);
  StreamRun run;
  const int passes = config.timing.warmup + config.timing.iterations;
  for (int pass = 0; pass < passes; ++pass)
    for (int k = 0; k < 4; ++k) {
      const double seconds = session->run(static_cast<StreamKernel>(k));
      if (pass >= config.timing.warmup) run.seconds[static_cast<std::size_t>(k)].push_back(seconds);
    }
  session->verify(run);
  return run;
}

}  // namespace gpuaccept::kernels
