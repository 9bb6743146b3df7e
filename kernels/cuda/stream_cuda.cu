// STREAM on one GPU: one grid-stride kernel per operation, CUDA events around each, the
// arrays copied back once at the end and checked on the host like the CPU backend.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>
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

// The arrays in device memory; each kernel is one launch between a pair of CUDA events, and
// run() waits for its stop event (the time is the device's, not the host's).
class CudaStreamSession final : public StreamSession {
 public:
  explicit CudaStreamSession(const StreamConfig& config)
      : StreamSession(config),
        device_(select_device(config.device)),
        bytes_(static_cast<std::size_t>(config.elements) * sizeof(double)),
        a_(bytes_),
        b_(bytes_),
        c_(bytes_) {
    int sms = 0;
    GA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_));
    const auto wanted = (config.elements + kThreads - 1) / kThreads;
    blocks_ = static_cast<unsigned>(std::min<std::int64_t>(wanted, std::int64_t{sms} * 32));
    init<<<blocks_, kThreads, 0, stream_.get()>>>(a_.as<double>(), b_.as<double>(), c_.as<double>(), config.elements);
    GA_CUDA_CHECK(cudaGetLastError());
  }

  void verify(StreamRun& run) override {
    GA_CUDA_CHECK(cudaSetDevice(device_));
    GA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    std::vector<double> ha(static_cast<std::size_t>(config_.elements)), hb(ha.size()), hc(ha.size());
    GA_CUDA_CHECK(cudaMemcpy(ha.data(), a_.get(), bytes_, cudaMemcpyDeviceToHost));
    GA_CUDA_CHECK(cudaMemcpy(hb.data(), b_.get(), bytes_, cudaMemcpyDeviceToHost));
    GA_CUDA_CHECK(cudaMemcpy(hc.data(), c_.get(), bytes_, cudaMemcpyDeviceToHost));
    stream_check(ha.data(), hb.data(), hc.data(), config_.elements, expected_, run);
  }

 private:
  static int select_device(int device) {
    GA_CUDA_CHECK(cudaSetDevice(device));
    return device;
  }

  double run_kernel(StreamKernel kernel) override {
    GA_CUDA_CHECK(cudaSetDevice(device_));
    start_.record(stream_.get());
    stream_op<<<blocks_, kThreads, 0, stream_.get()>>>(static_cast<int>(kernel), a_.as<double>(), b_.as<double>(),
                                                       c_.as<double>(), kStreamScalar, config_.elements);
    GA_CUDA_CHECK(cudaGetLastError());
    stop_.record(stream_.get());
    GA_CUDA_CHECK(cudaEventSynchronize(stop_.get()));
    return gpu::elapsed_seconds(start_, stop_);
  }

  // Declaration order is construction order: the device is selected before allocation.
  int device_;
  std::size_t bytes_;
  gpu::DeviceBuffer a_, b_, c_;
  gpu::Stream stream_;
  gpu::Event start_, stop_;
  unsigned blocks_ = 1;
};

}  // namespace

std::unique_ptr<StreamSession> open_stream_session_cuda(const StreamConfig& config) {
  return std::make_unique<CudaStreamSession>(config);
}

}  // namespace gpuaccept::kernels::detail
