// GPU-to-GPU bandwidth and latency over every ordered pair of the GPUs this process sees
// (kernels/p2p.hpp has the tests and their definitions). Copy-engine tests use
// cudaMemcpyPeerAsync; SM tests a grid-stride kernel of 16-byte loads and stores through peer
// access; latency a single-thread pointer chase with uncached loads (ld.global.cv). Every
// iteration lies between its own pair of CUDA events on the stream of the GPU that drives it.
//
// This file does without fmt (nvcc cannot compile fmt 9's headers in C++20 mode).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"
#include "kernels/hostcopy.hpp"
#include "kernels/p2p.hpp"

namespace gpuaccept::kernels::detail {

namespace {

constexpr int kCopyThreads = 512;
constexpr int kCopyBlocksPerSm = 4;
constexpr std::uint64_t kChaseSlots = 8192;      // 1 MiB of chain: 8192 slots of 128 bytes
constexpr std::uint64_t kChaseStrideWords = 16;  // 128 bytes between slots
constexpr int kChaseWarmupHops = 1000;
constexpr int kMaxLatencyRuns = 3;

__global__ void copy_kernel(const uint4* __restrict__ from, uint4* __restrict__ to, std::uint64_t count) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride)
    to[i] = from[i];
}

// Follows `hops` links of the chain from word 0; every load depends on the one before.
__global__ void chase_kernel(const unsigned long long* chain, int hops, unsigned long long* end) {
  unsigned long long at = 0;
  for (int h = 0; h < hops; ++h) at = __ldcv(chain + at);
  *end = at;
}

std::string str(int v) { return std::to_string(v); }

// The calling thread's current device, restored on scope exit (the harness's device for this
// rank stays current after the step).
class KeepCurrentDevice {
 public:
  KeepCurrentDevice() { GA_CUDA_CHECK(cudaGetDevice(&saved_)); }
  ~KeepCurrentDevice() { (void)cudaSetDevice(saved_); }
  KeepCurrentDevice(const KeepCurrentDevice&) = delete;
  KeepCurrentDevice& operator=(const KeepCurrentDevice&) = delete;

 private:
  int saved_ = 0;
};

void use_device(int device) { GA_CUDA_CHECK(cudaSetDevice(device)); }

// Peer access enabled for a scope, disabled again on exit (what was enabled before, e.g. by
// NCCL in this process, is left as it was).
class PeerAccess {
 public:
  PeerAccess() = default;
  PeerAccess(const PeerAccess&) = delete;
  PeerAccess& operator=(const PeerAccess&) = delete;
  ~PeerAccess() {
    for (const auto& [from, to] : enabled_) {
      if (cudaSetDevice(from) == cudaSuccess) (void)cudaDeviceDisablePeerAccess(to);
    }
    (void)cudaGetLastError();
  }
  void enable(int from, int to) {
    use_device(from);
    const cudaError_t rc = cudaDeviceEnablePeerAccess(to, 0);
    if (rc == cudaErrorPeerAccessAlreadyEnabled) {
      (void)cudaGetLastError();  // not sticky, but keep it out of later checks
      return;
    }
    if (rc != cudaSuccess) gpu::throw_cuda_error(rc, "cudaDeviceEnablePeerAccess(to, 0)", __FILE__, __LINE__);
    enabled_.push_back({from, to});
  }

 private:
  std::vector<std::pair<int, int>> enabled_;
};

// One GPU's buffers: its pattern-filled source, a destination for copies into it, its pointer
// chain and the chase's result. Constructed and destroyed with its device current.
struct Gpu {
  int device;
  int sms = 0;
  gpu::Stream stream;
  gpu::DeviceBuffer src, dst, chain, end;
  Gpu(int d, std::size_t bytes)
      : device((use_device(d), d)),
        src(bytes),
        dst(bytes),
        chain(kChaseSlots * kChaseStrideWords * sizeof(unsigned long long)),
        end(sizeof(unsigned long long)) {
    GA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, d));
  }
};

