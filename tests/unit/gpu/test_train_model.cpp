// train's CUDA backend as a whole: the row-major cuBLASLt GEMM in every layout, the helper
// kernels the model adds, one forward and backward pass of the CUDA model against the CPU model
// on the same weights and batch (loss within bf16 tolerance, gradients' relative error bounded),
// gradient accumulation, and a tiny preset that learns. They run where a GPU is visible and skip
// with the reason everywhere else (where only gemm_shape_problem, which needs no GPU, runs).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/backend.hpp"
#include "train/cpu/layers.hpp"
#include "train/cpu/model.hpp"
#include "train/data.hpp"
#include "train/gpt.hpp"
#include "train/rng.hpp"
#include "train/trainer.hpp"

#if defined(GPUACCEPT_HAVE_CUDA)
#include <cuda_runtime.h>

#include "tests/unit/gpu/device_buffer.hpp"

#include "train/cuda/gemm.hpp"
#include "train/cuda/kernels.hpp"
#include "train/cuda/model.hpp"
#include "train/cuda/trainer.hpp"
#endif

namespace {

using namespace gpuaccept;

class TrainCudaModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::cuda_compiled()) GTEST_SKIP() << "built without CUDA (GPUACCEPT_CUDA=OFF or no toolkit)";
    std::string why;
    if (kernels::cuda_device_count(&why) == 0) GTEST_SKIP() << "no GPU visible: " << why;
    if (kernels::describe_device(kernels::Backend::cuda, 0).compute_capability < 80)
      GTEST_SKIP() << "the bf16 model needs compute capability 8.0 or later";
  }
};

#if defined(GPUACCEPT_HAVE_CUDA)
using train::cuda::bf16;
using train::cuda::from_bf16;
using train::cuda::to_bf16;

using gpuaccept::testing::Dev;

// n random values rounded to bf16: the bits for the GPU and the exact values for the reference.
struct Bf16Values {
  std::vector<bf16> bits;
  std::vector<double> values;
};
Bf16Values random_bf16(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  train::SplitMix64 rng(seed);
  Bf16Values v{std::vector<bf16>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    v.bits[i] = to_bf16(static_cast<float>(scale * rng.normal()));
    v.values[i] = from_bf16(v.bits[i]);
  }
  return v;
}

double norm(const std::vector<double>& x) {
  double s = 0;
  for (const double v : x) s += v * v;
  return std::sqrt(s);
}
#endif

}  // namespace

#if defined(GPUACCEPT_HAVE_CUDA)
TEST(TrainCudaGemmShape, InconsistentShapesAreNamed) {
  train::cuda::GemmShape s;
  s.m = 4, s.n = 5, s.k = 6, s.lda = 6, s.ldb = 5, s.ldc = 5;
  EXPECT_EQ(train::cuda::gemm_shape_problem(s), "");
  auto t = s;
  t.ta = true;  // A is now k x m: lda must reach m = 4 (6 does)
  EXPECT_EQ(train::cuda::gemm_shape_problem(t), "");
  t.lda = 3;
  EXPECT_NE(train::cuda::gemm_shape_problem(t).find("lda shorter than a row of A"), std::string::npos);
  t = s;
  t.tb = true;  // B is n x k: ldb must reach k = 6
  EXPECT_NE(train::cuda::gemm_shape_problem(t).find("ldb shorter than a row of B"), std::string::npos);
  t = s;
  t.ldc = 4;
  EXPECT_NE(train::cuda::gemm_shape_problem(t).find("ldc shorter"), std::string::npos);
  t = s;
  t.batch = 2, t.stride_a = 24, t.stride_b = 30, t.stride_c = 10;  // C's matrices would overlap
  EXPECT_NE(train::cuda::gemm_shape_problem(t).find("overlap"), std::string::npos);
  t.stride_c = 20;
  EXPECT_EQ(train::cuda::gemm_shape_problem(t), "");
  t.k = 0;
  EXPECT_NE(train::cuda::gemm_shape_problem(t).find("empty"), std::string::npos);
}

