#include "suites/p2p_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace gpuaccept::suites {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using kernels::kP2pTests;

std::string test_column(std::size_t k) {
  return fmt::format("{}_{}", kernels::kP2pTestNames[k],
                     static_cast<kernels::P2pTest>(k) == kernels::P2pTest::latency ? "us" : "gbps");
}
}  // namespace

void add_p2p_points(Table& t, std::size_t node, int leader_rank, const kernels::P2pMatrix& m,
                    const std::vector<kernels::SlowLink>& slow) {
  if (m.gpus < 2) return;
  if (t.columns.empty()) {
    t.column("node", "", true);
    t.column("leader_rank", "", true);
    t.column("src", "", true);
    t.column("dst", "", true);
    t.column("peer_access", "", true);
    for (std::size_t k = 0; k < kP2pTests; ++k)
      t.column(test_column(k), kernels::kP2pTestUnits[k], false,
               kernels::p2p_lower_is_better(static_cast<kernels::P2pTest>(k)) ? Better::lower : Better::higher);
    t.column("slow", "", true, Better::lower);
    t.column("wrong", "", true, Better::lower);
  }
  for (int s = 0; s < m.gpus; ++s)
    for (int d = 0; d < m.gpus; ++d) {
      if (s == d) continue;
      std::size_t c = 0;
      t.columns[c++].values.push_back(static_cast<double>(node));
      t.columns[c++].values.push_back(leader_rank);
      t.columns[c++].values.push_back(s);
      t.columns[c++].values.push_back(d);
      t.columns[c++].values.push_back(m.peer_access[m.at(s, d)]);
      for (std::size_t k = 0; k < kP2pTests; ++k) t.columns[c++].values.push_back(m.values[k][m.at(s, d)]);
      const bool is_slow =
          std::any_of(slow.begin(), slow.end(), [&](const auto& l) { return l.src == s && l.dst == d; });
      t.columns[c++].values.push_back(is_slow ? 1 : 0);
      t.columns[c++].values.push_back(m.wrong[m.at(s, d)]);
    }
}

std::vector<Samples> p2p_matrix_samples(std::size_t nodes, std::size_t g) {
  if (g < 2) return {};
  std::vector<Samples> out;
  for (std::size_t k = 0; k < kP2pTests; ++k) {
    Samples s{test_column(k), kernels::kP2pTestUnits[k], "node x gpus + src", "dst", nodes * g, g, {}};
    s.values.assign(s.rows * s.cols, kNaN);
    out.push_back(std::move(s));
  }
  return out;
}

void fill_p2p_matrix_samples(std::vector<Samples>& samples, std::size_t n, const kernels::P2pMatrix& m) {
  for (std::size_t k = 0; k < samples.size() && k < kP2pTests; ++k) {
    Samples& s = samples[k];
    const std::size_t g = s.cols;
    for (int src = 0; src < m.gpus; ++src)
      for (int dst = 0; dst < m.gpus; ++dst)
        s.values[(n * g + static_cast<std::size_t>(src)) * g + static_cast<std::size_t>(dst)] = m.values[k][m.at(src, dst)];
  }
}

}  // namespace gpuaccept::suites
