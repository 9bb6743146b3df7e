#include "train/gpt.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace gpuaccept::train {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = {
      {"tiny", {2, 64, 4, 32, 128}, 1e-2, "2 layers, C=64, S=32, V=128: trains on one CPU core in seconds"},
      {"mini", {4, 128, 4, 64, 512}, 3e-3, "4 layers, C=128, S=64, V=512: a CPU node, GEMM-bound"},
      {"gpt2-124m", {12, 768, 12, 1024, 50257}, 6e-4, "GPT-2 small (124M parameters), one GPU"},
      {"gpt2-350m", {24, 1024, 16, 1024, 50257}, 3e-4, "GPT-2 medium (350M parameters), one GPU"},
  };
  return all;
}

std::optional<GptShape> preset(std::string_view name) {
  const Preset* p = find_preset(name);
  return p ? std::optional<GptShape>(p->shape) : std::nullopt;
}

const Preset* find_preset(std::string_view name) {
  for (const auto& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::string check_shape(const GptShape& s) {
  if (s.layers < 1 || s.channels < 1 || s.heads < 1 || s.seq_len < 1 || s.vocab < 2)
    return fmt::format("layers, channels, heads and seq_len must be positive and vocab at least 2 "
                       "(got layers={} channels={} heads={} seq_len={} vocab={})",
                       s.layers, s.channels, s.heads, s.seq_len, s.vocab);
  if (s.channels % s.heads != 0)
    return fmt::format("channels ({}) must be divisible by heads ({})", s.channels, s.heads);
  return {};
}

double flops_per_token(const GptShape& s) {
  const double L = s.layers, C = s.channels, S = s.seq_len, V = s.vocab;
  return 3.0 * (L * (24.0 * C * C + 4.0 * S * C) + 2.0 * C * V);
}

const ParamTensor& ParamLayout::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return t;
  throw std::out_of_range(fmt::format("no parameter tensor {}", name));
}

ParamLayout param_layout(const GptShape& s) {
  ParamLayout layout;
  const std::size_t C = static_cast<std::size_t>(s.channels);
  auto add = [&](std::string name, std::size_t size) {
    layout.tensors.push_back({std::move(name), layout.total, size});
    layout.total += size;
  };
  add("wte", static_cast<std::size_t>(s.vocab) * C);
  add("wpe", static_cast<std::size_t>(s.seq_len) * C);
  for (int l = 0; l < s.layers; ++l) {
    layout.layer_offsets.push_back(layout.total);
    const auto p = fmt::format("h{}.", l);
    add(p + "ln1.w", C);
    add(p + "ln1.b", C);
    add(p + "attn.qkv.w", 3 * C * C);
    add(p + "attn.qkv.b", 3 * C);
    add(p + "attn.proj.w", C * C);
    add(p + "attn.proj.b", C);
    add(p + "ln2.w", C);
    add(p + "ln2.b", C);
    add(p + "mlp.fc.w", 4 * C * C);
    add(p + "mlp.fc.b", 4 * C);
    add(p + "mlp.proj.w", 4 * C * C);
    add(p + "mlp.proj.b", C);
  }
  layout.layer_offsets.push_back(layout.total);
  add("lnf.w", C);
  add("lnf.b", C);
  return layout;
}

}  // namespace gpuaccept::train
