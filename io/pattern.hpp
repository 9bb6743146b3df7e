// The data every storage benchmark writes and checks. Each 4 KiB block of a file starts with a
// 32-byte header that says whose it is, and carries a pseudo-random body that depends on the
// file, the iteration and the block's place in a 1 MiB ring of 256 blocks:
//
//   header (words 0..3, little-endian):  offset of the block | file | rank + generation << 32 | check
//   check = mix64 chain over the three words before it, keyed by the seed
//   body word i of block b (words 4..511) = pool[i] XOR body_tag(key(seed, file, generation), b mod 256)
//
// pool is 508 random words drawn from the seed, body_tag a SplitMix64 finaliser: one XOR per
// word with data that stays in L1. The body of a transfer buffer is therefore generated once
// per buffer and file: the next transfer at the same place in the ring (every 1 MiB transfer,
// for instance) only rewrites the headers (Filler), as fio's verify headers and IOR's offset
// signatures are stamped per write. Reads check every
// byte: a wrong header (corrupted, or another block's: misplaced, stale, another file's) and a
// right header over a wrong body are both found, and the header of a wrong block decodes to
// whose data it holds. No two 4 KiB blocks of a run are equal (no deduplication), and no block
// body repeats within 1 MiB of a file (nothing compresses per record).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
  static constexpr std::size_t kHeaderWords = 4;
  static constexpr std::size_t kHeaderBytes = kHeaderWords * 8;
  static constexpr std::size_t kBodyWords = kBlockWords - kHeaderWords;
  static constexpr std::size_t kRingBlocks = 256;
  static constexpr std::uint64_t kRingBytes = kRingBlocks * kBlockBytes;  // the body repeats every 1 MiB

  explicit Pattern(std::uint64_t seed);

  std::uint64_t seed() const { return seed_; }

  // The bytes that `tag` holds at file offsets [offset, offset + out.size()). Any offset and
  // length; 4 KiB-aligned blocks take the fast path.
  void fill(std::span<std::byte> out, const DataTag& tag, std::uint64_t offset) const;

  // fill() where `out` already holds fill(tag, previous) with previous ≡ offset (mod
  // kRingBytes), offset a multiple of kBlockBytes, the same length: rewrites only the headers.
  void restamp(std::span<std::byte> out, const DataTag& tag, std::uint64_t offset) const;

  // Compares `data` (read from file offset `offset`) with what `tag` wrote there.
  VerifyResult verify(std::span<const std::byte> data, const DataTag& tag, std::uint64_t offset) const;

  // Whose data a block holds, read from its header: `block_part` is the block from its start
  // (at least the header). Empty when the header is not one this pattern wrote (corrupted,
  // zeros, another run's data, or not the start of a block).
  struct Origin {
    std::uint64_t file = 0;
    std::uint32_t rank = 0;
    std::uint64_t offset = 0;  // file offset of the block it was written at
    std::uint32_t generation = 0;
  };
  std::optional<Origin> decode(std::span<const std::byte> block_part, std::size_t offset_in_block) const;

 private:
  std::uint64_t key(std::uint64_t file, std::uint32_t generation) const;
  std::uint64_t body_tag(std::uint64_t key, std::uint64_t block) const;
  std::uint64_t check(std::uint64_t offset, std::uint64_t file, std::uint64_t rank_generation) const;
  void header(std::uint64_t* words, const DataTag& tag, std::uint64_t block) const;
  void fill_block(std::byte* out, const DataTag& tag, std::uint64_t key, std::uint64_t block) const;
  bool block_equal(const std::byte* data, const DataTag& tag, std::uint64_t key, std::uint64_t block) const;
  std::string describe(std::span<const std::byte> block_part, std::size_t offset_in_block, const DataTag& expected,
                       std::uint64_t block, bool header_right) const;

  std::uint64_t seed_;
  std::uint64_t seed_key_;
  std::array<std::uint64_t, kBodyWords> pool_{};
};

// Fills the transfer buffers of one writer (one tag), rewriting only the headers where a
// buffer already holds the body the new offset needs (Pattern::restamp); a full fill otherwise.
// Remembers the last few buffers it filled by address: one Filler per phase, buffers that
// nobody else writes while it is in use.
class Filler {
 public:
  Filler(const Pattern& pattern, const DataTag& tag) : pattern_(pattern), tag_(tag) {}
  void fill(std::span<std::byte> out, std::uint64_t offset);
  std::uint64_t full_fills() const { return full_fills_; }

 private:
  struct Held {
    const std::byte* data;
    std::size_t size;
    std::uint64_t phase;  // offset mod kRingBytes of what it holds
  };
  const Pattern& pattern_;
  DataTag tag_;
  std::vector<Held> held_;
  std::uint64_t full_fills_ = 0;
};

}  // namespace gpuaccept::io
