// CPU GEMM on OpenBLAS: dgemm (fp64), sgemm (fp32) and, where the installed OpenBLAS exports it,
// sbgemm (bf16 inputs, fp32 output); column-major, either operand transposed, strided batches
// as a loop of single GEMMs (OpenBLAS 0.3.21 has no strided-batched call). A GemmSession
// (kernels/gemm.hpp) that run_gemm, burnin and gpuaccept-kernels share.
#include <cblas.h>
#include <dlfcn.h>

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

// bf16 as OpenBLAS stores it: the upper half of an IEEE fp32.
struct Bf16 {
  std::uint16_t bits;
};

// cblas_sbgemm's signature, looked up at run time (see openblas_has_sbgemm()).
using SbgemmFn = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint, float,
                          const Bf16*, blasint, const Bf16*, blasint, float, float*, blasint);

template <typename In>
In to_input(float v) {
  if constexpr (std::is_same_v<In, Bf16>) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return Bf16{static_cast<std::uint16_t>(bits >> 16)};  // exact: pattern values have 8 significant bits
  } else {
    return static_cast<In>(v);
  }
}

template <typename In>
std::vector<In> fill(std::uint64_t seed, std::int64_t count) {
  std::vector<In> v(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i)
    v[static_cast<std::size_t>(i)] = to_input<In>(pattern_value(seed, static_cast<std::uint64_t>(i)));
  return v;
}

CBLAS_TRANSPOSE op(Transpose t) { return t == Transpose::n ? CblasNoTrans : CblasTrans; }

// The inputs and output of one (batched) GEMM in host memory; OpenBLAS runs synchronously, so
// a batch of calls is done when submit() returns and wait_oldest() only hands back its time.
// In: element type of A and B; Out: of C.
template <typename In, typename Out>
class OpenBlasSession final : public GemmSession {
 public:
  explicit OpenBlasSession(const GemmConfig& c) : GemmSession(c) {
    openblas_set_num_threads(c.cpu_threads > 0 ? c.cpu_threads : 1);
    if constexpr (std::is_same_v<In, Bf16>) {
      sbgemm_ = reinterpret_cast<SbgemmFn>(dlsym(RTLD_DEFAULT, "cblas_sbgemm"));
      if (sbgemm_ == nullptr) throw NotApplicable("bf16 GEMM: the installed OpenBLAS has no cblas_sbgemm");
    }
    try {
      a_ = fill<In>(gemm_seed_a(c.seed), c.m * c.k * c.batch);
      b_ = fill<In>(gemm_seed_b(c.seed), c.k * c.n * c.batch);
      out_.assign(static_cast<std::size_t>(c.m * c.n * c.batch), Out(0));
    } catch (const std::bad_alloc&) {
      throw KernelError(fmt::format(
          "gemm: cannot allocate {:.1f} MiB for m={} n={} k={} batch={}",
          static_cast<double>(((c.m * c.k + c.k * c.n) * sizeof(In) + c.m * c.n * sizeof(Out)) * c.batch) / (1 << 20),
          c.m, c.n, c.k, c.batch));
    }
    const char* routine = std::is_same_v<In, Bf16> ? "sbgemm" : sizeof(In) == 8 ? "dgemm" : "sgemm";
    algorithm_ = fmt::format("openblas {} {}{}{}, {} thread(s)", routine, to_string(c.ta), to_string(c.tb),
                             c.batch > 1 ? fmt::format(", {} GEMMs in a loop", c.batch) : std::string(),
                             openblas_get_num_threads());
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
      using Bits = std::conditional_t<sizeof(Out) == 8, std::uint64_t, std::uint32_t>;
      Bits bits;
      std::memcpy(&bits, &victim, sizeof bits);
      bits ^= 1u;
      std::memcpy(&victim, &bits, sizeof bits);
    }
    result.checksum = checksum_host(out_.data(), out_.size(), sizeof(Out));
    std::vector<double> sampled;
    for (const GemmElement& e : gemm_sample_points(c))
      sampled.push_back(static_cast<double>(out_[static_cast<std::size_t>(gemm_c_index(c, e.batch, e.row, e.col))]));
    gemm_check(c, sampled, result);
  }

 private:
  void multiply() {
    const GemmConfig& c = config_;
    const auto m = static_cast<blasint>(c.m), n = static_cast<blasint>(c.n), k = static_cast<blasint>(c.k);
    const auto lda = static_cast<blasint>(c.ta == Transpose::n ? c.m : c.k);
    const auto ldb = static_cast<blasint>(c.tb == Transpose::n ? c.k : c.n);
    for (std::int64_t b = 0; b < c.batch; ++b) {
      const In* a = a_.data() + b * c.m * c.k;
      const In* bm = b_.data() + b * c.k * c.n;
      Out* out = out_.data() + b * c.m * c.n;
      if constexpr (std::is_same_v<In, Bf16>)
        sbgemm_(CblasColMajor, op(c.ta), op(c.tb), m, n, k, 1.0f, a, lda, bm, ldb, 0.0f, out, m);
      else if constexpr (sizeof(In) == 8)
        cblas_dgemm(CblasColMajor, op(c.ta), op(c.tb), m, n, k, 1.0, a, lda, bm, ldb, 0.0, out, m);
      else
        cblas_sgemm(CblasColMajor, op(c.ta), op(c.tb), m, n, k, 1.0f, a, lda, bm, ldb, 0.0f, out, m);
    }
  }

  std::vector<In> a_, b_;
  std::vector<Out> out_;
  SbgemmFn sbgemm_ = nullptr;
  std::deque<double> done_;  // seconds of the batches not yet handed back
};

}  // namespace

std::unique_ptr<GemmSession> open_gemm_session_cpu(const GemmConfig& config) {
  switch (config.dtype) {
    case DType::fp64: return std::make_unique<OpenBlasSession<double, double>>(config);
    case DType::fp32: return std::make_unique<OpenBlasSession<float, float>>(config);
    case DType::bf16: return std::make_unique<OpenBlasSession<Bf16, float>>(config);
    default: throw NotApplicable(fmt::format("gemm: {} is not applicable on the CPU backend", to_string(config.dtype)));
  }
}

}  // namespace gpuaccept::kernels::detail
