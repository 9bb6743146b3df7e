#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "collectives/collective.hpp"

using namespace gpuaccept::collectives;

TEST(CollectiveMath, BusBandwidthFactorsAsNcclTests) {
  // nccl-tests doc/PERFORMANCE.md: allreduce 2(n-1)/n; allgather, reducescatter, alltoall,
  // gather, scatter (n-1)/n; broadcast, reduce, sendrecv 1.
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 1), 0.0);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 2), 1.0);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::allreduce, 8), 1.75);
  for (CollectiveOp op : {CollectiveOp::allgather, CollectiveOp::reducescatter, CollectiveOp::alltoall,
                          CollectiveOp::gather, CollectiveOp::scatter}) {
    EXPECT_DOUBLE_EQ(busbw_factor(op, 1), 0.0) << to_string(op);
    EXPECT_DOUBLE_EQ(busbw_factor(op, 2), 0.5) << to_string(op);
    EXPECT_DOUBLE_EQ(busbw_factor(op, 8), 0.875) << to_string(op);
  }
  for (CollectiveOp op : {CollectiveOp::broadcast, CollectiveOp::reduce, CollectiveOp::sendrecv}) {
    EXPECT_DOUBLE_EQ(busbw_factor(op, 2), 1.0) << to_string(op);
    EXPECT_DOUBLE_EQ(busbw_factor(op, 64), 1.0) << to_string(op);
  }
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::alltoall, 0), 0.0);
}

TEST(CollectiveMath, MessageShapesFollowNcclTests) {
  // 1 MiB of floats on 4 ranks: allgather/alltoall/... move 64Ki floats per rank.
  const auto ag = message_shape(CollectiveOp::allgather, 1 << 20, 4, 4);
  EXPECT_EQ(ag.count, 65536);
  EXPECT_EQ(ag.bytes, 1 << 20);
  EXPECT_EQ(ag.send_elements, 65536);
  EXPECT_EQ(ag.recv_elements, 262144);
  const auto rs = message_shape(CollectiveOp::reducescatter, 1 << 20, 4, 4);
  EXPECT_EQ(rs.send_elements, 262144);
  EXPECT_EQ(rs.recv_elements, 65536);
  const auto a2a = message_shape(CollectiveOp::alltoall, 1 << 20, 4, 4);
  EXPECT_EQ(a2a.send_elements, 262144);
  EXPECT_EQ(a2a.recv_elements, 262144);
  const auto ar = message_shape(CollectiveOp::allreduce, 1 << 20, 4, 4);
  EXPECT_EQ(ar.count, 262144);
  EXPECT_EQ(ar.send_elements, 262144);
  // Rounded down to whole elements per rank, at least one: 100 bytes of fp64 on 3 ranks.
  const auto odd = message_shape(CollectiveOp::gather, 100, 8, 3);
  EXPECT_EQ(odd.count, 4);
  EXPECT_EQ(odd.bytes, 96);
  EXPECT_EQ(message_shape(CollectiveOp::scatter, 8, 8, 4).count, 1);
  EXPECT_EQ(message_shape(CollectiveOp::scatter, 8, 8, 4).bytes, 32);
}

TEST(CollectiveMath, SweepSizesAreWholeElements) {
  EXPECT_EQ(sweep_sizes({8, 1024, 4}, 4), (std::vector<std::int64_t>{8, 32, 128, 512}));
  EXPECT_EQ(sweep_sizes({1, 16, 2}, 8), (std::vector<std::int64_t>{8, 16}));  // 1,2,4 round up to one element
  EXPECT_EQ(sweep_sizes({1 << 20, 1 << 20, 2}, 4), (std::vector<std::int64_t>{1 << 20}));
  EXPECT_EQ(sweep_sizes({3, 100, 3}, 2).front(), 2);
}

TEST(CollectiveMath, SweepWithAStep) {
  Sweep s{8, 40, 2, 16};
  EXPECT_EQ(sweep_sizes(s, 4), (std::vector<std::int64_t>{8, 24, 40}));
}

