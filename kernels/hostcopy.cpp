#include "kernels/hostcopy.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

namespace gpuaccept::kernels {

namespace {

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string text;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    text += (text.empty() ? "" : ",") +
            (j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]));
    i = j + 1;
  }
  return text;
}

std::vector<int> thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

bool bind_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus)
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
  return !cpus.empty() && pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace

std::string describe_wrong_word(std::uint64_t index, std::uint64_t value, std::uint64_t expected) {
  return fmt::format("word {} = {:#x}, expected {:#x}", index, value, expected);
}

std::int64_t count_wrong_words(const std::uint64_t* words, std::uint64_t count, std::uint64_t seed,
                               std::string* first_wrong) {
  std::int64_t wrong = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t expected = copy_pattern_word(seed, i);
    if (words[i] == expected) continue;
    if (wrong == 0 && first_wrong) *first_wrong = describe_wrong_word(i, words[i], expected);
    ++wrong;
  }
  return wrong;
}

double hostcopy_gbps(const HostcopyMeasurement& m) {
  if (m.seconds.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> t = m.seconds;
  std::sort(t.begin(), t.end());
  const std::size_t n = t.size();
  const double median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  return median > 0 ? m.bytes / median / 1e9 : std::numeric_limits<double>::quiet_NaN();
}

bool hostcopy_supported(Backend backend, std::string* reason) {
  if (backend == Backend::cpu) {
    if (reason)
      *reason =
          "not applicable on the cpu backend: host-device copies need a GPU (run it on the cuda backend)";
    return false;
  }
  if (!cuda_compiled()) {
    if (reason) *reason = "this gpuaccept was built without CUDA";
    return false;
  }
  return true;
}

HostcopyRun run_hostcopy(Backend backend, const HostcopyConfig& config) {
  std::string reason;
  if (!hostcopy_supported(backend, &reason)) throw KernelError("hostcopy: " + reason);
  if (config.bytes < 8) throw KernelError("hostcopy: bytes must be at least one 8-byte word");
#if defined(GPUACCEPT_HAVE_CUDA)
  return detail::run_hostcopy_cuda(config);
#else
  throw KernelError("hostcopy: this gpuaccept was built without CUDA");
#endif
}

// --- NUMA ----------------------------------------------------------------------------------

std::vector<int> parse_cpu_list(std::string_view text) {
  std::vector<int> cpus;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  const auto number = [](std::string_view part, int& out) {
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && end == part.data() + part.size() && out >= 0;
  };
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const auto dash = part.find('-');
    int first = 0, last = 0;
    if (dash == std::string_view::npos) {
      if (!number(part, first)) return {};
      last = first;
    } else if (!number(part.substr(0, dash), first) || !number(part.substr(dash + 1), last) || last < first) {
      return {};
    }
    for (int c = first; c <= last; ++c) cpus.push_back(c);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string sysfs_pci_name(std::string_view bus_id) {
  // [domain]:[bus]:[device].[function], all hexadecimal; sysfs writes a 4-digit domain.
  const auto colon = bus_id.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  unsigned long domain = 0;
  const auto [end, ec] = std::from_chars(bus_id.data(), bus_id.data() + colon, domain, 16);
  if (ec != std::errc() || end != bus_id.data() + colon || domain > 0xFFFF) return {};
  std::string rest(bus_id.substr(colon + 1));
  if (rest.size() != 7 || rest[2] != ':' || rest[5] != '.') return {};
  for (char& ch : rest) {
    if (ch == ':' || ch == '.') continue;
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return {};
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return fmt::format("{:04x}:{}", domain, rest);
}

GpuLocality gpu_locality(std::string_view bus_id, const std::string& sysfs_root) {
  GpuLocality l;
  const std::string name = sysfs_pci_name(bus_id);
  if (name.empty()) return l;
  const std::string dir = sysfs_root + "/bus/pci/devices/" + name;
  const std::string node = read_line(dir + "/numa_node");
  int value = -1;
  if (!node.empty() && std::from_chars(node.data(), node.data() + node.size(), value).ec == std::errc())
    l.numa_node = value < 0 ? -1 : value;
  l.cpus = parse_cpu_list(read_line(dir + "/local_cpulist"));
  return l;
}

std::vector<int> cpus_near_gpu(const std::vector<int>& allowed, const std::vector<int>& gpu_local) {
  if (gpu_local.empty()) return allowed;
  std::vector<int> both;
  std::set_intersection(allowed.begin(), allowed.end(), gpu_local.begin(), gpu_local.end(),
                        std::back_inserter(both));
  return both.empty() ? gpu_local : both;
}

int numa_node_of(const void* address) {
  // get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR): the node of the page at `address`.
  constexpr unsigned long kMpolFNode = 1, kMpolFAddr = 2;
  int node = -1;
  if (syscall(SYS_get_mempolicy, &node, nullptr, 0UL, const_cast<void*>(address), kMpolFNode | kMpolFAddr) !=
      0)
    return -1;
  return node;
}

NearGpuThread::NearGpuThread(std::string_view pci_bus_id, bool enable) {
  locality_ = gpu_locality(pci_bus_id);
  const std::string gpu =
      fmt::format("GPU {} (NUMA node {}, CPUs {})", pci_bus_id,
                  locality_.numa_node < 0 ? std::string("unknown") : std::to_string(locality_.numa_node),
                  locality_.cpus.empty() ? std::string("unknown") : cpu_list_text(locality_.cpus));
  if (!enable) {
    description_ = fmt::format("NUMA placement off: thread left where the launcher put it; {}", gpu);
    return;
  }
  const std::vector<int> allowed = thread_cpus();
  if (locality_.cpus.empty()) {
    description_ = fmt::format("the GPU's local CPUs are unknown: thread left on CPUs {}; {}",
                               cpu_list_text(allowed), gpu);
    return;
  }
  const std::vector<int> target = cpus_near_gpu(allowed, locality_.cpus);
  if (target == allowed) {
    description_ = fmt::format("thread already on CPUs {} near {}", cpu_list_text(allowed), gpu);
    return;
  }
  if (!bind_thread(target)) {
    description_ = fmt::format("could not bind the thread to CPUs {}: left on CPUs {}; {}",
                               cpu_list_text(target), cpu_list_text(allowed), gpu);
    return;
  }
  previous_ = allowed;
  const bool outside = std::includes(allowed.begin(), allowed.end(), target.begin(), target.end());
  description_ = fmt::format(
      "thread bound to CPUs {}{} near {}", cpu_list_text(target),
      outside ? "" : fmt::format(" (outside the launcher's CPUs {})", cpu_list_text(allowed)), gpu);
}

NearGpuThread::~NearGpuThread() {
  if (!previous_.empty()) (void)bind_thread(previous_);
}

}  // namespace gpuaccept::kernels