// The heart of the wrapper, checked without a GPU: the column-major problem it hands cuBLASLt,
// evaluated by a column-major GEMM written from cuBLASLt's documented semantics (element (r, c)
// of a stored matrix at c * ld + r, op transposing when asked) on the swapped pointers, gives
// the row-major product.
TEST(TrainCudaGemmShape, ColumnMajorProblemComputesTheRowMajorProduct) {
  const int m = 5, n = 7, k = 3, batch = 2;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      train::cuda::GemmShape s;
      s.ta = ta, s.tb = tb, s.m = m, s.n = n, s.k = k, s.batch = batch;
      s.lda = (ta ? m : k) + 2, s.ldb = (tb ? k : n) + 1, s.ldc = n + 3;
      s.stride_a = static_cast<std::int64_t>(ta ? k : m) * s.lda + 4;
      s.stride_b = static_cast<std::int64_t>(tb ? n : k) * s.ldb + 1;
      s.stride_c = static_cast<std::int64_t>(m) * s.ldc + 2;
      ASSERT_EQ(train::cuda::gemm_shape_problem(s), "");
      train::SplitMix64 rng(17);
      std::vector<double> a(static_cast<std::size_t>(s.stride_a * batch)), b(static_cast<std::size_t>(s.stride_b * batch));
      for (auto& x : a) x = rng.normal();
      for (auto& x : b) x = rng.normal();
      // Row-major reference.
      std::vector<double> want(static_cast<std::size_t>(s.stride_c * batch), 0.0), got = want;
      for (int t = 0; t < batch; ++t)
        for (int r = 0; r < m; ++r)
          for (int c = 0; c < n; ++c) {
            double sum = 0;
            for (int x = 0; x < k; ++x)
              sum += a[static_cast<std::size_t>(t * s.stride_a + (ta ? x * s.lda + r : r * s.lda + x))] *
                     b[static_cast<std::size_t>(t * s.stride_b + (tb ? c * s.ldb + x : x * s.ldb + c))];
            want[static_cast<std::size_t>(t * s.stride_c + r * s.ldc + c)] = sum;
          }
      // The column-major problem, A' = b and B' = a.
      const auto p = train::cuda::column_major_problem(s);
      const auto rows = [](const train::cuda::ColumnMajorOperand& o) { return o.transpose ? o.cols : o.rows; };
      const auto cols = [](const train::cuda::ColumnMajorOperand& o) { return o.transpose ? o.rows : o.cols; };
      ASSERT_EQ(rows(p.a), p.c.rows);
      ASSERT_EQ(cols(p.b), p.c.cols);
      ASSERT_EQ(cols(p.a), rows(p.b));
      ASSERT_GE(p.a.ld, static_cast<std::int64_t>(p.a.rows));
      ASSERT_GE(p.b.ld, static_cast<std::int64_t>(p.b.rows));
      ASSERT_GE(p.c.ld, static_cast<std::int64_t>(p.c.rows));
      const auto at = [](const std::vector<double>& v, const train::cuda::ColumnMajorOperand& o, int t, std::uint64_t i,
                         std::uint64_t j) {  // op(X)(i, j) of matrix t
        const std::uint64_t r = o.transpose ? j : i, c = o.transpose ? i : j;
        return v[static_cast<std::size_t>(t * o.batch_stride + static_cast<std::int64_t>(c) * o.ld + static_cast<std::int64_t>(r))];
      };
      for (int t = 0; t < batch; ++t)
        for (std::uint64_t i = 0; i < p.c.rows; ++i)
          for (std::uint64_t j = 0; j < p.c.cols; ++j) {
            double sum = 0;
            for (std::uint64_t l = 0; l < cols(p.a); ++l) sum += at(b, p.a, t, i, l) * at(a, p.b, t, l, j);
            got[static_cast<std::size_t>(t * p.c.batch_stride + static_cast<std::int64_t>(j) * p.c.ld + static_cast<std::int64_t>(i))] = sum;
          }
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12) << "ta " << ta << " tb " << tb << " at " << i;
    }
}

