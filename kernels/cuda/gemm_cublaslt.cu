// GEMM on cuBLASLt: C_b = op(A_b) op(B_b) for b < batch (strided batched), column-major, op(A)
// m x k, op(B) k x n, C m x n, op = n (as stored) or t (transposed; CUBLASLT_MATMUL_DESC_TRANSA/B).
//
// Measures: the time of one cublasLtMatmul with the fastest of up to 8 algorithms that the
// cuBLASLt heuristic proposes for this shape (64 MiB workspace), each iteration between its
// own pair of CUDA events on one stream. FLOPs per iteration = 2 m n k batch (kernels/gemm.hpp).
// Set up once as a GemmSession: run_gemm times single calls; burnin queues batches of calls,
// each batch between one event pair, two batches in flight so that the GPU never waits.
//
//   dtype  A, B               C                compute                        scale
//   fp64   CUDA_R_64F         CUDA_R_64F       CUBLAS_COMPUTE_64F             CUDA_R_64F
//   fp32   CUDA_R_32F         CUDA_R_32F       CUBLAS_COMPUTE_32F             CUDA_R_32F
//   tf32   CUDA_R_32F         CUDA_R_32F       CUBLAS_COMPUTE_32F_FAST_TF32   CUDA_R_32F
//   bf16   CUDA_R_16BF        CUDA_R_16BF      CUBLAS_COMPUTE_32F             CUDA_R_32F
//   fp16   CUDA_R_16F         CUDA_R_16F       CUBLAS_COMPUTE_32F             CUDA_R_32F
//   fp8    CUDA_R_8F_E4M3     CUDA_R_16BF/16F  CUBLAS_COMPUTE_32F             CUDA_R_32F
//   int8   CUDA_R_8I          CUDA_R_32I       CUBLAS_COMPUTE_32I             CUDA_R_32I
//
// fp8: per-tensor scales A_SCALE = kFp8ScaleA and B_SCALE = kFp8ScaleB (device pointers, as
// cuBLASLt requires), fast accumulation off; needs compute capability 8.9 and the "TN" layout
// (ta: t, tb: n; checked by gemm_layout_problem). int8: "TN", m and k multiples of 4.
//
// Inputs are filled on the device from input_value() with the same element indices as the
// host reference (gemm_a_index, gemm_b_index), so the host computes the reference for any
// element of C; only the sampled elements of C are copied back, and gemm_check() compares them
// (tolerance in kernels/gemm.cpp).
//
// Needs: a CUDA GPU, sm_80 or later for the bf16 and tf32 tensor-core paths, sm_89 for fp8.
// Reached through open_gemm_session(Backend::cuda, config): the gemm and burnin benchmarks of
// suites/ and gpuaccept-kernels.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"
#include "kernels/checksum.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pattern.hpp"

