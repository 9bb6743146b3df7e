// The data pattern: deterministic, different for every block of every file, and a verification
// that finds a planted corrupted (header or body), misplaced, stale, foreign or zeroed block
// and says which it is; the Filler's header-only rewrites give the same bytes as a full fill.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "io/pattern.hpp"

using gpuaccept::io::DataTag;
using gpuaccept::io::Pattern;

namespace {

constexpr std::size_t kBlock = Pattern::kBlockBytes;

std::vector<std::byte> filled(const Pattern& p, const DataTag& tag, std::uint64_t offset, std::size_t bytes) {
  std::vector<std::byte> v(bytes);
  p.fill(v, tag, offset);
  return v;
}

std::string fmt_offset(std::uint64_t offset) { return "offset " + std::to_string(offset); }

}  // namespace

TEST(Pattern, DeterministicAndDifferentForEveryTagAndOffset) {
  const Pattern p(7);
  const DataTag tag{3, 1, 0};
  EXPECT_EQ(filled(p, tag, 0, 8192), filled(Pattern(7), tag, 0, 8192));
  const auto base = filled(p, tag, 0, kBlock);
  EXPECT_NE(base, filled(Pattern(8), tag, 0, kBlock)) << "seed";
  EXPECT_NE(base, filled(p, {4, 1, 0}, 0, kBlock)) << "file";
  EXPECT_NE(base, filled(p, {3, 2, 0}, 0, kBlock)) << "rank";
  EXPECT_NE(base, filled(p, {3, 1, 1}, 0, kBlock)) << "generation";
  EXPECT_NE(base, filled(p, tag, kBlock, kBlock)) << "offset";
}

TEST(Pattern, EveryBlockDiffersSoNothingCompressesOrDeduplicates) {
  const Pattern p(1);
  const auto data = filled(p, {0, 0, 0}, 0, 16u << 20);
  std::set<std::string> blocks;
  for (std::size_t at = 0; at < data.size(); at += kBlock)
    blocks.insert(std::string(reinterpret_cast<const char*>(data.data() + at), kBlock));
  EXPECT_EQ(blocks.size(), data.size() / kBlock);
  std::size_t zeros = 0;
  for (auto b : data) zeros += b == std::byte{0};
  // About 1/256 of random bytes are zero, plus the small numbers of the headers (offset,
  // file, rank, generation: about 20 zero bytes of 4096).
  EXPECT_LT(zeros, data.size() / 64);
}

TEST(Pattern, AnyOffsetAndLengthAgreeWithTheWholeFile) {
  const Pattern p(42);
  const DataTag tag{0, 5, 2};
  const auto whole = filled(p, tag, 0, 64 * 1024);
  std::mt19937_64 random(1);
  for (int i = 0; i < 200; ++i) {
    const std::size_t start = random() % whole.size();
    const std::size_t length = random() % (whole.size() - start) + 1;
    const auto part = filled(p, tag, start, length);
    ASSERT_EQ(0, std::memcmp(part.data(), whole.data() + start, length)) << start << "+" << length;
    const auto v = p.verify(part, tag, start);
    EXPECT_TRUE(v.ok()) << v.first_wrong;
    EXPECT_EQ(v.checked_bytes, length);
  }
}

TEST(Pattern, PlantedCorruptedBlockIsFound) {
  const Pattern p(9);
  const DataTag tag{1, 1, 0};
  const std::uint64_t base = 3 * kBlock;  // a buffer somewhere in the file
  auto data = filled(p, tag, base, 1u << 20);
  ASSERT_TRUE(p.verify(data, tag, base).ok());
  const std::size_t planted = 37 * kBlock + 123;
  data[planted] ^= std::byte{0x40};
  const auto v = p.verify(data, tag, base);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.wrong_bytes, 1u);
  EXPECT_EQ(v.wrong_blocks, 1u);
  ASSERT_TRUE(v.first_wrong_offset);
  EXPECT_EQ(*v.first_wrong_offset, base + planted);
  EXPECT_NE(v.first_wrong.find("1 of 4096 bytes of the block at offset 163840 are wrong"), std::string::npos) << v.first_wrong;
  EXPECT_NE(v.first_wrong.find("its own header over a wrong body (corrupted)"), std::string::npos) << v.first_wrong;
}

