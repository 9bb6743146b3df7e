// GEMM: C = A * B, column-major, no transposes, m x n result, inner dimension k.
// CPU: OpenBLAS (fp64, fp32). CUDA: cuBLASLt (fp64, fp32, tf32, bf16, fp16).
//
// FLOPs per GEMM = 2 m n k (a multiply and an add per inner-product term).
// Correctness: `samples` elements of C are compared with a double-precision reference
// computed on the host from the same pattern_value() inputs. The tolerance scales with the
// dtype's unit roundoff and with sum_k |a_ik b_kj| (the magnitude the rounding acts on):
//   |c - ref| <= u_out |ref| + (2 u_in + 2 sqrt(k) u_acc) sum_k |a_ik b_kj|
// where u_in is the rounding of inputs inside the library (tf32 only), u_acc the
// accumulation precision and u_out the output precision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/dtype.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

struct GemmConfig {
  std::int64_t m = 1024;
  std::int64_t n = 1024;
  std::int64_t k = 1024;
  DType dtype = DType::fp32;
  TimingPolicy timing;
  std::uint64_t seed = 1;
  int samples = 256;      // elements of C checked against the reference
  int device = 0;         // CUDA ordinal
  int cpu_threads = 1;    // OpenBLAS threads on the CPU backend
  // Fault injection, to prove the detectors work: flip the lowest bit of one element of C
  // after timing (the tolerance check passes, the checksum comparison across ranks must not).
  bool inject_fault = false;
};

struct GemmRun {
  std::vector<double> iteration_seconds;
  std::int64_t checked = 0;
  std::int64_t wrong = 0;
  double worst_error_ratio = 0;  // max over checked elements of |c - ref| / tolerance
  std::string first_wrong;       // "C[12,40] = 3.25, expected 1.125 (tolerance 1e-05)"
  std::string algorithm;         // what ran: "openblas sgemm", "cublasLt algo 6 tile 23 ..."
  std::int64_t workspace_bytes = 0;
  std::uint64_t checksum = 0;    // kernels/checksum.hpp over every element of C
};

// Can this backend run this dtype? When not, `reason` says why (a "not applicable", not an error).
bool gemm_supported(Backend backend, DType dtype, std::string* reason);

// Runs, times and checks one GEMM configuration. Throws KernelError on library failures.
GemmRun run_gemm(Backend backend, const GemmConfig& config);

// Shared by every backend: reference and tolerance for one element of C.
struct GemmReference {
  double value;      // sum_k a_ik b_kj in double
  double abs_sum;    // sum_k |a_ik b_kj|
};
GemmReference gemm_reference(const GemmConfig& config, std::int64_t i, std::int64_t j);
double gemm_tolerance(DType dtype, std::int64_t k, const GemmReference& ref);
// Seeds of A and B derived from the config's seed.
std::uint64_t gemm_seed_a(std::uint64_t seed);
std::uint64_t gemm_seed_b(std::uint64_t seed);
// Which elements of C are checked: deterministic, spread over the matrix, corners included.
std::vector<std::pair<std::int64_t, std::int64_t>> gemm_sample_points(const GemmConfig& config);
// The element whose lowest bit inject_fault flips: one that is not sampled by the check.
std::int64_t gemm_fault_element(const GemmConfig& config);
// Checks the sampled values of C (given in sample order) and fills checked/wrong/first_wrong.
void gemm_check(const GemmConfig& config, const std::vector<double>& sampled_values, GemmRun& run);

namespace detail {
GemmRun run_gemm_cpu(const GemmConfig& config);
#if defined(GPUACCEPT_HAVE_CUDA)
GemmRun run_gemm_cuda(const GemmConfig& config);
int cuda_device_count_impl(std::string* why);
DeviceInfo describe_cuda_device(int ordinal);
std::map<std::string, std::string> cuda_library_versions();
#endif
}  // namespace detail

}  // namespace gpuaccept::kernels
