#include "io/pattern.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "kernels/pattern.hpp"

namespace gpuaccept::io {

namespace {

using kernels::mix64;

std::uint64_t load_word(const std::byte* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

void store_word(std::byte* p, std::uint64_t w) { std::memcpy(p, &w, sizeof w); }

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

Pattern::Pattern(std::uint64_t seed)
    : seed_(seed), seed_key_(mix64(seed ^ 0x6770756163636570ull)) {
  for (std::size_t i = 0; i < kBodyWords; ++i) pool_[i] = mix64(seed_key_ + 0x9E3779B97F4A7C15ull * (i + 1));
}

std::uint64_t Pattern::body_tag(std::uint64_t k, std::uint64_t block) const {
  return mix64(k ^ (0xD1B54A32D192ED03ull * (block % kRingBlocks + 1)));
}

std::uint64_t Pattern::key(std::uint64_t file, std::uint32_t generation) const {
  return mix64(seed_key_ ^ mix64(file ^ mix64(0xA5A5A5A5ull + generation)));
}

std::uint64_t Pattern::check(std::uint64_t offset, std::uint64_t file, std::uint64_t rank_generation) const {
  return mix64(seed_key_ ^ mix64(offset ^ mix64(file ^ mix64(rank_generation ^ 0x5C5C5C5C5C5C5C5Cull))));
}

void Pattern::header(std::uint64_t* words, const DataTag& tag, std::uint64_t block) const {
  words[0] = block * kBlockBytes;
  words[1] = tag.file;
  words[2] = std::uint64_t{tag.rank} | (std::uint64_t{tag.generation} << 32);
  words[3] = check(words[0], words[1], words[2]);
}

void Pattern::fill_block(std::byte* out, const DataTag& tag, std::uint64_t k, std::uint64_t block) const {
  std::uint64_t h[kHeaderWords];
  header(h, tag, block);
  std::memcpy(out, h, sizeof h);
  const std::uint64_t t = body_tag(k, block);
  std::byte* to = out + kHeaderBytes;
  for (std::size_t i = 0; i < kBodyWords; ++i) store_word(to + 8 * i, pool_[i] ^ t);
}

bool Pattern::block_equal(const std::byte* data, const DataTag& tag, std::uint64_t k, std::uint64_t block) const {
  std::uint64_t h[kHeaderWords];
  header(h, tag, block);
  std::uint64_t differ = 0;
  for (std::size_t i = 0; i < kHeaderWords; ++i) differ |= load_word(data + 8 * i) ^ h[i];
  const std::uint64_t t = body_tag(k, block);
  const std::byte* from = data + kHeaderBytes;
  for (std::size_t i = 0; i < kBodyWords; ++i) differ |= load_word(from + 8 * i) ^ pool_[i] ^ t;
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
    if (n == kBlockBytes) {
      fill_block(out.data() + done, tag, k, block);
    } else {
      alignas(64) std::byte whole[kBlockBytes];
      fill_block(whole, tag, k, block);
      std::memcpy(out.data() + done, whole + in_block, n);
    }
    done += n;
  }
}

void Pattern::restamp(std::span<std::byte> out, const DataTag& tag, std::uint64_t offset) const {
  const std::uint64_t first = offset / kBlockBytes;
  for (std::size_t at = 0; at < out.size(); at += kBlockBytes) {
    std::uint64_t h[kHeaderWords];
    header(h, tag, first + at / kBlockBytes);
    std::memcpy(out.data() + at, h, std::min(sizeof h, out.size() - at));
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
    const std::byte* got = data.data() + done;
    if (!(n == kBlockBytes && block_equal(got, tag, k, block))) {
      alignas(64) std::byte whole[kBlockBytes];
      fill_block(whole, tag, k, block);
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
          // Whether the header (the bytes of it this read holds) came back right.
          const std::size_t header_end = in_block < kHeaderBytes ? std::min(kHeaderBytes - in_block, n) : 0;
          const bool header_right = in_block == 0 && n >= kHeaderBytes && first >= header_end;
          r.first_wrong_offset = position + first;
          r.first_wrong = fmt::format("{} of {} bytes of the block at offset {} are wrong; it holds {}", wrong, n,
                                      block * kBlockBytes,
                                      describe({got, n}, in_block, tag, block, header_right));
        }
      }
    }
    done += n;
  }
  return r;
}

std::optional<Pattern::Origin> Pattern::decode(std::span<const std::byte> part, std::size_t offset_in_block) const {
  if (offset_in_block != 0 || part.size() < kHeaderBytes) return std::nullopt;
  std::uint64_t h[kHeaderWords];
  std::memcpy(h, part.data(), sizeof h);
  if (h[3] != check(h[0], h[1], h[2]) || h[0] % kBlockBytes != 0) return std::nullopt;
  Origin o;
  o.offset = h[0];
  o.file = h[1];
  o.rank = static_cast<std::uint32_t>(h[2]);
  o.generation = static_cast<std::uint32_t>(h[2] >> 32);
  return o;
}

std::string Pattern::describe(std::span<const std::byte> part, std::size_t offset_in_block, const DataTag& expected,
                              std::uint64_t block, bool header_right) const {
  if (std::all_of(part.begin(), part.end(), [](std::byte b) { return b == std::byte{0}; }))
    return "zeros (never written, or a hole)";
  if (header_right) return "its own header over a wrong body (corrupted)";
  if (const auto o = decode(part, offset_in_block)) {
    if (o->file != expected.file)
      return fmt::format("what rank {} wrote at offset {} of file {} (misplaced data: another file)", o->rank,
                         o->offset, o->file);
    if (o->generation != expected.generation) {
      if (o->generation + 1 == expected.generation)
        return fmt::format("what rank {} wrote at offset {} in the previous iteration (stale data)", o->rank,
                           o->offset);
      return fmt::format("what rank {} wrote at offset {} in iteration {} (stale data)", o->rank, o->offset,
                         o->generation);
    }
    if (o->rank != expected.rank || o->offset != block * kBlockBytes)
      return fmt::format("what rank {} wrote at offset {} (misplaced data)", o->rank, o->offset);
  }
  return "unrecognised data (corrupted)";
}

void Filler::fill(std::span<std::byte> out, std::uint64_t offset) {
  const std::uint64_t phase = offset % Pattern::kRingBytes;
  const bool whole_blocks = offset % Pattern::kBlockBytes == 0 && out.size() % Pattern::kBlockBytes == 0;
  for (auto& h : held_) {
    if (h.data != out.data()) continue;
    if (whole_blocks && h.size == out.size() && h.phase == phase) {
      pattern_.restamp(out, tag_, offset);
      return;
    }
    pattern_.fill(out, tag_, offset);
    ++full_fills_;
    h = {out.data(), out.size(), whole_blocks ? phase : ~std::uint64_t{0}};
    return;
  }
  pattern_.fill(out, tag_, offset);
  ++full_fills_;
  if (held_.size() >= 16) held_.erase(held_.begin());
  held_.push_back({out.data(), out.size(), whole_blocks ? phase : ~std::uint64_t{0}});
}

}  // namespace gpuaccept::io
