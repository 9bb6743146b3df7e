// Silent-data-corruption checksums: every rank computes the same product from the same
// inputs with the same deterministic algorithm, so the bits of the outputs must agree. The
// checksum is order-independent (a sum of per-element hashes modulo 2^64), so a GPU can
// compute it in parallel and still match the host's value for the same bits; it changes
// when any single bit of any element changes, even one well inside the GEMM tolerance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/pattern.hpp"

namespace gpuaccept::kernels {

GPUACCEPT_HD inline std::uint64_t checksum_term(std::uint64_t index, std::uint64_t bits) {
  return mix64(mix64(index) ^ bits);
}

// Checksum of `elements` elements of `element_size` bytes (2, 4 or 8) at `data`.
inline std::uint64_t checksum_host(const void* data, std::size_t elements, std::size_t element_size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t sum = 0;
  for (std::size_t e = 0; e < elements; ++e) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, bytes + e * element_size, element_size);  // little-endian: low bytes
    sum += checksum_term(e, bits);
  }
  return sum;
}

struct MajorityVerdict {
  std::uint64_t majority = 0;       // the value most ranks agree on
  std::vector<int> dissenters;      // ranks whose value differs from it
  bool clear = true;                // false when no value has more than half of the ranks
};

// The value held by most ranks and the ranks that differ. Without a strict majority (say two
// ranks that disagree) nobody can be singled out: every rank is a dissenter and clear=false.
MajorityVerdict majority_of(const std::vector<std::uint64_t>& values);

}  // namespace gpuaccept::kernels
