#include "io/checkpoint.hpp"

#include <array>

namespace gpuaccept::io {

namespace {
constexpr std::array<CheckpointPreset, 4> kPresets{{
    {"llama3-8b", 8e9, 105'000'000'000ull, 8},
    {"llama3-70b", 70e9, 912'000'000'000ull, 64},
    {"llama3-405b", 405e9, 5'290'000'000'000ull, 512},
    {"llama3-1t", 1e12, 18'000'000'000'000ull, 1024},
}};
}  // namespace

std::span<const CheckpointPreset> checkpoint_presets() { return kPresets; }

const CheckpointPreset* find_checkpoint_preset(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return &p;
  return nullptr;
}

std::uint64_t shard_bytes(std::uint64_t total, std::uint32_t ranks) {
  constexpr std::uint64_t kAlign = 4096;
  if (ranks == 0) return 0;
  const std::uint64_t share = (total + ranks - 1) / ranks;
  return (share + kAlign - 1) / kAlign * kAlign;
}

}  // namespace gpuaccept::io
