// GPU-to-GPU bandwidth and latency inside one node, over every ordered pair of the GPUs this
// process sees, as nvbandwidth measures them. Entry (src, dst) always means data that lives on
// src ends up on dst; what differs is who moves it:
//   ce_write   copy engine, cudaMemcpyPeerAsync on a stream of src (src pushes)
//   ce_read    copy engine, cudaMemcpyPeerAsync on a stream of dst (dst pulls)
//   ce_bidir   ce_write src->dst while dst->src runs at the same time; the src->dst figure
//   sm_write   a copy kernel on src storing into dst's memory (peer access)
//   sm_read    a copy kernel on dst loading from src's memory (peer access)
//   sm_bidir   sm_write src->dst while dst->src runs at the same time; the src->dst figure
//   latency    a single thread on dst chasing pointers stored in src's memory (uncached
//              loads), microseconds per dependent load
// GB/s = bytes / median iteration time (1 GB = 1e9 B), one direction (as nvbandwidth prints
// its bidirectional matrices; the link's total is entry (src, dst) + entry (dst, src)).
// Pairs without peer access (cudaDeviceCanAccessPeer, both ways for the bidirectional and
// read tests) are not measured (NaN), as in nvbandwidth. After each test the destination is
// compared word by word with the source pattern (cleared before, so a copy that did nothing is
// caught); the latency chase checks where it ended.
// Slow links: a link whose figure lies below `factor` x the median of the same test over the
// other links of the node (latency: above that median / factor) is named.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

enum class P2pTest { ce_write = 0, ce_read, ce_bidir, sm_write, sm_read, sm_bidir, latency };
inline constexpr std::size_t kP2pTests = 7;
inline constexpr std::array<const char*, kP2pTests> kP2pTestNames{
    "ce_write", "ce_read", "ce_bidir", "sm_write", "sm_read", "sm_bidir", "latency"};
// GB/s for the copies, microseconds for latency.
inline constexpr std::array<const char*, kP2pTests> kP2pTestUnits{"GB/s", "GB/s", "GB/s", "GB/s",
                                                                  "GB/s", "GB/s", "us"};
inline bool p2p_lower_is_better(P2pTest t) { return t == P2pTest::latency; }

struct P2pConfig {
  std::int64_t bytes = std::int64_t{256} << 20;  // per copy; rounded down to whole 16-byte units
  TimingPolicy timing;
  std::uint64_t seed = 1;
  int latency_hops = 20000;  // dependent loads per latency measurement
};

// The node's matrices: gpus x gpus, row-major by src ([src * gpus + dst]); NaN on the diagonal
// and where a test could not run for lack of peer access.
struct P2pMatrix {
  int gpus = 0;
  std::array<std::vector<double>, kP2pTests> values;
  std::vector<double> peer_access;  // 1 when src can access dst (cudaDeviceCanAccessPeer)
  std::vector<double> wrong;        // wrong words over every test of the pair
  std::string first_wrong;
  std::vector<std::string> names;  // "NVIDIA H100 80GB HBM3" per GPU

  explicit P2pMatrix(int gpu_count = 0);
  std::size_t at(int src, int dst) const { return static_cast<std::size_t>(src * gpus + dst); }
};

bool p2p_supported(Backend backend, std::string* reason);
// Every GPU this process sees; fewer than two gives an empty matrix (gpus as counted).
P2pMatrix run_p2p(Backend backend, const P2pConfig& config);

// --- analysis (no GPU needed) --------------------------------------------------------------

struct SlowLink {
  int src = 0, dst = 0;
  P2pTest test = P2pTest::ce_write;
  double value = 0;
  double peer_median = 0;  // median of the same test over the other links
};
// The links below factor x the median of the other links (latency: above median / factor), by
// test then src then dst. A test needs two measured links to compare.
std::vector<SlowLink> find_slow_links(const P2pMatrix& matrix, double factor);
// "GPU 0 -> GPU 3 ce_write 21.3 GB/s (0.33 x the median 64.1 of the other links)"
std::string describe_slow_link(const SlowLink& link);

// The GPUs whose outgoing links a rank reports: with at least as many local ranks as GPUs, its
// own GPU (local_rank % gpus, as the harness assigns them); with fewer ranks than GPUs, every
// GPU d with d % local_size == local_rank, so that each GPU is reported by one rank.
std::vector<int> p2p_rank_gpus(int local_rank, int local_size, int gpus);

// A rank's figures over the links leaving its GPUs: the lowest bandwidth per test, the highest
// latency; NaN where none of them was measured.
struct P2pRankSummary {
  std::array<double, kP2pTests> worst{};
  int links = 0;       // ordered pairs (src in the rank's GPUs, dst any other GPU)
  int slow_links = 0;  // of those, links with any slow test
  double wrong = 0;
};
P2pRankSummary summarize_p2p(const P2pMatrix& matrix, const std::vector<int>& src_gpus,
                             const std::vector<SlowLink>& slow);

// nvbandwidth-style table of one test: rows src, columns dst, "N/A" where not measured.
std::string format_p2p_matrix(const P2pMatrix& matrix, P2pTest test);

namespace detail {
#if defined(GPUACCEPT_HAVE_CUDA)
P2pMatrix run_p2p_cuda(const P2pConfig& config);
#endif
}  // namespace detail

}  // namespace gpuaccept::kernels
