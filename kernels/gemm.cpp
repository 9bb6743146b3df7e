#include "kernels/gemm.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>

#include "kernels/pattern.hpp"

namespace gpuaccept::kernels {

namespace {

struct Roundoff {
  double in;   // rounding of the inputs inside the library (tf32 truncates fp32 inputs)
  double acc;  // accumulation
  double out;  // the stored result
};

Roundoff roundoff(DType dtype) {
  constexpr double fp64 = 0x1p-53, fp32 = 0x1p-24, tf32 = 0x1p-11, bf16 = 0x1p-8, fp16 = 0x1p-11;
  switch (dtype) {
    case DType::fp64: return {0, fp64, fp64};
    case DType::fp32: return {0, fp32, fp32};
    case DType::tf32: return {tf32, fp32, fp32};
    // bf16/fp16 inputs are exact (pattern values have 8 significant bits); fp32 accumulation.
    case DType::bf16: return {0, fp32, bf16};
    case DType::fp16: return {0, fp32, fp16};
    // fp8 inputs are exact (input_value's fp8 kind); fp32 accumulation (cuBLASLt's fast
    // accumulation is left off); the output is bf16 or fp16 (see gemm_tolerance).
    case DType::fp8: return {0, fp32, bf16};
    case DType::int8: return {0, 0, 0};  // integers: exact
  }
  return {0, fp32, fp32};
}

double output_roundoff(DType output) {
  switch (output) {
    case DType::bf16: return 0x1p-8;
    case DType::fp16: return 0x1p-11;
    case DType::fp64: return 0x1p-53;
    case DType::int8: return 0;
    default: return 0x1p-24;
  }
}

}  // namespace

std::uint64_t gemm_seed_a(std::uint64_t seed) { return mix64(seed * 2 + 1); }
std::uint64_t gemm_seed_b(std::uint64_t seed) { return mix64(seed * 2 + 2); }

std::string_view to_string(Transpose t) { return t == Transpose::n ? "n" : "t"; }

double gemm_flops(const GemmConfig& c) {
  return 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k) *
         static_cast<double>(c.batch);
}

DType gemm_output_dtype(const GemmConfig& c) { return c.dtype == DType::fp8 ? c.fp8_output : c.dtype; }

InputKind gemm_input_kind(DType dtype) {
  switch (dtype) {
    case DType::fp8: return InputKind::fp8;
    case DType::int8: return InputKind::int8;
    default: return InputKind::pattern;
  }
}

// A is stored m x k (lda m) or, transposed, k x m (lda k); B k x n (ldb k) or n x k (ldb n).
std::int64_t gemm_a_index(const GemmConfig& c, std::int64_t b, std::int64_t i, std::int64_t p) {
  return b * c.m * c.k + (c.ta == Transpose::n ? i + p * c.m : p + i * c.k);
}
std::int64_t gemm_b_index(const GemmConfig& c, std::int64_t b, std::int64_t p, std::int64_t j) {
  return b * c.k * c.n + (c.tb == Transpose::n ? p + j * c.k : j + p * c.n);
}
std::int64_t gemm_c_index(const GemmConfig& c, std::int64_t b, std::int64_t i, std::int64_t j) {
  return b * c.m * c.n + i + j * c.m;
}

GemmReference gemm_reference(const GemmConfig& c, const GemmElement& e) {
  const auto seed_a = gemm_seed_a(c.seed), seed_b = gemm_seed_b(c.seed);
  const InputKind kind = gemm_input_kind(c.dtype);
  double sum = 0, abs_sum = 0;
  for (std::int64_t p = 0; p < c.k; ++p) {
    const double a = input_value(kind, seed_a, static_cast<std::uint64_t>(gemm_a_index(c, e.batch, e.row, p)));
    const double b = input_value(kind, seed_b, static_cast<std::uint64_t>(gemm_b_index(c, e.batch, p, e.col)));
    sum += a * b;
    abs_sum += std::fabs(a * b);
  }
  const double scale = c.dtype == DType::fp8 ? double{kFp8ScaleA} * double{kFp8ScaleB} : 1.0;
  return {scale * sum, scale * abs_sum};
}

