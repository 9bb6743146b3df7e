#include "suites/train_metrics.hpp"

#include "suites/registry.hpp"

#include <fmt/format.h>

namespace gpuaccept::suites {

train::GptShape train_shape(const Params& p) {
  auto shape = train::preset(param_text(p, "preset")).value_or(train::GptShape{});
  auto over = [&](const char* name, int& field) {
    if (const auto v = param_int(p, name); v > 0) field = static_cast<int>(v);
  };
  over("layers", shape.layers);
  over("channels", shape.channels);
  over("heads", shape.heads);
  over("seq_len", shape.seq_len);
  over("vocab", shape.vocab);
  return shape;
}

std::string train_compute_dtype(kernels::Backend backend) {
  return backend == kernels::Backend::cuda ? "bf16" : "fp32";
}

std::optional<double> train_mfu(double flops_per_token, double tokens_per_s_per_device,
                                const SystemDescription* system, kernels::Backend backend, std::string* why) {
  const auto dtype = train_compute_dtype(backend);
  if (!system) {
    if (why) *why = "no system description: MFU not computed";
    return std::nullopt;
  }
  const auto peak = system->gpu.peak(dtype);
  if (!peak) {
    if (why) *why = fmt::format("system {} gives no {} peak: MFU not computed", system->name, dtype);
    return std::nullopt;
  }
  return flops_per_token * tokens_per_s_per_device / (*peak * 1e12);
}

}  // namespace gpuaccept::suites
