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
#include <span>
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

// Fills `params` (layout.total values) as GPT-2 initialises them: N(0, 0.02) matrices and token
// embedding, N(0, 0.01) position embedding, residual projections N(0, 0.02 / sqrt(2 L)), biases
// 0, layer-norm gains 1. Deterministic from `seed`: the same values on every rank, in every
// precision (drawn in double, then rounded to T), for the CPU and the CUDA model alike.
template <class T>
void init_parameters(const GptShape& shape, const ParamLayout& layout, std::uint64_t seed, std::span<T> params);

// A range [begin, end) of the flat parameter (and gradient) array.
struct ParamRange {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
  bool operator==(const ParamRange&) const = default;
};

// The order in which a backward pass finishes gradients, as both models report it through their
// `ready` callback: the final layer norm, each layer from the last to the first, then the
// embeddings (last, because the tied token embedding also gets the output head's gradient).
// Each range ends where the previous one begins: together they cover [0, total) once.
std::vector<ParamRange> backward_ready_order(const ParamLayout& layout);

// Groups gradients into all-reduce buckets as the backward pass finishes them. Finished ranges
// arrive in descending order (each ends where the previous began); a bucket is sent as soon
// as it holds at least `bucket_elements` values, and the rest when the first parameter is
// final. Every element is in exactly one bucket; buckets are contiguous ranges in descending
// order, all but the last at least `bucket_elements` long. CPU and CUDA trainers share it.
class BucketPlanner {
 public:
  BucketPlanner(std::size_t total, std::size_t bucket_elements);
  // [begin, end) has its final gradient. Returns the bucket to all-reduce now, if one is due.
  // Throws std::logic_error when the range does not continue the previous one downwards.
  std::optional<ParamRange> ready(std::size_t begin, std::size_t end);
  bool done() const { return pending_ == 0 && ready_ == 0; }

 private:
  std::size_t bucket_;
  std::size_t ready_;    // [ready_, total) is final
  std::size_t pending_;  // [ready_, pending_) is final but not yet in a bucket
};

// The buckets a backward pass of `layout` produces, in the order they are sent.
std::vector<ParamRange> plan_buckets(const ParamLayout& layout, std::size_t bucket_elements);

// Per-layer tensor indices inside ParamLayout::tensors (the same order in every layer).
enum LayerTensor : int {
  ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b,
  layer_tensor_count
};

}  // namespace gpuaccept::train