double gemm_tolerance(DType dtype, DType output, std::int64_t k, const GemmReference& ref) {
  // The rigorous forward bound for a k-term inner product is gamma_k = k u / (1 - k u) times
  // sum |a b|; blocked and split-k orders do no worse. Twice that keeps honest results far
  // from the edge while a wrong element (off by about |ref|, i.e. ~ sum|ab| / sqrt(k)) is caught.
  // int8: integer products summed in int32 are exact (inputs keep the sum below 2^31).
  if (dtype == DType::int8) return 0;
  Roundoff u = roundoff(dtype);
  if (dtype == DType::fp8) u.out = output_roundoff(output);
  const double kd = static_cast<double>(k);
  const double gamma = kd * u.acc / std::max(1e-3, 1.0 - kd * u.acc);
  return u.out * std::fabs(ref.value) + (2 * u.in + 2 * gamma) * ref.abs_sum + 1e-300;
}

std::vector<GemmElement> gemm_sample_points(const GemmConfig& c) {
  std::vector<GemmElement> points;
  const auto want = static_cast<std::size_t>(std::max(c.samples, 1));
  const std::int64_t last = std::max<std::int64_t>(c.batch, 1) - 1;
  points.push_back({0, 0, 0});
  points.push_back({last, c.m - 1, c.n - 1});
  points.push_back({0, c.m - 1, 0});
  points.push_back({last, 0, c.n - 1});
  std::uint64_t state = c.seed ^ 0x5A5A5A5Aull;
  while (points.size() < want) {
    state = mix64(state);
    const auto i = static_cast<std::int64_t>(state % static_cast<std::uint64_t>(c.m));
    const auto j = static_cast<std::int64_t>((state >> 32) % static_cast<std::uint64_t>(c.n));
    const auto b = static_cast<std::int64_t>(mix64(state) % static_cast<std::uint64_t>(last + 1));
    points.push_back({b, i, j});
  }
  points.resize(std::min(points.size(), want));
  return points;
}

std::int64_t gemm_fault_element(const GemmConfig& c) {
  // The middle of the last batch: corners are always sampled, and the middle rarely is; even
  // when it is, a flip of the lowest bit stays inside the tolerance (except for exact int8,
  // where the check then catches it too).
  return gemm_c_index(c, std::max<std::int64_t>(c.batch, 1) - 1, c.m / 2, c.n / 2);
}

void gemm_check(const GemmConfig& c, const std::vector<double>& sampled, GemmRun& run) {
  const auto points = gemm_sample_points(c);
  const DType output = gemm_output_dtype(c);
  run.checked = 0;
  run.wrong = 0;
  run.worst_error_ratio = 0;
  for (std::size_t s = 0; s < points.size() && s < sampled.size(); ++s) {
    const GemmElement& e = points[s];
    const GemmReference ref = gemm_reference(c, e);
    const double tol = gemm_tolerance(c.dtype, output, c.k, ref);
    const double err = std::fabs(sampled[s] - ref.value);
    // Exact comparisons (int8) report 0 for a match and infinity otherwise.
    const double ratio = !std::isfinite(err) ? INFINITY : tol > 0 ? err / tol : (err == 0 ? 0.0 : INFINITY);
    run.worst_error_ratio = std::max(run.worst_error_ratio, ratio);
    ++run.checked;
    if (!(ratio <= 1.0)) {
      if (run.wrong == 0)
        run.first_wrong = c.batch > 1
                              ? fmt::format("C[{}][{},{}] = {:.9g}, expected {:.9g} (tolerance {:.3g})", e.batch,
                                            e.row, e.col, sampled[s], ref.value, tol)
                              : fmt::format("C[{},{}] = {:.9g}, expected {:.9g} (tolerance {:.3g})", e.row, e.col,
                                            sampled[s], ref.value, tol);
      ++run.wrong;
    }
  }
}

bool openblas_has_sbgemm() {
  // Looked up at run time: the header declares it whether or not the library was built with
  // BUILD_BFLOAT16, and a reference to a missing symbol would not link.
  static const bool present = dlsym(RTLD_DEFAULT, "cblas_sbgemm") != nullptr;
  return present;
}