// Row-major C = alpha op(A) op(B) + beta C against a double loop, in all four layouts, both
// output types, beta 0 and 1, batched, with padded leading dimensions whose padding must stay
// untouched, and an odd n (as GPT-2's vocabulary).
TEST_F(TrainCudaModel, GemmMatchesTheCpuProductInEveryLayout) {
  train::cuda::Gemm gemm;
  const int m = 40, n = 45, k = 24, batch = 3;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const auto output : {train::cuda::GemmOutput::bfloat16, train::cuda::GemmOutput::float32})
        for (const float beta : {0.0F, 1.0F}) {
          train::cuda::GemmShape s;
          s.ta = ta, s.tb = tb, s.m = m, s.n = n, s.k = k, s.output = output, s.batch = batch;
          const int a_rows = ta ? k : m, b_rows = tb ? n : k;
          s.lda = (ta ? m : k) + 8, s.ldb = (tb ? k : n) + 11, s.ldc = n + 19;  // ldc = 64
          s.ldb = (s.ldb + 7) / 8 * 8;
          s.stride_a = static_cast<std::int64_t>(a_rows) * s.lda;
          s.stride_b = static_cast<std::int64_t>(b_rows) * s.ldb;
          s.stride_c = static_cast<std::int64_t>(m) * s.ldc;
          ASSERT_EQ(train::cuda::gemm_shape_problem(s), "");
          const auto a = random_bf16(static_cast<std::size_t>(s.stride_a) * batch, 1);
          const auto b = random_bf16(static_cast<std::size_t>(s.stride_b) * batch, 2);
          const auto c0 = random_bf16(static_cast<std::size_t>(s.stride_c) * batch, 3);
          const float alpha = 0.5F;
          std::vector<double> want = c0.values;
          for (int i = 0; i < batch; ++i)
            for (int r = 0; r < m; ++r)
              for (int col = 0; col < n; ++col) {
                double sum = 0;
                for (int x = 0; x < k; ++x) {
                  const double av = a.values[static_cast<std::size_t>(i * s.stride_a + (ta ? x * s.lda + r : r * s.lda + x))];
                  const double bv = b.values[static_cast<std::size_t>(i * s.stride_b + (tb ? col * s.ldb + x : x * s.ldb + col))];
                  sum += av * bv;
                }
                double& w = want[static_cast<std::size_t>(i * s.stride_c + r * s.ldc + col)];
                w = alpha * sum + beta * w;
              }
          Dev<bf16> da(a.bits), db(b.bits);
          std::vector<double> got(want.size());
          if (output == train::cuda::GemmOutput::bfloat16) {
            Dev<bf16> dc(c0.bits);
            gemm.run(s, alpha, da.get(), db.get(), beta, dc.get(), nullptr);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const auto h = dc.host();
            for (std::size_t i = 0; i < h.size(); ++i) got[i] = from_bf16(h[i]);
          } else {
            std::vector<float> c0f(c0.values.begin(), c0.values.end());
            Dev<float> dc(c0f);
            gemm.run(s, alpha, da.get(), db.get(), beta, dc.get(), nullptr);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            const auto h = dc.host();
            got.assign(h.begin(), h.end());
          }
          // fp32 accumulation of exact bf16 products: fp32 rounding only; bf16 output: its rounding.
          const double tol = output == train::cuda::GemmOutput::bfloat16 ? 8e-3 : 1e-5;
          for (std::size_t i = 0; i < want.size(); ++i) {
            const bool padding = static_cast<int>(i % static_cast<std::size_t>(s.ldc)) >= n;
            if (padding)
              ASSERT_EQ(got[i], c0.values[i]) << "padding written at " << i;
            else
              ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i])))
                  << "ta " << ta << " tb " << tb << " fp32 out " << (output == train::cuda::GemmOutput::float32)
                  << " beta " << beta << " element " << i;
          }
        }
  EXPECT_EQ(gemm.plans(), 8U);  // one per layout and output type; beta does not need another
}

