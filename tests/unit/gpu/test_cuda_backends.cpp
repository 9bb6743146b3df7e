// GPU tests: they run where a GPU is visible and skip with the reason everywhere else
// (this binary is labelled "gpu": `ctest -L gpu`).
#include <gtest/gtest.h>

#include "kernels/gemm.hpp"

using namespace gpuaccept::kernels;

namespace {

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_compiled()) GTEST_SKIP() << "built without CUDA (GPUACCEPT_CUDA=OFF or no toolkit)";
    std::string why;
    if (cuda_device_count(&why) == 0) GTEST_SKIP() << "no GPU visible: " << why;
  }
};

}  // namespace

TEST_F(Cuda, DeviceIsDescribedAsNvidiaSmiDoes) {
  const DeviceInfo d = describe_device(Backend::cuda, 0);
  EXPECT_FALSE(d.name.empty());
  EXPECT_EQ(d.uuid.rfind("GPU-", 0), 0u) << d.uuid;
  EXPECT_EQ(d.uuid.size(), 40u) << d.uuid;  // GPU- + 8-4-4-4-12 hex digits
  EXPECT_GT(d.memory_bytes, std::int64_t{1} << 30);
}

TEST_F(Cuda, GemmEveryPrecisionIsCorrectOnOddShapes) {
  for (DType t : {DType::fp64, DType::fp32, DType::tf32, DType::bf16, DType::fp16}) {
    SCOPED_TRACE(std::string(to_string(t)));
    GemmConfig c;
    c.m = 1000;
    c.n = 777;
    c.k = 513;
    c.dtype = t;
    c.timing = {1, 3};
    const GemmRun r = run_gemm(Backend::cuda, c);
    EXPECT_EQ(r.checked, 256);
    EXPECT_EQ(r.wrong, 0) << r.first_wrong;
    ASSERT_EQ(r.iteration_seconds.size(), 3u);
    for (double s : r.iteration_seconds) EXPECT_GT(s, 0);
    EXPECT_FALSE(r.algorithm.empty());
  }
}

TEST_F(Cuda, GemmBf16IsCorrectAtLlmScale) {
  GemmConfig c;
  c.m = c.n = c.k = 8192;
  c.dtype = DType::bf16;
  c.timing = {2, 5};
  const GemmRun r = run_gemm(Backend::cuda, c);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_LT(r.worst_error_ratio, 1.0);
}

TEST_F(Cuda, GemmTransposesAndBatchesAreCorrect) {
  for (DType t : {DType::fp32, DType::bf16})
    for (Transpose ta : {Transpose::n, Transpose::t})
      for (Transpose tb : {Transpose::n, Transpose::t}) {
        SCOPED_TRACE(std::string(to_string(t)) + " " + std::string(to_string(ta)) + std::string(to_string(tb)));
        GemmConfig c;
        c.m = 200;
        c.n = 136;
        c.k = 328;
        c.batch = 3;
        c.ta = ta;
        c.tb = tb;
        c.dtype = t;
        c.timing = {1, 2};
        const GemmRun r = run_gemm(Backend::cuda, c);
        EXPECT_EQ(r.wrong, 0) << r.first_wrong;
        EXPECT_EQ(r.checked, 256);
      }
}

TEST_F(Cuda, GemmInt8IsExact) {
  GemmConfig c;
  c.m = 512;
  c.n = 384;
  c.k = 1024;
  c.batch = 2;
  c.dtype = DType::int8;
  c.ta = Transpose::t;
  c.timing = {1, 3};
  const GemmRun r = run_gemm(Backend::cuda, c);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  EXPECT_EQ(r.worst_error_ratio, 0.0);  // exact, not merely within a tolerance
}

TEST_F(Cuda, GemmFp8RunsWhereTheDeviceHasItAndIsNotApplicableElsewhere) {
  for (DType out : {DType::bf16, DType::fp16}) {
    GemmConfig c;
    c.m = c.n = c.k = 1024;
    c.dtype = DType::fp8;
    c.fp8_output = out;
    c.ta = Transpose::t;
    c.timing = {1, 3};
    const DeviceInfo d = describe_device(Backend::cuda, 0);
    if (d.compute_capability < 89) {
      EXPECT_NE(gemm_unavailable_on_device(Backend::cuda, c).find("not applicable on this device"), std::string::npos);
      EXPECT_THROW(run_gemm(Backend::cuda, c), NotApplicable);
      continue;
    }
    const GemmRun r = run_gemm(Backend::cuda, c);
    EXPECT_EQ(r.wrong, 0) << r.first_wrong;
    EXPECT_LT(r.worst_error_ratio, 1.0);
  }
}
