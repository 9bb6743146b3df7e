// The tables the p2p step stores, built node by node: the benchmark (suites/p2p.cpp) and the
// simulator (harness/simulate_suites.cpp) both call these, so that a simulated p2p step has
// exactly the real one's layout.
//   points: one row per (node, src, dst), src != dst: node, leader_rank, src, dst, peer_access,
//           each test (`<test>_gbps`, `latency_us`), slow, wrong
//   samples: per test a matrix `<test>_gbps` / `latency_us`, rows node x gpus + src, columns dst
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/p2p.hpp"
#include "results/step_result.hpp"

namespace gpuaccept::suites {

// Appends node `node`'s rows (led by world rank `leader_rank`; `slow`: the matrix's
// kernels::find_slow_links); nothing for fewer than 2 GPUs.
void add_p2p_points(Table& points, std::size_t node, int leader_rank, const kernels::P2pMatrix& matrix,
                    const std::vector<kernels::SlowLink>& slow);

// The matrix samples for `nodes` nodes of at most `gpus` GPUs, NaN-filled (none for gpus < 2).
std::vector<Samples> p2p_matrix_samples(std::size_t nodes, std::size_t gpus);
// Writes node `node`'s matrices into them.
void fill_p2p_matrix_samples(std::vector<Samples>& samples, std::size_t node, const kernels::P2pMatrix& matrix);

}  // namespace gpuaccept::suites
