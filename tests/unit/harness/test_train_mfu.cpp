// MFU of the train benchmark against a system description built here (no YAML involved).
#include <gtest/gtest.h>

#include <cmath>

#include "harness/campaign.hpp"
#include "results/system.hpp"
#include "suites/registry.hpp"
#include "suites/train_metrics.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::suites {
namespace {

SystemDescription h100_like() {
  SystemDescription s;
  s.name = "test-h100";
  s.gpu.name = "H100 SXM5 80GB";
  s.gpu.peak_tflops = {{"bf16", 989.0}, {"fp32", 67.0}};
  return s;
}

TEST(TrainMfu, AgainstThePeakOfTheComputeDtype) {
  const auto sys = h100_like();
  const double fpt = train::flops_per_token(*train::preset("gpt2-124m"));
  // 400k tokens/s on one GPU at 854.4 MFLOP/token = 341.8 TFLOP/s = 34.6% of 989.
  const auto mfu = train_mfu(fpt, 400e3, &sys, kernels::Backend::cuda);
  ASSERT_TRUE(mfu.has_value());
  EXPECT_NEAR(*mfu, fpt * 400e3 / 989e12, 1e-12);
  EXPECT_NEAR(*mfu, 0.3456, 0.001);
  // The cpu backend computes in fp32: the fp32 peak.
  const auto cpu = train_mfu(1e9, 1e3, &sys, kernels::Backend::cpu);
  ASSERT_TRUE(cpu.has_value());
  EXPECT_NEAR(*cpu, 1e12 / 67e12, 1e-12);
}

TEST(TrainMfu, NeverGuessed) {
  std::string why;
  EXPECT_FALSE(train_mfu(1e9, 1e3, nullptr, kernels::Backend::cuda, &why).has_value());
  EXPECT_EQ(why, "no system description: MFU not computed");
  auto sys = h100_like();
  sys.gpu.peak_tflops.erase("bf16");
  EXPECT_FALSE(train_mfu(1e9, 1e3, &sys, kernels::Backend::cuda, &why).has_value());
  EXPECT_EQ(why, "system test-h100 gives no bf16 peak: MFU not computed");
  sys.gpu.peak_tflops["bf16"] = 0;  // a zero peak is no peak
  EXPECT_FALSE(train_mfu(1e9, 1e3, &sys, kernels::Backend::cuda).has_value());
}

// The shipped GPU training campaign names a description whose bf16 peak MFU is measured against.
TEST(TrainMfu, ShippedGpuTrainCampaignHasTheHopperPeak) {
  const auto c = harness::load_campaign_file(GPUACCEPT_SOURCE_DIR "/configs/gpu-train.yaml", Registry::instance());
  ASSERT_TRUE(c.system_description);
  EXPECT_EQ(c.backend, "cuda");
  EXPECT_EQ(c.system, "hopper-node");
  const double fpt = train::flops_per_token(*train::preset("gpt2-124m"));
  const auto mfu = train_mfu(fpt, 400e3, c.system_description.get(), kernels::Backend::cuda);
  ASSERT_TRUE(mfu.has_value());
  EXPECT_NEAR(*mfu, fpt * 400e3 / 989.4e12, 1e-12);
  ASSERT_EQ(c.entries.size(), 2U);
  EXPECT_EQ(param_text(c.entries[0].expanded.at(0), "preset"), "gpt2-124m");
}

}  // namespace
}  // namespace gpuaccept::suites