// A brute-force model of every operation: builds every rank's send buffer from input_value
// and moves/reduces it as the operation's definition says; expected_value must agree.
namespace {
std::vector<double> model_result(CollectiveOp op, RedOp redop, int n, int rank, int root, std::int64_t c) {
  const auto shape_send = [&](int r) {
    const std::int64_t elements = (op == CollectiveOp::allgather || op == CollectiveOp::gather) ? c
                                  : (op == CollectiveOp::reducescatter || op == CollectiveOp::scatter ||
                                     op == CollectiveOp::alltoall) ? c * n : c;
    std::vector<double> v;
    for (std::int64_t i = 0; i < elements; ++i) v.push_back(input_value(op, redop, n, r, i));
    return v;
  };
  auto reduce_all = [&](std::int64_t elements) {
    std::vector<double> acc = shape_send(0);
    acc.resize(static_cast<std::size_t>(elements));
    for (int r = 1; r < n; ++r) {
      const auto v = shape_send(r);
      for (std::int64_t i = 0; i < elements; ++i) {
        auto& a = acc[static_cast<std::size_t>(i)];
        const double x = v[static_cast<std::size_t>(i)];
        a = redop == RedOp::prod ? a * x : redop == RedOp::min ? std::min(a, x) : redop == RedOp::max ? std::max(a, x) : a + x;
      }
    }
    if (redop == RedOp::avg) for (auto& a : acc) a /= n;
    return acc;
  };
  std::vector<double> out;
  switch (op) {
    case CollectiveOp::allreduce: return reduce_all(c);
    case CollectiveOp::reduce: return rank == root ? reduce_all(c) : out;
    case CollectiveOp::reducescatter: {
      const auto all = reduce_all(c * n);
      return {all.begin() + rank * c, all.begin() + (rank + 1) * c};
    }
    case CollectiveOp::allgather:
    case CollectiveOp::gather:
      if (op == CollectiveOp::gather && rank != root) return out;
      for (int r = 0; r < n; ++r) for (double v : shape_send(r)) out.push_back(v);
      return out;
    case CollectiveOp::alltoall:
      for (int r = 0; r < n; ++r) {
        const auto v = shape_send(r);
        out.insert(out.end(), v.begin() + rank * c, v.begin() + (rank + 1) * c);
      }
      return out;
    case CollectiveOp::broadcast: return shape_send(root);
    case CollectiveOp::scatter: {
      const auto v = shape_send(root);
      return {v.begin() + rank * c, v.begin() + (rank + 1) * c};
    }
    case CollectiveOp::sendrecv: return shape_send((rank + n - 1) % n);
  }
  return out;
}
}  // namespace

TEST(CollectiveMath, ExpectedValuesMatchABruteForceModelOfEveryOperation) {
  for (CollectiveOp op : kAllCollectiveOps)
    for (RedOp redop : kAllRedOps) {
      if (!is_reducing(op) && redop != RedOp::sum) continue;
      for (int n : {1, 2, 3, 5}) {
        const int root = n - 1;
        for (int rank = 0; rank < n; ++rank) {
          const std::int64_t c = 7;
          const auto model = model_result(op, redop, n, rank, root, c);
          ASSERT_EQ(static_cast<std::int64_t>(model.size()), result_elements(op, n, rank, root, c))
              << to_string(op) << " n=" << n << " rank=" << rank;
          for (std::size_t j = 0; j < model.size(); ++j) {
            EXPECT_DOUBLE_EQ(expected_value(op, redop, DataType::fp64, n, rank, root, c, static_cast<std::int64_t>(j)), model[j])
                << to_string(op) << " " << to_string(redop) << " n=" << n << " rank=" << rank << " j=" << j;
            EXPECT_NE(model[j], 0.0);  // result buffers start zeroed: an untouched element is wrong
          }
        }
      }
    }
}

TEST(CollectiveMath, InputsDifferAcrossRanksAndAreExactInEveryType) {
  for (CollectiveOp op : kAllCollectiveOps)
    for (RedOp redop : kAllRedOps) {
      EXPECT_NE(input_value(op, redop, 4, 0, 0), input_value(op, redop, 4, 1, 0)) << to_string(op) << to_string(redop);
      for (int r = 0; r < 8; ++r)
        for (std::int64_t i = 0; i < 300; ++i) {
          const double v = input_value(op, redop, 8, r, i);
          EXPECT_GE(v, 1);
          EXPECT_LE(v, 101);
          for (DataType t : kAllDataTypes) EXPECT_EQ(expected_as_stored(t, v), v) << to_string(t) << " " << v;
        }
    }
}

