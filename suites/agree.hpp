// Helpers shared by benchmarks that compare outputs across ranks.
#pragma once

#include "collectives/group.hpp"
#include "kernels/gemm.hpp"

namespace gpuaccept::suites {

// Makes every rank of `group` use the same GEMM algorithm: the candidate whose time summed
// over all ranks is lowest. Each rank picking its own fastest can give different (equally
// correct) bits on identical GPUs, and the silent-data-corruption vote would then cry wolf.
void agree_on_algorithm(const collectives::Group& group, kernels::GemmSession& session);

}  // namespace gpuaccept::suites