// The chain every GPU holds: a single cycle through all slots (Sattolo's shuffle), each slot's
// first word holding the word index of the next slot.
std::vector<unsigned long long> make_chain(std::uint64_t seed) {
  std::vector<std::uint64_t> next(kChaseSlots);
  for (std::uint64_t s = 0; s < kChaseSlots; ++s) next[s] = s;
  std::uint64_t state = seed;
  for (std::uint64_t i = kChaseSlots - 1; i > 0; --i) {
    state = mix64(state);
    std::swap(next[i], next[state % i]);  // j < i: one cycle
  }
  std::vector<unsigned long long> chain(kChaseSlots * kChaseStrideWords, 0);
  for (std::uint64_t s = 0; s < kChaseSlots; ++s) chain[s * kChaseStrideWords] = next[s] * kChaseStrideWords;
  return chain;
}

unsigned long long chase_end(const std::vector<unsigned long long>& chain, int hops) {
  unsigned long long at = 0;
  for (int h = 0; h < hops; ++h) at = chain[at];
  return at;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Times `enqueue` (one copy on `g`'s stream) with per-iteration events on `g`'s device.
template <typename Enqueue>
std::vector<double> time_one_way(const Gpu& g, const TimingPolicy& policy, Enqueue enqueue) {
  use_device(g.device);
  for (int w = 0; w < policy.warmup; ++w) enqueue();
  const auto n = static_cast<std::size_t>(std::max(policy.iterations, 0));
  std::vector<gpu::Event> starts(n), stops(n);
  for (std::size_t i = 0; i < n; ++i) {
    starts[i].record(g.stream.get());
    enqueue();
    stops[i].record(g.stream.get());
  }
  GA_CUDA_CHECK(cudaStreamSynchronize(g.stream.get()));
  std::vector<double> seconds;
  for (std::size_t i = 0; i < n; ++i) seconds.push_back(gpu::elapsed_seconds(starts[i], stops[i]));
  return seconds;
}

// Times `forward` on `a`'s stream while `reverse` runs on `b`'s, both released by one event
// per iteration; the figure is the forward copy's.
template <typename Forward, typename Reverse>
std::vector<double> time_both_ways(const Gpu& a, const Gpu& b, const TimingPolicy& policy, Forward forward,
                                   Reverse reverse) {
  use_device(a.device);
  const auto total = static_cast<std::size_t>(policy.warmup + std::max(policy.iterations, 0));
  std::vector<gpu::Event> starts(total), stops(total);
  for (std::size_t i = 0; i < total; ++i) {
    use_device(a.device);
    starts[i].record(a.stream.get());
    use_device(b.device);
    GA_CUDA_CHECK(cudaStreamWaitEvent(b.stream.get(), starts[i].get(), 0));
    reverse();
    use_device(a.device);
    forward();
    stops[i].record(a.stream.get());
  }
  GA_CUDA_CHECK(cudaStreamSynchronize(a.stream.get()));
  use_device(b.device);
  GA_CUDA_CHECK(cudaStreamSynchronize(b.stream.get()));
  std::vector<double> seconds;
  for (std::size_t i = static_cast<std::size_t>(policy.warmup); i < total; ++i)
    seconds.push_back(gpu::elapsed_seconds(starts[i], stops[i]));
  return seconds;
}

class Runner {
 public:
  Runner(const P2pConfig& c, int gpus)
      : c_(c), words_(static_cast<std::uint64_t>(c.bytes) / 16 * 2), matrix_(gpus) {
    const std::size_t bytes = words_ * sizeof(std::uint64_t);
    const auto chain = make_chain(c.seed);
    for (int d = 0; d < gpus; ++d) {
      cudaDeviceProp properties{};
      GA_CUDA_CHECK(cudaGetDeviceProperties(&properties, d));
      matrix_.names.push_back(properties.name);
      gpus_.push_back(std::make_unique<Gpu>(d, bytes));
      Gpu& g = *gpus_.back();
      fill_words_on_device(g.src.as<std::uint64_t>(), words_, seed_of(d), g.stream.get());
      GA_CUDA_CHECK(cudaMemcpyAsync(g.chain.get(), chain.data(), g.chain.bytes(), cudaMemcpyHostToDevice,
                                    g.stream.get()));
      GA_CUDA_CHECK(cudaStreamSynchronize(g.stream.get()));
    }
    expected_end_ = chase_end(chain, c_.latency_hops);
    for (int s = 0; s < gpus; ++s)
      for (int d = 0; d < gpus; ++d) {
        if (s == d) continue;
        int can = 0;
        GA_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, s, d));
        matrix_.peer_access[matrix_.at(s, d)] = can ? 1.0 : 0.0;
      }
  }

  ~Runner() {
    // Each GPU's stream and buffers go with that GPU current.
    for (auto& g : gpus_) {
      if (cudaSetDevice(g->device) == cudaSuccess) g.reset();
    }
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  P2pMatrix run() {
    const int n = matrix_.gpus;
    for (int s = 0; s < n; ++s)
      for (int d = 0; d < n; ++d) {
        if (s == d) continue;
        const bool forward = can(s, d), backward = can(d, s);
        // Peer access for this pair only: a GPU may have at most 8 peers enabled at once
        // (cudaErrorTooManyPeers), and nodes with more GPUs exist.
        PeerAccess access;
        if (forward) access.enable(s, d);
        if (backward) access.enable(d, s);
        Gpu& src = *gpus_[static_cast<std::size_t>(s)];
        Gpu& dst = *gpus_[static_cast<std::size_t>(d)];
        const auto ce = [this](Gpu& from, Gpu& to, const Gpu& driver) {
          return [this, &from, &to, &driver] {
            GA_CUDA_CHECK(cudaMemcpyPeerAsync(to.dst.get(), to.device, from.src.get(), from.device,
                                              words_ * sizeof(std::uint64_t), driver.stream.get()));
          };
        };
        const auto sm = [this](Gpu& from, Gpu& to, const Gpu& driver) {
          return [this, &from, &to, &driver] {
            const unsigned blocks = static_cast<unsigned>(std::max(1, driver.sms * kCopyBlocksPerSm));
            copy_kernel<<<blocks, kCopyThreads, 0, driver.stream.get()>>>(from.src.as<uint4>(),
                                                                          to.dst.as<uint4>(), words_ / 2);
            GA_CUDA_CHECK(cudaGetLastError());
          };
        };
        if (forward) {
          one_way(P2pTest::ce_write, src, dst, src, ce(src, dst, src));
          one_way(P2pTest::sm_write, src, dst, src, sm(src, dst, src));
        }
        if (backward) {
          one_way(P2pTest::ce_read, src, dst, dst, ce(src, dst, dst));
          one_way(P2pTest::sm_read, src, dst, dst, sm(src, dst, dst));
          latency(src, dst);
        }
        if (forward && backward) {
          both_ways(P2pTest::ce_bidir, src, dst, ce(src, dst, src), ce(dst, src, dst));
          both_ways(P2pTest::sm_bidir, src, dst, sm(src, dst, src), sm(dst, src, dst));
        }
      }
    return std::move(matrix_);
  }

 private:
  std::uint64_t seed_of(int device) const {
    return mix64(c_.seed ^ (0x9E37ull * static_cast<std::uint64_t>(device + 1)));
  }
  bool can(int from, int to) const { return matrix_.peer_access[matrix_.at(from, to)] > 0; }
  double gbps(const std::vector<double>& seconds) const {
    const double t = median_of(seconds);
    return t > 0 ? static_cast<double>(words_ * sizeof(std::uint64_t)) / t / 1e9 : 0.0;
  }

  void clear(const Gpu& g) {
    use_device(g.device);
    GA_CUDA_CHECK(cudaMemsetAsync(g.dst.get(), 0, g.dst.bytes(), g.stream.get()));
    GA_CUDA_CHECK(cudaStreamSynchronize(g.stream.get()));
  }

  // Every word of `to.dst` must now hold `from`'s pattern.
  void check(P2pTest test, const Gpu& from, const Gpu& to, int src, int dst) {
    use_device(to.device);
    std::string first;
    const std::int64_t wrong = count_wrong_words_on_device(to.dst.as<std::uint64_t>(), words_,
                                                           seed_of(from.device), to.stream.get(), &first);
    if (wrong == 0) return;
    matrix_.wrong[matrix_.at(src, dst)] += static_cast<double>(wrong);
    if (matrix_.first_wrong.empty())
      matrix_.first_wrong = std::string(kP2pTestNames[static_cast<std::size_t>(test)]) + " GPU " +
                            str(from.device) + " -> GPU " + str(to.device) + ": " + std::to_string(wrong) +
                            " wrong words; first: " + first;
  }

  template <typename Enqueue>
  void one_way(P2pTest test, const Gpu& src, const Gpu& dst, const Gpu& driver, Enqueue enqueue) {
    clear(dst);
    const auto seconds = time_one_way(driver, c_.timing, enqueue);
    matrix_.values[static_cast<std::size_t>(test)][matrix_.at(src.device, dst.device)] = gbps(seconds);
    check(test, src, dst, src.device, dst.device);
  }

  template <typename Forward, typename Reverse>
  void both_ways(P2pTest test, const Gpu& src, const Gpu& dst, Forward forward, Reverse reverse) {
    clear(dst);
    clear(src);
    const auto seconds = time_both_ways(src, dst, c_.timing, forward, reverse);
    matrix_.values[static_cast<std::size_t>(test)][matrix_.at(src.device, dst.device)] = gbps(seconds);
    check(test, src, dst, src.device, dst.device);
    check(test, dst, src, src.device, dst.device);
  }

  // `dst` chases the chain held in `src`'s memory.
  void latency(const Gpu& src, const Gpu& dst) {
    use_device(dst.device);
    cudaStream_t stream = dst.stream.get();
    chase_kernel<<<1, 1, 0, stream>>>(src.chain.as<unsigned long long>(), kChaseWarmupHops,
                                      dst.end.as<unsigned long long>());
    GA_CUDA_CHECK(cudaGetLastError());
    const int runs = std::max(1, std::min(c_.timing.iterations, kMaxLatencyRuns));
    std::vector<gpu::Event> starts(static_cast<std::size_t>(runs)), stops(starts.size());
    for (std::size_t r = 0; r < starts.size(); ++r) {
      starts[r].record(stream);
      chase_kernel<<<1, 1, 0, stream>>>(src.chain.as<unsigned long long>(), c_.latency_hops,
                                        dst.end.as<unsigned long long>());
      GA_CUDA_CHECK(cudaGetLastError());
      stops[r].record(stream);
    }
    unsigned long long end = 0;
    GA_CUDA_CHECK(cudaMemcpyAsync(&end, dst.end.get(), sizeof end, cudaMemcpyDeviceToHost, stream));
    GA_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<double> per_hop;
    for (std::size_t r = 0; r < starts.size(); ++r)
      per_hop.push_back(gpu::elapsed_seconds(starts[r], stops[r]) / std::max(c_.latency_hops, 1));
    const auto cell = matrix_.at(src.device, dst.device);
    matrix_.values[static_cast<std::size_t>(P2pTest::latency)][cell] = median_of(per_hop) * 1e6;
    if (end != expected_end_) {
      matrix_.wrong[cell] += 1;
      if (matrix_.first_wrong.empty())
        matrix_.first_wrong = "latency GPU " + str(dst.device) + " chasing GPU " + str(src.device) +
                              "'s memory ended at word " + std::to_string(end) + ", expected " +
                              std::to_string(expected_end_);
    }
  }

  P2pConfig c_;
  std::uint64_t words_;  // 8-byte words per copy (even: the SM kernel moves 16 bytes at a time)
  P2pMatrix matrix_;
  std::vector<std::unique_ptr<Gpu>> gpus_;
  unsigned long long expected_end_ = 0;
};

}  // namespace

P2pMatrix run_p2p_cuda(const P2pConfig& config) {
  int gpus = 0;
  GA_CUDA_CHECK(cudaGetDeviceCount(&gpus));
  if (gpus < 2) return P2pMatrix(gpus);
  const KeepCurrentDevice keep;
  Runner runner(config, gpus);
  return runner.run();
}

}  // namespace gpuaccept::kernels::detail
