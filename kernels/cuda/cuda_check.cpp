#include "kernels/cuda/cuda_check.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string_view>

namespace gpuaccept::kernels::gpu {

namespace {

// __FILE__ is an absolute path under CMake; the part from the project's top-level folder on
// is what a reader needs ("kernels/cuda/gemm_cublaslt.cu").
std::string_view project_path(const char* file) {
  const std::string_view path = file ? file : "?";
  for (const std::string_view top : {"/kernels/", "/collectives/", "/suites/", "/harness/", "/io/"}) {
    if (const auto at = path.rfind(top); at != std::string_view::npos) return path.substr(at + 1);
  }
  return path;
}

const char* or_unknown(const char* text) { return text ? text : "(unknown)"; }

}  // namespace

std::string host_name() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) return "unknown-host";
  return host.data();
}

std::string process_location() {
  std::string where = "host " + host_name();
  for (const char* variable : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* rank = std::getenv(variable); rank && *rank) {
      where += " rank ";
      where += rank;
      break;
    }
  }
  return where;
}

std::string cuda_error_message(cudaError_t code, const char* expression, const char* file, int line) {
  return fmt::format("{} failed at {}:{} on {}: {} ({})", or_unknown(expression), project_path(file),
                     line, process_location(), or_unknown(cudaGetErrorName(code)),
                     or_unknown(cudaGetErrorString(code)));
}

std::string cublas_error_message(cublasStatus_t status, const char* expression, const char* file,
                                 int line) {
  return fmt::format("{} failed at {}:{} on {}: {} ({})", or_unknown(expression), project_path(file),
                     line, process_location(), or_unknown(cublasLtGetStatusName(status)),
                     or_unknown(cublasLtGetStatusString(status)));
}

void throw_cuda_error(cudaError_t code, const char* expression, const char* file, int line) {
  throw KernelError(cuda_error_message(code, expression, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* expression, const char* file, int line) {
  throw KernelError(cublas_error_message(status, expression, file, line));
}

}  // namespace gpuaccept::kernels::gpu
