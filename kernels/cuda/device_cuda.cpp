// The CUDA device backend: how many GPUs this process sees, what each one is, and the
// versions of the CUDA runtime, driver and cuBLASLt in use (provenance).
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstddef>
#include <exception>
#include <map>
#include <string>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/gemm.hpp"

namespace gpuaccept::kernels::detail {

namespace {

// CUDA encodes versions as 1000 * major + 10 * minor (12040 is 12.4).
std::string cuda_version_text(int version) {
  return fmt::format("{}.{}", version / 1000, (version % 1000) / 10);
}

// cuBLAS(Lt) encodes versions as 10000 * major + 100 * minor + patch (130100 is 13.1.0).
std::string cublas_version_text(std::size_t version) {
  return fmt::format("{}.{}.{}", version / 10000, (version % 10000) / 100, version % 100);
}

}  // namespace

int cuda_device_count_impl(std::string* why) {
  // Must never throw or end the process: it decides whether the CUDA backend is usable here.
  try {
    int count = 0;
    const cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
      if (why) {
        int driver = 0;
        const bool have_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0;
        *why = fmt::format("{}cudaGetDeviceCount: {} ({})",
                           have_driver ? "" : "no NVIDIA driver is loaded on this host; ",
                           cudaGetErrorName(rc), cudaGetErrorString(rc));
      }
      // cudaGetDeviceCount's error is not sticky, but clear it so that it does not surface
      // from a later, unrelated cudaGetLastError.
      (void)cudaGetLastError();
      return 0;
    }
    if (count == 0 && why) *why = "the NVIDIA driver is loaded but reports no GPU visible to this process "
                                  "(check CUDA_VISIBLE_DEVICES)";
    return count;
  } catch (const std::exception& e) {
    if (why) *why = fmt::format("cannot query CUDA devices: {}", e.what());
  } catch (...) {
    if (why) *why = "cannot query CUDA devices: unknown exception";
  }
  return 0;
}

DeviceInfo describe_cuda_device(int ordinal) {
  cudaDeviceProp properties{};
  GA_CUDA_CHECK(cudaGetDeviceProperties(&properties, ordinal));
  DeviceInfo info;
  info.name = properties.name;
  // As nvidia-smi prints it: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (lower-case hex).
  const auto* b = reinterpret_cast<const unsigned char*>(properties.uuid.bytes);
  info.uuid = fmt::format(
      "GPU-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
  info.memory_bytes = static_cast<std::int64_t>(properties.totalGlobalMem);
  info.ordinal = ordinal;
  info.compute_capability = 10 * properties.major + properties.minor;
  return info;
}

std::map<std::string, std::string> cuda_library_versions() {
  std::map<std::string, std::string> versions;
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess && runtime > 0)
    versions["cuda_runtime"] = cuda_version_text(runtime);
  else
    versions["cuda_runtime"] = "unknown";
  // The highest CUDA version the installed driver supports; 0 when no driver is loaded.
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
    versions["cuda_driver"] = cuda_version_text(driver);
  else
    versions["cuda_driver"] = "not loaded (no NVIDIA driver on this host)";
  versions["cublaslt"] = cublas_version_text(cublasLtGetVersion());
  return versions;
}

}  // namespace gpuaccept::kernels::detail
