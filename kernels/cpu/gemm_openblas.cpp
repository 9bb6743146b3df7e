// CPU GEMM on OpenBLAS: dgemm (fp64) and sgemm (fp32), column-major, no transposes, as a
// GemmSession (kernels/gemm.hpp) that run_gemm and burnin share.
#include <cblas.h>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
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

// The inputs and output of one GEMM in host memory; OpenBLAS runs synchronously, so a batch
// is done when submit() returns and wait_oldest() only hands back its time.
template <typename T>
class OpenBlasSession final : public GemmSession {
 public:
  explicit OpenBlasSession(const GemmConfig& c) : GemmSession(c) {
    openblas_set_num_threads(c.cpu_threads > 0 ? c.cpu_threads : 1);
    try {
      a_ = fill<T>(gemm_seed_a(c.seed), c.m * c.k);
      b_ = fill<T>(gemm_seed_b(c.seed), c.k * c.n);
      out_.assign(static_cast<std::size_t>(c.m * c.n), T(0));
    } catch (const std::bad_alloc&) {
      throw KernelError(fmt::format("gemm: cannot allocate {:.1f} MiB for m={} n={} k={}",
                                    static_cast<double>((c.m * c.k + c.k * c.n + c.m * c.n) * sizeof(T)) / (1 << 20),
                                    c.m, c.n, c.k));
    }
    algorithm_ = fmt::format("openblas {}gemm, {} thread(s)", sizeof(T) == 8 ? 'd' : 's', openblas_get_num_threads());
  }

  void choose(std::size_t candidate) override {
    throw KernelError(fmt::format("gemm: OpenBLAS has one algorithm; there is no candidate {} to choose", candidate));
  }

  std::vector<double> time_iterations(const TimingPolicy& policy) override {
    return time_host(policy, [this] { multiply(); });
  }

  void submit(int gemms) override {
    const auto start = std::chrono::steady_clock::now();
    for (int g = 0; g < gemms; ++g) multiply();
    done_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  double wait_oldest() override {
    if (done_.empty()) throw KernelError("gemm: wait_oldest() without a batch in flight");
    const double seconds = done_.front();
    done_.pop_front();
    return seconds;
  }

  std::size_t in_flight() const override { return done_.size(); }

  void verify(GemmRun& result) override {
    const GemmConfig& c = config_;
    if (c.inject_fault) {
      auto& victim = out_[static_cast<std::size_t>(gemm_fault_element(c))];
      using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
      Bits bits;
      std::memcpy(&bits, &victim, sizeof bits);
      bits ^= 1u;
      std::memcpy(&victim, &bits, sizeof bits);
    }
    result.checksum = checksum_host(out_.data(), out_.size(), sizeof(T));
    std::vector<double> sampled;
    for (auto [i, j] : gemm_sample_points(c))
      sampled.push_back(static_cast<double>(out_[static_cast<std::size_t>(i + j * c.m)]));
    gemm_check(c, sampled, result);
  }

 private:
  void multiply() {
    const auto m = static_cast<blasint>(config_.m), n = static_cast<blasint>(config_.n),
               k = static_cast<blasint>(config_.k);
    if constexpr (sizeof(T) == 8)
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a_.data(), m, b_.data(), k, 0.0,
                  out_.data(), m);
    else
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a_.data(), m, b_.data(), k, 0.0f,
                  out_.data(), m);
  }

  std::vector<T> a_, b_, out_;
  std::deque<double> done_;  // seconds of the batches not yet handed back
};

}  // namespace

std::unique_ptr<GemmSession> open_gemm_session_cpu(const GemmConfig& config) {
  switch (config.dtype) {
    case DType::fp64: return std::make_unique<OpenBlasSession<double>>(config);
    case DType::fp32: return std::make_unique<OpenBlasSession<float>>(config);
    default: throw KernelError(fmt::format("gemm: dtype {} is not available on the CPU backend",
                                           to_string(config.dtype)));
  }
}

}  // namespace gpuaccept::kernels::detail
