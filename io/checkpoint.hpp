// Checkpoint sizing: the model states MLPerf Storage's checkpointing workload writes, and how
// a model state splits into one shard per rank.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace gpuaccept::io {

struct CheckpointPreset {
  std::string_view name;
  double parameters;       // model parameters
  std::uint64_t bytes;     // the whole checkpoint: weights and optimizer state
  std::uint32_t processes; // the MPI processes MLPerf Storage's CLOSED division runs it with
};

// MLPerf Storage v2.0, Rules.md section 4.3.4, Table 2 "LLM models": checkpoint sizes of
// 105 GB, 912 GB, 5.29 TB and 18 TB, in decimal units as the table states them.
std::span<const CheckpointPreset> checkpoint_presets();
const CheckpointPreset* find_checkpoint_preset(std::string_view name);

// One rank's shard of a `total`-byte model state over `ranks` ranks: total / ranks rounded up
// to 4 KiB (O_DIRECT alignment), so that ranks x shard >= total by less than ranks x 4 KiB.
std::uint64_t shard_bytes(std::uint64_t total, std::uint32_t ranks);

}  // namespace gpuaccept::io
