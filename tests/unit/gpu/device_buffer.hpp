// Test helper: device memory holding n values of T, zeroed, optionally filled from a host
// vector, read back with host(). Every CUDA call's status is an EXPECT, so a failed allocation
// or copy fails the test instead of crashing it. CUDA builds only.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace gpuaccept::testing {

template <class T>
class Dev {
 public:
  explicit Dev(std::size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(&p_, n * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemset(p_, 0, n * sizeof(T)), cudaSuccess);
  }
  explicit Dev(const std::vector<T>& host) : Dev(host.size()) {
    EXPECT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() { return p_; }
  std::vector<T> host() const {
    std::vector<T> h(n_);
    EXPECT_EQ(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  std::size_t n_;
  T* p_ = nullptr;
};

}  // namespace gpuaccept::testing
