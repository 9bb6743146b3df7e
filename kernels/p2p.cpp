#include "kernels/p2p.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpuaccept::kernels {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

P2pMatrix::P2pMatrix(int gpu_count) : gpus(std::max(gpu_count, 0)) {
  const auto cells = static_cast<std::size_t>(gpus * gpus);
  for (auto& v : values) v.assign(cells, kNaN);
  peer_access.assign(cells, 0.0);
  wrong.assign(cells, 0.0);
}

bool p2p_supported(Backend backend, std::string* reason) {
  if (backend == Backend::cpu) {
    if (reason)
      *reason = "not applicable on the cpu backend: GPU-to-GPU copies need GPUs (run it on the cuda backend)";
    return false;
  }
  if (!cuda_compiled()) {
    if (reason) *reason = "this gpuaccept was built without CUDA";
    return false;
  }
  return true;
}

P2pMatrix run_p2p(Backend backend, const P2pConfig& config) {
  std::string reason;
  if (!p2p_supported(backend, &reason)) throw KernelError("p2p: " + reason);
  if (config.bytes < 16) throw KernelError("p2p: bytes must be at least 16");
#if defined(GPUACCEPT_HAVE_CUDA)
  return detail::run_p2p_cuda(config);
#else
  throw KernelError("p2p: this gpuaccept was built without CUDA");
#endif
}

std::vector<SlowLink> find_slow_links(const P2pMatrix& m, double factor) {
  std::vector<SlowLink> slow;
  for (std::size_t t = 0; t < kP2pTests; ++t) {
    const auto test = static_cast<P2pTest>(t);
    std::vector<std::pair<std::size_t, double>> measured;
    for (int s = 0; s < m.gpus; ++s)
      for (int d = 0; d < m.gpus; ++d)
        if (s != d && std::isfinite(m.values[t][m.at(s, d)]))
          measured.push_back({m.at(s, d), m.values[t][m.at(s, d)]});
    if (measured.size() < 2) continue;
    // The median of the others, from one sorted copy: removing the value at sorted position p
    // shifts the later ones down by one (O(m log m) per test, not O(m^2 log m): a full machine's
    // 62,500 nodes are summarised on one rank).
    std::vector<double> sorted;
    sorted.reserve(measured.size());
    for (const auto& [at, v] : measured) sorted.push_back(v);
    std::sort(sorted.begin(), sorted.end());
    const std::size_t others = sorted.size() - 1;
    for (std::size_t i = 0; i < measured.size(); ++i) {
      const auto p = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), measured[i].second) - sorted.begin());
      const auto other = [&](std::size_t k) { return sorted[k < p ? k : k + 1]; };
      const double median = others % 2 ? other(others / 2) : 0.5 * (other(others / 2 - 1) + other(others / 2));
      const double value = measured[i].second;
      const bool is_slow = p2p_lower_is_better(test) ? value > median / factor : value < factor * median;
      if (!is_slow) continue;
      const int src = static_cast<int>(measured[i].first) / m.gpus,
                dst = static_cast<int>(measured[i].first) % m.gpus;
      slow.push_back({src, dst, test, value, median});
    }
  }
  return slow;
}

std::string describe_slow_link(const SlowLink& l) {
  const auto t = static_cast<std::size_t>(l.test);
  return fmt::format("GPU {} -> GPU {} {} {:.4g} {} ({:.2f} x the median {:.4g} of the other links)", l.src,
                     l.dst, kP2pTestNames[t], l.value, kP2pTestUnits[t],
                     l.peer_median > 0 ? l.value / l.peer_median : kNaN, l.peer_median);
}

std::vector<int> p2p_rank_gpus(int local_rank, int local_size, int gpus) {
  std::vector<int> mine;
  if (gpus <= 0 || local_size <= 0 || local_rank < 0) return mine;
  if (local_size >= gpus) {
    mine.push_back(local_rank % gpus);
    return mine;
  }
  for (int d = 0; d < gpus; ++d)
    if (d % local_size == local_rank) mine.push_back(d);
  return mine;
}

P2pRankSummary summarize_p2p(const P2pMatrix& m, const std::vector<int>& src_gpus,
                             const std::vector<SlowLink>& slow) {
  P2pRankSummary s;
  s.worst.fill(kNaN);
  for (int src : src_gpus) {
    if (src < 0 || src >= m.gpus) continue;
    for (int dst = 0; dst < m.gpus; ++dst) {
      if (dst == src) continue;
      ++s.links;
      s.wrong += m.wrong[m.at(src, dst)];
      for (std::size_t t = 0; t < kP2pTests; ++t) {
        const double v = m.values[t][m.at(src, dst)];
        if (std::isnan(v)) continue;
        double& w = s.worst[t];
        if (std::isnan(w) || (p2p_lower_is_better(static_cast<P2pTest>(t)) ? v > w : v < w)) w = v;
      }
      const bool any_slow = std::any_of(slow.begin(), slow.end(),
                                        [&](const SlowLink& l) { return l.src == src && l.dst == dst; });
      s.slow_links += any_slow ? 1 : 0;
    }
  }
  return s;
}

std::string format_p2p_matrix(const P2pMatrix& m, P2pTest test) {
  const auto t = static_cast<std::size_t>(test);
  std::string out =
      fmt::format("{} {} (row: src, column: dst)\n{:>6}", kP2pTestNames[t], kP2pTestUnits[t], "");
  for (int d = 0; d < m.gpus; ++d) out += fmt::format("{:>9}", d);
  out += '\n';
  for (int s = 0; s < m.gpus; ++s) {
    out += fmt::format("{:>6}", s);
    for (int d = 0; d < m.gpus; ++d) {
      const double v = m.values[t][m.at(s, d)];
      out += std::isnan(v) ? fmt::format("{:>9}", "N/A") : fmt::format("{:>9.2f}", v);
    }
    out += '\n';
  }
  return out;
}

}  // namespace gpuaccept::kernels
