#include <gtest/gtest.h>

#include "results/system.hpp"
#include "sim/collective_model.hpp"

using namespace gpuaccept;
using namespace gpuaccept::sim;

namespace {

SystemDescription phase1() {
  return load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase1-8500.yaml");
}

constexpr std::int64_t GiB = 1LL << 30;

}  // namespace

TEST(CollectiveModel, BusbwFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allgather, 8), 0.875);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::alltoall, 4), 0.75);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::broadcast, 8), 1);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::gather, 8), 0.875);  // nccl-tests gather_perf, scatter_perf
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::scatter, 4), 0.75);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::sendrecv, 8), 1);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 1), 0);
}

// One HGX H100 node, 8 ranks, 1 GiB: NVLS wins. By hand: bw = 450 x 1.067 = 480.15 GB/s;
// time = 2 x 0.7 us + 1.75 x 1073741824 B / 480150 B/us = 1.4 + 3913.46 = 3914.86 us.
TEST(CollectiveModel, SingleNodeNvls) {
  const SystemDescription s = phase1();
  const Topology t(s);
  const CollectiveModel m(s, t);
  const CommShape c = m.shape(8, 8);
  EXPECT_TRUE(c.nvlink_domain_only);
  const Estimate e = m.estimate(CollectiveOp::allreduce, c, GiB);
  EXPECT_EQ(e.algorithm, Algorithm::nvls);
  EXPECT_NEAR(e.time_us, 3914.86, 0.01);
  EXPECT_NEAR(e.busbw_gbs, 480.0, 0.2);
}

// Without NVLS the ring: 14 steps x 0.7 us + 1.75 x 8 GiB / (450 x 0.82 GB/s).
TEST(CollectiveModel, SingleNodeRing) {
  SystemDescription s = phase1();
  s.in_network_reduction = false;
  const Topology t(s);
  const CollectiveModel m(s, t);
  const Estimate e = m.estimate(CollectiveOp::allreduce, m.shape(8, 8), 8 * GiB);
  EXPECT_EQ(e.algorithm, Algorithm::ring);
  const double expected = 14 * 0.7 + 1.75 * 8.0 * GiB / (369.0 * 1e3);
  EXPECT_NEAR(e.time_us, expected, 0.01);
  EXPECT_NEAR(e.busbw_gbs, 369.0, 0.2);
}

// Two nodes on one leaf, 8 bytes: the tree wins on latency. Step latency across a leaf:
// 1.6 us (NIC) + 0.6 us (leaf) = 2.2 us. Tree: 2 x (1 level x 2.2 + 7 x 0.7) = 14.2 us;
// ring: 2 x 15 x 2.2 = 66 us.
TEST(CollectiveModel, TwoNodesSmallMessageTree) {
  const SystemDescription s = phase1();
  const Topology t(s);
  const CollectiveModel m(s, t);
  const CommShape c = m.shape(16, 8);
  EXPECT_EQ(c.nodes, 2);
  EXPECT_EQ(c.top_tier, 1);
  EXPECT_DOUBLE_EQ(m.step_latency_us(1), 2.2);
  EXPECT_DOUBLE_EQ(m.step_latency_us(2), 1.6 + 0.6 + 0.6 + 0.6);
  const Estimate tree = m.estimate(CollectiveOp::allreduce, c, 8);
  EXPECT_EQ(tree.algorithm, Algorithm::tree);
  EXPECT_NEAR(tree.time_us, 14.2, 0.001);
  EXPECT_NEAR(m.estimate_with(CollectiveOp::allreduce, Algorithm::ring, c, 8).time_us, 66.0, 0.001);
}

// The whole phase-1 machine at 8 GiB. Ring: bottleneck min(450 x 0.82, 8 x 50 x 0.93) = 369 GB/s,
// but 2 x 8,503 steps of 3.4 us (NIC 1.6 + leaf 0.6 up + spine 0.6 + leaf 0.6 down) = 57.8 ms of
// latency; the tree (depth ceil(log2 1063) = 11, 7 NVLink steps) at 0.9 x 369 GB/s wins:
// 2 x (11 x 3.4 + 7 x 0.7) + 2(n-1)/n x 8 GiB / 332.1 GB/s = 51,809.5 us, busbw 331.6 GB/s.
TEST(CollectiveModel, FullMachineLargeMessage) {
  const SystemDescription s = phase1();
  const Topology t(s);
  const CollectiveModel m(s, t);
  const CommShape c = m.shape(s.total_gpus(), 8);
  EXPECT_EQ(c.nodes, 1063);
  EXPECT_EQ(c.top_tier, 2);
  EXPECT_DOUBLE_EQ(m.ring_bandwidth_gbs(c), 369.0);
  const Estimate e = m.estimate(CollectiveOp::allreduce, c, 8 * GiB);
  EXPECT_EQ(e.algorithm, Algorithm::tree);
  EXPECT_NEAR(e.time_us, 51809.53, 0.01);
  EXPECT_NEAR(e.busbw_gbs, 331.6, 0.1);
  EXPECT_NEAR(m.estimate_with(CollectiveOp::allreduce, Algorithm::ring, c, 8 * GiB).time_us, 104372.84, 0.01);
  // At 8 bytes the tree's latency alone.
  EXPECT_NEAR(m.estimate(CollectiveOp::allreduce, c, 8).time_us, 2 * (11 * 3.4 + 7 * 0.7), 0.001);
}

// Alltoall cannot aggregate NICs: one 400G NIC per GPU, 50 x 0.93 = 46.5 GB/s.
TEST(CollectiveModel, AlltoallUsesOneNicPerGpu) {
  const SystemDescription s = phase1();
  const Topology t(s);
  const CollectiveModel m(s, t);
  CommShape c = m.shape(16, 8);
  const Estimate e = m.estimate(CollectiveOp::alltoall, c, GiB);
  EXPECT_NEAR(e.busbw_gbs, 46.5, 0.01);
  c.network_share = 0.5;  // half the NIC left by link sharing
  EXPECT_NEAR(m.estimate(CollectiveOp::alltoall, c, GiB).busbw_gbs, 23.25, 0.01);
}

TEST(CollectiveModel, StoragePerClientAndAggregate) {
  const SystemDescription s = phase1();
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(s.storage, 10, true), 25);               // client-bound
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(s.storage, 1063, true), 1000.0 / 1063);  // file-system-bound
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(s.storage, 1063, false), 2000.0 / 1063);
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(s.storage, 0, true), 0);
  SystemDescription calibrated = s;  // a read rate of its own (per_client_read_gbs, e.g. from --calibrate)
  calibrated.storage.per_client_read_gbs = 40;
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(calibrated.storage, 10, false), 40);
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(calibrated.storage, 10, true), 25);
  EXPECT_DOUBLE_EQ(storage_per_client_gbs(calibrated.storage, 1063, false), 2000.0 / 1063);  // still capped
}
