#include <gtest/gtest.h>

#include <cmath>

#include "kernels/gemm.hpp"
#include "kernels/gemm_shapes.hpp"
#include "kernels/pattern.hpp"

using namespace gpuaccept::kernels;

TEST(Pattern, NeverZeroAndExactInHalfPrecision) {
  for (std::uint64_t i = 0; i < 100000; ++i) {
    const float v = pattern_value(7, i);
    ASSERT_GE(std::fabs(v), 0.5f);
    ASSERT_LE(std::fabs(v), 1.0f);
    // 8 significant bits: exactly representable in bf16 and fp16.
    const float scaled = std::fabs(v) * 256.0f;
    ASSERT_EQ(scaled, std::floor(scaled)) << "index " << i;
  }
  EXPECT_NE(pattern_value(1, 5), pattern_value(2, 5));
  EXPECT_EQ(pattern_value(3, 11), pattern_value(3, 11));
}

TEST(Gemm, CpuFp64MatchesReferenceOnEveryCheckedElement) {
  GemmConfig c;
  c.m = 37;
  c.n = 29;
  c.k = 41;  // odd sizes: no accidental symmetry
  c.dtype = DType::fp64;
  c.timing = {0, 2};
  c.samples = 64;
  const GemmRun r = run_gemm(Backend::cpu, c);
  EXPECT_EQ(r.checked, 64);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_LT(r.worst_error_ratio, 0.01);  // fp64 is far inside its bound
  ASSERT_EQ(r.iteration_seconds.size(), 2u);
  EXPECT_GT(r.iteration_seconds[0], 0);
  EXPECT_NE(r.algorithm.find("dgemm"), std::string::npos);
}

TEST(Gemm, CpuFp32Passes) {
  GemmConfig c;
  c.m = c.n = c.k = 128;
  c.dtype = DType::fp32;
  c.timing = {1, 1};
  const GemmRun r = run_gemm(Backend::cpu, c);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_EQ(r.checked, 256);
  EXPECT_LT(r.worst_error_ratio, 1);
}

TEST(Gemm, CheckCatchesAWrongElementAndATransposedResult) {
  GemmConfig c;
  c.m = 64;
  c.n = 48;
  c.k = 256;
  c.dtype = DType::fp32;
  c.samples = 32;
  const auto points = gemm_sample_points(c);
  std::vector<double> good;
  for (const auto& e : points) good.push_back(gemm_reference(c, e).value);

  GemmRun ok;
  gemm_check(c, good, ok);
  EXPECT_EQ(ok.wrong, 0);

  // One element off by one unit in the last place of fp16 scale (a flipped low bit in a
  // 16-bit result) must be caught at fp32 tolerance.
  auto bad = good;
  bad[5] += 0x1p-10 * std::fabs(bad[5]) + 1e-3;
  GemmRun one;
  gemm_check(c, bad, one);
  EXPECT_EQ(one.wrong, 1);
  EXPECT_NE(one.first_wrong.find("C["), std::string::npos);

  // C^T instead of C (a layout bug) is wrong almost everywhere.
  std::vector<double> transposed;
  for (const auto& e : points) transposed.push_back(gemm_reference(c, {0, e.col % c.m, e.row % c.n}).value);
  GemmRun t;
  gemm_check(c, transposed, t);
  EXPECT_GT(t.wrong, 25);

  // NaN is never within tolerance.
  auto nan = good;
  nan[0] = NAN;
  GemmRun n;
  gemm_check(c, nan, n);
  EXPECT_EQ(n.wrong, 1);
}

TEST(Gemm, ToleranceScalesWithPrecision) {
  const GemmReference ref{10.0, 100.0};
  const double fp64 = gemm_tolerance(DType::fp64, DType::fp64, 1024, ref);
  const double fp32 = gemm_tolerance(DType::fp32, DType::fp32, 1024, ref);
  const double tf32 = gemm_tolerance(DType::tf32, DType::tf32, 1024, ref);
  const double bf16 = gemm_tolerance(DType::bf16, DType::bf16, 1024, ref);
  const double fp8_bf16 = gemm_tolerance(DType::fp8, DType::bf16, 1024, ref);
  const double fp8_fp16 = gemm_tolerance(DType::fp8, DType::fp16, 1024, ref);
  EXPECT_EQ(gemm_tolerance(DType::int8, DType::int8, 1024, ref), 0.0);  // integers: exact
  EXPECT_LT(fp8_fp16, fp8_bf16);  // the output's rounding decides
  EXPECT_GE(fp8_bf16, 10.0 * 0x1p-8);
  EXPECT_LT(fp64, fp32);
  EXPECT_LT(fp32, tf32);
  EXPECT_LT(fp32, bf16);
  // bf16 output rounding alone: 2^-8 relative to |C|.
  EXPECT_GE(bf16, 10.0 * 0x1p-8);
}

