// Figures of the train benchmark that need the system description: model FLOPs utilisation.
//   MFU = flops_per_token * tokens_per_s_per_device / peak FLOP/s of one device
// The peak is the system description's dense peak of the dtype the model computes in (bf16 on
// the cuda backend, fp32 on the cpu backend). Without a description, or without a peak for that
// dtype, MFU is not computed: never guessed.
#pragma once

#include <optional>
#include <string>

#include "kernels/backend.hpp"
#include "results/step_result.hpp"
#include "results/system.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::suites {

// The model shape a train step's parameters name: the preset, with layers, channels, heads,
// seq_len and vocab overriding it where they are set (> 0). The real run and the simulator
// both read it from here.
train::GptShape train_shape(const Params& p);

// The dtype whose peak MFU is measured against on this backend: "bf16" (cuda), "fp32" (cpu).
std::string train_compute_dtype(kernels::Backend backend);

// MFU as a fraction (0.4 = 40%), or nullopt with `why` set.
std::optional<double> train_mfu(double flops_per_token, double tokens_per_s_per_device,
                                const SystemDescription* system, kernels::Backend backend,
                                std::string* why = nullptr);

}  // namespace gpuaccept::suites
