#include "sim/collective_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpuaccept::sim {

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::ring:
      return "ring";
    case Algorithm::tree:
      return "tree";
    case Algorithm::nvls:
      return "nvls";
    case Algorithm::direct:
      return "direct";
  }
  return "?";
}

double busbw_factor(CollectiveOp op, long long ranks) {
  const double n = static_cast<double>(std::max(1LL, ranks));
  switch (op) {
    case CollectiveOp::allreduce:
      return 2 * (n - 1) / n;
    case CollectiveOp::allgather:
    case CollectiveOp::reducescatter:
    case CollectiveOp::alltoall:
    case CollectiveOp::gather:
    case CollectiveOp::scatter:
      return (n - 1) / n;
    default:
      return 1;
  }
}

CollectiveModel::CollectiveModel(const SystemDescription& system, const Topology& topology,
                                 ModelConstants constants)
    : system_(system), topology_(topology), c_(constants) {}

CommShape CollectiveModel::shape(long long ranks, int ranks_per_node, int first_node) const {
  CommShape s;
  s.ranks = std::max(1LL, ranks);
  s.ranks_per_node = std::max(1, static_cast<int>(std::min<long long>(ranks_per_node, s.ranks)));
  s.nodes = static_cast<int>((s.ranks + s.ranks_per_node - 1) / s.ranks_per_node);
  const int last = first_node + s.nodes - 1;
  const Path p = topology_.node_path(first_node, last);
  // Nodes numbered in cabling order: the first and last node meet at the highest tier any pair does.
  s.top_tier = p.level == Level::fabric ? p.tier : 0;
  s.nvlink_domain_only = p.level != Level::fabric;
  return s;
}

double CollectiveModel::step_latency_us(int top_tier) const {
  if (top_tier <= 0) return c_.nvlink_latency_us;
  double switches = 0;
  for (int t = 1; t <= top_tier; ++t)
    switches += (t == top_tier ? 1 : 2) * system_.fabric[static_cast<std::size_t>(t - 1)].latency_us;
  return c_.nic_latency_us + switches;
}

double CollectiveModel::ring_bandwidth_gbs(const CommShape& comm) const {
  const double nvlink = system_.gpu.nvlink_bandwidth_gbs * c_.nvlink_efficiency;
  if (comm.nvlink_domain_only) return nvlink;
  // NCCL runs one ring per channel and spreads channels over the node's NICs: a ring's
  // inter-node edge is one NIC, and the node's NICs together carry the rings, so the
  // per-rank ring bandwidth is the node's NIC bandwidth (all rails), capped by NVLink.
  const double network = topology_.node_network_gbs() * c_.network_efficiency * comm.network_share;
  return std::min(nvlink, network);
}

Estimate CollectiveModel::estimate_with(CollectiveOp op, Algorithm algorithm, const CommShape& comm,
                                        std::int64_t bytes) const {
  const double n = static_cast<double>(comm.ranks);
  const double size = static_cast<double>(bytes);
  const double factor = busbw_factor(op, comm.ranks);
  Estimate e;
  e.algorithm = algorithm;
  if (comm.ranks <= 1) {
    e.time_us = c_.nvlink_latency_us;  // a copy at most
  } else {
    const double alpha = step_latency_us(comm.nvlink_domain_only ? 0 : comm.top_tier);
    const double alpha_nvlink = c_.nvlink_latency_us;
    const double ring_bw = ring_bandwidth_gbs(comm) * 1e3;  // bytes per us
    switch (algorithm) {
      case Algorithm::ring: {
        // Ring steps: allreduce 2(n-1), allgather/reducescatter (n-1); rooted ops pipeline (n-1).
        const double steps = op == CollectiveOp::allreduce ? 2 * (n - 1) : (n - 1);
        e.time_us = steps * alpha + factor * size / ring_bw;
        break;
      }
      case Algorithm::tree: {
        // Double binary tree between nodes, a chain inside each node: up then down.
        const double depth = std::ceil(std::log2(std::max(2, comm.nodes)));
        const double latency = 2 * (depth * alpha + (comm.ranks_per_node - 1) * alpha_nvlink);
        e.time_us = latency + factor * size / (ring_bw * c_.tree_efficiency);
        break;
      }
      case Algorithm::nvls: {
        // NVLink SHARP: the switch reduces; each GPU sends and receives its data once.
        const double bw = system_.gpu.nvlink_bandwidth_gbs * c_.nvls_gain * 1e3;
        e.time_us = 2 * alpha_nvlink + factor * size / bw;
        break;
      }
      case Algorithm::direct: {
        // Alltoall / sendrecv: every rank talks to its peers directly. Across nodes a GPU's
        // traffic leaves through its own NIC: alltoall cannot aggregate NICs.
        double bw = ring_bw;
        if (!comm.nvlink_domain_only) {
          const double per_gpu_nic = topology_.node_network_gbs() / std::max(1, system_.gpus_per_node) *
                                     c_.network_efficiency * comm.network_share * 1e3;
          bw = op == CollectiveOp::sendrecv ? std::min(ring_bw, per_gpu_nic) : per_gpu_nic;
        }
        // Messages to all peers are posted at once: one latency, then the bytes.
        e.time_us = alpha + factor * size / bw;
        break;
      }
    }
  }
  e.algbw_gbs = size / (e.time_us * 1e3);
  e.busbw_gbs = e.algbw_gbs * factor;
  return e;
}

Estimate CollectiveModel::estimate(CollectiveOp op, const CommShape& comm, std::int64_t bytes) const {
  if (op == CollectiveOp::alltoall || op == CollectiveOp::sendrecv || op == CollectiveOp::gather ||
      op == CollectiveOp::scatter)
    return estimate_with(op, Algorithm::direct, comm, bytes);
  Estimate best = estimate_with(op, Algorithm::ring, comm, bytes);
  auto consider = [&](Algorithm a) {
    const Estimate e = estimate_with(op, a, comm, bytes);
    if (e.time_us < best.time_us) best = e;
  };
  if (op == CollectiveOp::allreduce) {
    if (comm.nodes > 1 && !comm.nvlink_domain_only) consider(Algorithm::tree);
    if (comm.nvlink_domain_only && system_.in_network_reduction && comm.ranks > 2) consider(Algorithm::nvls);
  }
  return best;
}

double storage_per_client_gbs(const StorageSystem& storage, long long clients, bool write) {
  const double aggregate = write ? storage.aggregate_write_gbs : storage.aggregate_read_gbs;
  if (clients <= 0) return 0;
  const double client = !write && storage.per_client_read_gbs > 0 ? storage.per_client_read_gbs : storage.per_client_gbs;
  return std::min(client, aggregate / static_cast<double>(clients));
}

}  // namespace gpuaccept::sim
