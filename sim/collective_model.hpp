// Alpha-beta models of NCCL's collective algorithms over a machine's tiers, and of storage.
// time = latency term (steps x per-step latency of the slowest link a step crosses)
//      + bytes moved per rank / bandwidth of the bottleneck link.
// Bandwidths are line rates times efficiencies calibrated on public NCCL figures; every
// constant and its source is in docs/simulation.md (validation table there).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "collectives/types.hpp"
#include "sim/topology.hpp"

namespace gpuaccept::sim {

// The operations the real run measures (one enum for both: the model times what the
// benchmarks run; collectives/types.hpp is plain data, no MPI).
using CollectiveOp = collectives::CollectiveOp;
enum class Algorithm { ring, tree, nvls, direct };

std::string_view to_string(Algorithm);

// nccl-tests' busbw factor for n ranks (doc/PERFORMANCE.md of nccl-tests), as
// collectives::busbw_factor: allreduce 2(n-1)/n; allgather, reducescatter, alltoall, gather,
// scatter (n-1)/n; broadcast, reduce, sendrecv 1.
double busbw_factor(CollectiveOp op, long long ranks);

// Efficiencies: the share of the line rate NCCL reaches with its protocols (Simple, LL128).
struct ModelConstants {
  double nvlink_efficiency = 0.82;   // ring busbw 370 GB/s of 450 on H100 NVLink 4
  double nvls_gain = 1.067;          // NVLS all-reduce busbw 480 GB/s on 8 H100 = 450 x 1.067
  double network_efficiency = 0.93;  // 46-48 GB/s per 400 Gb/s NDR NIC (50 GB/s line rate)
  double tree_efficiency = 0.9;      // double binary tree bandwidth relative to ring at large sizes
  double nvlink_latency_us = 0.7;    // one NVLink step (LL protocol)
  double nic_latency_us = 1.6;       // NIC + PCIe + proxy per network step, plus the switches' latency
};

// A communicator as the model sees it: how many ranks, on how many nodes, how high it reaches.
struct CommShape {
  long long ranks = 1;
  int nodes = 1;
  int ranks_per_node = 1;
  int top_tier = 0;                 // 0: inside one NVLink domain; else the fabric tier its nodes meet at
  bool nvlink_domain_only = false;  // all ranks share one NVLink domain
  double network_share = 1;         // (0,1]: share of the node's NIC bandwidth left by link sharing
};

struct Estimate {
  double time_us = 0;
  double algbw_gbs = 0;  // bytes / time, GB/s (1e9), as nccl-tests
  double busbw_gbs = 0;  // algbw x busbw_factor
  Algorithm algorithm = Algorithm::ring;
};

class CollectiveModel {
 public:
  CollectiveModel(const SystemDescription& system, const Topology& topology, ModelConstants constants = {});

  // A communicator of `ranks` ranks filling whole nodes in cabling order from node `first_node`
  // (ranks_per_node of each), as world/node/scaling groups are laid out.
  CommShape shape(long long ranks, int ranks_per_node, int first_node = 0) const;
  // The best of the algorithms NCCL would pick from (its tuner picks the fastest by its own model).
  Estimate estimate(CollectiveOp op, const CommShape& comm, std::int64_t bytes) const;
  Estimate estimate_with(CollectiveOp op, Algorithm algorithm, const CommShape& comm,
                         std::int64_t bytes) const;

  // Per-step latency (us) of a step that crosses up to `top_tier` (0: NVLink only).
  double step_latency_us(int top_tier) const;
  // Bottleneck per-rank bandwidth (GB/s) of a ring over the communicator.
  double ring_bandwidth_gbs(const CommShape& comm) const;

  const ModelConstants& constants() const { return c_; }

 private:
  const SystemDescription& system_;
  const Topology& topology_;
  ModelConstants c_;
};

// Storage: `clients` nodes writing (or reading) at once. Each client at most per_client_gbs;
// together at most the file system's aggregate. Returns GB/s per client.
double storage_per_client_gbs(const StorageSystem& storage, long long clients, bool write);

}  // namespace gpuaccept::sim