namespace gpuaccept::kernels::detail {

namespace {

// This file does without fmt: nvcc cannot compile fmt 9's headers in C++20 mode, and the
// CUDA standard is the build's choice, not this file's.
std::string str(std::string_view text) { return std::string(text); }
std::string str(const char* text) { return std::string(text); }
std::string str(const std::string& text) { return text; }
template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
std::string str(N number) {
  return std::to_string(number);
}
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string out;
  ((out += str(parts)), ...);
  return out;
}

constexpr std::size_t kWorkspaceBytes = std::size_t{64} << 20;
constexpr int kHeuristicCandidates = 8;
constexpr int kSelectionRuns = 3;  // timed runs per candidate, after one untimed run
constexpr int kThreadsPerBlock = 256;

struct LtTypes {
  cudaDataType_t input;   // A and B
  cudaDataType_t output;  // C and D
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

LtTypes lt_types(DType dtype, DType output) {
  switch (dtype) {
    case DType::fp64: return {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F};
    case DType::fp32: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::tf32: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F};
    case DType::bf16: return {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::fp16: return {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::fp8:
      return {CUDA_R_8F_E4M3, output == DType::fp16 ? CUDA_R_16F : CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case DType::int8: return {CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I};
  }
  throw KernelError("gemm: unknown dtype");
}

template <typename T>
__device__ T from_float(float v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __float2bfloat16_rn(v);  // exact: pattern values have 8 significant bits
  else if constexpr (std::is_same_v<T, __half>)
    return __float2half_rn(v);      // exact, as above
  else if constexpr (std::is_same_v<T, __nv_fp8_e4m3>)
    return __nv_fp8_e4m3(v);        // exact: input_value's fp8 kind has 3 mantissa bits
  else
    return static_cast<T>(v);       // int8: input_value's int8 kind is an integer
}

template <typename T>
__device__ double to_double(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return static_cast<double>(__bfloat162float(v));
  else if constexpr (std::is_same_v<T, __half>)
    return static_cast<double>(__half2float(v));
  else
    return static_cast<double>(v);
}

// out[e] = input_value(kind, seed, e) for every linear (column-major) element index e.
template <typename T>
__global__ void fill_pattern(T* out, std::uint64_t count, std::uint64_t seed, InputKind kind) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t e = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < count; e += stride)
    out[e] = from_float<T>(input_value(kind, seed, e));
}

// values[s] = c[offsets[s]] as double: the sampled elements of C, in sample order.
template <typename T>
__global__ void gather_as_double(const T* c, const std::int64_t* offsets, double* values, int count) {
  const int s = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (s < count) values[s] = to_double(c[offsets[s]]);
}

// sum += checksum_term(e, bits of c[e]) over every element (order-independent, so the
// parallel sum equals kernels::checksum_host over the same bits).
template <typename T>
__global__ void checksum_kernel(const T* c, std::uint64_t count, unsigned long long* sum) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  using Bits = std::conditional_t<sizeof(T) == 8, unsigned long long,
                                  std::conditional_t<sizeof(T) == 4, unsigned int, unsigned short>>;
  const auto* raw = reinterpret_cast<const Bits*>(c);
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  unsigned long long local = 0;
  for (std::uint64_t e = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < count; e += stride)
    local += checksum_term(e, static_cast<std::uint64_t>(raw[e]));
  atomicAdd(sum, local);
}

// Flips the lowest bit of c[element] (fault injection for the detector's tests).
template <typename T>
__global__ void flip_low_bit(T* c, std::int64_t element) {
  using Bits = std::conditional_t<sizeof(T) == 8, unsigned long long,
                                  std::conditional_t<sizeof(T) == 4, unsigned int, unsigned short>>;
  auto* raw = reinterpret_cast<Bits*>(c);
  raw[element] = static_cast<Bits>(raw[element] ^ 1u);
}

template <typename T>
void fill_on_device(T* out, std::uint64_t count, std::uint64_t seed, InputKind kind, cudaStream_t stream) {
  if (count == 0) return;
  const std::uint64_t blocks =
      std::min<std::uint64_t>((count + kThreadsPerBlock - 1) / kThreadsPerBlock, std::uint64_t{1} << 20);
  fill_pattern<T><<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0, stream>>>(out, count, seed, kind);
  GA_CUDA_CHECK(cudaGetLastError());
}

// --- describing the chosen algorithm --------------------------------------------------------

#define GA_NAME_CASE(prefix, shape) \
  case prefix##shape: return #shape;

std::string tile_name(std::uint32_t tile) {
  switch (static_cast<cublasLtMatmulTile_t>(tile)) {
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, UNDEFINED)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 8x8) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 8x16)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 16x8) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 8x32)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 16x16) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x8)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 8x64) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 16x32)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x16) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x8)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x32) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x64)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x32) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x128)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x64) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x32)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x128) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x64)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x256) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x128)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 256x64) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x512)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x256) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 256x128)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 512x64) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 64x96)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 96x64) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 96x128)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x160) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 160x128)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 192x128) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x192)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 128x96) GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 32x256)
    GA_NAME_CASE(CUBLASLT_MATMUL_TILE_, 256x32)
    default: break;
  }
  return concat("#", tile);  // the less common shapes, by their cublasLtMatmulTile_t value
}

std::string stages_name(std::uint32_t stages) {
  switch (static_cast<cublasLtMatmulStages_t>(stages)) {
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, UNDEFINED)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x1) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x2)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x3) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x4)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x5) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x6)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x1) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x2)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x3) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x4)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x5) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x6)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x1) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x2)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x3) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x4)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x5) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64x6)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x1) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x2)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x3) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x4)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x5) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128x6)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32x10) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 8x4)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16x10) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 8x5)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 8x3) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 8xAUTO)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 16xAUTO) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 32xAUTO)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 64xAUTO) GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 128xAUTO)
    GA_NAME_CASE(CUBLASLT_MATMUL_STAGES_, 256xAUTO)
    default: break;
  }
  return concat("#", stages);
}

