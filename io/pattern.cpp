#include "io/pattern.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "kernels/pattern.hpp"

namespace gpuaccept::io {

namespace {

using kernels::mix64;

constexpr std::uint64_t kRankBits = 20;
constexpr std::uint64_t kBlockBits = 36;
constexpr std::uint64_t kBlockMask = (std::uint64_t{1} << kBlockBits) - 1;
constexpr std::uint64_t kRankMask = (std::uint64_t{1} << kRankBits) - 1;
constexpr std::uint64_t kCheckShift = kRankBits + kBlockBits;  // 56: 8 check bits on top

constexpr std::uint64_t inverse_mod_2_64(std::uint64_t odd) {
  std::uint64_t inverse = odd;  // right to 3 bits; each Newton step doubles that
  for (int i = 0; i < 5; ++i) inverse *= 2 - odd * inverse;
  return inverse;
}

constexpr std::uint64_t unxorshift(std::uint64_t y, int shift) {
  std::uint64_t x = y;
  for (int s = shift; s < 64; s += shift) x ^= y >> s;
  return x;
}

// The inverse of kernels::mix64.
constexpr std::uint64_t unmix64(std::uint64_t y) {
  std::uint64_t x = unxorshift(y, 31);
  x *= inverse_mod_2_64(0x94D049BB133111EBull);
  x = unxorshift(x, 27);
  x *= inverse_mod_2_64(0xBF58476D1CE4E5B9ull);
  x = unxorshift(x, 30);
  return x - 0x9E3779B97F4A7C15ull;
}

std::uint64_t load_word(const std::byte* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

std::uint64_t check_bits(std::uint64_t key) { return mix64(key ^ 0x5C5C5C5C5C5C5C5Cull) & 0xFF; }

}  // namespace

void VerifyResult::merge(const VerifyResult& other) {
  checked_bytes += other.checked_bytes;
  wrong_bytes += other.wrong_bytes;
  wrong_blocks += other.wrong_blocks;
  if (!first_wrong_offset && other.first_wrong_offset) {
    first_wrong_offset = other.first_wrong_offset;
    first_wrong = other.first_wrong;
  }
}

Pattern::Pattern(std::uint64_t seed) : seed_(seed), seed_key_(mix64(seed ^ 0x6770756163636570ull)) {
  for (std::size_t i = 0; i < kBlockWords; ++i) pool_[i] = mix64(seed_key_ + 0x9E3779B97F4A7C15ull * (i + 1));
}

std::uint64_t Pattern::key(std::uint64_t file, std::uint32_t generation) const {
  return mix64(seed_key_ ^ mix64(file ^ mix64(0xA5A5A5A5ull + generation)));
}

std::uint64_t Pattern::block_tag(std::uint64_t k, std::uint32_t rank, std::uint64_t block) const {
  const std::uint64_t preimage =
      (check_bits(k) << kCheckShift) | ((rank & kRankMask) << kBlockBits) | (block & kBlockMask);
  return mix64(preimage ^ k);
}

void Pattern::fill_block(std::byte* out, std::uint64_t tag) const {
  for (std::size_t i = 0; i < kBlockWords; ++i) {
    const std::uint64_t w = pool_[i] ^ tag;
    std::memcpy(out + 8 * i, &w, sizeof w);
  }
}

bool Pattern::block_equal(const std::byte* data, std::uint64_t tag) const {
  std::uint64_t differ = 0;
  for (std::size_t i = 0; i < kBlockWords; ++i) differ |= load_word(data + 8 * i) ^ pool_[i] ^ tag;
  return differ == 0;
}

void Pattern::fill(std::span<std::byte> out, const DataTag& tag, std::uint64_t offset) const {
  const std::uint64_t k = key(tag.file, tag.generation);
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t position = offset + done;
    const std::uint64_t block = position / kBlockBytes;
    const std::size_t in_block = static_cast<std::size_t>(position % kBlockBytes);
    const std::size_t n = std::min(kBlockBytes - in_block, out.size() - done);
    const std::uint64_t t = block_tag(k, tag.rank, block);
    if (n == kBlockBytes) {
      fill_block(out.data() + done, t);
    } else {
      alignas(64) std::byte whole[kBlockBytes];
      fill_block(whole, t);
      std::memcpy(out.data() + done, whole + in_block, n);
    }
    done += n;
  }
}

VerifyResult Pattern::verify(std::span<const std::byte> data, const DataTag& tag, std::uint64_t offset) const {
  VerifyResult r;
  r.checked_bytes = data.size();
  const std::uint64_t k = key(tag.file, tag.generation);
  std::size_t done = 0;
  while (done < data.size()) {
    const std::uint64_t position = offset + done;
    const std::uint64_t block = position / kBlockBytes;
    const std::size_t in_block = static_cast<std::size_t>(position % kBlockBytes);
    const std::size_t n = std::min(kBlockBytes - in_block, data.size() - done);
    const std::uint64_t t = block_tag(k, tag.rank, block);
    const std::byte* got = data.data() + done;
    if (!(n == kBlockBytes && block_equal(got, t))) {
      alignas(64) std::byte whole[kBlockBytes];
      fill_block(whole, t);
      const std::byte* want = whole + in_block;
      std::uint64_t wrong = 0;
      std::size_t first = n;
      for (std::size_t i = 0; i < n; ++i) {
        if (got[i] != want[i]) {
          ++wrong;
          first = std::min(first, i);
        }
      }
      if (wrong > 0) {
        r.wrong_bytes += wrong;
        ++r.wrong_blocks;
        if (!r.first_wrong_offset) {
          r.first_wrong_offset = position + first;
          r.first_wrong = fmt::format("{} of {} bytes of the block at offset {} are wrong; it holds {}", wrong, n,
                                      block * kBlockBytes, describe({got, n}, in_block, tag, block));
        }
      }
    }
    done += n;
  }
  return r;
}

std::optional<Pattern::Origin> Pattern::decode(std::span<const std::byte> part, std::size_t offset_in_block,
                                               std::uint64_t file, std::uint32_t generation) const {
  // Every whole word of one pattern block XORs with its pool word to the same block tag.
  std::optional<std::uint64_t> tag;
  int words = 0;
  for (std::size_t i = (8 - offset_in_block % 8) % 8; i + 8 <= part.size(); i += 8) {
    const std::size_t word = (offset_in_block + i) / 8;
    const std::uint64_t t = load_word(part.data() + i) ^ pool_[word];
    if (tag && *tag != t) return std::nullopt;
    tag = t;
    ++words;
  }
  if (words < 4) return std::nullopt;  // too little to tell pattern data from chance
  for (const std::uint32_t g : {generation, generation - 1}) {
    if (g != generation && generation == 0) break;
    const std::uint64_t k = key(file, g);
    const std::uint64_t preimage = unmix64(*tag) ^ k;
    if ((preimage >> kCheckShift) != check_bits(k)) continue;
    Origin o;
    o.rank = static_cast<std::uint32_t>((preimage >> kBlockBits) & kRankMask);
    o.offset = (preimage & kBlockMask) * kBlockBytes;
    o.generation = g;
    return o;
  }
  return std::nullopt;
}

std::string Pattern::describe(std::span<const std::byte> part, std::size_t offset_in_block, const DataTag& expected,
                              std::uint64_t block) const {
  if (std::all_of(part.begin(), part.end(), [](std::byte b) { return b == std::byte{0}; }))
    return "zeros (never written, or a hole)";
  if (const auto o = decode(part, offset_in_block, expected.file, expected.generation)) {
    if (o->generation != expected.generation)
      return fmt::format("what rank {} wrote at offset {} in the previous iteration (stale data)", o->rank, o->offset);
    if (o->rank != (expected.rank & kRankMask) || o->offset != (block & kBlockMask) * kBlockBytes)
      return fmt::format("what rank {} wrote at offset {} (misplaced data)", o->rank, o->offset);
  }
  return "unrecognised data (corrupted)";
}

}  // namespace gpuaccept::io
