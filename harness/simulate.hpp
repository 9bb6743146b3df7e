// `gpuaccept simulate CAMPAIGN.yaml`: the StepResults a real run of the campaign would store, on
// the machine its system description names, from the model in sim/ (docs/simulation.md), with
// injected faults; written through the same HDF5 store, so check/report/compare read it as they
// read a real run.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "harness/campaign.hpp"
#include "results/step_result.hpp"
#include "results/system.hpp"

namespace gpuaccept::harness {

enum class FaultKind { slow_gpu, throttling_node, dead_node, degraded_link, slow_storage_client, flapping_link };

struct Fault {
  FaultKind kind = FaultKind::slow_gpu;
  int node = 0;
  int gpu = -1;   // slow_gpu: the local GPU
  int peer = -1;  // degraded_link: the other end of a link between two nodes; -1: the node's own NICs
  // slow_gpu, throttling_node: compute rate x factor; degraded_link: bandwidth x factor (the
  // node's NICs, or the path between node and peer); slow_storage_client: the node's storage
  // client moves data and metadata at factor x its share
  double factor = 1;
  // flapping_link: the link (the node's NICs, or the path between node and peer) is healthy,
  // then at `factor` x its bandwidth for down_fraction of every period_ms, at a phase drawn from
  // `seed` (default: the fault's position in the file, from 1).
  double period_ms = 2;
  double down_fraction = 0.25;
  std::uint64_t seed = 0;
};

// faults.yaml: `faults: [{kind: slow_gpu, node: 12, gpu: 3, factor: 0.7}, {kind: dead_node, node: 7},
// {kind: degraded_link, node: 5, peer: 34, factor: 0.5},
// {kind: flapping_link, node: 8, peer: 31, factor: 0.2, period_ms: 2, down_fraction: 0.25}, ...]`.
// Checked against the system (node and GPU in range). Throws InputError at file:line:col.
std::vector<Fault> load_faults(const std::string& text, const std::string& path,
                               const SystemDescription& system);

struct SimulateOptions {
  std::string campaign_path;
  std::string output;       // results file; "" = <output_dir>/<campaign>-sim-<time>.h5
  std::string faults_path;  // "" = a healthy machine
  std::uint64_t seed = 1;
  double gpu_spread = 0.01;  // coefficient of variation of per-GPU compute rates
  // A real results file (e.g. one node measured on real hardware): its measured figures replace
  // the model's (GEMM TFLOP/s per dtype, stream, hostcopy, p2p, NVLink efficiency from a
  // node-scope all-reduce, storage per-client bandwidth; harness/simulate_suites.hpp).
  std::string calibrate_path;
  std::ostream* log = nullptr;  // where the calibration report goes (a line per quantity)
  std::string command_line;
};

// The host name the simulator gives node i: "node00042".
std::string simulated_host(int node);

// Simulates every planned step and writes the results file. Returns its path.
std::string simulate_campaign(const SimulateOptions& options);

}  // namespace gpuaccept::harness
