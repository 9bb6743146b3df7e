// The device abstraction: which backend a benchmark runs on, and what the device is.
// Knows nothing of MPI, HDF5 or YAML.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gpuaccept::kernels {

enum class Backend { cpu, cuda };
std::string_view to_string(Backend b);
std::optional<Backend> backend_from_string(std::string_view text);

// A failure inside a kernel library (cuBLASLt, CUDA, OpenBLAS): the message carries the
// expression, file:line and the library's own error name and text.
class KernelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The requested work cannot run on this device or backend (fp8 on a GPU older than compute
// capability 8.9): the step is "not applicable", skipped with this reason, never failed.
class NotApplicable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when this binary was built with the CUDA backend.
bool cuda_compiled();
// GPUs visible to this process: 0 when CUDA is not compiled in, there is no driver, or no GPU.
// Never throws. `why` (optional) receives the reason when the count is 0.
int cuda_device_count(std::string* why = nullptr);

struct DeviceInfo {
  std::string name;  // "NVIDIA H100 80GB HBM3" or the CPU model
  std::string uuid;  // "GPU-5f1c..." or "" on CPU
  std::int64_t memory_bytes = 0;
  int ordinal = -1;  // CUDA device ordinal, -1 on CPU
  int compute_capability = 0;  // 10 * major + minor (90 for H100), 0 on CPU
};
DeviceInfo describe_device(Backend backend, int ordinal);

// Versions of the kernel libraries in use, for provenance ("openblas", "cuda_runtime",
// "cuda_driver", "cublaslt").
std::map<std::string, std::string> library_versions();

}  // namespace gpuaccept::kernels
