#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "collectives/allreduce.hpp"

using namespace gpuaccept::collectives;

TEST(AllReduceMath, BusBandwidthFactorsAsNcclTests) {
  EXPECT_DOUBLE_EQ(allreduce_busbw_factor(1), 0.0);
  EXPECT_DOUBLE_EQ(allreduce_busbw_factor(2), 1.0);
  EXPECT_DOUBLE_EQ(allreduce_busbw_factor(4), 1.5);
  EXPECT_DOUBLE_EQ(allreduce_busbw_factor(8), 1.75);
}

TEST(AllReduceMath, SweepSizesAreWholeElements) {
  EXPECT_EQ(sweep_sizes({8, 1024, 4}, 4), (std::vector<std::int64_t>{8, 32, 128, 512}));
  EXPECT_EQ(sweep_sizes({1, 16, 2}, 8), (std::vector<std::int64_t>{8, 16}));  // 1,2,4 round up to one element
  EXPECT_EQ(sweep_sizes({1 << 20, 1 << 20, 2}, 4), (std::vector<std::int64_t>{1 << 20}));
  EXPECT_EQ(sweep_sizes({3, 100, 3}, 2).front(), 2);
}

TEST(AllReduceMath, ExpectedValuesMatchABruteForceReduction) {
  for (int n : {1, 2, 3, 8}) {
    for (std::int64_t i : {0, 1, 2, 3, 17, 1000}) {
      double sum = 0, mn = 1e9, mx = -1e9;
      for (int r = 0; r < n; ++r) {
        const double v = allreduce_input(r, i);
        EXPECT_GE(v, 1);
        EXPECT_LE(v, 4);
        sum += v;
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
      EXPECT_EQ(allreduce_expected(RedOp::sum, n, i), sum);
      EXPECT_EQ(allreduce_expected(RedOp::min, n, i), mn);
      EXPECT_EQ(allreduce_expected(RedOp::max, n, i), mx);
    }
  }
  // Ranks contribute different values, so a reduction that drops one rank is caught.
  EXPECT_NE(allreduce_input(0, 0), allreduce_input(1, 0));
}

TEST(AllReduceMath, HalfAndBfloatRoundTrip) {
  unsigned char buf[8];
  for (double v : {0.0, 1.0, -2.5, 3.0, 1024.0, 65504.0, 0.000061035156, 1e-7}) {
    encode_element(DataType::fp16, v, buf);
    const double h = decode_element(DataType::fp16, buf);
    EXPECT_NEAR(h, v, std::fabs(v) * 0x1p-11 + 6e-8) << v;
    encode_element(DataType::bf16, v, buf);
    EXPECT_NEAR(decode_element(DataType::bf16, buf), v, std::fabs(v) * 0x1p-8 + 1e-40) << v;
  }
  // Known encodings.
  encode_element(DataType::fp16, 1.0, buf);
  std::uint16_t bits;
  std::memcpy(&bits, buf, 2);
  EXPECT_EQ(bits, 0x3C00);
  encode_element(DataType::bf16, -2.0, buf);
  std::memcpy(&bits, buf, 2);
  EXPECT_EQ(bits, 0xC000);
  // Round to nearest even: 1 + 2^-11 is a tie in fp16 and goes to 1.
  encode_element(DataType::fp16, 1.0 + 0x1p-11, buf);
  std::memcpy(&bits, buf, 2);
  EXPECT_EQ(bits, 0x3C00);
  encode_element(DataType::fp16, 1e6, buf);  // overflow is infinity, not garbage
  EXPECT_TRUE(std::isinf(decode_element(DataType::fp16, buf)));
}

TEST(AllReduceMath, IntegerTypesRoundTrip) {
  unsigned char buf[8];
  for (DataType t : {DataType::int8, DataType::uint8, DataType::int32, DataType::uint32, DataType::int64,
                     DataType::uint64, DataType::fp32, DataType::fp64}) {
    encode_element(t, 100.0, buf);
    EXPECT_EQ(decode_element(t, buf), 100.0) << to_string(t);
  }
}

TEST(AllReduceMath, TableHasNcclTestsColumns) {
  AllReducePoint p;
  p.bytes = 1024;
  p.count = 256;
  p.out_of_place.time_s = 10e-6;
  p.out_of_place.algbw = 0.1024;
  p.out_of_place.busbw = 0.1024;
  const std::string t = format_allreduce_table({p}, DataType::fp32, RedOp::sum, false);
  EXPECT_NE(t.find("algbw"), std::string::npos);
  EXPECT_NE(t.find("busbw"), std::string::npos);
  EXPECT_NE(t.find("#wrong"), std::string::npos);
  EXPECT_NE(t.find("float"), std::string::npos);
  EXPECT_NE(t.find("  10.00"), std::string::npos);  // microseconds
}