TEST(Pattern, EveryCorruptedBlockIsCounted) {
  const Pattern p(11);
  const DataTag tag{0, 0, 4};
  auto data = filled(p, tag, 0, 256 * kBlock);
  for (std::size_t b : {0u, 17u, 18u, 255u}) std::memset(data.data() + b * kBlock + 100, 0xAB, 10);
  const auto v = p.verify(data, tag, 0);
  EXPECT_EQ(v.wrong_blocks, 4u);
  EXPECT_LE(v.wrong_bytes, 40u);
  EXPECT_GE(v.wrong_bytes, 36u);  // a byte may happen to hold 0xAB already
  EXPECT_EQ(*v.first_wrong_offset / kBlock, 0u);
}

TEST(Pattern, MisplacedBlockSaysWhoseItIs) {
  const Pattern p(5);
  const DataTag mine{0, 2, 1}, other{0, 3, 1};  // two ranks of one shared file
  auto data = filled(p, mine, 64 * kBlock, 16 * kBlock);
  // The storage put what rank 3 wrote at offset 20480 where rank 2's block 70 belongs.
  const auto foreign = filled(p, other, 5 * kBlock, kBlock);
  std::memcpy(data.data() + 6 * kBlock, foreign.data(), kBlock);
  const auto v = p.verify(data, mine, 64 * kBlock);
  EXPECT_EQ(v.wrong_blocks, 1u);
  EXPECT_EQ(*v.first_wrong_offset / kBlock, 70u);
  EXPECT_NE(v.first_wrong.find("what rank 3 wrote at offset 20480 (misplaced data)"), std::string::npos) << v.first_wrong;
  // The same rank's block at the wrong offset.
  auto own = filled(p, mine, 0, 4 * kBlock);
  const auto later = filled(p, mine, 9 * kBlock, kBlock);
  std::memcpy(own.data() + kBlock, later.data(), kBlock);
  EXPECT_NE(p.verify(own, mine, 0).first_wrong.find("what rank 2 wrote at offset 36864 (misplaced data)"),
            std::string::npos);
}

TEST(Pattern, StaleAndZeroBlocksAreNamed) {
  const Pattern p(5);
  const DataTag now{7, 0, 3};
  auto data = filled(p, now, 0, 8 * kBlock);
  const auto old = filled(p, {7, 0, 2}, 2 * kBlock, kBlock);
  std::memcpy(data.data() + 2 * kBlock, old.data(), kBlock);
  std::memset(data.data() + 5 * kBlock, 0, kBlock);
  const auto v = p.verify(data, now, 0);
  EXPECT_EQ(v.wrong_blocks, 2u);
  EXPECT_NE(v.first_wrong.find("what rank 0 wrote at offset 8192 in the previous iteration (stale data)"),
            std::string::npos) << v.first_wrong;
  const auto zeros = p.verify(std::span(data).subspan(5 * kBlock, kBlock), now, 5 * kBlock);
  EXPECT_NE(zeros.first_wrong.find("zeros (never written, or a hole)"), std::string::npos) << zeros.first_wrong;
}

TEST(Pattern, AnotherFilesBlockIsNamed) {
  const Pattern p(5);
  auto data = filled(p, {1, 1, 0}, 0, 2 * kBlock);
  const auto other_file = filled(p, {2, 2, 0}, kBlock, kBlock);
  std::memcpy(data.data() + kBlock, other_file.data(), kBlock);
  const auto v = p.verify(data, {1, 1, 0}, 0);
  EXPECT_EQ(v.wrong_blocks, 1u);
  EXPECT_NE(v.first_wrong.find("what rank 2 wrote at offset 4096 of file 2 (misplaced data: another file)"),
            std::string::npos) << v.first_wrong;
}

