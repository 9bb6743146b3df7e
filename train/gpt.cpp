#include "train/gpt.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "train/rng.hpp"

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

template <class T>
void init_parameters(const GptShape& shape, const ParamLayout& layout, std::uint64_t seed, std::span<T> params) {
  if (params.size() != layout.total)
    throw std::invalid_argument(fmt::format("init_parameters: {} values for a layout of {}", params.size(), layout.total));
  std::fill(params.begin(), params.end(), T(0));
  SplitMix64 rng(seed);
  const double proj_std = 0.02 / std::sqrt(2.0 * shape.layers);
  for (const auto& t : layout.tensors) {
    const auto& n = t.name;
    auto fill_normal = [&](double stddev) {
      for (std::size_t i = 0; i < t.size; ++i) params[t.offset + i] = static_cast<T>(stddev * rng.normal());
    };
    const auto ends_with = [&](std::string_view s) {
      return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
    };
    if (n == "wte") fill_normal(0.02);
    else if (n == "wpe") fill_normal(0.01);
    else if (ends_with("proj.w")) fill_normal(proj_std);
    else if (ends_with(".w") && n.find("ln") != std::string::npos) std::fill_n(params.begin() + static_cast<std::ptrdiff_t>(t.offset), t.size, T(1));
    else if (ends_with(".w")) fill_normal(0.02);
    // biases stay 0
  }
}

template void init_parameters<float>(const GptShape&, const ParamLayout&, std::uint64_t, std::span<float>);
template void init_parameters<double>(const GptShape&, const ParamLayout&, std::uint64_t, std::span<double>);

std::vector<ParamRange> backward_ready_order(const ParamLayout& layout) {
  std::vector<ParamRange> order;
  const int layers = static_cast<int>(layout.layer_offsets.size()) - 1;
  order.push_back({layout.layer_offsets.back(), layout.total});
  for (int l = layers - 1; l >= 0; --l) order.push_back({layout.layer_begin(l), layout.layer_end(l)});
  order.push_back({0, layout.layer_offsets.front()});
  return order;
}

BucketPlanner::BucketPlanner(std::size_t total, std::size_t bucket_elements)
    : bucket_(std::max<std::size_t>(1, bucket_elements)), ready_(total), pending_(total) {}

std::optional<ParamRange> BucketPlanner::ready(std::size_t begin, std::size_t end) {
  if (end != ready_ || begin > end)
    throw std::logic_error(fmt::format("gradient range [{}, {}) does not continue the finished suffix [{}, ...)",
                                       begin, end, ready_));
  ready_ = begin;
  if (pending_ - ready_ < bucket_ && ready_ != 0) return std::nullopt;
  if (pending_ == ready_) return std::nullopt;  // an empty range at the very end
  const ParamRange bucket{ready_, pending_};
  pending_ = ready_;
  return bucket;
}

std::vector<ParamRange> plan_buckets(const ParamLayout& layout, std::size_t bucket_elements) {
  BucketPlanner planner(layout.total, bucket_elements);
  std::vector<ParamRange> buckets;
  for (const auto& r : backward_ready_order(layout))
    if (auto b = planner.ready(r.begin, r.end)) buckets.push_back(*b);
  return buckets;
}

}  // namespace gpuaccept::train
