#include "train/cuda/gemm.hpp"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <cstdint>

#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace gpuaccept::train::cuda {

namespace gpu = kernels::gpu;

namespace {

constexpr std::size_t kWorkspaceBytes = std::size_t{32} << 20;

std::string describe(const GemmShape& s) {
  return fmt::format("row-major {}{} m={} n={} k={} lda={} ldb={} ldc={} out={} batch={} strides={},{},{}", s.ta ? 't' : 'n',
                     s.tb ? 't' : 'n', s.m, s.n, s.k, s.lda, s.ldb, s.ldc, s.output == GemmOutput::bfloat16 ? "bf16" : "fp32",
                     s.batch, s.stride_a, s.stride_b, s.stride_c);
}

// The largest power of two up to 256 (cuBLASLt's default assumption) that divides the address
// and, for a batch, the byte stride between matrices: the heuristic must not pick an
// algorithm that needs more alignment than the operand has.
unsigned alignment(const void* p, std::int64_t stride_elements, std::size_t element_bytes, int batch) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  const auto stride = static_cast<std::uint64_t>(stride_elements) * element_bytes;
  unsigned a = 256;
  while (a > 1 && (address % a != 0 || (batch > 1 && stride % a != 0))) a /= 2;
  return a;
}

cublasOperation_t op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

}  // namespace

std::string gemm_shape_problem(const GemmShape& s) {
  if (s.m < 1 || s.n < 1 || s.k < 1) return fmt::format("gemm: empty product ({})", describe(s));
  if (s.lda < (s.ta ? s.m : s.k)) return fmt::format("gemm: lda shorter than a row of A ({})", describe(s));
  if (s.ldb < (s.tb ? s.k : s.n)) return fmt::format("gemm: ldb shorter than a row of B ({})", describe(s));
  if (s.ldc < s.n) return fmt::format("gemm: ldc shorter than a row of C ({})", describe(s));
  if (s.batch < 1) return fmt::format("gemm: batch must be at least 1 ({})", describe(s));
  if (s.batch > 1 && (s.stride_a < 0 || s.stride_b < 0 || s.stride_c < static_cast<std::int64_t>(s.m) * s.ldc))
    return fmt::format("gemm: batch strides overlap the outputs or are negative ({})", describe(s));
  return {};
}

ColumnMajorProblem column_major_problem(const GemmShape& s) {
  ColumnMajorProblem p;
  const auto u = [](int v) { return static_cast<std::uint64_t>(v); };
  // op(A') = op(B)^T is n x k: B is stored n x k row-major (= k x n column-major) when tb, so
  // op(A') transposes it; otherwise B is k x n row-major = n x k column-major, used as is.
  p.a = {s.tb, u(s.tb ? s.k : s.n), u(s.tb ? s.n : s.k), s.ldb, s.stride_b};
  // op(B') = op(A)^T is k x m, by the same reasoning with A (m x k, or k x m when ta).
  p.b = {s.ta, u(s.ta ? s.m : s.k), u(s.ta ? s.k : s.m), s.lda, s.stride_a};
  p.c = {false, u(s.n), u(s.m), s.ldc, s.stride_c};
  return p;
}

struct Gemm::Plan {
  explicit Plan(const GemmShape& s, const ColumnMajorProblem& p)
      : desc(CUBLAS_COMPUTE_32F, CUDA_R_32F),
        a(CUDA_R_16BF, p.a.rows, p.a.cols, p.a.ld),
        b(CUDA_R_16BF, p.b.rows, p.b.cols, p.b.ld),
        c(s.output == GemmOutput::bfloat16 ? CUDA_R_16BF : CUDA_R_32F, p.c.rows, p.c.cols, p.c.ld) {
    desc.set(CUBLASLT_MATMUL_DESC_TRANSA, op(p.a.transpose));
    desc.set(CUBLASLT_MATMUL_DESC_TRANSB, op(p.b.transpose));
    if (s.batch > 1) {
      const auto count = static_cast<std::int32_t>(s.batch);
      a.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      b.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      c.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      a.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, p.a.batch_stride);
      b.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, p.b.batch_stride);
      c.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, p.c.batch_stride);
    }
  }
  gpu::MatmulDesc desc;
  gpu::MatrixLayout a, b, c;
  cublasLtMatmulAlgo_t algo{};
};

Gemm::Gemm() : workspace_(kWorkspaceBytes) {}
Gemm::~Gemm() = default;

const Gemm::Plan& Gemm::plan(const GemmShape& s, unsigned align_a, unsigned align_b, unsigned align_c) {
  const Key key{s.ta,       s.tb,       s.m,        s.n,    s.k,     s.lda,   s.ldb,   s.ldc,
                static_cast<int>(s.output), s.batch, s.stride_a, s.stride_b, s.stride_c, align_a, align_b, align_c};
  if (const auto found = plans_.find(key); found != plans_.end()) return *found->second;
  if (const auto problem = gemm_shape_problem(s); !problem.empty()) throw kernels::KernelError(problem);
  auto p = std::make_unique<Plan>(s, column_major_problem(s));
  gpu::MatmulPreference preference;
  preference.set(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, std::uint64_t{kWorkspaceBytes});
  preference.set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, std::uint32_t{align_b});  // A' is B
  preference.set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, std::uint32_t{align_a});  // B' is A
  preference.set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, std::uint32_t{align_c});
  preference.set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, std::uint32_t{align_c});
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  GA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_.get(), p->desc.get(), p->a.get(), p->b.get(), p->c.get(),
                                                 p->c.get(), preference.get(), 1, &result, &returned));
  if (returned < 1 || result.state != CUBLAS_STATUS_SUCCESS)
    throw kernels::KernelError(fmt::format("gemm: cuBLASLt has no algorithm for {} (alignments {}, {}, {} bytes) on {}",
                                           describe(s), align_a, align_b, align_c, gpu::process_location()));
  p->algo = result.algo;
  return *plans_.emplace(key, std::move(p)).first->second;
}

void Gemm::run(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, void* c, void* stream) {
  const std::size_t out_bytes = s.output == GemmOutput::bfloat16 ? sizeof(bf16) : sizeof(float);
  const Plan& p = plan(s, alignment(a, s.stride_a, sizeof(bf16), s.batch), alignment(b, s.stride_b, sizeof(bf16), s.batch),
                       alignment(c, s.stride_c, out_bytes, s.batch));
  const auto st = static_cast<cudaStream_t>(stream);
  if (timing_) {
    if (timed_ == starts_.size()) {
      starts_.emplace_back();
      stops_.emplace_back();
    }
    starts_[timed_].record(st);
  }
  GA_CUBLAS_CHECK(cublasLtMatmul(handle_.get(), p.desc.get(), &alpha, b, p.a.get(), a, p.b.get(), &beta, c, p.c.get(), c,
                                 p.c.get(), &p.algo, workspace_.get(), workspace_.bytes(), st));
  if (timing_) stops_[timed_++].record(st);
}

double Gemm::take_seconds() {
  if (timed_ == 0) return 0;
  GA_CUDA_CHECK(cudaEventSynchronize(stops_[timed_ - 1].get()));
  double seconds = 0;
  for (std::size_t i = 0; i < timed_; ++i) seconds += gpu::elapsed_seconds(starts_[i], stops_[i]);
  timed_ = 0;
  return seconds;
}

}  // namespace gpuaccept::train::cuda
