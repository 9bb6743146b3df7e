// GEMM: C_b = op(A_b) * op(B_b) for b = 0 .. batch-1 (strided batched), column-major, op(A)
// m x k, op(B) k x n, C m x n; op is the identity ("n") or the transpose ("t") of what is stored.
// CPU: OpenBLAS (fp64, fp32; bf16 where the installed OpenBLAS exports cblas_sbgemm).
// CUDA: cuBLASLt (fp64, fp32, tf32, bf16, fp16; fp8 E4M3 with per-tensor scales on compute
// capability 8.9 and later, bf16 or fp16 out; int8 with int32 accumulation and output).
//
// FLOPs per call = 2 m n k batch (a multiply and an add per inner-product term; int8 "ops").
// Correctness: `samples` elements of C (spread over every batch) are compared with a
// double-precision reference computed on the host from the same input_value() inputs. The
// tolerance scales with the dtype's unit roundoff and with sum_k |a_ik b_kj| (the magnitude the
// rounding acts on):
//   |c - ref| <= u_out |ref| + (2 u_in + 2 gamma_k(u_acc)) sum_k |a_ik b_kj|
// where u_in is the rounding of inputs inside the library (tf32 only), u_acc the
// accumulation precision and u_out the output precision. int8 is exact: the tolerance is 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/dtype.hpp"
#include "kernels/pattern.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

// Whether a GEMM operand is used as stored (n) or transposed (t), as in BLAS.
enum class Transpose { n, t };
std::string_view to_string(Transpose t);

// Per-tensor scales of the fp8 GEMM (cuBLASLt's A_SCALE and B_SCALE): C = (sa sb) A B with A
// and B the stored fp8 values. Powers of two, so the reference stays exact; not 1, so a scale
// that is ignored is caught.
inline constexpr float kFp8ScaleA = 2.0f;
inline constexpr float kFp8ScaleB = 0.25f;

struct GemmConfig {
  std::int64_t m = 1024;
  std::int64_t n = 1024;
  std::int64_t k = 1024;
  DType dtype = DType::fp32;
  Transpose ta = Transpose::n;  // A stored m x k (n) or k x m (t)
  Transpose tb = Transpose::n;  // B stored k x n (n) or n x k (t)
  std::int64_t batch = 1;       // GEMMs per call, strided batched (A_b at b*m*k, ...)
  DType fp8_output = DType::bf16;  // output of fp8 GEMMs: bf16 or fp16
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
// True when the installed OpenBLAS exports cblas_sbgemm (bf16 inputs, fp32 output); Debian's
// build of 0.3.21 does not.
bool openblas_has_sbgemm();
// Layout rules of the library, independent of the device: "" or what is wrong (fp8 and int8
// need A transposed and B not, cuBLASLt's "TN" format on Ada and Hopper; fp8 output bf16/fp16).
std::string gemm_layout_problem(const GemmConfig& config);
// Does this device have what the configuration needs? "" or why not (e.g. fp8 below compute
// capability 8.9): a "not applicable on this device", not a failure.
std::string gemm_unavailable_on_device(Backend backend, const GemmConfig& config);
// 2 m n k batch.
double gemm_flops(const GemmConfig& config);
// The element type of C: the dtype, fp8_output for fp8, int8 -> int32 (reported as int8).
DType gemm_output_dtype(const GemmConfig& config);
// Kind of inputs (kernels/pattern.hpp input_value) for a dtype.
InputKind gemm_input_kind(DType dtype);
// Linear storage index of op(A)[i,p], op(B)[p,j] and C[i,j] of batch b (column-major).
std::int64_t gemm_a_index(const GemmConfig& c, std::int64_t b, std::int64_t i, std::int64_t p);
std::int64_t gemm_b_index(const GemmConfig& c, std::int64_t b, std::int64_t p, std::int64_t j);
std::int64_t gemm_c_index(const GemmConfig& c, std::int64_t b, std::int64_t i, std::int64_t j);

// Runs, times and checks one GEMM configuration. Throws KernelError on library failures.
// It is open_gemm_session + time_iterations(config.timing) + verify.
GemmRun run_gemm(Backend backend, const GemmConfig& config);

// One GEMM configuration set up once (inputs filled, algorithm chosen, workspace allocated)
// and then run as often as wanted: run_gemm times a few iterations of it, burnin keeps it busy
// for minutes. Every run overwrites C with the same product (beta = 0), so verify() checks the
// result of whichever run came last. Throws KernelError on library failures.
class GemmSession {
 public:
  virtual ~GemmSession() = default;
  GemmSession(const GemmSession&) = delete;
  GemmSession& operator=(const GemmSession&) = delete;

