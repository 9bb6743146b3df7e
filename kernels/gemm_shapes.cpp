#include "kernels/gemm_shapes.hpp"

#include <fmt/format.h>

namespace gpuaccept::kernels {

namespace {

// Llama-2/3-70B (from the published model configurations).
constexpr std::int64_t kHidden = 8192;
constexpr std::int64_t kKvHeads = 8;
constexpr std::int64_t kHeadDim = 128;
constexpr std::int64_t kMlp = 28672;

std::vector<GemmShape> make_shapes() {
  std::vector<GemmShape> shapes;
  for (std::int64_t n = 1024; n <= 16384; n *= 2)
    shapes.push_back({fmt::format("square-{}", n), "square", n, n, n, Transpose::n, Transpose::n,
                      fmt::format("square {0} x {0} x {0}", n)});
  struct Layer {
    const char* name;
    std::int64_t out, in;
    const char* what;
  };
  const Layer layers[] = {
      {"qkv", kHidden + 2 * kKvHeads * kHeadDim, kHidden, "QKV projection (fused)"},
      {"attn-out", kHidden, kHidden, "attention output projection"},
      {"mlp-up", 2 * kMlp, kHidden, "MLP gate and up projections (fused)"},
      {"mlp-down", kHidden, kMlp, "MLP down projection"},
  };
  for (std::int64_t tokens : {4096, 8192})
    for (const Layer& l : layers)
      shapes.push_back({fmt::format("llama70b-{}-t{}", l.name, tokens), "llama70b", l.out, tokens, l.in,
                        Transpose::t, Transpose::n, fmt::format("Llama-70B {}, {} tokens", l.what, tokens)});
  return shapes;
}

}  // namespace

const std::vector<GemmShape>& gemm_named_shapes() {
  static const std::vector<GemmShape> shapes = make_shapes();
  return shapes;
}

const GemmShape* find_gemm_shape(std::string_view name) {
  for (const GemmShape& s : gemm_named_shapes())
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> gemm_shape_set(std::string_view set) {
  std::vector<std::string> names;
  for (const GemmShape& s : gemm_named_shapes())
    if (s.set == set) names.push_back(s.name);
  return names;
}

}  // namespace gpuaccept::kernels
