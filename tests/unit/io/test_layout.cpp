// Offset layouts: every byte of every file written exactly once, in every layout and order.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "io/layout.hpp"

using gpuaccept::io::AccessOrder;
using gpuaccept::io::FileLayout;
using gpuaccept::io::Layout;
using gpuaccept::io::RandomPermutation;

namespace {

// How many times each byte of each file is written.
std::vector<std::vector<int>> coverage(const Layout& layout) {
  std::vector<std::vector<int>> files(layout.files(), std::vector<int>(layout.file_bytes(), 0));
  for (std::uint32_t r = 0; r < layout.ranks; ++r) {
    const auto seq = layout.sequence(r);
    EXPECT_EQ(seq.size(), layout.transfers_per_rank());
    auto& file = files[layout.file_of(r)];
    for (std::uint64_t i = 0; i < seq.size(); ++i) {
      const auto offset = seq.offset(i), bytes = seq.bytes(i);
      EXPECT_LE(offset + bytes, file.size());
      for (std::uint64_t b = offset; b < offset + bytes && b < file.size(); ++b) ++file[b];
    }
  }
  return files;
}

}  // namespace

TEST(Layout, EveryByteWrittenExactlyOnce) {
  for (auto kind : {FileLayout::file_per_process, FileLayout::segmented, FileLayout::strided}) {
    for (auto order : {AccessOrder::sequential, AccessOrder::random}) {
      for (std::uint32_t ranks : {1u, 2u, 3u, 4u}) {
        for (std::uint64_t segments : {1ull, 3ull}) {
          for (std::uint64_t per_block : {1ull, 4ull}) {
            Layout l;
            l.kind = kind;
            l.order = order;
            l.ranks = ranks;
            l.segments = segments;
            l.transfer = 8;
            l.block = 8 * per_block;
            l.seed = 99;
            SCOPED_TRACE(testing::Message() << to_string(kind) << " " << to_string(order) << " ranks " << ranks
                                            << " segments " << segments << " transfers/block " << per_block);
            for (const auto& file : coverage(l))
              for (int count : file) ASSERT_EQ(count, 1);
          }
        }
      }
    }
  }
}

TEST(Layout, ShortLastTransferOfABlockForCheckpointShards) {
  for (auto kind : {FileLayout::file_per_process, FileLayout::segmented}) {
    Layout l;
    l.kind = kind;
    l.ranks = 3;
    l.transfer = 4096;
    l.block = 3 * 4096 + 1000;  // 4 transfers, the last one of 1000 bytes
    EXPECT_EQ(l.transfers_per_rank(), 4u);
    EXPECT_EQ(l.sequence(1).bytes(3), 1000u);
    for (const auto& file : coverage(l))
      for (int count : file) ASSERT_EQ(count, 1);
  }
}

TEST(Layout, IorOffsets) {
  Layout l;
  l.ranks = 2;
  l.transfer = 1;
  l.block = 4;
  l.segments = 2;
  l.kind = FileLayout::segmented;  // segment: [r0 r0 r0 r0 r1 r1 r1 r1]
  std::vector<std::uint64_t> got;
  const auto s = l.sequence(1);
  for (std::uint64_t i = 0; i < s.size(); ++i) got.push_back(s.offset(i));
  EXPECT_EQ(got, (std::vector<std::uint64_t>{4, 5, 6, 7, 12, 13, 14, 15}));
  l.kind = FileLayout::strided;  // segment: [r0 r1 r0 r1 r0 r1 r0 r1]
  got.clear();
  const auto t = l.sequence(1);
  for (std::uint64_t i = 0; i < t.size(); ++i) got.push_back(t.offset(i));
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 3, 5, 7, 9, 11, 13, 15}));
  l.kind = FileLayout::file_per_process;
  EXPECT_EQ(l.file_of(1), 1u);
  EXPECT_EQ(l.sequence(1).offset(5), 5u);
  EXPECT_EQ(l.file_bytes(), 8u);
}

TEST(Layout, RandomOrderIsAPermutationNotTheSequentialOrder) {
  Layout l;
  l.ranks = 1;
  l.transfer = 4096;
  l.block = 4096 * 1000;
  l.order = AccessOrder::random;
  const auto s = l.sequence(0);
  std::vector<std::uint64_t> offsets;
  for (std::uint64_t i = 0; i < s.size(); ++i) offsets.push_back(s.offset(i));
  std::uint64_t in_place = 0;
  for (std::uint64_t i = 0; i < offsets.size(); ++i) in_place += offsets[i] == i * 4096;
  EXPECT_LT(in_place, 10u);
  EXPECT_EQ(std::set<std::uint64_t>(offsets.begin(), offsets.end()).size(), offsets.size());
}

TEST(RandomPermutation, IsABijectionOfAnySize) {
  for (std::uint64_t n : {0ull, 1ull, 2ull, 3ull, 4ull, 5ull, 17ull, 1000ull, 4097ull, 65539ull}) {
    RandomPermutation p(n, 7);
    std::vector<char> seen(n, 0);
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto x = p(i);
      ASSERT_LT(x, n);
      ASSERT_FALSE(seen[x]) << "n " << n << " i " << i;
      seen[x] = 1;
    }
  }
  RandomPermutation a(1000, 1), b(1000, 2);
  int same = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) same += a(i) == b(i);
  EXPECT_LT(same, 20);
}
