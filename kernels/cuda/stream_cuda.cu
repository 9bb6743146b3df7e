// STREAM on one GPU: one grid-stride kernel per operation, CUDA events around each, the
// arrays copied back once at the end and checked on the host like the CPU backend.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"
#include "kernels/stream.hpp"

namespace gpuaccept::kernels::detail {

namespace {

constexpr int kThreads = 256;

__global__ void init(double* a, double* b, double* c, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    a[i] = 1.0;
    b[i] = 2.0;
    c[i] = 0.0;
  }
}

__global__ void stream_op(int op, double* a, double* b, double* c, double s, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * blockDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    switch (op) {
      case 0: c[i] = a[i]; break;
      case 1: b[i] = s * c[i]; break;
      case 2: c[i] = a[i] + b[i]; break;
      default: a[i] = b[i] + s * c[i]; break;
    }
  }
}

}  // namespace

StreamRun run_stream_cuda(const StreamConfig& config) {
  GA_CUDA_CHECK(cudaSetDevice(config.device));
  const std::int64_t n = config.elements;
  const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(double);
  gpu::DeviceBuffer a(bytes), b(bytes), c(bytes);
  gpu::Stream stream;
  int sms = 0;
  GA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, config.device));
  const auto wanted = (n + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(wanted, std::int64_t{sms} * 32));

  init<<<blocks, kThreads, 0, stream.get()>>>(a.as<double>(), b.as<double>(), c.as<double>(), n);
  GA_CUDA_CHECK(cudaGetLastError());

  StreamRun run;
  const int passes = config.timing.warmup + config.timing.iterations;
  std::vector<gpu::Event> starts(static_cast<std::size_t>(passes) * 4), stops(starts.size());
  for (int pass = 0; pass < passes; ++pass) {
    for (int k = 0; k < 4; ++k) {
      const auto slot = static_cast<std::size_t>(pass * 4 + k);
      starts[slot].record(stream.get());
      stream_op<<<blocks, kThreads, 0, stream.get()>>>(k, a.as<double>(), b.as<double>(), c.as<double>(),
                                                      kStreamScalar, n);
      GA_CUDA_CHECK(cudaGetLastError());
      stops[slot].record(stream.get());
    }
  }
  GA_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  for (int pass = config.timing.warmup; pass < passes; ++pass)
    for (int k = 0; k < 4; ++k) {
      const auto slot = static_cast<std::size_t>(pass * 4 + k);
      run.seconds[static_cast<std::size_t>(k)].push_back(gpu::elapsed_seconds(starts[slot], stops[slot]));
    }

  std::vector<double> ha(static_cast<std::size_t>(n)), hb(ha.size()), hc(ha.size());
  GA_CUDA_CHECK(cudaMemcpy(ha.data(), a.get(), bytes, cudaMemcpyDeviceToHost));
  GA_CUDA_CHECK(cudaMemcpy(hb.data(), b.get(), bytes, cudaMemcpyDeviceToHost));
  GA_CUDA_CHECK(cudaMemcpy(hc.data(), c.get(), bytes, cudaMemcpyDeviceToHost));
  stream_check(ha.data(), hb.data(), hc.data(), n, passes, run);
  return run;
}

}  // namespace gpuaccept::kernels::detail
