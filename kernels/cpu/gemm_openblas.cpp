// CPU GEMM on OpenBLAS: dgemm (fp64) and sgemm (fp32), column-major, no transposes.
#include <cblas.h>

#include <fmt/format.h>

#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "kernels/checksum.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pattern.hpp"

namespace gpuaccept::kernels::detail {

namespace {

template <typename T>
std::vector<T> fill(std::uint64_t seed, std::int64_t count) {
  std::vector<T> v(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i)
    v[static_cast<std::size_t>(i)] = static_cast<T>(pattern_value(seed, static_cast<std::uint64_t>(i)));
  return v;
}

template <typename T>
GemmRun run(const GemmConfig& c) {
  std::vector<T> a, b, out;
  try {
    a = fill<T>(gemm_seed_a(c.seed), c.m * c.k);
    b = fill<T>(gemm_seed_b(c.seed), c.k * c.n);
    out.assign(static_cast<std::size_t>(c.m * c.n), T(0));
  } catch (const std::bad_alloc&) {
    throw KernelError(fmt::format("gemm: cannot allocate {:.1f} MiB for m={} n={} k={}",
                                  static_cast<double>((c.m * c.k + c.k * c.n + c.m * c.n) * sizeof(T)) / (1 << 20),
                                  c.m, c.n, c.k));
  }
  const auto m = static_cast<blasint>(c.m), n = static_cast<blasint>(c.n), k = static_cast<blasint>(c.k);
  auto op = [&] {
    if constexpr (sizeof(T) == 8)
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a.data(), m, b.data(), k,
                  0.0, out.data(), m);
    else
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), m, b.data(),
                  k, 0.0f, out.data(), m);
  };
  GemmRun result;
  result.iteration_seconds = time_host(c.timing, op);
  result.algorithm = fmt::format("openblas {}gemm, {} thread(s)", sizeof(T) == 8 ? 'd' : 's',
                                 openblas_get_num_threads());
  if (c.inject_fault) {
    auto& victim = out[static_cast<std::size_t>(gemm_fault_element(c))];
    using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    Bits bits;
    std::memcpy(&bits, &victim, sizeof bits);
    bits ^= 1u;
    std::memcpy(&victim, &bits, sizeof bits);
  }
  result.checksum = checksum_host(out.data(), out.size(), sizeof(T));
  std::vector<double> sampled;
  for (auto [i, j] : gemm_sample_points(c))
    sampled.push_back(static_cast<double>(out[static_cast<std::size_t>(i + j * c.m)]));
  gemm_check(c, sampled, result);
  return result;
}

}  // namespace

GemmRun run_gemm_cpu(const GemmConfig& config) {
  openblas_set_num_threads(config.cpu_threads > 0 ? config.cpu_threads : 1);
  switch (config.dtype) {
    case DType::fp64: return run<double>(config);
    case DType::fp32: return run<float>(config);
    default: throw KernelError(fmt::format("gemm: dtype {} is not available on the CPU backend",
                                           to_string(config.dtype)));
  }
}

}  // namespace gpuaccept::kernels::detail