TEST(Gemm, SamplePointsCoverCornersAndStayInside) {
  GemmConfig c;
  c.m = 10;
  c.n = 7;
  c.samples = 50;
  const auto pts = gemm_sample_points(c);
  ASSERT_EQ(pts.size(), 50u);
  EXPECT_EQ(pts[0], (GemmElement{0, 0, 0}));
  EXPECT_EQ(pts[1], (GemmElement{0, 9, 6}));
  for (const auto& e : pts) {
    EXPECT_EQ(e.batch, 0);
    EXPECT_GE(e.row, 0);
    EXPECT_LT(e.row, 10);
    EXPECT_GE(e.col, 0);
    EXPECT_LT(e.col, 7);
  }
}

TEST(Gemm, CpuRefusesGpuOnlyPrecisionsWithAReason) {
  std::string reason;
  EXPECT_FALSE(gemm_supported(Backend::cpu, DType::fp16, &reason));
  EXPECT_NE(reason.find("fp16 GEMM is not applicable on this backend"), std::string::npos) << reason;
  for (DType t : {DType::fp8, DType::int8, DType::tf32}) {
    reason.clear();
    EXPECT_FALSE(gemm_supported(Backend::cpu, t, &reason));
    EXPECT_NE(reason.find("not applicable on this backend"), std::string::npos) << reason;
  }
  EXPECT_TRUE(gemm_supported(Backend::cpu, DType::fp64, &reason));
  // bf16 exactly when the installed OpenBLAS exports cblas_sbgemm.
  reason.clear();
  EXPECT_EQ(gemm_supported(Backend::cpu, DType::bf16, &reason), openblas_has_sbgemm());
  if (!openblas_has_sbgemm()) {
    EXPECT_NE(reason.find("cblas_sbgemm"), std::string::npos) << reason;
  }
  GemmConfig c;
  c.dtype = DType::fp16;
  EXPECT_THROW(run_gemm(Backend::cpu, c), KernelError);
}

TEST(Gemm, CpuBf16RunsWhereOpenBlasHasSbgemm) {
  if (!openblas_has_sbgemm()) GTEST_SKIP() << "the installed OpenBLAS has no cblas_sbgemm";
  GemmConfig c;
  c.m = 40;
  c.n = 24;
  c.k = 72;
  c.batch = 2;
  c.ta = Transpose::t;
  c.dtype = DType::bf16;
  c.timing = {0, 1};
  const GemmRun r = run_gemm(Backend::cpu, c);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_NE(r.algorithm.find("sbgemm"), std::string::npos);
}

// Every combination of transposes, with batches, through OpenBLAS: right answers, and the
// configuration shows in the algorithm text.
TEST(Gemm, CpuTransposesAndBatchesMatchTheReference) {
  for (DType dtype : {DType::fp64, DType::fp32})
    for (Transpose ta : {Transpose::n, Transpose::t})
      for (Transpose tb : {Transpose::n, Transpose::t}) {
        GemmConfig c;
        c.m = 33;
        c.n = 21;
        c.k = 45;  // m, n, k all different: a wrong leading dimension cannot pass
        c.batch = 3;
        c.ta = ta;
        c.tb = tb;
        c.dtype = dtype;
        c.timing = {0, 1};
        c.samples = 96;
        const GemmRun r = run_gemm(Backend::cpu, c);
        SCOPED_TRACE(std::string(to_string(dtype)) + " " + std::string(to_string(ta)) + std::string(to_string(tb)));
        EXPECT_EQ(r.checked, 96);
        EXPECT_EQ(r.wrong, 0) << r.first_wrong;
        EXPECT_LT(r.worst_error_ratio, 0.05);
        EXPECT_NE(r.algorithm.find(std::string(" ") + std::string(to_string(ta)) + std::string(to_string(tb)) + ","),
                  std::string::npos)
            << r.algorithm;
        EXPECT_NE(r.algorithm.find("3 GEMMs"), std::string::npos) << r.algorithm;
      }
}

