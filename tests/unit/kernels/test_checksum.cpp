#include <gtest/gtest.h>

#include <cstring>

#include "kernels/checksum.hpp"
#include "kernels/gemm.hpp"

using namespace gpuaccept::kernels;

TEST(Checksum, OneFlippedBitChangesItAndOrderDoesNot) {
  std::vector<float> a(1000);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = pattern_value(3, i);
  const auto base = checksum_host(a.data(), a.size(), sizeof(float));
  EXPECT_EQ(base, checksum_host(a.data(), a.size(), sizeof(float)));
  auto flipped = a;
  std::uint32_t bits;
  std::memcpy(&bits, &flipped[500], 4);
  bits ^= 1u;
  std::memcpy(&flipped[500], &bits, 4);
  EXPECT_NE(base, checksum_host(flipped.data(), flipped.size(), sizeof(float)));
  // Two elements swapped: the same values at other places is a different output.
  auto swapped = a;
  std::swap(swapped[1], swapped[2]);
  EXPECT_NE(base, checksum_host(swapped.data(), swapped.size(), sizeof(float)));
}

TEST(Checksum, MajorityNamesTheOddRankOut) {
  auto v = majority_of({7, 7, 9, 7});
  EXPECT_TRUE(v.clear);
  EXPECT_EQ(v.majority, 7u);
  EXPECT_EQ(v.dissenters, std::vector<int>{2});
  v = majority_of({5, 5, 5});
  EXPECT_TRUE(v.dissenters.empty());
  // Two ranks that disagree: nobody can be singled out, both are reported.
  v = majority_of({1, 2});
  EXPECT_FALSE(v.clear);
  EXPECT_EQ(v.dissenters, (std::vector<int>{0, 1}));
  v = majority_of({1, 1, 2, 2});
  EXPECT_FALSE(v.clear);
  EXPECT_EQ(v.dissenters.size(), 4u);
}

TEST(Checksum, InjectedFaultPassesTheToleranceButNotTheChecksum) {
  GemmConfig c;
  c.m = 64;
  c.n = 48;
  c.k = 32;
  c.dtype = DType::fp64;
  c.timing = {0, 1};
  const GemmRun clean = run_gemm(Backend::cpu, c);
  c.inject_fault = true;
  const GemmRun faulty = run_gemm(Backend::cpu, c);
  EXPECT_EQ(clean.wrong, 0);
  EXPECT_EQ(faulty.wrong, 0);  // one low bit is far inside the tolerance
  EXPECT_NE(clean.checksum, faulty.checksum);
  c.inject_fault = false;
  EXPECT_EQ(run_gemm(Backend::cpu, c).checksum, clean.checksum);  // deterministic
}
