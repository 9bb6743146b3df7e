// Host <-> device copies on one GPU: h2d, d2h and both at once, pinned and pageable
// (kernels/hostcopy.hpp has the definitions, the timing and the NUMA placement).
// Also the device-side pattern fill and check that p2p shares.
//
// This file does without fmt (nvcc cannot compile fmt 9's headers in C++20 mode).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"
#include "kernels/hostcopy.hpp"

namespace gpuaccept::kernels::detail {

namespace {

constexpr int kThreads = 256;
constexpr std::uint64_t kMaxBlocks = 4096;

unsigned blocks_for(std::uint64_t count) {
  return static_cast<unsigned>(
      std::max<std::uint64_t>(1, std::min<std::uint64_t>((count + kThreads - 1) / kThreads, kMaxBlocks)));
}

__global__ void fill_words_kernel(std::uint64_t* words, std::uint64_t count, std::uint64_t seed) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride)
    words[i] = copy_pattern_word(seed, i);
}

// counters[0] += wrong words, counters[1] = min(counters[1], index of the first wrong word).
__global__ void count_wrong_kernel(const std::uint64_t* words, std::uint64_t count, std::uint64_t seed,
                                   unsigned long long* counters) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  unsigned long long wrong = 0, first = ~0ull;
  for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride) {
    if (words[i] != copy_pattern_word(seed, i)) {
      ++wrong;
      first = i < first ? i : first;
    }
  }
  if (wrong > 0) {
    atomicAdd(&counters[0], wrong);
    atomicMin(&counters[1], first);
  }
}

// Page-locked host memory (cudaHostAlloc), owned; the pages are touched by the driver on the
// calling thread, so they land on that thread's NUMA node under the default policy.
class PinnedWords {
 public:
  explicit PinnedWords(std::uint64_t count) {
    void* p = nullptr;
    GA_CUDA_CHECK(cudaHostAlloc(&p, count * sizeof(std::uint64_t), cudaHostAllocDefault));
    words_.reset(static_cast<std::uint64_t*>(p));
  }
  std::uint64_t* get() const { return words_.get(); }

 private:
  struct Free {
    void operator()(std::uint64_t* p) const noexcept { (void)cudaFreeHost(p); }
  };
  std::unique_ptr<std::uint64_t, Free> words_;
};

// Host words of either kind. Pageable memory comes from new[] without initialisation, so that
// its first touch is the fill's, on the thread placed near the GPU.
class HostWords {
 public:
  HostWords(HostMemory memory, std::uint64_t count) {
    if (memory == HostMemory::pinned)
      pinned_ = std::make_unique<PinnedWords>(count);
    else
      pageable_.reset(new std::uint64_t[count]);
  }
  std::uint64_t* get() const { return pinned_ ? pinned_->get() : pageable_.get(); }

 private:
  std::unique_ptr<PinnedWords> pinned_;
  std::unique_ptr<std::uint64_t[]> pageable_;
};

void fill_host(std::uint64_t* words, std::uint64_t count, std::uint64_t seed) {
  for (std::uint64_t i = 0; i < count; ++i) words[i] = copy_pattern_word(seed, i);
}

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// One direction from pinned memory: each iteration between its own events.
template <typename Copy>
std::vector<double> time_pinned(const TimingPolicy& policy, cudaStream_t stream, Copy copy) {
  for (int w = 0; w < policy.warmup; ++w) GA_CUDA_CHECK(copy(stream));
  const auto n = static_cast<std::size_t>(std::max(policy.iterations, 0));
  std::vector<gpu::Event> starts(n), stops(n);
  for (std::size_t i = 0; i < n; ++i) {
    starts[i].record(stream);
    GA_CUDA_CHECK(copy(stream));
    stops[i].record(stream);
  }
  GA_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> seconds;
  for (std::size_t i = 0; i < n; ++i) seconds.push_back(gpu::elapsed_seconds(starts[i], stops[i]));
  return seconds;
}

// Both directions from pinned memory: `down` starts from `up`'s start event, and `up`'s stop
// event waits for `down` to finish, so that an iteration spans both copies.
template <typename Up, typename Down>
std::vector<double> time_pinned_both(const TimingPolicy& policy, cudaStream_t up, cudaStream_t down,
                                     Up copy_up, Down copy_down) {
  const int total = policy.warmup + std::max(policy.iterations, 0);
  std::vector<gpu::Event> starts(static_cast<std::size_t>(total)), stops(starts.size()),
      down_done(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) {
    starts[i].record(up);
    GA_CUDA_CHECK(cudaStreamWaitEvent(down, starts[i].get(), 0));
    GA_CUDA_CHECK(copy_up(up));
    GA_CUDA_CHECK(copy_down(down));
    down_done[i].record(down);
    GA_CUDA_CHECK(cudaStreamWaitEvent(up, down_done[i].get(), 0));
    stops[i].record(up);
  }
  GA_CUDA_CHECK(cudaStreamSynchronize(up));
  std::vector<double> seconds;
  for (std::size_t i = static_cast<std::size_t>(policy.warmup); i < starts.size(); ++i)
    seconds.push_back(gpu::elapsed_seconds(starts[i], stops[i]));
  return seconds;
}

