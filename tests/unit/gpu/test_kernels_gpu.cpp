// GPU tests of the GEMM session, burnin, telemetry, hostcopy and p2p: they run where a GPU is
// visible and skip with the reason everywhere else (label "gpu": `ctest -L gpu`).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "kernels/burnin.hpp"
#include "kernels/gemm.hpp"
#include "kernels/hostcopy.hpp"
#include "kernels/p2p.hpp"
#include "kernels/telemetry.hpp"

using namespace gpuaccept::kernels;

namespace {

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_compiled()) GTEST_SKIP() << "built without CUDA (GPUACCEPT_CUDA=OFF or no toolkit)";
    std::string why;
    gpus_ = cuda_device_count(&why);
    if (gpus_ == 0) GTEST_SKIP() << "no GPU visible: " << why;
  }
  int gpus_ = 0;
};

GemmConfig bf16_gemm() {
  GemmConfig c;
  c.m = 2048;
  c.n = 1536;
  c.k = 1024;
  c.dtype = DType::bf16;
  c.seed = 3;
  return c;
}

}  // namespace

TEST_F(CudaKernels, GemmSessionBatchesAndChoosesAndMatchesRunGemm) {
  const auto session = open_gemm_session(Backend::cuda, bf16_gemm());
  const auto& candidates = session->candidate_seconds();
  ASSERT_FALSE(candidates.empty());
  EXPECT_TRUE(std::isfinite(*std::min_element(candidates.begin(), candidates.end())));
  session->submit(4);
  session->submit(4);
  EXPECT_EQ(session->in_flight(), 2u);
  EXPECT_GT(session->wait_oldest(), 0);
  EXPECT_GT(session->wait_oldest(), 0);
  GemmRun first;
  session->verify(first);
  EXPECT_EQ(first.wrong, 0) << first.first_wrong;
  // The same candidate again (bits must not depend on the run), and run_gemm's own choice.
  const auto fastest =
      static_cast<std::size_t>(std::min_element(candidates.begin(), candidates.end()) - candidates.begin());
  session->choose(fastest);
  EXPECT_NE(session->algorithm().find("chosen jointly"), std::string::npos) << session->algorithm();
  session->submit(1);
  (void)session->wait_oldest();
  GemmRun again;
  session->verify(again);
  EXPECT_EQ(again.checksum, first.checksum);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!std::isfinite(candidates[i])) {
      EXPECT_THROW(session->choose(i), KernelError);
    }
  }
}

TEST_F(CudaKernels, BurninRunsWithTelemetryWhereNvmlIs) {
  const auto session = open_gemm_session(Backend::cuda, bf16_gemm());
  GpuTelemetry telemetry = GpuTelemetry::open(describe_device(Backend::cuda, 0).uuid);
  BurninConfig cfg;
  cfg.duration_seconds = 2;
  cfg.interval_seconds = 0.25;
  if (telemetry.available())
    cfg.telemetry = [&telemetry](double at) -> std::optional<TelemetrySample> { return telemetry.read(at); };
  const BurninRun r = run_burnin(*session, cfg);
  EXPECT_EQ(r.check.wrong, 0) << r.check.first_wrong;
  EXPECT_GE(r.intervals.size(), 6u);
  EXPECT_GT(r.batch_gemms, 1);
  const auto t = burnin_throughput(r.intervals, 2.0 * 2048 * 1536 * 1024, burnin_window_seconds(2));
  EXPECT_GT(t.mean_tflops, 1);
  if (!telemetry.available()) GTEST_SKIP() << "telemetry absent: " << telemetry.why_absent();
  ASSERT_EQ(r.telemetry.size(), r.intervals.size() + 1);
  const TelemetrySummary s = summarize_telemetry(r.telemetry);
  EXPECT_GT(s.power_mean_w, 20);
  EXPECT_LT(s.power_max_w, 2000);
  EXPECT_GT(s.sm_clock_min_mhz, 100);
  EXPECT_GT(s.temperature_max_c, 10);
  EXPECT_LT(s.temperature_max_c, 120);
  EXPECT_TRUE(s.reasons_seen.has_value());
  for (const auto& note : telemetry.notes()) std::cout << "telemetry note: " << note << '\n';
}

TEST_F(CudaKernels, HostcopyMovesAndChecksEveryWord) {
  HostcopyConfig c;
  c.bytes = 64 << 20;
  c.timing = {1, 3};
  const HostcopyRun r = run_hostcopy(Backend::cuda, c);
  ASSERT_EQ(r.measurements.size(), 6u);
  for (const auto& m : r.measurements) {
    EXPECT_EQ(m.wrong, 0) << m.first_wrong;
    EXPECT_EQ(m.checked,
              static_cast<std::int64_t>(m.direction == CopyDirection::bidirectional ? 2 : 1) * (64 << 17));
    EXPECT_GT(hostcopy_gbps(m), 0.5) << kCopyDirectionNames[static_cast<std::size_t>(m.direction)];
  }
  std::cout << "placement: " << r.placement << " (host pages on node " << r.host_numa_node << ")\n";
  if (r.gpu_numa_node >= 0 && r.host_numa_node >= 0) {
    EXPECT_EQ(r.host_numa_node, r.gpu_numa_node);
  }
}

TEST_F(CudaKernels, P2pMatrixOverEveryPair) {
  if (gpus_ < 2) GTEST_SKIP() << "one GPU: no GPU-to-GPU link";
  P2pConfig c;
  c.bytes = 32 << 20;
  c.timing = {1, 3};
  c.latency_hops = 2000;
  const P2pMatrix m = run_p2p(Backend::cuda, c);
  ASSERT_EQ(m.gpus, gpus_);
  EXPECT_TRUE(m.first_wrong.empty()) << m.first_wrong;
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d) {
      if (s == d) continue;
      EXPECT_EQ(m.wrong[m.at(s, d)], 0);
      if (m.peer_access[m.at(s, d)] > 0 && m.peer_access[m.at(d, s)] > 0) {
        for (std::size_t t = 0; t < kP2pTests; ++t) EXPECT_GT(m.values[t][m.at(s, d)], 0) << kP2pTestNames[t];
      }
    }
  std::cout << format_p2p_matrix(m, P2pTest::ce_write) << format_p2p_matrix(m, P2pTest::latency);
}
