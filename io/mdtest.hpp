// The mdtest-style metadata engine: every rank creates, stats, reads and removes its files,
// in one directory per rank (mdtest -u) or all in one shared directory (the default, and
// IO500's mdtest-hard), optionally spread over a tree of directories (mdtest -z depth,
// -b branching factor; files go round-robin over every directory of the tree).
//
// Each phase starts at a barrier and is timed to this rank's last operation; the rate of a
// phase is operations over all ranks / (last end - first start). Created files hold
// write_bytes of the pattern (tagged with the file's number); the stat phase checks each
// file's type and size, the read phase reads read_bytes and checks every byte. With a task
// offset, rank r stats and reads the files of rank (r + offset) mod N (mdtest -N), out of
// reach of its own client cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "collectives/group.hpp"
#include "io/bandwidth.hpp"
#include "io/pattern.hpp"

namespace gpuaccept::io {

struct MdtestConfig {
  std::uint64_t files_per_rank = 1000;
  bool unique_dir = false;      // one directory (tree) per rank instead of one shared
  std::uint32_t depth = 0;      // tree depth below the top directory
  std::uint32_t branch = 1;     // directories under each directory of the tree
  std::uint64_t write_bytes = 0;
  std::uint64_t read_bytes = 0;  // at most write_bytes
  std::uint32_t task_offset = 0;
};

// Directories in a tree of this depth and branching (the top one included).
std::uint64_t tree_directories(std::uint32_t depth, std::uint32_t branch);

struct MetadataPhase {
  PhaseSpan mine;  // start 0 at the barrier, end = this rank's elapsed seconds, operations
  PhaseTotals all;
};

struct MdtestOutcome {
  MetadataPhase tree_create, create, stat, read, remove, tree_remove;
  std::uint64_t checked_files = 0;  // files this rank stat'ed and read
  std::uint64_t wrong_files = 0;    // of those, with a wrong type, size or content
  std::string first_wrong;
};

class MdtestRun {
 public:
  // `node_leader`: on node-local storage (each node has its own `dir`), the first rank of each
  // node, which then makes and removes the shared directory (tree) on its node, as rank 0 does.
  MdtestRun(const collectives::Group& group, MdtestConfig config, std::filesystem::path dir, const Pattern& pattern,
            bool node_leader = false);

  // Collective. Throws StepFailure (on every rank) when a rank could not do its part.
  MdtestOutcome iteration(std::uint32_t generation);

  // Cleanups for WorkDir: the files this rank created and has not removed; the directories
  // of the trees (safe to repeat).
  void remove_files() noexcept;
  void remove_directories() noexcept;

  std::string file_path(std::uint32_t rank, std::uint64_t index) const;

 private:
  std::string tree_top(std::uint32_t rank) const;
  const std::string& directory(std::uint32_t rank, std::uint64_t node) const;

  const collectives::Group& group_;
  MdtestConfig config_;
  std::filesystem::path dir_;
  const Pattern& pattern_;
  std::uint32_t rank_ = 0;
  std::uint32_t size_ = 1;
  std::uint64_t nodes_ = 1;
  // Directory paths of this rank's tree and of the tree it reads (the same when shared).
  std::vector<std::string> own_tree_, peer_tree_;
  bool tree_owner_ = false;         // this rank creates and removes the tree it works in
  std::uint64_t tree_created_ = 0;  // directories of own_tree_ that exist
  std::uint64_t created_ = 0;       // files 0 .. created_-1 exist (until removed_)
  std::uint64_t removed_ = 0;
};

}  // namespace gpuaccept::io
