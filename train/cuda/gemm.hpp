// The matrix products of the GPT model on the GPU: cuBLASLt, bf16 inputs, fp32 accumulation
// (CUBLAS_COMPUTE_32F, fp32 alpha and beta), bf16 or fp32 output, optionally strided-batched.
//
// Row-major, as the CPU model's gemm() (train/cpu/layers.hpp): C (m x n) = alpha op(A) op(B) +
// beta C, op(A) m x k, op(B) k x n, op = transpose when ta / tb; lda, ldb, ldc are row strides.
// cuBLASLt is column-major: a row-major matrix is the column-major matrix of its transpose, so
// the product is computed as C^T = op(B)^T op(A)^T with the operands swapped (A' = B, B' = A,
// m' = n, n' = m), which needs no copy.
//
// Each distinct shape is planned once (matmul descriptor, three layouts, the first algorithm
// of cuBLASLt's heuristic for the pointers' actual alignment) and reused. The handle,
// descriptors and layouts are kernels/cuda/cuda_raii.hpp's RAII owners; failures throw
// kernels::KernelError with cuBLASLt's own status (GA_CUBLAS_CHECK).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/cuda_raii.hpp"
#include "train/cuda/kernels.hpp"

namespace gpuaccept::train::cuda {

enum class GemmOutput { bfloat16, float32 };

struct GemmShape {
  bool ta = false;
  bool tb = false;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
  GemmOutput output = GemmOutput::bfloat16;
  int batch = 1;  // strided batch: matrix i of A starts at a + i * stride_a (elements), etc.
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// "" or what is inconsistent in the shape (a leading dimension shorter than a row, ...).
std::string gemm_shape_problem(const GemmShape& s);

// The column-major problem handed to cuBLASLt for a row-major shape: D' = op(A') op(B') with
// A' the row-major B and B' the row-major A (pointers swapped), C' the row-major C read as an
// n x m column-major matrix. Each operand as cuBLASLt's layout describes it: stored rows and
// columns, leading dimension, batch stride (elements), and whether its op transposes it.
struct ColumnMajorOperand {
  bool transpose = false;
  std::uint64_t rows = 0, cols = 0;
  std::int64_t ld = 0;
  std::int64_t batch_stride = 0;
};
struct ColumnMajorProblem {
  ColumnMajorOperand a, b, c;
};
ColumnMajorProblem column_major_problem(const GemmShape& s);

class Gemm {
 public:
  Gemm();  // on the current CUDA device
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // C = alpha op(A) op(B) + beta C on `stream` (a cudaStream_t). `c` holds bf16 or float as
  // shape.output says (bfloat16 or float32). beta = 0: C is not read.
  void run(const GemmShape& shape, float alpha, const bf16* a, const bf16* b, float beta, void* c, void* stream);

  // With timing on, every run() is bracketed by a pair of CUDA events on its stream.
  // take_seconds() waits for the last of them and returns the GEMM time since the last call.
  void set_timing(bool on) { timing_ = on; }
  double take_seconds();
  std::size_t plans() const { return plans_.size(); }

 private:
  struct Plan;
  // The shape, the three alignments (bytes) the plan was chosen for.
  using Key = std::tuple<bool, bool, int, int, int, int, int, int, int, int, std::int64_t, std::int64_t, std::int64_t,
                         unsigned, unsigned, unsigned>;
  const Plan& plan(const GemmShape& s, unsigned align_a, unsigned align_b, unsigned align_c);

  kernels::gpu::LtHandle handle_;
  kernels::gpu::DeviceBuffer workspace_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  bool timing_ = false;
  std::vector<kernels::gpu::Event> starts_, stops_;  // reused from one take_seconds() to the next
  std::size_t timed_ = 0;                             // pairs recorded since then
};

}  // namespace gpuaccept::train::cuda
