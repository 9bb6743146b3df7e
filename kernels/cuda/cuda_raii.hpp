// RAII owners for the CUDA runtime and cuBLASLt handles we use: device buffers, streams,
// events, the cuBLASLt handle, matmul descriptors, matrix layouts and heuristic preferences.
// Each C API is wrapped here once; creation failures throw KernelError (GA_CUDA_CHECK,
// GA_CUBLAS_CHECK), releases never throw (a destructor has nobody to report to, and the
// handle is gone either way). All owners are move-only.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "kernels/cuda/cuda_check.hpp"

namespace gpuaccept::kernels::gpu {

namespace detail {
struct FreeDevice {
  void operator()(void* p) const noexcept { (void)cudaFree(p); }
};
struct DestroyStream {
  void operator()(cudaStream_t s) const noexcept { (void)cudaStreamDestroy(s); }
};
struct DestroyEvent {
  void operator()(cudaEvent_t e) const noexcept { (void)cudaEventDestroy(e); }
};
struct DestroyLt {
  void operator()(cublasLtHandle_t h) const noexcept { (void)cublasLtDestroy(h); }
};
struct DestroyMatmulDesc {
  void operator()(cublasLtMatmulDesc_t d) const noexcept { (void)cublasLtMatmulDescDestroy(d); }
};
struct DestroyLayout {
  void operator()(cublasLtMatrixLayout_t l) const noexcept { (void)cublasLtMatrixLayoutDestroy(l); }
};
struct DestroyPreference {
  void operator()(cublasLtMatmulPreference_t p) const noexcept {
    (void)cublasLtMatmulPreferenceDestroy(p);
  }
};
// The opaque handle types are pointers; unique_ptr owns what they point to.
template <typename Handle, typename Deleter>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, Deleter>;
}  // namespace detail

// Device memory on the current device (cudaMalloc).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    void* p = nullptr;
    if (bytes > 0) GA_CUDA_CHECK(cudaMalloc(&p, bytes));
    ptr_.reset(p);
  }
  void* get() const { return ptr_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_.get());
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
  std::unique_ptr<void, detail::FreeDevice> ptr_;
};

// A stream that does not synchronise with the legacy default stream.
class Stream {
 public:
  Stream() {
    cudaStream_t s = nullptr;
    GA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_.reset(s);
  }
  cudaStream_t get() const { return stream_.get(); }

 private:
  detail::Owned<cudaStream_t, detail::DestroyStream> stream_;
};

// A timing event (cudaEventDefault: timing enabled).
class Event {
 public:
  Event() {
    cudaEvent_t e = nullptr;
    GA_CUDA_CHECK(cudaEventCreate(&e));
    event_.reset(e);
  }
  cudaEvent_t get() const { return event_.get(); }
  void record(cudaStream_t stream) const { GA_CUDA_CHECK(cudaEventRecord(event_.get(), stream)); }

 private:
  detail::Owned<cudaEvent_t, detail::DestroyEvent> event_;
};

// Seconds between two completed events (resolution about half a microsecond).
inline double elapsed_seconds(const Event& start, const Event& stop) {
  float milliseconds = 0;
  GA_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start.get(), stop.get()));
  return static_cast<double>(milliseconds) * 1e-3;
}

class LtHandle {
 public:
  LtHandle() {
    cublasLtHandle_t h = nullptr;
    GA_CUBLAS_CHECK(cublasLtCreate(&h));
    handle_.reset(h);
  }
  cublasLtHandle_t get() const { return handle_.get(); }

 private:
  detail::Owned<cublasLtHandle_t, detail::DestroyLt> handle_;
};

class MatmulDesc {
 public:
  MatmulDesc(cublasComputeType_t compute, cudaDataType_t scale) {
    cublasLtMatmulDesc_t d = nullptr;
    GA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, compute, scale));
    desc_.reset(d);
  }
  // `value` must have exactly the type the attribute documents (cuBLASLt checks the size).
  template <typename T>
  void set(cublasLtMatmulDescAttributes_t attribute, const T& value) {
    GA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_.get(), attribute, &value, sizeof value));
  }
  cublasLtMatmulDesc_t get() const { return desc_.get(); }

 private:
  detail::Owned<cublasLtMatmulDesc_t, detail::DestroyMatmulDesc> desc_;
};

// A column-major matrix layout: rows x cols with leading dimension ld.
class MatrixLayout {
 public:
  MatrixLayout(cudaDataType_t type, std::uint64_t rows, std::uint64_t cols, std::int64_t ld) {
    cublasLtMatrixLayout_t l = nullptr;
    GA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, rows, cols, ld));
    layout_.reset(l);
  }
  // `value` must have exactly the type the attribute documents (cuBLASLt checks the size).
  template <typename T>
  void set(cublasLtMatrixLayoutAttribute_t attribute, const T& value) {
    GA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout_.get(), attribute, &value, sizeof value));
  }
  cublasLtMatrixLayout_t get() const { return layout_.get(); }

 private:
  detail::Owned<cublasLtMatrixLayout_t, detail::DestroyLayout> layout_;
};

class MatmulPreference {
 public:
  MatmulPreference() {
    cublasLtMatmulPreference_t p = nullptr;
    GA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p));
    preference_.reset(p);
  }
  // `value` must have exactly the type the attribute documents (cuBLASLt checks the size).
  template <typename T>
  void set(cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
    GA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(preference_.get(), attribute, &value, sizeof value));
  }
  cublasLtMatmulPreference_t get() const { return preference_.get(); }

 private:
  detail::Owned<cublasLtMatmulPreference_t, detail::DestroyPreference> preference_;
};

}  // namespace gpuaccept::kernels::gpu
