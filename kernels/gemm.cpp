#include "kernels/gemm.hpp"

#include <fmt/format.h>

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
  }
  return {0, fp32, fp32};
}

}  // namespace

std::uint64_t gemm_seed_a(std::uint64_t seed) { return mix64(seed * 2 + 1); }
std::uint64_t gemm_seed_b(std::uint64_t seed) { return mix64(seed * 2 + 2); }

GemmReference gemm_reference(const GemmConfig& c, std::int64_t i, std::int64_t j) {
  const auto seed_a = gemm_seed_a(c.seed), seed_b = gemm_seed_b(c.seed);
  double sum = 0, abs_sum = 0;
  for (std::int64_t p = 0; p < c.k; ++p) {
    // Column-major: A is m x k (A[i,p] at i + p*m), B is k x n (B[p,j] at p + j*k).
    const double a = pattern_value(seed_a, static_cast<std::uint64_t>(i + p * c.m));
    const double b = pattern_value(seed_b, static_cast<std::uint64_t>(p + j * c.k));
    sum += a * b;
    abs_sum += std::fabs(a * b);
  }
  return {sum, abs_sum};
}

double gemm_tolerance(DType dtype, std::int64_t k, const GemmReference& ref) {
  // The rigorous forward bound for a k-term inner product is gamma_k = k u / (1 - k u) times
  // sum |a b|; blocked and split-k orders do no worse. Twice that keeps honest results far
  // from the edge while a wrong element (off by about |ref|, i.e. ~ sum|ab| / sqrt(k)) is caught.
  const Roundoff u = roundoff(dtype);
  const double kd = static_cast<double>(k);
  const double gamma = kd * u.acc / std::max(1e-3, 1.0 - kd * u.acc);
  return u.out * std::fabs(ref.value) + (2 * u.in + 2 * gamma) * ref.abs_sum + 1e-300;
}

std::vector<std::pair<std::int64_t, std::int64_t>> gemm_sample_points(const GemmConfig& c) {
  std::vector<std::pair<std::int64_t, std::int64_t>> points;
  const auto want = static_cast<std::size_t>(std::max(c.samples, 1));
  points.push_back({0, 0});
  points.push_back({c.m - 1, c.n - 1});
  points.push_back({c.m - 1, 0});
  points.push_back({0, c.n - 1});
  std::uint64_t state = c.seed ^ 0x5A5A5A5Aull;
  while (points.size() < want) {
    state = mix64(state);
    const auto i = static_cast<std::int64_t>(state % static_cast<std::uint64_t>(c.m));
    const auto j = static_cast<std::int64_t>((state >> 32) % static_cast<std::uint64_t>(c.n));
    points.push_back({i, j});
  }
  points.resize(std::min(points.size(), want));
  return points;
}

std::int64_t gemm_fault_element(const GemmConfig& c) {
  // The middle of C: corners are always sampled, and the middle rarely is; even when it
  // is, a flip of the lowest bit stays inside the tolerance.
  return (c.m / 2) + (c.n / 2) * c.m;
}

void gemm_check(const GemmConfig& c, const std::vector<double>& sampled, GemmRun& run) {
  const auto points = gemm_sample_points(c);
  run.checked = 0;
  run.wrong = 0;
  run.worst_error_ratio = 0;
  for (std::size_t s = 0; s < points.size() && s < sampled.size(); ++s) {
    const auto [i, j] = points[s];
    const GemmReference ref = gemm_reference(c, i, j);
    const double tol = gemm_tolerance(c.dtype, c.k, ref);
    const double err = std::fabs(sampled[s] - ref.value);
    const double ratio = std::isfinite(err) ? err / tol : INFINITY;
    run.worst_error_ratio = std::max(run.worst_error_ratio, ratio);
    ++run.checked;
    if (!(ratio <= 1.0)) {
      if (run.wrong == 0)
        run.first_wrong = fmt::format("C[{},{}] = {:.9g}, expected {:.9g} (tolerance {:.3g})", i, j,
                                      sampled[s], ref.value, tol);
      ++run.wrong;
    }
  }
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
  if (reason)
    *reason = fmt::format("the CPU backend (OpenBLAS) has no {} GEMM; it runs on the cuda backend",
                          to_string(dtype));
  return false;
}

std::unique_ptr<GemmSession> open_gemm_session(Backend backend, const GemmConfig& config) {
  std::string reason;
  if (!gemm_supported(backend, config.dtype, &reason)) throw KernelError(reason);
  if (config.m <= 0 || config.n <= 0 || config.k <= 0)
    throw KernelError(fmt::format("gemm: m, n and k must be positive (got {}, {}, {})", config.m,
                                  config.n, config.k));
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