bool gemm_supported(Backend backend, DType dtype, std::string* reason) {
  if (backend == Backend::cuda) {
    if (!cuda_compiled()) {
      if (reason) *reason = "this gpuaccept was built without CUDA";
      return false;
    }
    return true;
  }
  if (dtype == DType::fp64 || dtype == DType::fp32) return true;
  if (dtype == DType::bf16) {
    if (openblas_has_sbgemm()) return true;
    if (reason)
      *reason = "bf16 GEMM is not applicable on this backend: the installed OpenBLAS has no cblas_sbgemm "
                "(built without BUILD_BFLOAT16); it runs on the cuda backend";
    return false;
  }
  if (reason)
    *reason = fmt::format("{} GEMM is not applicable on this backend: OpenBLAS has none; it runs on the cuda backend",
                          to_string(dtype));
  return false;
}

std::string gemm_layout_problem(const GemmConfig& c) {
  if (c.dtype == DType::fp8 && c.fp8_output != DType::bf16 && c.fp8_output != DType::fp16)
    return fmt::format("fp8 GEMM output must be bf16 or fp16, not {}", to_string(c.fp8_output));
  if ((c.dtype == DType::fp8 || c.dtype == DType::int8) && (c.ta != Transpose::t || c.tb != Transpose::n))
    return fmt::format("{} GEMM needs ta: t and tb: n (cuBLASLt's \"TN\" format for fp8 and int8 tensor cores); got "
                       "ta: {}, tb: {}",
                       to_string(c.dtype), to_string(c.ta), to_string(c.tb));
  if (c.dtype == DType::int8 && (c.m % 4 != 0 || c.k % 4 != 0))
    return fmt::format("int8 GEMM needs m and k to be multiples of 4 (cuBLASLt's int8 kernels); got m={}, k={}", c.m,
                       c.k);
  if (c.dtype == DType::fp8 && (c.m % 16 != 0 || c.n % 16 != 0 || c.k % 16 != 0))
    return fmt::format("fp8 GEMM needs m, n and k to be multiples of 16 (cuBLASLt's fp8 kernels); got m={}, n={}, k={}",
                       c.m, c.n, c.k);
  return {};
}

std::string gemm_unavailable_on_device(Backend backend, const GemmConfig& c) {
  if (backend != Backend::cuda || c.dtype != DType::fp8) return {};
  const DeviceInfo info = describe_device(backend, c.device);
  if (info.compute_capability >= 89) return {};
  return fmt::format("fp8 GEMM is not applicable on this device: {} has compute capability {}.{}, fp8 tensor cores "
                     "need 8.9 (Ada) or later",
                     info.name, info.compute_capability / 10, info.compute_capability % 10);
}

std::unique_ptr<GemmSession> open_gemm_session(Backend backend, const GemmConfig& config) {
  std::string reason;
  if (!gemm_supported(backend, config.dtype, &reason)) throw KernelError(reason);
  if (config.m <= 0 || config.n <= 0 || config.k <= 0 || config.batch <= 0)
    throw KernelError(fmt::format("gemm: m, n, k and batch must be positive (got {}, {}, {}, {})", config.m,
                                  config.n, config.k, config.batch));
  if (const std::string problem = gemm_layout_problem(config); !problem.empty()) throw KernelError("gemm: " + problem);
  if (const std::string why = gemm_unavailable_on_device(backend, config); !why.empty()) throw NotApplicable(why);
#if defined(GPUACCEPT_HAVE_CUDA)
  if (backend == Backend::cuda) return detail::open_gemm_session_cuda(config);
#endif
  return detail::open_gemm_session_cpu(config);
}

GemmRun run_gemm(Backend backend, const GemmConfig& config) {
  const auto session = open_gemm_session(backend, config);
  GemmRun result;
  result.algorithm = session->algorithm();
  result.workspace_bytes = session->workspace_bytes();
  result.iteration_seconds = session->time_iterations(config.timing);
  session->verify(result);
  return result;
}

}  // namespace gpuaccept::kernels
