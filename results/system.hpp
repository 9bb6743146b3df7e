// The system description: what a machine is made of (configs/systems/*.yaml, documented in
// docs/systems.md). Plain data, read by the planner (scopes, estimates), by benchmarks (ratio
// to peak, MFU), by the simulator (the whole machine model) and by reports. A campaign names
// it with `system: <path to a description>`; a bare name ("local") means "no description":
// the figures that need one (peaks, ratios) are then not computed, never guessed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "results/input_error.hpp"

namespace gpuaccept {

struct GpuModel {
  std::string name;                        // "H100 SXM5 80GB"
  double memory_gib = 0;
  double memory_bandwidth_gbs = 0;         // GB/s (1e9 bytes), the data-sheet figure
  // Dense (no sparsity) peak TFLOP/s (TOPS for int8) per dtype, as the campaign names dtypes:
  // "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8".
  std::map<std::string, double> peak_tflops;
  double nvlink_bandwidth_gbs = 0;         // per GPU, one direction, GB/s
  double power_w = 0;                      // board power, for the energy model
  // Optional (0: not described; the simulator then skips or leaves out what needs them):
  std::string host_link;                   // "PCIe Gen5 x16", "NVLink-C2C"
  double host_link_gbs = 0;                // GPU <-> host memory line rate, per GPU, one direction, GB/s
  double sm_clock_mhz = 0;                 // maximum (boost) SM clock, what NVML reports under load
  double memory_clock_mhz = 0;             // memory clock as NVML reports it
  std::optional<double> peak(const std::string& dtype) const {
    const auto it = peak_tflops.find(dtype);
    if (it == peak_tflops.end() || it->second <= 0) return std::nullopt;
    return it->second;
  }
};

// One level of the scale-out fabric, from the leaves up.
struct FabricTier {
  std::string name;                // "leaf", "spine", "core"
  int radix = 0;                   // ports per switch
  double link_bandwidth_gbps = 0;  // Gb/s per port, one direction
  double latency_us = 0;           // per switch traversal
  double oversubscription = 1;     // down:up port split of this tier's switches (1 = non-blocking;
                                   // the top tier has no up-links: 1)
};

struct StorageSystem {
  std::string name;
  double aggregate_read_gbs = 0;   // GB/s, the whole file system
  double aggregate_write_gbs = 0;
  double per_client_gbs = 0;       // what one node can move (writing; reading too unless below)
  double per_client_read_gbs = 0;  // what one node can read, when it differs (0: per_client_gbs)
  double metadata_ops = 0;         // creates per second, the whole file system
};

struct SystemDescription {
  std::string name;
  std::string description;
  std::string path;                 // where it was read from
  std::string text;                 // the file, verbatim (stored in the results file)
  int nodes = 0;
  int gpus_per_node = 0;
  int nvlink_domain = 0;            // GPUs sharing one NVLink domain (8: HGX node, 72: NVL72 rack)
  int nics_per_node = 0;
  int rails = 0;                    // rail-optimised fabric: rails (usually = NICs per node)
  double nic_bandwidth_gbps = 0;    // Gb/s per NIC, one direction
  int scalable_unit_nodes = 0;      // nodes per scalable unit (SU)
  bool in_network_reduction = false;  // NVLink SHARP / InfiniBand SHARP available
  GpuModel gpu;
  std::vector<FabricTier> fabric;
  StorageSystem storage;
  std::map<std::string, std::string> assumptions;  // what was assumed, next to the numbers

  long long total_gpus() const { return static_cast<long long>(nodes) * gpus_per_node; }
};

// Parses a description. Throws InputError (file:line:col) on the first problem.
SystemDescription load_system(const std::string& yaml_text, const std::string& path);
SystemDescription load_system_file(const std::string& path);

}  // namespace gpuaccept
