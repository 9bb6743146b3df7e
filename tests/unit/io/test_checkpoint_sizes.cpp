// Checkpoint sizing: MLPerf Storage's model states and the split into shards.
#include <gtest/gtest.h>

#include "io/checkpoint.hpp"

using namespace gpuaccept::io;

TEST(CheckpointPresets, MlperfStorageTable) {
  ASSERT_EQ(checkpoint_presets().size(), 4u);
  EXPECT_EQ(find_checkpoint_preset("llama3-8b")->bytes, 105'000'000'000ull);
  EXPECT_EQ(find_checkpoint_preset("llama3-70b")->bytes, 912'000'000'000ull);
  EXPECT_EQ(find_checkpoint_preset("llama3-405b")->bytes, 5'290'000'000'000ull);
  EXPECT_EQ(find_checkpoint_preset("llama3-1t")->bytes, 18'000'000'000'000ull);
  EXPECT_EQ(find_checkpoint_preset("llama3-70b")->processes, 64u);
  EXPECT_EQ(find_checkpoint_preset("gpt-5"), nullptr);
}

TEST(CheckpointPresets, ShardsCoverTheModelStateInAlignedPieces) {
  EXPECT_EQ(shard_bytes(105'000'000'000ull, 8), 13'125'001'216ull);
  for (std::uint64_t total : {1ull, 4096ull, 1000000ull, 912'000'000'000ull}) {
    for (std::uint32_t ranks : {1u, 2u, 3u, 64u, 1000u}) {
      const auto shard = shard_bytes(total, ranks);
      EXPECT_EQ(shard % 4096, 0u);
      EXPECT_GE(shard * ranks, total);
      EXPECT_LT(shard * ranks, total + ranks * 4096ull);
    }
  }
}
