// The control plane: a set of ranks that talk over MPI for coordination (barriers, reducing
// timings, broadcasting ids). It is not what a collective benchmark measures; that is a
// Communicator (communicator.hpp). Copyable handles share one duplicated MPI communicator.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gpuaccept::collectives {

class Group {
 public:
  // MPI_COMM_WORLD, duplicated. MPI must be initialised.
  static Group world();
  // Ranks with the same color form a group, ordered by key (MPI_Comm_split).
  Group split(int color, int key) const;
  // As split, but ranks with a negative color join no group (MPI_UNDEFINED): nullopt there.
  std::optional<Group> split_or_none(int color, int key) const;
  // The ranks of this group that share a node (MPI_Comm_split_type SHARED).
  Group node_local() const;

  int rank() const;
  int size() const;
  void barrier() const;
  void allreduce_max(std::span<double> values) const;
  void allreduce_min(std::span<double> values) const;
  void allreduce_sum(std::span<double> values) const;
  void allreduce_sum(std::span<long long> values) const;
  // Every rank's value, in rank order, on every rank.
  std::vector<std::uint64_t> allgather(std::uint64_t value) const;
  void broadcast(std::span<std::byte> bytes, int root) const;
  void broadcast(std::string& text, int root) const;
  // Every rank's fixed-size record, concatenated in rank order, on `root` (empty elsewhere).
  std::vector<std::byte> gather(std::span<const std::byte> record, int root) const;

  // Every rank's values (any number each) on `root`, one vector per rank (empty elsewhere).
  std::vector<std::vector<double>> gather_values(std::span<const double> values, int root) const;
  // Every rank's text, in rank order, on every rank.
  std::vector<std::string> allgather_text(const std::string& text) const;

  // The underlying MPI_Comm, as an opaque pointer-sized handle, for backends that need it.
  void* native_handle() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gpuaccept::collectives
