#include "kernels/stream.hpp"

#include <fmt/format.h>

#include <cmath>

namespace gpuaccept::kernels {

double stream_bytes(StreamKernel kernel, std::int64_t elements) {
  const double arrays = kernel == StreamKernel::copy || kernel == StreamKernel::scale ? 2 : 3;
  return arrays * static_cast<double>(elements) * sizeof(double);
}

std::array<double, 3> stream_expected(int passes) {
  double a = 1, b = 2, c = 0;
  for (int p = 0; p < passes; ++p) {
    c = a;
    b = kStreamScalar * c;
    c = a + b;
    a = b + kStreamScalar * c;
  }
  return {a, b, c};
}

void stream_check(const double* a, const double* b, const double* c, std::int64_t n, int passes, StreamRun& run) {
  const auto expected = stream_expected(passes);
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

StreamRun run_stream(Backend backend, const StreamConfig& config) {
  if (config.elements <= 0) throw KernelError("stream: the arrays need at least one element");
#if defined(GPUACCEPT_HAVE_CUDA)
  if (backend == Backend::cuda) return detail::run_stream_cuda(config);
#else
  if (backend == Backend::cuda) throw KernelError("stream: this gpuaccept was built without CUDA");
#endif
  return detail::run_stream_cpu(config);
}

}  // namespace gpuaccept::kernels
