// The shape of a GPT-2-style decoder-only transformer, its named presets, the layout of its
// parameters in one flat array, and the model FLOPs it costs per trained token.
//
// Model FLOPs per token (training = forward + backward, backward = 2 x forward):
//   flops_per_token = 3 * ( L * (24 C^2 + 4 S C) + 2 C V )
//                   = 72 L C^2 + 12 L S C + 6 C V
// L layers, C channels, S sequence length, V vocabulary. Per layer and token the forward pass
// multiplies by the qkv (3C x C), attention projection (C x C), MLP (4C x C) and MLP projection
// (C x 4C) matrices: 2 * 12 C^2; attention scores Q K^T and the weighted sum over V: 2 * 2 S C
// (the whole S x S square, as PaLM's 6N + 12 L H Q T counts it, although the causal mask makes
// half of it zero); the tied output head: 2 C V. Layer norms, softmax, GELU, biases and the
// embedding lookup are not matrix products and are not counted (as MFU is usually defined).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpuaccept::train {

struct GptShape {
  int layers = 2;
  int channels = 64;  // C, the embedding width
  int heads = 4;      // C must be divisible by heads
  int seq_len = 32;   // S, the context length
  int vocab = 128;    // V
};

struct Preset {
  std::string_view name;
  GptShape shape;
  double lr;  // a peak learning rate that trains this shape (AdamW)
  std::string_view help;
};

// gpt2-124m / gpt2-350m: the GPT-2 small / medium shapes (V = 50257, S = 1024). tiny and mini:
// shapes a CPU trains in seconds.
const std::vector<Preset>& presets();
std::optional<GptShape> preset(std::string_view name);
const Preset* find_preset(std::string_view name);  // nullptr when unknown

// "" or what is wrong with the shape (non-positive sizes, channels not divisible by heads).
std::string check_shape(const GptShape& s);

double flops_per_token(const GptShape& s);

// One tensor of parameters: its name and where it sits in the flat array.
struct ParamTensor {
  std::string name;  // "h3.attn.qkv.w"
  std::size_t offset = 0;
  std::size_t size = 0;
};

// Flat layout: wte (V x C), wpe (S x C), then every layer's 12 tensors contiguously (so that the
// gradients of one layer form one range, ready together during the backward pass), then the
// final layer norm. Matrices are row-major, out_features x in_features.
struct ParamLayout {
  std::vector<ParamTensor> tensors;
  std::size_t total = 0;
  std::size_t layer_begin(int layer) const { return layer_offsets.at(static_cast<std::size_t>(layer)); }
  std::size_t layer_end(int layer) const { return layer_offsets.at(static_cast<std::size_t>(layer) + 1); }
  std::vector<std::size_t> layer_offsets;  // layers + 1 entries
  const ParamTensor& find(std::string_view name) const;
};
ParamLayout param_layout(const GptShape& s);

// Per-layer tensor indices inside ParamLayout::tensors (the same order in every layer).
enum LayerTensor : int {
  ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b,
  layer_tensor_count
};

}  // namespace gpuaccept::train