TEST_F(TrainCudaModel, HeadsBiasResidualEncoderAndNormKernels) {
  {  // split_heads then merge_heads: the q, k or v columns of a (B*S) x 3C matrix and back
    const int B = 2, S = 5, NH = 3, hs = 4, C = NH * hs, ld = 3 * C;
    const auto in = random_bf16(static_cast<std::size_t>(B) * S * ld, 1);
    Dev<bf16> din(in.bits), heads(static_cast<std::size_t>(B) * S * C), back(in.bits.size());
    train::cuda::split_heads(heads.get(), din.get() + C, ld, B, S, NH, hs, nullptr);  // the k columns
    train::cuda::merge_heads(back.get() + C, ld, heads.get(), B, S, NH, hs, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto h = heads.host(), r = back.host();
    for (int b = 0; b < B; ++b)
      for (int hh = 0; hh < NH; ++hh)
        for (int s = 0; s < S; ++s)
          for (int d = 0; d < hs; ++d)
            ASSERT_EQ(h[static_cast<std::size_t>(((b * NH + hh) * S + s) * hs + d)],
                      in.bits[static_cast<std::size_t>((b * S + s) * ld + C + hh * hs + d)]);
    for (std::size_t i = 0; i < r.size(); ++i) {
      const auto col = static_cast<int>(i % ld);
      ASSERT_EQ(r[i], col >= C && col < 2 * C ? in.bits[i] : bf16{0}) << i;
    }
  }
  {  // bias_backward adds column sums; add_bias adds the bias to every row; residual adds
    const int N = 300, OC = 70;
    const auto dout = random_bf16(static_cast<std::size_t>(N) * OC, 2);
    const auto bias = random_bf16(static_cast<std::size_t>(OC), 3);
    std::vector<float> start(OC, 0.25F);
    Dev<bf16> d(dout.bits), db(bias.bits), out(dout.bits), sum(dout.bits.size());
    Dev<float> dbias(start);
    train::cuda::bias_backward(dbias.get(), d.get(), N, OC, nullptr);
    train::cuda::add_bias(out.get(), db.get(), N, OC, nullptr);
    train::cuda::residual_forward(sum.get(), d.get(), d.get(), dout.bits.size(), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = dbias.host();
    const auto biased = out.host(), doubled = sum.host();
    for (int j = 0; j < OC; ++j) {
      double want = 0.25;
      for (int i = 0; i < N; ++i) want += dout.values[static_cast<std::size_t>(i * OC + j)];
      ASSERT_NEAR(got[static_cast<std::size_t>(j)], want, 1e-4 * (1 + std::abs(want))) << j;
    }
    for (std::size_t i = 0; i < biased.size(); ++i) {
      const double want = dout.values[i] + bias.values[i % OC];
      ASSERT_NEAR(from_bf16(biased[i]), want, 8e-3 * (1 + std::abs(want))) << i;
      ASSERT_EQ(from_bf16(doubled[i]), 2 * dout.values[i]) << i;  // exact: a power of two
    }
  }
  {  // encoder_backward with repeated tokens, against the CPU layer
    const int B = 2, S = 4, C = 8, V = 5;
    const std::vector<std::int32_t> tokens = {1, 3, 1, 1, 4, 0, 3, 1};
    const auto dout = random_bf16(static_cast<std::size_t>(B) * S * C, 4);
    std::vector<double> dwte(static_cast<std::size_t>(V) * C, 0), dwpe(static_cast<std::size_t>(S) * C, 0);
    train::cpu::encoder_backward(dwte.data(), dwpe.data(), dout.values.data(), tokens.data(), B, S, C);
    Dev<bf16> d(dout.bits);
    Dev<std::int32_t> t(tokens);
    Dev<float> gte(dwte.size()), gpe(dwpe.size());
    train::cuda::encoder_backward(gte.get(), gpe.get(), d.get(), t.get(), B, S, C, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto te = gte.host(), pe = gpe.host();
    for (std::size_t i = 0; i < te.size(); ++i) ASSERT_NEAR(te[i], dwte[i], 1e-5) << "dwte " << i;
    for (std::size_t i = 0; i < pe.size(); ++i) ASSERT_NEAR(pe[i], dwpe[i], 1e-5) << "dwpe " << i;
  }
  {  // the sum of squares of a vector longer than one grid pass
    const std::size_t n = 1000003;
    std::vector<float> x(n);
    double want = 0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(i % 97) * 0.01F - 0.4F;
      want += static_cast<double>(x[i]) * x[i];
    }
    Dev<float> dx(x);
    Dev<double> sum(std::vector<double>{1.5});
    train::cuda::add_sum_of_squares(sum.get(), dx.get(), n, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_NEAR(sum.host()[0], 1.5 + want, 1e-9 * want);
  }
}

// One forward and backward pass of the CUDA model against the CPU model in double precision on
// the same weights (rounded to bf16, as the GPU computes with them) and the same batch.
TEST_F(TrainCudaModel, OneStepMatchesTheCpuModel) {
  const train::GptShape shape{2, 64, 4, 32, 128};
  const int B = 4;
  train::cpu::GptModel<double> cpu(shape, B, 11);
  std::vector<float> initial(cpu.params().size());
  for (std::size_t i = 0; i < initial.size(); ++i) {
    initial[i] = from_bf16(to_bf16(static_cast<float>(cpu.params()[i])));
    cpu.params()[i] = initial[i];
  }
  train::cuda::GptModel gpu(shape, B, initial, 0);
  train::TokenSource data(shape.vocab, 5);
  std::vector<std::int32_t> in(static_cast<std::size_t>(B) * shape.seq_len), tgt(in.size());
  data.fill(0, B, shape.seq_len, in.data(), tgt.data());

  const double want_loss = cpu.forward(in.data(), tgt.data());
  const double got_loss = gpu.forward(in.data(), tgt.data());
  EXPECT_NEAR(got_loss, want_loss, 0.02) << "loss";
  EXPECT_NEAR(want_loss, std::log(shape.vocab), 0.3);  // random initialisation: about ln V

  cpu.zero_grad();
  cpu.backward(1.0);
  gpu.zero_grad();
  std::vector<train::ParamRange> ready;
  gpu.backward(1.0F, [&](std::size_t b, std::size_t e) { ready.push_back({b, e}); });
  EXPECT_EQ(ready, train::backward_ready_order(gpu.layout()));
  const auto got = gpu.grads();
  const std::vector<double> want(cpu.grads().begin(), cpu.grads().end());
  const double total = norm(want);
  ASSERT_GT(total, 0);
  std::vector<double> diff(want.size());
  for (std::size_t i = 0; i < want.size(); ++i) diff[i] = got[i] - want[i];
  EXPECT_LT(norm(diff) / total, 0.05) << "relative L2 error of the whole gradient";
  // Per tensor, relative to its own norm, with a floor of a thousandth of the whole gradient's
  // (the key bias's true gradient is 0: the softmax does not see a constant added to a row).
  for (const auto& t : gpu.layout().tensors) {
    std::vector<double> w(want.begin() + static_cast<std::ptrdiff_t>(t.offset),
                          want.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size));
    std::vector<double> d(diff.begin() + static_cast<std::ptrdiff_t>(t.offset),
                          diff.begin() + static_cast<std::ptrdiff_t>(t.offset + t.size));
    EXPECT_LT(norm(d) / (norm(w) + 1e-3 * total), 0.15) << t.name;
  }

  // Gradients accumulate: a second backward pass of the same batch adds the same again.
  gpu.backward(1.0F);
  const auto twice = gpu.grads();
  std::vector<double> excess(twice.size());
  std::vector<double> once(got.begin(), got.end());
  for (std::size_t i = 0; i < twice.size(); ++i) excess[i] = twice[i] - 2.0 * got[i];
  EXPECT_LT(norm(excess), 1e-4 * norm(once));
  EXPECT_NEAR(gpu.grad_norm(), 2 * norm(once), 1e-4 * norm(once));
}

TEST_F(TrainCudaModel, FirstStepAgreesWithTheCpuTrainerAndAccumulationWithTheLargerBatch) {
  train::TrainConfig c;
  c.shape = train::GptShape{2, 64, 4, 32, 128};
  c.micro_batch = 4;
  c.steps = 2;
  c.lr = 1e-2;
  train::TokenSource data(c.shape.vocab, 3);
  train::CpuTrainer cpu(c, data, 0, nullptr);
  train::cuda::CudaTrainer gpu(c, data, 0, nullptr, 0);
  auto accum_config = c;
  accum_config.micro_batch = 2;
  accum_config.grad_accum = 2;
  train::cuda::CudaTrainer accum(accum_config, data, 0, nullptr, 0);
  const auto want = cpu.step(0);
  const auto got = gpu.step(0);
  const auto acc = accum.step(0);
  EXPECT_NEAR(got.loss, want.loss, 0.02);
  EXPECT_NEAR(got.grad_norm, want.grad_norm, 0.05 * want.grad_norm);
  EXPECT_NEAR(acc.loss, got.loss, 1e-3);
  EXPECT_NEAR(acc.grad_norm, got.grad_norm, 0.01 * got.grad_norm);
  EXPECT_EQ(got.buckets, 0);
  EXPECT_EQ(got.comm_seconds, 0);
  EXPECT_GT(got.gemm_seconds, 0);
  EXPECT_LT(got.gemm_seconds, got.seconds);
  // The update happened, on the master weights.
  const auto after = gpu.params();
  const auto before = [&] {
    std::vector<float> p(after.size());
    train::init_parameters<float>(c.shape, gpu.model().layout(), c.seed, p);
    return p;
  }();
  EXPECT_NE(after, before);
  // AdamW's first step moves every weight with a non-zero gradient by about lr (m / sqrt(v) is
  // about its sign) plus the decay: no weight moves by much more.
  double largest = 0;
  for (std::size_t i = 0; i < after.size(); ++i) largest = std::max(largest, std::abs(double(after[i]) - before[i]));
  EXPECT_GT(largest, 0.5 * c.lr);
  EXPECT_LT(largest, 1.5 * c.lr);
}

TEST_F(TrainCudaModel, TinyPresetLossFalls) {
  train::TrainConfig c;
  c.shape = *train::preset("tiny");
  c.micro_batch = 4;
  c.steps = 60;
  c.lr = 1e-2;
  c.warmup_steps = 4;
  train::TokenSource data(c.shape.vocab, 1);
  train::cuda::CudaTrainer trainer(c, data, 0, nullptr, 0);
  const double first = trainer.step(0).loss;
  EXPECT_NEAR(first, std::log(c.shape.vocab), 0.3);
  double last = first;
  for (int s = 1; s < c.steps; ++s) last = trainer.step(s).loss;
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}
#else
TEST_F(TrainCudaModel, ModelAgainstTheCpuModel) {}  // skipped in SetUp: built without CUDA
#endif
