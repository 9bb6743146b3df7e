#include <gtest/gtest.h>

#include <cmath>

#include "kernels/gemm.hpp"
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
  for (auto [i, j] : points) good.push_back(gemm_reference(c, i, j).value);

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
  for (auto [i, j] : points) transposed.push_back(gemm_reference(c, j % c.m, i % c.n).value);
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
  const double fp64 = gemm_tolerance(DType::fp64, 1024, ref);
  const double fp32 = gemm_tolerance(DType::fp32, 1024, ref);
  const double tf32 = gemm_tolerance(DType::tf32, 1024, ref);
  const double bf16 = gemm_tolerance(DType::bf16, 1024, ref);
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
  EXPECT_EQ(pts[0], std::make_pair(std::int64_t{0}, std::int64_t{0}));
  EXPECT_EQ(pts[1], std::make_pair(std::int64_t{9}, std::int64_t{6}));
  for (auto [i, j] : pts) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 10);
    EXPECT_GE(j, 0);
    EXPECT_LT(j, 7);
  }
}

TEST(Gemm, CpuRefusesGpuOnlyPrecisionsWithAReason) {
  std::string reason;
  EXPECT_FALSE(gemm_supported(Backend::cpu, DType::bf16, &reason));
  EXPECT_NE(reason.find("bf16"), std::string::npos);
  EXPECT_TRUE(gemm_supported(Backend::cpu, DType::fp64, &reason));
  GemmConfig c;
  c.dtype = DType::fp16;
  EXPECT_THROW(run_gemm(Backend::cpu, c), KernelError);
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