std::string cluster_name(std::uint16_t cluster) {
  switch (static_cast<cublasLtClusterShape_t>(cluster)) {
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, AUTO)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 1x1x1) GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 2x1x1)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 4x1x1) GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 1x2x1)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 2x2x1) GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 4x2x1)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 1x4x1) GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 2x4x1)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 4x4x1) GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 8x1x1)
    GA_NAME_CASE(CUBLASLT_CLUSTER_SHAPE_, 1x8x1)
    default: break;
  }
  return concat("#", cluster);
}

#undef GA_NAME_CASE

std::string_view reduction_name(std::uint32_t scheme) {
  switch (static_cast<cublasLtReductionScheme_t>(scheme)) {
    case CUBLASLT_REDUCTION_SCHEME_NONE: return "none";
    case CUBLASLT_REDUCTION_SCHEME_INPLACE: return "inplace";
    case CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE: return "compute-type";
    case CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE: return "output-type";
    default: return "other";
  }
}

// One algorithm configuration attribute; V must be the attribute's documented type (cuBLASLt
// rejects a size mismatch). Empty when this cuBLASLt does not report it.
template <typename V>
std::optional<V> algo_config(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attribute) {
  V value{};
  std::size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, attribute, &value, sizeof value, &written) !=
          CUBLAS_STATUS_SUCCESS ||
      written != sizeof value)
    return std::nullopt;
  return value;
}

template <typename V, typename Name>
std::string shown(const std::optional<V>& value, Name name) {
  return value ? std::string(name(*value)) : std::string("?");
}

std::string describe(const cublasLtMatmulHeuristicResult_t& chosen, const std::string& how_chosen) {
  const auto& algo = chosen.algo;
  const auto number = [](auto v) { return std::to_string(v); };
  std::array<char, 32> waves{};
  std::snprintf(waves.data(), waves.size(), "%.2f", static_cast<double>(chosen.wavesCount));
  return concat(
      "cublasLt algo ", shown(algo_config<std::int32_t>(algo, CUBLASLT_ALGO_CONFIG_ID), number),
      " tile ", shown(algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID), tile_name),
      " stages ", shown(algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID), stages_name),
      " splitK ", shown(algo_config<std::int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM), number),
      " reduction ",
      shown(algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME), reduction_name),
      " swizzle ", shown(algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING), number),
      " custom ", shown(algo_config<std::uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION), number),
      " inner-shape ", shown(algo_config<std::uint16_t>(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID), number),
      " cluster ",
      shown(algo_config<std::uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID), cluster_name),
      " waves ", waves.data(), " (", how_chosen, ")");
}

// --- the session -----------------------------------------------------------------------------

// Set-up once: inputs filled on the device, the heuristic's candidates timed and the fastest
// kept; then timed iterations (run_gemm) or batches between event pairs (burnin), and the check.
// In: element type of A and B; T: of C.
template <typename In, typename T>
class CublasLtSession final : public GemmSession {
  // Host-side alpha and beta (CUBLASLT_POINTER_MODE_HOST, the default), in the scale type.
  using Scale = std::conditional_t<std::is_same_v<T, double>, double,
                                   std::conditional_t<std::is_same_v<T, std::int32_t>, std::int32_t, float>>;

