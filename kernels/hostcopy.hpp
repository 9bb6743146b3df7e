// Host <-> device copies of one GPU: host-to-device, device-to-host and both at once, from
// pinned (page-locked, cudaHostAlloc) and pageable (ordinary) host memory.
//
// GB/s = bytes per iteration / median iteration time (1 GB = 1e9 B); `bytes` each way, so a
// bidirectional iteration moves 2 x bytes (both directions together, the figure that shows
// whether the link is full duplex; nvbandwidth prints each direction on its own instead).
// Timing: pinned copies between CUDA events on the device (bidirectional: one stream per
// direction, both starting from one event, the iteration ending when both are done);
// pageable copies with steady_clock around the call and its stream synchronisation, because
// the driver stages them through its own pinned buffers on the calling host thread
// (bidirectional: two host threads started together).
// Data: the source is filled with copy_pattern_word() (a different seed per direction), the
// destination cleared first; after the timed iterations every word of every destination is
// compared (device memory by a kernel, host memory on the host).
// NUMA: before anything is allocated, the calling thread is bound to the CPUs near the GPU
// (sysfs local_cpulist of its PCI device), narrowed to the CPUs the launcher allowed when the
// two sets meet. Host buffers are then first touched from there, so under the default (local)
// allocation policy their pages land on the GPU's NUMA node, and pageable copies are staged by
// a nearby core; an explicit policy of the launcher (numactl --membind) still wins. The node
// that holds the first page of the pinned buffer is read back (get_mempolicy) and reported.
// The binding is undone when the run ends. No libnuma is needed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/pattern.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

enum class CopyDirection { h2d = 0, d2h = 1, bidirectional = 2 };
enum class HostMemory { pinned = 0, pageable = 1 };
inline constexpr std::array<const char*, 3> kCopyDirectionNames{"h2d", "d2h", "bidir"};
inline constexpr std::array<const char*, 2> kHostMemoryNames{"pinned", "pageable"};

struct HostcopyConfig {
  std::int64_t bytes = std::int64_t{256} << 20;  // each way; rounded down to whole 8-byte words
  TimingPolicy timing;
  int device = 0;
  std::uint64_t seed = 1;
  bool pinned = true;
  bool pageable = true;
  bool near_gpu = true;  // bind the thread (and so the host pages) to the GPU's NUMA node
};

struct HostcopyMeasurement {
  CopyDirection direction = CopyDirection::h2d;
  HostMemory memory = HostMemory::pinned;
  std::vector<double> seconds;  // timed iterations
  double bytes = 0;             // moved per iteration (both ways for bidirectional)
  std::int64_t checked = 0;     // words compared
  std::int64_t wrong = 0;
  std::string first_wrong;
};

struct HostcopyRun {
  std::vector<HostcopyMeasurement> measurements;  // pinned (h2d, d2h, bidir), then pageable
  int gpu_numa_node = -1;                         // from sysfs; -1 when unknown
  int host_numa_node = -1;                        // of the pinned buffer's first page; -1 when unknown
  std::string placement;                          // what was done about NUMA, in one sentence
};

// Word `index` of a copy's source: never zero, so that a destination cleared to zero and not
// written does not pass the check.
GPUACCEPT_HD inline std::uint64_t copy_pattern_word(std::uint64_t seed, std::uint64_t index) {
  return mix64(seed ^ mix64(index)) | 1u;
}
// Words of `words` that differ from the pattern; `first_wrong` (optional) describes the first.
std::int64_t count_wrong_words(const std::uint64_t* words, std::uint64_t count, std::uint64_t seed,
                               std::string* first_wrong);
// "word 12 = 0x5, expected 0x9a3..."
std::string describe_wrong_word(std::uint64_t index, std::uint64_t value, std::uint64_t expected);

// GB/s of one measurement (median time); NaN without timed iterations.
double hostcopy_gbps(const HostcopyMeasurement& m);

bool hostcopy_supported(Backend backend, std::string* reason);
HostcopyRun run_hostcopy(Backend backend, const HostcopyConfig& config);

// --- NUMA placement, without libnuma -------------------------------------------------------

// "0-3,8,10-11" (a sysfs cpulist) as CPU numbers; empty for an empty or malformed list.
std::vector<int> parse_cpu_list(std::string_view text);
// A PCI bus id as sysfs names it: "00000000:3B:00.0" or "0000:3b:00.0" -> "0000:3b:00.0";
// "" when it is not a bus id.
std::string sysfs_pci_name(std::string_view bus_id);

struct GpuLocality {
  int numa_node = -1;     // -1: unknown, or a machine without NUMA
  std::vector<int> cpus;  // local_cpulist; empty when unknown
};
// Read from <sysfs_root>/bus/pci/devices/<bus id>/{numa_node,local_cpulist}.
GpuLocality gpu_locality(std::string_view bus_id, const std::string& sysfs_root = "/sys");
// The CPUs to run on: the GPU's local CPUs that the launcher allowed, or all of the GPU's local
// CPUs when none of them is allowed (the launcher bound the rank far from its GPU), or the
// allowed set when the GPU's CPUs are unknown.
std::vector<int> cpus_near_gpu(const std::vector<int>& allowed, const std::vector<int>& gpu_local);
// The NUMA node of the page holding `address` (touched), -1 when the kernel does not say.
int numa_node_of(const void* address);

// Binds the calling thread near a GPU for its lifetime and restores the previous binding after.
class NearGpuThread {
 public:
  // `enable` false: leaves the binding alone (and says so).
  NearGpuThread(std::string_view pci_bus_id, bool enable);
  ~NearGpuThread();
  NearGpuThread(const NearGpuThread&) = delete;
  NearGpuThread& operator=(const NearGpuThread&) = delete;
  int gpu_numa_node() const { return locality_.numa_node; }
  const std::string& description() const { return description_; }

 private:
  GpuLocality locality_;
  std::string description_;
  std::vector<int> previous_;  // empty when nothing was changed
};

namespace detail {
#if defined(GPUACCEPT_HAVE_CUDA)
HostcopyRun run_hostcopy_cuda(const HostcopyConfig& config);
// Device helpers shared by hostcopy and p2p (kernels/cuda/hostcopy_cuda.cu), on the current
// device; `stream` is a cudaStream_t of that device.
void fill_words_on_device(std::uint64_t* words, std::uint64_t count, std::uint64_t seed, void* stream);
// Compares every word with the pattern; synchronises the stream. `first_wrong` (optional)
// describes the first wrong word.
std::int64_t count_wrong_words_on_device(const std::uint64_t* words, std::uint64_t count, std::uint64_t seed,
                                         void* stream, std::string* first_wrong);
#endif
}  // namespace detail

}  // namespace gpuaccept::kernels
