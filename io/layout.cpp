#include "io/layout.hpp"

#include <algorithm>

#include "kernels/pattern.hpp"

namespace gpuaccept::io {

std::string_view to_string(FileLayout layout) {
  switch (layout) {
    case FileLayout::file_per_process: return "file_per_process";
    case FileLayout::segmented: return "segmented";
    case FileLayout::strided: return "strided";
  }
  return "?";
}

std::optional<FileLayout> file_layout_from_string(std::string_view text) {
  for (auto l : {FileLayout::file_per_process, FileLayout::segmented, FileLayout::strided})
    if (to_string(l) == text) return l;
  return std::nullopt;
}

std::string_view to_string(AccessOrder order) { return order == AccessOrder::random ? "random" : "sequential"; }

std::optional<AccessOrder> access_order_from_string(std::string_view text) {
  if (text == "sequential") return AccessOrder::sequential;
  if (text == "random") return AccessOrder::random;
  return std::nullopt;
}

RandomPermutation::RandomPermutation(std::uint64_t n, std::uint64_t seed) : n_(n) {
  // The smallest even bit count 2h with 2^(2h) >= n: the Feistel domain is at most 4n, so
  // cycle walking takes fewer than 4 rounds on average.
  int bits = 2;
  while (bits < 64 && (std::uint64_t{1} << bits) < n) bits += 2;
  half_bits_ = bits / 2;
  for (int i = 0; i < 4; ++i) keys_[i] = kernels::mix64(seed * 4 + static_cast<std::uint64_t>(i) + 0x51ED27ull);
}

std::uint64_t RandomPermutation::feistel(std::uint64_t x) const {
  const std::uint64_t mask = (std::uint64_t{1} << half_bits_) - 1;
  std::uint64_t left = x >> half_bits_, right = x & mask;
  for (const std::uint64_t key : keys_) {
    const std::uint64_t next = left ^ (kernels::mix64(right ^ key) & mask);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::uint64_t RandomPermutation::operator()(std::uint64_t i) const {
  if (n_ <= 1) return i;
  std::uint64_t x = feistel(i);
  while (x >= n_) x = feistel(x);  // cycle walking stays inside [0, n): a bijection of it
  return x;
}

std::uint64_t Layout::natural_offset(std::uint32_t rank, std::uint64_t k) const {
  const std::uint64_t per_block = transfers_per_block();
  const std::uint64_t segment = k / per_block, t = k % per_block;
  switch (kind) {
    case FileLayout::file_per_process: return segment * block + t * transfer;
    case FileLayout::segmented: return segment * ranks * block + rank * block + t * transfer;
    case FileLayout::strided: return segment * ranks * block + (t * ranks + rank) * transfer;
  }
  return 0;
}

std::uint64_t Layout::natural_size(std::uint64_t k) const {
  const std::uint64_t t = k % transfers_per_block();
  return std::min(transfer, block - t * transfer);
}

Layout::Sequence Layout::sequence(std::uint32_t rank) const {
  Sequence s;
  s.layout_ = this;
  s.rank_ = rank;
  s.count_ = transfers_per_rank();
  if (order == AccessOrder::random) s.permutation_.emplace(s.count_, kernels::mix64(seed) ^ rank);
  return s;
}

std::uint64_t Layout::Sequence::offset(std::uint64_t i) const {
  return layout_->natural_offset(rank_, permutation_ ? (*permutation_)(i) : i);
}

std::uint64_t Layout::Sequence::bytes(std::uint64_t i) const {
  return layout_->natural_size(permutation_ ? (*permutation_)(i) : i);
}

}  // namespace gpuaccept::io