// One direction from pageable memory: host clock around the copy and its synchronisation.
template <typename Copy>
std::vector<double> time_pageable(const TimingPolicy& policy, cudaStream_t stream, Copy copy) {
  const int total = policy.warmup + std::max(policy.iterations, 0);
  std::vector<double> seconds;
  for (int i = 0; i < total; ++i) {
    const auto start = Clock::now();
    GA_CUDA_CHECK(copy(stream));
    GA_CUDA_CHECK(cudaStreamSynchronize(stream));
    const auto stop = Clock::now();
    if (i >= policy.warmup) seconds.push_back(seconds_between(start, stop));
  }
  return seconds;
}

// Both directions from pageable memory: one host thread per direction (the driver stages each
// pageable copy on its calling thread), released together; an iteration ends when both are done.
template <typename Up, typename Down>
std::vector<double> time_pageable_both(const TimingPolicy& policy, int device, cudaStream_t up,
                                       cudaStream_t down, Up copy_up, Down copy_down) {
  const int total = policy.warmup + std::max(policy.iterations, 0);
  std::vector<double> seconds;
  for (int i = 0; i < total; ++i) {
    std::atomic<bool> go{false};
    std::string errors[2];
    Clock::time_point ends[2];
    const auto worker = [&](int which) {
      std::string error = GA_CUDA_CHECK_NOTHROW(cudaSetDevice(device));
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      if (error.empty()) {
        cudaStream_t stream = which == 0 ? up : down;
        error =
            which == 0 ? GA_CUDA_CHECK_NOTHROW(copy_up(stream)) : GA_CUDA_CHECK_NOTHROW(copy_down(stream));
        if (error.empty()) error = GA_CUDA_CHECK_NOTHROW(cudaStreamSynchronize(stream));
      }
      ends[which] = Clock::now();
      errors[which] = std::move(error);
    };
    std::thread up_thread(worker, 0), down_thread(worker, 1);
    const auto start = Clock::now();
    go.store(true, std::memory_order_release);
    up_thread.join();
    down_thread.join();
    for (const auto& e : errors)
      if (!e.empty()) throw KernelError(e);
    if (i >= policy.warmup) seconds.push_back(seconds_between(start, std::max(ends[0], ends[1])));
  }
  return seconds;
}

std::string memory_name(HostMemory m) { return kHostMemoryNames[static_cast<std::size_t>(m)]; }

}  // namespace

void fill_words_on_device(std::uint64_t* words, std::uint64_t count, std::uint64_t seed, void* stream) {
  if (count == 0) return;
  fill_words_kernel<<<blocks_for(count), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(words, count,
                                                                                           seed);
  GA_CUDA_CHECK(cudaGetLastError());
}

std::int64_t count_wrong_words_on_device(const std::uint64_t* words, std::uint64_t count, std::uint64_t seed,
                                         void* stream_handle, std::string* first_wrong) {
  const auto stream = static_cast<cudaStream_t>(stream_handle);
  gpu::DeviceBuffer counters(2 * sizeof(unsigned long long));
  const unsigned long long initial[2] = {0, ~0ull};
  GA_CUDA_CHECK(cudaMemcpyAsync(counters.get(), initial, sizeof initial, cudaMemcpyHostToDevice, stream));
  if (count > 0) {
    count_wrong_kernel<<<blocks_for(count), kThreads, 0, stream>>>(words, count, seed,
                                                                   counters.as<unsigned long long>());
    GA_CUDA_CHECK(cudaGetLastError());
  }
  unsigned long long result[2] = {0, 0};
  GA_CUDA_CHECK(cudaMemcpyAsync(result, counters.get(), sizeof result, cudaMemcpyDeviceToHost, stream));
  GA_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (result[0] > 0 && first_wrong && result[1] < count) {
    std::uint64_t value = 0;
    GA_CUDA_CHECK(cudaMemcpyAsync(&value, words + result[1], sizeof value, cudaMemcpyDeviceToHost, stream));
    GA_CUDA_CHECK(cudaStreamSynchronize(stream));
    *first_wrong = describe_wrong_word(result[1], value, copy_pattern_word(seed, result[1]));
  }
  return static_cast<std::int64_t>(result[0]);
}