TEST(Gemm, StorageIndicesFollowTheTransposeAndTheBatch) {
  GemmConfig c;
  c.m = 5;
  c.n = 3;
  c.k = 7;
  c.batch = 4;
  EXPECT_EQ(gemm_a_index(c, 0, 2, 3), 2 + 3 * 5);
  EXPECT_EQ(gemm_b_index(c, 1, 6, 2), 1 * 21 + 6 + 2 * 7);
  EXPECT_EQ(gemm_c_index(c, 3, 4, 2), 3 * 15 + 4 + 2 * 5);
  c.ta = Transpose::t;
  c.tb = Transpose::t;
  EXPECT_EQ(gemm_a_index(c, 2, 2, 3), 2 * 35 + 3 + 2 * 7);
  EXPECT_EQ(gemm_b_index(c, 0, 6, 2), 2 + 6 * 3);
  EXPECT_DOUBLE_EQ(gemm_flops(c), 2.0 * 5 * 3 * 7 * 4);
  // The samples reach the last batch, and only existing batches.
  c.samples = 200;
  bool last = false;
  for (const auto& e : gemm_sample_points(c)) {
    ASSERT_GE(e.batch, 0);
    ASSERT_LT(e.batch, 4);
    last = last || e.batch == 3;
  }
  EXPECT_TRUE(last);
  EXPECT_EQ(gemm_fault_element(c), gemm_c_index(c, 3, 2, 1));
}

TEST(Gemm, Fp8AndInt8InputsAreExactInTheirFormats) {
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const float f = input_value(InputKind::fp8, 9, i);
    ASSERT_GE(std::fabs(f), 0.5f);
    ASSERT_LE(std::fabs(f), 0.9375f);
    ASSERT_EQ(std::fabs(f) * 16, std::floor(std::fabs(f) * 16)) << "3 mantissa bits: E4M3 holds it exactly";
    const float q = input_value(InputKind::int8, 9, i);
    ASSERT_EQ(q, std::floor(q));
    ASSERT_GE(std::fabs(q), 1.0f);
    ASSERT_LE(std::fabs(q), 32.0f);
  }
  EXPECT_EQ(input_value(InputKind::pattern, 4, 17), pattern_value(4, 17));
}

// The planted wrong element, for every dtype, both transposes and a batch: honest values pass;
// one wrong element in a later batch is caught and named with its batch; a layout mistake
// (operands read untransposed) and a batch mistake (batch 0 everywhere) fail widely.
TEST(Gemm, CheckCatchesPlantedErrorsForEveryDtypeLayoutAndBatch) {
  for (DType dtype : kAllDTypes)
    for (Transpose ta : {Transpose::n, Transpose::t}) {
      GemmConfig c;
      c.m = 32;
      c.n = 48;
      c.k = 64;
      c.batch = 3;
      c.dtype = dtype;
      c.ta = ta;
      c.tb = Transpose::t;
      c.samples = 40;
      SCOPED_TRACE(std::string(to_string(dtype)) + " ta=" + std::string(to_string(ta)));
      const auto points = gemm_sample_points(c);
      std::vector<double> good;
      for (const auto& e : points) good.push_back(gemm_reference(c, e).value);
      GemmRun ok;
      gemm_check(c, good, ok);
      EXPECT_EQ(ok.wrong, 0) << ok.first_wrong;
      EXPECT_EQ(ok.checked, 40);

      // The smallest error the output format could make at this magnitude, times 4: int8 off by 1,
      // floating-point types by 4 units in the last place of their output.
      std::size_t planted = 0;
      while (points[planted].batch == 0) ++planted;
      auto bad = good;
      const double ulp = dtype == DType::int8 ? 1.0
                         : dtype == DType::fp64 ? 0x1p-52
                         : dtype == DType::bf16 || dtype == DType::fp8 ? 0x1p-7
                         : dtype == DType::fp16 ? 0x1p-10 : 0x1p-23;
      bad[planted] += dtype == DType::int8 ? 1.0 : 64 * ulp * std::max(1.0, std::fabs(bad[planted])) + 1.0;
      GemmRun one;
      gemm_check(c, bad, one);
      EXPECT_EQ(one.wrong, 1);
      EXPECT_NE(one.first_wrong.find("C[" + std::to_string(points[planted].batch) + "]["), std::string::npos)
          << one.first_wrong;

      GemmConfig flipped = c;
      flipped.ta = ta == Transpose::n ? Transpose::t : Transpose::n;
      std::vector<double> layout_bug, batch_bug;
      for (const auto& e : points) {
        layout_bug.push_back(gemm_reference(flipped, e).value);
        batch_bug.push_back(gemm_reference(c, {0, e.row, e.col}).value);
      }
      GemmRun l, b;
      gemm_check(c, layout_bug, l);
      gemm_check(c, batch_bug, b);
      EXPECT_GT(l.wrong, 30);
      EXPECT_GT(b.wrong, 15);  // about two thirds of the samples are in batches 1 and 2
    }
}