 public:
  explicit CublasLtSession(const GemmConfig& c)
      : GemmSession(c),
        types_(lt_types(c.dtype, c.fp8_output)),
        device_(select_device(c.device)),
        a_(static_cast<std::size_t>(c.m * c.k * c.batch) * sizeof(In)),
        b_(static_cast<std::size_t>(c.k * c.n * c.batch) * sizeof(In)),
        out_(static_cast<std::size_t>(c.m * c.n * c.batch) * sizeof(T)),
        workspace_(kWorkspaceBytes),
        scales_(2 * sizeof(float)),
        desc_(types_.compute, types_.scale),
        layout_a_(types_.input, stored_rows(c.ta, c.m, c.k), stored_rows(c.ta, c.k, c.m),
                  static_cast<std::int64_t>(stored_rows(c.ta, c.m, c.k))),
        layout_b_(types_.input, stored_rows(c.tb, c.k, c.n), stored_rows(c.tb, c.n, c.k),
                  static_cast<std::int64_t>(stored_rows(c.tb, c.k, c.n))),
        layout_c_(types_.output, static_cast<std::uint64_t>(c.m), static_cast<std::uint64_t>(c.n), c.m) {
    const auto m = static_cast<std::uint64_t>(c.m), n = static_cast<std::uint64_t>(c.n),
               k = static_cast<std::uint64_t>(c.k), batch = static_cast<std::uint64_t>(c.batch);
    const InputKind kind = gemm_input_kind(c.dtype);
    fill_on_device(a_.as<In>(), m * k * batch, gemm_seed_a(c.seed), kind, stream_.get());
    fill_on_device(b_.as<In>(), k * n * batch, gemm_seed_b(c.seed), kind, stream_.get());

    desc_.set(CUBLASLT_MATMUL_DESC_TRANSA, op(c.ta));
    desc_.set(CUBLASLT_MATMUL_DESC_TRANSB, op(c.tb));
    if (c.dtype == DType::fp8) {
      // Per-tensor scales live on the device (cuBLASLt reads them there); fast accumulation off
      // so that the sum is kept in fp32, as the tolerance assumes.
      const float scales[2] = {kFp8ScaleA, kFp8ScaleB};
      GA_CUDA_CHECK(cudaMemcpyAsync(scales_.get(), scales, sizeof scales, cudaMemcpyHostToDevice, stream_.get()));
      desc_.set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(scales_.as<float>()));
      desc_.set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(scales_.as<float>() + 1));
      desc_.set(CUBLASLT_MATMUL_DESC_FAST_ACCUM, std::int8_t{0});
    }
    if (c.batch > 1) {
      const auto count = static_cast<std::int32_t>(c.batch);
      layout_a_.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      layout_b_.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      layout_c_.set(CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
      layout_a_.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, static_cast<std::int64_t>(m * k));
      layout_b_.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, static_cast<std::int64_t>(k * n));
      layout_c_.set(CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, static_cast<std::int64_t>(m * n));
    }

    gpu::MatmulPreference preference;
    preference.set(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, std::uint64_t{kWorkspaceBytes});
    int returned = 0;
    GA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_.get(), desc_.get(), layout_a_.get(), layout_b_.get(),
                                                   layout_c_.get(), layout_c_.get(), preference.get(),
                                                   kHeuristicCandidates, candidates_.data(), &returned));
    if (returned <= 0)
      throw KernelError(concat("gemm: cuBLASLt has no algorithm for ", to_string(c.dtype), " m=", c.m, " n=", c.n,
                               " k=", c.k, " ta=", to_string(c.ta), " tb=", to_string(c.tb), " batch=", c.batch,
                               " on device ", c.device, " (", gpu::process_location(), ")"));

    // Time each candidate: one untimed run, then kSelectionRuns between one event pair. A
    // candidate that cuBLASLt refuses to launch is skipped; a failure on the device is not (it
    // is sticky and would poison every later measurement), so it throws.
    const gpu::Event select_start, select_stop;
    std::string last_refusal;
    candidate_seconds_.assign(static_cast<std::size_t>(returned), std::numeric_limits<double>::infinity());
    for (int i = 0; i < returned; ++i) {
      if (candidates_[i].state != CUBLAS_STATUS_SUCCESS) continue;
      const auto& algo = candidates_[i].algo;
      if (const cublasStatus_t rc = matmul(algo); rc != CUBLAS_STATUS_SUCCESS) {
        last_refusal = gpu::cublas_error_message(rc, "cublasLtMatmul(heuristic candidate)", __FILE__, __LINE__);
        continue;
      }
      select_start.record(stream_.get());
      for (int r = 0; r < kSelectionRuns; ++r) GA_CUBLAS_CHECK(matmul(algo));
      select_stop.record(stream_.get());
      GA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      ++tried_;
      candidate_seconds_[static_cast<std::size_t>(i)] = gpu::elapsed_seconds(select_start, select_stop) / kSelectionRuns;
    }
    const auto fastest = std::min_element(candidate_seconds_.begin(), candidate_seconds_.end());
    if (*fastest == std::numeric_limits<double>::infinity())
      throw KernelError(concat("gemm: none of the ", returned, " cuBLASLt heuristic candidates for ",
                               to_string(c.dtype), " m=", c.m, " n=", c.n, " k=", c.k, " could run; last refusal: ",
                               last_refusal.empty() ? std::string("(none reported)") : last_refusal));
    use(static_cast<std::size_t>(fastest - candidate_seconds_.begin()),
        concat("fastest of ", tried_, " heuristic candidates"));
  }

  void choose(std::size_t candidate) override {
    if (candidate >= candidate_seconds_.size() ||
        candidate_seconds_[candidate] == std::numeric_limits<double>::infinity())
      throw KernelError(concat("gemm: cuBLASLt candidate ", candidate, " of ", candidate_seconds_.size(),
                               " cannot be chosen: it did not run here (", gpu::process_location(), ")"));
    use(candidate, concat("candidate ", candidate, " of ", tried_, ", chosen jointly by all ranks"));
  }

  std::vector<double> time_iterations(const TimingPolicy& policy) override {
    GA_CUDA_CHECK(cudaSetDevice(device_));
    for (int w = 0; w < policy.warmup; ++w) GA_CUBLAS_CHECK(matmul(chosen()));
    const auto iterations = static_cast<std::size_t>(std::max(policy.iterations, 0));
    std::vector<gpu::Event> starts(iterations), stops(iterations);
    for (std::size_t it = 0; it < iterations; ++it) {
      starts[it].record(stream_.get());
      GA_CUBLAS_CHECK(matmul(chosen()));
      stops[it].record(stream_.get());
    }
    GA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    std::vector<double> seconds;
    seconds.reserve(iterations);
    for (std::size_t it = 0; it < iterations; ++it) seconds.push_back(gpu::elapsed_seconds(starts[it], stops[it]));
    return seconds;
  }

  void submit(int gemms) override {
    GA_CUDA_CHECK(cudaSetDevice(device_));
    if (spare_.empty()) {
      queued_.emplace_back();
    } else {
      queued_.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
    const Batch& batch = queued_.back();
    batch.start.record(stream_.get());
    for (int g = 0; g < gemms; ++g) GA_CUBLAS_CHECK(matmul(chosen()));
    batch.stop.record(stream_.get());
  }

  double wait_oldest() override {
    if (queued_.empty()) throw KernelError("gemm: wait_oldest() without a batch in flight");
    Batch batch = std::move(queued_.front());
    queued_.pop_front();
    GA_CUDA_CHECK(cudaEventSynchronize(batch.stop.get()));
    const double seconds = gpu::elapsed_seconds(batch.start, batch.stop);
    spare_.push_back(std::move(batch));
    return seconds;
  }

  std::size_t in_flight() const override { return queued_.size(); }

  void verify(GemmRun& result) override {
    const GemmConfig& c = config_;
    GA_CUDA_CHECK(cudaSetDevice(device_));
    if (c.inject_fault) {
      flip_low_bit<T><<<1, 1, 0, stream_.get()>>>(out_.as<T>(), gemm_fault_element(c));
      GA_CUDA_CHECK(cudaGetLastError());
    }
    {
      const auto elements = static_cast<std::uint64_t>(c.m) * static_cast<std::uint64_t>(c.n) *
                            static_cast<std::uint64_t>(c.batch);
      gpu::DeviceBuffer device_sum(sizeof(unsigned long long));
      GA_CUDA_CHECK(cudaMemsetAsync(device_sum.get(), 0, device_sum.bytes(), stream_.get()));
      const std::uint64_t blocks =
          std::min<std::uint64_t>((elements + kThreadsPerBlock - 1) / kThreadsPerBlock, 4096);
      checksum_kernel<T><<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0, stream_.get()>>>(
          out_.as<T>(), elements, device_sum.as<unsigned long long>());
      GA_CUDA_CHECK(cudaGetLastError());
      unsigned long long sum = 0;
      GA_CUDA_CHECK(cudaMemcpyAsync(&sum, device_sum.get(), sizeof sum, cudaMemcpyDeviceToHost, stream_.get()));
      GA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
      result.checksum = sum;
    }

    // Copy back only the sampled elements of C (gemm_c_index: batch b, column-major).
    const auto points = gemm_sample_points(c);
    std::vector<std::int64_t> offsets;
    offsets.reserve(points.size());
    for (const GemmElement& e : points) offsets.push_back(gemm_c_index(c, e.batch, e.row, e.col));
    const int count = static_cast<int>(offsets.size());
    std::vector<double> sampled(offsets.size());
    if (count > 0) {
      gpu::DeviceBuffer device_offsets(offsets.size() * sizeof(std::int64_t));
      gpu::DeviceBuffer device_values(sampled.size() * sizeof(double));
      GA_CUDA_CHECK(cudaMemcpyAsync(device_offsets.get(), offsets.data(), device_offsets.bytes(),
                                    cudaMemcpyHostToDevice, stream_.get()));
      const int blocks = (count + kThreadsPerBlock - 1) / kThreadsPerBlock;
      gather_as_double<T><<<blocks, kThreadsPerBlock, 0, stream_.get()>>>(
          out_.as<T>(), device_offsets.as<std::int64_t>(), device_values.as<double>(), count);
      GA_CUDA_CHECK(cudaGetLastError());
      GA_CUDA_CHECK(cudaMemcpyAsync(sampled.data(), device_values.get(), device_values.bytes(),
                                    cudaMemcpyDeviceToHost, stream_.get()));
      GA_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    }
    gemm_check(c, sampled, result);
  }

 private:
  struct Batch {
    gpu::Event start, stop;
  };

  static int select_device(int device) {
    GA_CUDA_CHECK(cudaSetDevice(device));
    return device;
  }
  // Rows of an operand as stored: `rows` x `cols` when used as is, `cols` x `rows` transposed.
  static std::uint64_t stored_rows(Transpose t, std::int64_t rows, std::int64_t cols) {
    return static_cast<std::uint64_t>(t == Transpose::n ? rows : cols);
  }
  static cublasOperation_t op(Transpose t) { return t == Transpose::n ? CUBLAS_OP_N : CUBLAS_OP_T; }

  const cublasLtMatmulAlgo_t& chosen() const { return candidates_[chosen_].algo; }

  void use(std::size_t candidate, const std::string& how_chosen) {
    chosen_ = candidate;
    algorithm_ = describe(candidates_[candidate], how_chosen);
    workspace_bytes_ = static_cast<std::int64_t>(candidates_[candidate].workspaceSize);
  }

  // D = alpha A B + beta C with D and C the same buffer; beta = 0, so C is never read.
  cublasStatus_t matmul(const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(lt_.get(), desc_.get(), &alpha_, a_.get(), layout_a_.get(), b_.get(), layout_b_.get(),
                          &beta_, out_.get(), layout_c_.get(), out_.get(), layout_c_.get(), &algo,
                          workspace_.get(), workspace_.bytes(), stream_.get());
  }

  // Declaration order is construction order: the device is selected before anything is
  // allocated on it, and buffers outlive nothing that still uses them.
  LtTypes types_;
  int device_;
  gpu::Stream stream_;
  gpu::DeviceBuffer a_, b_, out_, workspace_;
  gpu::DeviceBuffer scales_;  // fp8: A_SCALE, B_SCALE (float each)
  gpu::LtHandle lt_;
  gpu::MatmulDesc desc_;
  gpu::MatrixLayout layout_a_, layout_b_, layout_c_;
  std::array<cublasLtMatmulHeuristicResult_t, kHeuristicCandidates> candidates_{};
  int tried_ = 0;
  std::size_t chosen_ = 0;
  const Scale alpha_ = 1, beta_ = 0;
  std::deque<Batch> queued_;   // submitted, not yet waited for
  std::vector<Batch> spare_;   // event pairs to reuse
};

}  // namespace

std::unique_ptr<GemmSession> open_gemm_session_cuda(const GemmConfig& config) {
  switch (config.dtype) {
    case DType::fp64: return std::make_unique<CublasLtSession<double, double>>(config);
    case DType::fp32:
    case DType::tf32: return std::make_unique<CublasLtSession<float, float>>(config);
    case DType::bf16: return std::make_unique<CublasLtSession<__nv_bfloat16, __nv_bfloat16>>(config);
    case DType::fp16: return std::make_unique<CublasLtSession<__half, __half>>(config);
    case DType::fp8:
      if (config.fp8_output == DType::fp16) return std::make_unique<CublasLtSession<__nv_fp8_e4m3, __half>>(config);
      return std::make_unique<CublasLtSession<__nv_fp8_e4m3, __nv_bfloat16>>(config);
    case DType::int8: return std::make_unique<CublasLtSession<std::int8_t, std::int32_t>>(config);
  }
  throw KernelError("gemm: unknown dtype");
}

}  // namespace gpuaccept::kernels::detail
