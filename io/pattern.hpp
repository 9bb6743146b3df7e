// The data every storage benchmark writes and checks. Each byte's value is a function of
// (seed, generation, file, writer rank, offset), so that a read can tell right data from a
// corrupted, misplaced or stale block, and say which it is:
//
//   word w of the file (bytes 8w .. 8w+7)  =  pool[w mod 512]  XOR  block_tag(b)
//   block_tag(b) = mix64(key(file, generation) XOR (check | rank << 36 | b)),  b = w / 512
//
// pool is 512 random words (4 KiB) drawn from the seed, mix64 is SplitMix64's finaliser (a
// bijection), check is 8 bits of the key. Every 4 KiB block of every file therefore differs
// from every other (incompressible, no dedup), fill and verify run at memory speed (one XOR
// per word, one mix64 per 4 KiB), and a wrong block decodes back to whose data it holds:
// "what rank 3 wrote at offset 1 MiB" (misplaced), "... in the previous iteration" (stale),
// "zeros" (never written) or "unrecognised" (corrupted). Decoding is exact for ranks below
// 2^20 and files below 256 TiB; the check itself is exact at any size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace gpuaccept::io {

// Whose bytes these are.
struct DataTag {
  std::uint64_t file = 0;        // which file: N-N the writer's rank, a shared file 0, mdtest the file number
  std::uint32_t rank = 0;        // the rank that wrote them
  std::uint32_t generation = 0;  // the iteration that wrote them: data left from an earlier one is wrong
};

// What a verification found. Offsets are file offsets.
struct VerifyResult {
  std::uint64_t checked_bytes = 0;
  std::uint64_t wrong_bytes = 0;   // bytes that differ from the pattern
  std::uint64_t wrong_blocks = 0;  // 4 KiB pattern blocks holding at least one wrong byte
  std::optional<std::uint64_t> first_wrong_offset;
  std::string first_wrong;         // what the first wrong block holds instead, decoded when possible

  bool ok() const { return wrong_bytes == 0; }
  // Adds another verification's counts; keeps the first problem of `this`, else of `other`.
  void merge(const VerifyResult& other);
};

class Pattern {
 public:
  static constexpr std::size_t kBlockBytes = 4096;
  static constexpr std::size_t kBlockWords = kBlockBytes / 8;

  explicit Pattern(std::uint64_t seed);

  std::uint64_t seed() const { return seed_; }

  // The bytes that `tag` holds at file offsets [offset, offset + out.size()). Any offset and
  // length; 4 KiB-aligned blocks take the fast path.
  void fill(std::span<std::byte> out, const DataTag& tag, std::uint64_t offset) const;

  // Compares `data` (read from file offset `offset`) with what `tag` wrote there.
  VerifyResult verify(std::span<const std::byte> data, const DataTag& tag, std::uint64_t offset) const;

  // Whose data one 4 KiB-aligned block holds, assuming it came from `file`: decodes the block
  // tag under `generation` and `generation - 1`. Empty when the block is not pattern data of
  // that file (corrupted, zeros, another file's, or misaligned).
  struct Origin {
    std::uint32_t rank = 0;
    std::uint64_t offset = 0;  // file offset of the block it was written at
    std::uint32_t generation = 0;
  };
  std::optional<Origin> decode(std::span<const std::byte> block_part, std::size_t offset_in_block,
                               std::uint64_t file, std::uint32_t generation) const;

 private:
  std::uint64_t key(std::uint64_t file, std::uint32_t generation) const;
  std::uint64_t block_tag(std::uint64_t key, std::uint32_t rank, std::uint64_t block) const;
  void fill_block(std::byte* out, std::uint64_t tag) const;
  bool block_equal(const std::byte* data, std::uint64_t tag) const;
  std::string describe(std::span<const std::byte> block_part, std::size_t offset_in_block,
                       const DataTag& expected, std::uint64_t block) const;

  std::uint64_t seed_;
  std::uint64_t seed_key_;
  std::array<std::uint64_t, kBlockWords> pool_{};
};

}  // namespace gpuaccept::io
