#include "kernels/backend.hpp"

#include <cblas.h>

#include <fstream>
#include <thread>

#include "kernels/gemm.hpp"

namespace gpuaccept::kernels {

std::string_view to_string(Backend b) { return b == Backend::cuda ? "cuda" : "cpu"; }

std::optional<Backend> backend_from_string(std::string_view text) {
  if (text == "cpu") return Backend::cpu;
  if (text == "cuda") return Backend::cuda;
  return std::nullopt;
}

bool cuda_compiled() {
#if defined(GPUACCEPT_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

int cuda_device_count(std::string* why) {
#if defined(GPUACCEPT_HAVE_CUDA)
  return detail::cuda_device_count_impl(why);
#else
  if (why) *why = "this gpuaccept was built without CUDA (GPUACCEPT_CUDA=OFF or no toolkit found)";
  return 0;
#endif
}

namespace {
std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto model = line.substr(colon + 1);
        model.erase(0, model.find_first_not_of(' '));
        return model;
      }
    }
  }
  return "unknown CPU";
}

std::int64_t physical_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::int64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") return kib * 1024;
    meminfo.ignore(256, '\n');
  }
  return 0;
}
}  // namespace

DeviceInfo describe_device(Backend backend, int ordinal) {
#if defined(GPUACCEPT_HAVE_CUDA)
  if (backend == Backend::cuda) return detail::describe_cuda_device(ordinal);
#else
  (void)backend;
  (void)ordinal;
#endif
  return DeviceInfo{cpu_model(), "", physical_memory(), -1};
}

std::map<std::string, std::string> library_versions() {
  std::map<std::string, std::string> versions;
  if (const char* config = openblas_get_config()) versions["openblas"] = config;
#if defined(GPUACCEPT_HAVE_CUDA)
  versions.merge(detail::cuda_library_versions());
#endif
  return versions;
}

}  // namespace gpuaccept::kernels