HostcopyRun run_hostcopy_cuda(const HostcopyConfig& c) {
  GA_CUDA_CHECK(cudaSetDevice(c.device));
  const auto words = static_cast<std::uint64_t>(c.bytes) / sizeof(std::uint64_t);
  const std::size_t bytes = words * sizeof(std::uint64_t);
  char bus_id[32] = {};
  GA_CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, static_cast<int>(sizeof bus_id), c.device));
  const NearGpuThread near(bus_id, c.near_gpu);  // before any host allocation

  HostcopyRun run;
  run.gpu_numa_node = near.gpu_numa_node();
  run.placement = near.description();
  const std::uint64_t seed_up = mix64(c.seed * 2 + 1), seed_down = mix64(c.seed * 2 + 2);
  gpu::Stream up, down;
  gpu::DeviceBuffer device_up(bytes), device_down(bytes);  // h2d destination, d2h source
  fill_words_on_device(device_down.as<std::uint64_t>(), words, seed_down, down.get());
  GA_CUDA_CHECK(cudaStreamSynchronize(down.get()));

  for (const HostMemory memory : {HostMemory::pinned, HostMemory::pageable}) {
    if ((memory == HostMemory::pinned && !c.pinned) || (memory == HostMemory::pageable && !c.pageable))
      continue;
    HostWords source(memory, words), target(memory, words);
    fill_host(source.get(), words, seed_up);
    std::memset(target.get(), 0, bytes);
    if (memory == HostMemory::pinned) run.host_numa_node = numa_node_of(source.get());

    const auto h2d = [&](cudaStream_t s) {
      return cudaMemcpyAsync(device_up.get(), source.get(), bytes, cudaMemcpyHostToDevice, s);
    };
    const auto d2h = [&](cudaStream_t s) {
      return cudaMemcpyAsync(target.get(), device_down.get(), bytes, cudaMemcpyDeviceToHost, s);
    };
    const auto check_device = [&](HostcopyMeasurement& m) {
      std::string first;
      const std::int64_t wrong =
          count_wrong_words_on_device(device_up.as<std::uint64_t>(), words, seed_up, up.get(), &first);
      m.checked += static_cast<std::int64_t>(words);
      if (wrong > 0 && m.wrong == 0) m.first_wrong = "device after h2d: " + first;
      m.wrong += wrong;
    };
    const auto check_host = [&](HostcopyMeasurement& m) {
      std::string first;
      const std::int64_t wrong = count_wrong_words(target.get(), words, seed_down, &first);
      m.checked += static_cast<std::int64_t>(words);
      if (wrong > 0 && m.wrong == 0) m.first_wrong = memory_name(memory) + " host memory after d2h: " + first;
      m.wrong += wrong;
    };
    const auto clear = [&] {
      GA_CUDA_CHECK(cudaMemsetAsync(device_up.get(), 0, bytes, up.get()));
      GA_CUDA_CHECK(cudaStreamSynchronize(up.get()));
      std::memset(target.get(), 0, bytes);
    };
    const bool pinned = memory == HostMemory::pinned;

    HostcopyMeasurement to_device{CopyDirection::h2d, memory, {}, static_cast<double>(bytes), 0, 0, {}};
    clear();
    to_device.seconds =
        pinned ? time_pinned(c.timing, up.get(), h2d) : time_pageable(c.timing, up.get(), h2d);
    check_device(to_device);
    run.measurements.push_back(std::move(to_device));

    HostcopyMeasurement to_host{CopyDirection::d2h, memory, {}, static_cast<double>(bytes), 0, 0, {}};
    clear();
    to_host.seconds =
        pinned ? time_pinned(c.timing, down.get(), d2h) : time_pageable(c.timing, down.get(), d2h);
    check_host(to_host);
    run.measurements.push_back(std::move(to_host));

    HostcopyMeasurement both{
        CopyDirection::bidirectional, memory, {}, 2.0 * static_cast<double>(bytes), 0, 0, {}};
    clear();
    both.seconds = pinned ? time_pinned_both(c.timing, up.get(), down.get(), h2d, d2h)
                          : time_pageable_both(c.timing, c.device, up.get(), down.get(), h2d, d2h);
    check_device(both);
    check_host(both);
    run.measurements.push_back(std::move(both));
  }
  return run;
}

}  // namespace gpuaccept::kernels::detail
