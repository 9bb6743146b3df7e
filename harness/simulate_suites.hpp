// The simulator's per-GPU, per-node and application steps (stream, hostcopy, p2p, burnin, train,
// external) and its calibration from a real results file (`gpuaccept simulate --calibrate`).
// harness/simulate.cpp dispatches to these; each stores what suites/<name>.cpp stores (same
// per-rank metrics, points and samples), figures from the model in docs/simulation.md.
#pragma once

#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness/simulate.hpp"
#include "results/step_result.hpp"
#include "results/system.hpp"
#include "sim/collective_model.hpp"
#include "sim/topology.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

// A measured figure: the median over the file's ranks (or links, or nodes) and its coefficient
// of variation.
struct Calibration {
  double median = 0;
  double cv = 0;
};

// What --calibrate took from a real results file; each member is set only when the file holds
// a successful step it can come from.
struct ModelCalibration {
  std::map<std::string, Calibration> gemm;      // dtype -> TFLOP/s per GPU
  std::map<std::string, Calibration> stream;    // "copy_gbps", "scale_gbps", "add_gbps", "triad_gbps"
  std::map<std::string, Calibration> hostcopy;  // "h2d_pinned_gbps", ... (the six hostcopy metrics)
  std::map<std::string, Calibration> p2p;       // "ce_write_gbps", ..., "latency_us": per link
  // Factor on the model's NVLink efficiency and NVLS gain that reproduces the measured node-scope
  // all-reduce busbw at the largest size the file measured.
  std::optional<double> nvlink_scale;
  std::optional<double> storage_write_client_gbs;  // per node (client), from ior
  std::optional<double> storage_read_client_gbs;
  std::vector<std::string> report;  // one line per calibrated quantity: what, from what
  bool empty() const {
    return gemm.empty() && stream.empty() && hostcopy.empty() && p2p.empty() && !nvlink_scale &&
           !storage_write_client_gbs && !storage_read_client_gbs;
  }
};

// Reads a real results file. Throws InputError when it holds nothing to calibrate from.
ModelCalibration load_calibration(const std::string& path, const SystemDescription& system,
                                  const sim::Topology& topology);
// The model's constants with the calibrated NVLink figures; the description with the calibrated
// per-client storage bandwidth.
sim::ModelConstants calibrated_constants(const ModelCalibration& calibration);
void apply_storage_calibration(const ModelCalibration& calibration, SystemDescription& system);

struct SuiteModel {
  const SystemDescription& system;
  const sim::Topology& topology;
  sim::ModelConstants constants;
  const std::vector<Fault>& faults;
  const ModelCalibration& calibration;
  double gpu_spread = 0.01;  // --spread: per-GPU compute-rate spread (GEMM-like steps)
};

// Simulates `r` (id, benchmark, params set) when it is one of the benchmarks above: fills it and
// returns the step's simulated duration in seconds (0: keep the planner's estimate). nullopt
// when the benchmark is not one of them.
std::optional<double> simulate_suite_step(StepResult& r, const suites::BenchmarkDef& def, const SuiteModel& model,
                                          std::mt19937_64& rng);

}  // namespace gpuaccept::harness