TEST(Gemm, Fp8ReferenceCarriesTheScalesAndAMissingScaleIsCaught) {
  GemmConfig c;
  c.m = c.n = c.k = 64;
  c.dtype = DType::fp8;
  c.ta = Transpose::t;
  c.samples = 16;
  const GemmElement e{0, 3, 5};
  const auto scaled = gemm_reference(c, e);
  // Recompute the raw sum by hand from the fp8 inputs.
  double raw = 0;
  for (std::int64_t p = 0; p < c.k; ++p)
    raw += double{input_value(InputKind::fp8, gemm_seed_a(c.seed), gemm_a_index(c, 0, 3, p))} *
           input_value(InputKind::fp8, gemm_seed_b(c.seed), gemm_b_index(c, 0, p, 5));
  EXPECT_DOUBLE_EQ(scaled.value, raw * kFp8ScaleA * kFp8ScaleB);
  std::vector<double> ignored_scales;
  for (const auto& pt : gemm_sample_points(c))
    ignored_scales.push_back(gemm_reference(c, pt).value / (double{kFp8ScaleA} * kFp8ScaleB));
  GemmRun r;
  gemm_check(c, ignored_scales, r);
  EXPECT_GT(r.wrong, 12);
}

TEST(Gemm, LayoutRulesOfFp8AndInt8AreCheckedWithAReason) {
  GemmConfig c;
  c.m = c.n = c.k = 64;
  c.dtype = DType::fp8;
  EXPECT_NE(gemm_layout_problem(c).find("ta: t and tb: n"), std::string::npos) << gemm_layout_problem(c);
  c.ta = Transpose::t;
  EXPECT_EQ(gemm_layout_problem(c), "");
  c.fp8_output = DType::fp32;
  EXPECT_NE(gemm_layout_problem(c).find("bf16 or fp16"), std::string::npos);
  c.fp8_output = DType::fp16;
  c.k = 40;
  EXPECT_NE(gemm_layout_problem(c).find("multiples of 16"), std::string::npos);
  c.dtype = DType::int8;
  c.m = 62;
  EXPECT_NE(gemm_layout_problem(c).find("multiples of 4"), std::string::npos);
  c.m = 64;
  EXPECT_EQ(gemm_layout_problem(c), "");
  c.dtype = DType::fp32;
  c.tb = Transpose::t;
  c.m = 3;
  EXPECT_EQ(gemm_layout_problem(c), "");  // no rule for the others
  // fp8 is judged by device, never on the CPU backend here.
  EXPECT_EQ(gemm_unavailable_on_device(Backend::cpu, c), "");
}

TEST(Backend, NoGpuIsReportedNotThrown) {
  std::string why;
  const int n = cuda_device_count(&why);
  if (n == 0) {
    EXPECT_FALSE(why.empty());
  } else {
    GTEST_SKIP() << n << " GPU(s) visible: this test checks the no-GPU path";
  }
  const DeviceInfo cpu = describe_device(Backend::cpu, -1);
  EXPECT_FALSE(cpu.name.empty());
  EXPECT_GT(cpu.memory_bytes, 0);
}

TEST(GemmShapes, SquareSweepAndLlama70bLayersAsDerived) {
  EXPECT_EQ(gemm_shape_set("square"),
            (std::vector<std::string>{"square-1024", "square-2048", "square-4096", "square-8192", "square-16384"}));
  const auto llama = gemm_shape_set("llama70b");
  ASSERT_EQ(llama.size(), 8u);  // four GEMMs at two token counts
  const GemmShape* qkv = find_gemm_shape("llama70b-qkv-t4096");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->m, 8192 + 2 * 8 * 128);  // Q plus K and V of the 8 KV heads
  EXPECT_EQ(qkv->n, 4096);
  EXPECT_EQ(qkv->k, 8192);
  EXPECT_EQ(qkv->ta, Transpose::t);
  EXPECT_EQ(qkv->tb, Transpose::n);
  const GemmShape* up = find_gemm_shape("llama70b-mlp-up-t8192");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->m, 2 * 28672);
  EXPECT_EQ(up->n, 8192);
  const GemmShape* down = find_gemm_shape("llama70b-mlp-down-t8192");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->k, 28672);
  EXPECT_EQ(down->m, 8192);
  const GemmShape* out = find_gemm_shape("llama70b-attn-out-t4096");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->m * out->k, 8192 * 8192);
  EXPECT_EQ(find_gemm_shape("square-3000"), nullptr);
  const GemmShape* sq = find_gemm_shape("square-16384");
  ASSERT_NE(sq, nullptr);
  EXPECT_EQ(sq->m, 16384);
  EXPECT_EQ(sq->k, 16384);
  // Every shape is valid for fp8 and int8 in its own layout.
  for (const auto& s : gemm_named_shapes()) {
    GemmConfig c;
    c.m = s.m;
    c.n = s.n;
    c.k = s.k;
    c.ta = Transpose::t;
    for (DType t : {DType::fp8, DType::int8}) {
      c.dtype = t;
      EXPECT_EQ(gemm_layout_problem(c), "") << s.name;
    }
  }
}