TEST(Pattern, ARightHeaderOverACorruptedBodyIsFound) {
  const Pattern p(21);
  const DataTag tag{4, 3, 2};
  auto data = filled(p, tag, 0, 8 * kBlock);
  // One byte deep in the body of block 5, and the last byte of block 6: headers untouched.
  data[5 * kBlock + 2000] ^= std::byte{0x01};
  data[7 * kBlock - 1] ^= std::byte{0x80};
  const auto v = p.verify(data, tag, 0);
  EXPECT_EQ(v.wrong_bytes, 2u);
  EXPECT_EQ(v.wrong_blocks, 2u);
  EXPECT_EQ(*v.first_wrong_offset, 5 * kBlock + 2000);
  EXPECT_NE(v.first_wrong.find("its own header over a wrong body (corrupted)"), std::string::npos) << v.first_wrong;
  // A body copied from another block (the same place in the ring, 1 MiB further) under this
  // block's own header: the body is per file and generation, so another file's fails.
  auto mine = filled(p, tag, 0, kBlock);
  const auto theirs = filled(p, {5, 3, 2}, 0, kBlock);
  std::memcpy(mine.data() + Pattern::kHeaderBytes, theirs.data() + Pattern::kHeaderBytes,
              kBlock - Pattern::kHeaderBytes);
  const auto w = p.verify(mine, tag, 0);
  EXPECT_GT(w.wrong_bytes, 4000u);
  EXPECT_NE(w.first_wrong.find("its own header over a wrong body"), std::string::npos) << w.first_wrong;
}

TEST(Pattern, ACorruptedHeaderIsFound) {
  const Pattern p(21);
  const DataTag tag{4, 3, 2};
  for (std::size_t at = 0; at < Pattern::kHeaderBytes; ++at) {
    auto data = filled(p, tag, 0, 2 * kBlock);
    data[kBlock + at] ^= std::byte{0x10};
    const auto v = p.verify(data, tag, 0);
    ASSERT_EQ(v.wrong_bytes, 1u) << at;
    EXPECT_EQ(*v.first_wrong_offset, kBlock + at);
    EXPECT_NE(v.first_wrong.find("unrecognised data (corrupted)"), std::string::npos) << at << v.first_wrong;
  }
}

TEST(Pattern, ABlockFromTheSamePlaceOfTheRingIsStillMisplaced) {
  // Blocks 1 MiB apart share their body; the header tells them apart.
  const Pattern p(8);
  const DataTag tag{0, 1, 0};
  auto data = filled(p, tag, 0, 2 * kBlock);
  const auto far = filled(p, tag, Pattern::kRingBytes + kBlock, kBlock);
  std::memcpy(data.data() + kBlock, far.data(), kBlock);
  const auto v = p.verify(data, tag, 0);
  EXPECT_EQ(v.wrong_blocks, 1u);
  EXPECT_LE(v.wrong_bytes, 16u) << "only the offset and check words differ";
  EXPECT_NE(v.first_wrong.find(fmt_offset(Pattern::kRingBytes + kBlock)), std::string::npos) << v.first_wrong;
  EXPECT_NE(v.first_wrong.find("(misplaced data)"), std::string::npos) << v.first_wrong;
}

TEST(Pattern, BodiesDifferWithinARingAndBetweenFiles) {
  const Pattern p(2);
  const auto a = filled(p, {0, 0, 0}, 0, Pattern::kRingBytes);
  const auto b = filled(p, {1, 0, 0}, 0, Pattern::kRingBytes);
  const auto c = filled(p, {0, 0, 1}, 0, Pattern::kRingBytes);
  std::set<std::string> bodies;
  for (const auto* v : {&a, &b, &c})
    for (std::size_t at = 0; at < v->size(); at += kBlock)
      bodies.insert(std::string(reinterpret_cast<const char*>(v->data() + at + Pattern::kHeaderBytes),
                                kBlock - Pattern::kHeaderBytes));
  EXPECT_EQ(bodies.size(), 3 * Pattern::kRingBlocks);
}