TEST(CollectiveMath, CountWrongPerOperationAndType) {
  // A correct result has no wrong element; one changed element is counted once, in every type.
  for (CollectiveOp op : kAllCollectiveOps)
    for (DataType t : kAllDataTypes)
      for (RedOp redop : {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::avg}) {
        if (!is_reducing(op) && redop != RedOp::sum) continue;
        const int n = 4, rank = 2, root = 2;
        const std::int64_t c = 5;
        const auto elements = result_elements(op, n, rank, root, c);
        std::vector<std::byte> buf(static_cast<std::size_t>(elements) * size_of(t));
        for (std::int64_t j = 0; j < elements; ++j)
          encode_element(t, expected_value(op, redop, t, n, rank, root, c, j), buf.data() + static_cast<std::size_t>(j) * size_of(t));
        EXPECT_EQ(count_wrong(op, redop, t, n, rank, root, c, buf.data()), 0) << to_string(op) << " " << to_string(t);
        encode_element(t, 0.0, buf.data() + size_of(t));  // an untouched element
        EXPECT_EQ(count_wrong(op, redop, t, n, rank, root, c, buf.data()), 1) << to_string(op) << " " << to_string(t);
      }
}

TEST(CollectiveMath, IntegerSumsWrapAndAvgTruncates) {
  // int8 holds -128..127: the sum over 64 ranks wraps as the hardware's addition does.
  double exact = 0;
  for (int r = 0; r < 64; ++r) exact += input_value(CollectiveOp::allreduce, RedOp::sum, 64, r, 0);
  EXPECT_GT(exact, 127);
  const double stored = expected_as_stored(DataType::int8, exact);
  EXPECT_EQ(stored, static_cast<double>(static_cast<std::int8_t>(static_cast<std::int64_t>(exact))));
  EXPECT_EQ(expected_as_stored(DataType::uint8, 300), 44);
  // avg of 1,4 (ranks 0 and 1 at element 1: 1 + (3+0)%4 = 4, 1 + (3+7)%4 = 3) over 2 ranks.
  EXPECT_EQ(expected_value(CollectiveOp::allreduce, RedOp::avg, DataType::int32, 2, 0, 0, 4, 1), 3);  // 7/2 truncated
  EXPECT_EQ(expected_value(CollectiveOp::allreduce, RedOp::avg, DataType::fp32, 2, 0, 0, 4, 1), 3.5);
}

TEST(CollectiveMath, HalfAndBfloatRoundTrip) {
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

TEST(CollectiveMath, IntegerTypesRoundTrip) {
  unsigned char buf[8];
  for (DataType t : {DataType::int8, DataType::uint8, DataType::int32, DataType::uint32, DataType::int64,
                     DataType::uint64, DataType::fp32, DataType::fp64}) {
    encode_element(t, 100.0, buf);
    EXPECT_EQ(decode_element(t, buf), 100.0) << to_string(t);
  }
}

TEST(CollectiveMath, TableHasNcclTestsColumns) {
  CollectivePoint p;
  p.bytes = 1024;
  p.count = 256;
  p.out_of_place.time_s = 10e-6;
  p.out_of_place.algbw = 0.1024;
  p.out_of_place.busbw = 0.1024;
  CollectiveConfig cfg;
  cfg.in_place = false;
  const std::string t = format_table(cfg, {p});
  EXPECT_NE(t.find("algbw"), std::string::npos);
  EXPECT_NE(t.find("busbw"), std::string::npos);
  EXPECT_NE(t.find("#wrong"), std::string::npos);
  EXPECT_NE(t.find("float"), std::string::npos);
  EXPECT_NE(t.find("  10.00"), std::string::npos);  // microseconds
  EXPECT_NE(t.find("   sum     -1"), std::string::npos);
  cfg.op = CollectiveOp::gather;
  cfg.root = 3;
  const std::string g = format_table(cfg, {p});
  EXPECT_NE(g.find("  none      3"), std::string::npos) << g;  // no reduction, root 3
}
