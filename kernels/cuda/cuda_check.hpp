// The one checking facility for the CUDA runtime and for cuBLASLt (NCCL has its own, in
// collectives/nccl/). A failed call becomes a KernelError whose message carries the
// expression, file:line, host and rank, and the library's own error name and text:
//
//   cudaMalloc(&p, bytes) failed at kernels/cuda/cuda_raii.hpp:40 on host nid001 rank 3:
//   cudaErrorMemoryAllocation (out of memory)
//
// GA_CUDA_CHECK / GA_CUBLAS_CHECK throw. The _NOTHROW forms return that same text, or an
// empty string on success, for destructors and cleanup paths that must not throw.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>

#include "kernels/backend.hpp"

namespace gpuaccept::kernels::gpu {

// This machine's host name.
std::string host_name();
// "host nid001 rank 3": the rank is the launcher's (Open MPI, PMIx, PMI, Slurm environment),
// left out when the process was not started by one. kernels/ knows nothing of MPI.
std::string process_location();

std::string cuda_error_message(cudaError_t code, const char* expression, const char* file, int line);
std::string cublas_error_message(cublasStatus_t status, const char* expression, const char* file,
                                 int line);
[[noreturn]] void throw_cuda_error(cudaError_t code, const char* expression, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expression, const char* file,
                                     int line);

inline std::string cuda_status_text(cudaError_t code, const char* expression, const char* file, int line) {
  return code == cudaSuccess ? std::string() : cuda_error_message(code, expression, file, line);
}
inline std::string cublas_status_text(cublasStatus_t status, const char* expression, const char* file,
                                      int line) {
  return status == CUBLAS_STATUS_SUCCESS ? std::string()
                                         : cublas_error_message(status, expression, file, line);
}

}  // namespace gpuaccept::kernels::gpu

#define GA_CUDA_CHECK(expr)                                                                   \
  do {                                                                                        \
    const cudaError_t ga_cuda_rc_ = (expr);                                                   \
    if (ga_cuda_rc_ != cudaSuccess)                                                           \
      ::gpuaccept::kernels::gpu::throw_cuda_error(ga_cuda_rc_, #expr, __FILE__, __LINE__);    \
  } while (false)

#define GA_CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                        \
    const cublasStatus_t ga_cublas_rc_ = (expr);                                              \
    if (ga_cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                               \
      ::gpuaccept::kernels::gpu::throw_cublas_error(ga_cublas_rc_, #expr, __FILE__, __LINE__); \
  } while (false)

// Evaluate to a std::string: empty on success, the full message otherwise.
#define GA_CUDA_CHECK_NOTHROW(expr) \
  ::gpuaccept::kernels::gpu::cuda_status_text((expr), #expr, __FILE__, __LINE__)
#define GA_CUBLAS_CHECK_NOTHROW(expr) \
  ::gpuaccept::kernels::gpu::cublas_status_text((expr), #expr, __FILE__, __LINE__)