  const GemmConfig& config() const { return config_; }
  // What runs: "openblas sgemm, 4 thread(s)", "cublasLt algo 6 tile 128x256 ...".
  const std::string& algorithm() const { return algorithm_; }
  std::int64_t workspace_bytes() const { return workspace_bytes_; }
  // Seconds per GEMM of each algorithm candidate measured at set-up, in the library's order
  // (+infinity for one that could not run); empty when there is nothing to choose (OpenBLAS).
  // The session starts with the fastest; ranks that must agree on one algorithm (the bits of C
  // depend on it) can combine these figures and choose() the same candidate everywhere.
  const std::vector<double>& candidate_seconds() const { return candidate_seconds_; }
  virtual void choose(std::size_t candidate) = 0;

  // `policy.warmup` untimed GEMMs, then the seconds of each of `policy.iterations` GEMMs.
  virtual std::vector<double> time_iterations(const TimingPolicy& policy) = 0;
  // Queues a batch of `gemms` GEMMs back to back: returns at once where the device runs
  // asynchronously (CUDA), after the batch where it does not (CPU).
  virtual void submit(int gemms) = 0;
  // Waits for the oldest queued batch and returns its seconds (device events on GPU,
  // steady_clock on CPU). Only call with a batch in flight.
  virtual double wait_oldest() = 0;
  virtual std::size_t in_flight() const = 0;
  // Checks C as run_gemm does: fault injection (config.inject_fault), the checksum of all of C,
  // the sampled elements against the reference. Fills checksum, checked, wrong, first_wrong and
  // worst_error_ratio of `run`.
  virtual void verify(GemmRun& run) = 0;

 protected:
  explicit GemmSession(const GemmConfig& config) : config_(config) {}
  GemmConfig config_;
  std::string algorithm_;
  std::int64_t workspace_bytes_ = 0;
  std::vector<double> candidate_seconds_;
};

// Validates the configuration (gemm_supported, positive sizes) and sets a session up.
std::unique_ptr<GemmSession> open_gemm_session(Backend backend, const GemmConfig& config);

// Shared by every backend: reference and tolerance for one element of C.
struct GemmReference {
  double value;      // scale * sum_k a_ik b_kj in double (scale: sa sb for fp8, else 1)
  double abs_sum;    // scale * sum_k |a_ik b_kj|
};
// One element of C: batch, row, column.
struct GemmElement {
  std::int64_t batch = 0, row = 0, col = 0;
  // Spelled out: this header is also compiled as C++17 by nvcc.
  bool operator==(const GemmElement& o) const { return batch == o.batch && row == o.row && col == o.col; }
};
GemmReference gemm_reference(const GemmConfig& config, const GemmElement& e);
// `output` is gemm_output_dtype(config).
double gemm_tolerance(DType dtype, DType output, std::int64_t k, const GemmReference& ref);
// Seeds of A and B derived from the config's seed.
std::uint64_t gemm_seed_a(std::uint64_t seed);
std::uint64_t gemm_seed_b(std::uint64_t seed);
// Which elements of C are checked: deterministic, spread over the matrices, the corners of the
// first and the last batch included.
std::vector<GemmElement> gemm_sample_points(const GemmConfig& config);
// Linear index (gemm_c_index) of the element whose lowest bit inject_fault flips: the middle
// of the last batch, rarely sampled by the check.
std::int64_t gemm_fault_element(const GemmConfig& config);
// Checks the sampled values of C (given in sample order) and fills checked/wrong/first_wrong.
void gemm_check(const GemmConfig& config, const std::vector<double>& sampled_values, GemmRun& run);

namespace detail {
std::unique_ptr<GemmSession> open_gemm_session_cpu(const GemmConfig& config);
#if defined(GPUACCEPT_HAVE_CUDA)
std::unique_ptr<GemmSession> open_gemm_session_cuda(const GemmConfig& config);
int cuda_device_count_impl(std::string* why);
DeviceInfo describe_cuda_device(int ordinal);
std::map<std::string, std::string> cuda_library_versions();
#endif
}  // namespace detail

}  // namespace gpuaccept::kernels
