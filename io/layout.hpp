// Where each transfer of each rank goes: IOR's file layouts and access orders.
//
//   file per process (N-N): rank r's file holds segments x block bytes;
//       transfer t of segment s is at  s*block + t*transfer.
//   segmented (N-1, IOR's shared file): segment s holds one block of every rank, in rank order;
//       rank r's transfer t of segment s is at  s*N*block + r*block + t*transfer.
//   strided (N-1): inside a segment the ranks' transfers interleave;
//       rank r's transfer t of segment s is at  s*N*block + (t*N + r)*transfer.
//
// Every byte of every file is written exactly once. When block is not a multiple of transfer
// (checkpoint shards), the last transfer of each block is shorter (IOR itself requires a
// multiple; the ior benchmark checks for it). Random order visits a rank's transfers in
// a seeded pseudo-random permutation (a Feistel network with cycle walking: O(1) memory at
// any file size) instead of in increasing offset order, as IOR's -z does.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gpuaccept::io {

enum class FileLayout { file_per_process, segmented, strided };
enum class AccessOrder { sequential, random };

std::string_view to_string(FileLayout layout);
std::optional<FileLayout> file_layout_from_string(std::string_view text);
std::string_view to_string(AccessOrder order);
std::optional<AccessOrder> access_order_from_string(std::string_view text);

// A bijection of [0, n) chosen by a seed.
class RandomPermutation {
 public:
  RandomPermutation(std::uint64_t n, std::uint64_t seed);
  std::uint64_t operator()(std::uint64_t i) const;
  std::uint64_t size() const { return n_; }

 private:
  std::uint64_t n_;
  int half_bits_ = 0;
  std::uint64_t keys_[4] = {};
  std::uint64_t feistel(std::uint64_t x) const;
};

struct Layout {
  FileLayout kind = FileLayout::file_per_process;
  std::uint64_t transfer = 0;  // bytes per I/O call (IOR -t)
  std::uint64_t block = 0;     // contiguous bytes per rank per segment (IOR -b), a multiple of transfer
  std::uint64_t segments = 1;  // IOR -s
  std::uint32_t ranks = 1;
  AccessOrder order = AccessOrder::sequential;
  std::uint64_t seed = 1;

  bool shared() const { return kind != FileLayout::file_per_process; }
  std::uint64_t transfers_per_block() const { return (block + transfer - 1) / transfer; }
  std::uint64_t transfers_per_rank() const { return segments * transfers_per_block(); }
  std::uint64_t bytes_per_rank() const { return segments * block; }
  std::uint64_t files() const { return shared() ? 1 : ranks; }
  std::uint64_t file_bytes() const { return shared() ? bytes_per_rank() * ranks : bytes_per_rank(); }
  // The file a rank writes: its own rank for N-N, 0 for the shared file.
  std::uint64_t file_of(std::uint32_t rank) const { return shared() ? 0 : rank; }

  // File offset of the k-th transfer of `rank` in increasing-offset order, and its size.
  std::uint64_t natural_offset(std::uint32_t rank, std::uint64_t k) const;
  std::uint64_t natural_size(std::uint64_t k) const;
  // The offsets of `rank` in issue order: natural order, or a permutation of it.
  class Sequence {
   public:
    std::uint64_t offset(std::uint64_t i) const;
    std::uint64_t bytes(std::uint64_t i) const;  // the size of transfer i
    std::uint64_t size() const { return count_; }

   private:
    friend struct Layout;
    const Layout* layout_ = nullptr;
    std::uint32_t rank_ = 0;
    std::uint64_t count_ = 0;
    std::optional<RandomPermutation> permutation_;
  };
  Sequence sequence(std::uint32_t rank) const;
};

}  // namespace gpuaccept::io