TEST(Pattern, FillerRewritesHeadersOnlyAndMatchesAFullFill) {
  const Pattern p(77);
  const DataTag tag{3, 2, 1};
  gpuaccept::io::Filler filler(p, tag);
  std::vector<std::byte> a(Pattern::kRingBytes), b(Pattern::kRingBytes);
  // Sequential 1 MiB transfers through two buffers: two full fills, then headers only.
  for (std::uint64_t t = 0; t < 8; ++t) {
    auto& buffer = t % 2 ? b : a;
    filler.fill(buffer, t * Pattern::kRingBytes);
    ASSERT_EQ(buffer, filled(p, tag, t * Pattern::kRingBytes, buffer.size())) << t;
    ASSERT_TRUE(p.verify(buffer, tag, t * Pattern::kRingBytes).ok()) << t;
  }
  EXPECT_EQ(filler.full_fills(), 2u);
  // Another place of the ring, another length, a misaligned offset: full fills, still right.
  filler.fill(a, 3 * kBlock);
  EXPECT_EQ(a, filled(p, tag, 3 * kBlock, a.size()));
  std::span<std::byte> shorter(b.data(), 64 * kBlock);
  filler.fill(shorter, 0);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), filled(p, tag, 0, shorter.size()).begin()));
  filler.fill(shorter, 100);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), filled(p, tag, 100, shorter.size()).begin()));
  EXPECT_EQ(filler.full_fills(), 5u);
}

TEST(Pattern, DecodeReadsTheHeader) {
  const Pattern p(123);
  for (std::uint32_t rank : {0u, 1u, 4000000000u}) {
    for (std::uint64_t block : {0ull, 1ull, 123456789123ull}) {
      const auto data = filled(p, {9, rank, 6}, block * kBlock, kBlock);
      const auto o = p.decode(data, 0);
      ASSERT_TRUE(o);
      EXPECT_EQ(o->file, 9u);
      EXPECT_EQ(o->rank, rank);
      EXPECT_EQ(o->offset, block * kBlock);
      EXPECT_EQ(o->generation, 6u);
      EXPECT_TRUE(p.decode(std::span(data).first(Pattern::kHeaderBytes), 0)) << "the header alone";
      EXPECT_FALSE(p.decode(std::span(data).subspan(1000, 100), 1000)) << "no header in it";
      EXPECT_FALSE(Pattern(124).decode(data, 0)) << "another seed's data";
    }
  }
  std::vector<std::byte> noise(kBlock);
  std::mt19937 random(3);
  for (auto& b : noise) b = static_cast<std::byte>(random());
  EXPECT_FALSE(p.decode(noise, 0));
  EXPECT_FALSE(p.decode(std::vector<std::byte>(kBlock), 0)) << "zeros";
}

TEST(Pattern, MergeKeepsTheFirstProblem) {
  gpuaccept::io::VerifyResult a, b;
  a.checked_bytes = 10;
  b.checked_bytes = 5;
  b.wrong_bytes = 1;
  b.wrong_blocks = 1;
  b.first_wrong_offset = 77;
  b.first_wrong = "b";
  a.merge(b);
  EXPECT_EQ(a.checked_bytes, 15u);
  EXPECT_EQ(a.wrong_bytes, 1u);
  EXPECT_EQ(*a.first_wrong_offset, 77u);
  gpuaccept::io::VerifyResult c;
  c.wrong_bytes = 2;
  c.first_wrong_offset = 1;
  c.first_wrong = "c";
  a.merge(c);
  EXPECT_EQ(a.first_wrong, "b");
  EXPECT_EQ(a.wrong_bytes, 3u);
}
