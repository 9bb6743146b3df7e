#include "collectives/types.hpp"

namespace gpuaccept::collectives {


std::string_view to_string(DataType t) {
  switch (t) {
    case DataType::int8: return "int8";
    case DataType::uint8: return "uint8";
    case DataType::int32: return "int32";
    case DataType::uint32: return "uint32";
    case DataType::int64: return "int64";
    case DataType::uint64: return "uint64";
    case DataType::fp16: return "fp16";
    case DataType::fp32: return "fp32";
    case DataType::fp64: return "fp64";
    case DataType::bf16: return "bf16";
  }
  return "?";
}

std::string_view nccl_tests_name(DataType t) {
  switch (t) {
    case DataType::fp16: return "half";
    case DataType::fp32: return "float";
    case DataType::fp64: return "double";
    case DataType::bf16: return "bfloat16";
    default: return to_string(t);
  }
}

std::optional<DataType> datatype_from_string(std::string_view text) {
  for (DataType t : kAllDataTypes)
    if (to_string(t) == text || nccl_tests_name(t) == text) return t;
  return std::nullopt;
}

std::size_t size_of(DataType t) {
  switch (t) {
    case DataType::int8:
    case DataType::uint8: return 1;
    case DataType::fp16:
    case DataType::bf16: return 2;
    case DataType::int32:
    case DataType::uint32:
    case DataType::fp32: return 4;
    case DataType::int64:
    case DataType::uint64:
    case DataType::fp64: return 8;
  }
  return 0;
}

std::string_view to_string(RedOp op) {
  switch (op) {
    case RedOp::sum: return "sum";
    case RedOp::prod: return "prod";
    case RedOp::min: return "min";
    case RedOp::max: return "max";
    case RedOp::avg: return "avg";
  }
  return "?";
}

std::optional<RedOp> redop_from_string(std::string_view text) {
  for (RedOp op : kAllRedOps)
    if (to_string(op) == text) return op;
  return std::nullopt;
}

std::string_view to_string(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::allreduce: return "allreduce";
    case CollectiveOp::allgather: return "allgather";
    case CollectiveOp::reducescatter: return "reducescatter";
    case CollectiveOp::alltoall: return "alltoall";
    case CollectiveOp::broadcast: return "broadcast";
    case CollectiveOp::reduce: return "reduce";
    case CollectiveOp::gather: return "gather";
    case CollectiveOp::scatter: return "scatter";
    case CollectiveOp::sendrecv: return "sendrecv";
  }
  return "?";
}

std::string_view nccl_tests_binary(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::allreduce: return "all_reduce_perf";
    case CollectiveOp::allgather: return "all_gather_perf";
    case CollectiveOp::reducescatter: return "reduce_scatter_perf";
    case CollectiveOp::alltoall: return "alltoall_perf";
    case CollectiveOp::broadcast: return "broadcast_perf";
    case CollectiveOp::reduce: return "reduce_perf";
    case CollectiveOp::gather: return "gather_perf";
    case CollectiveOp::scatter: return "scatter_perf";
    case CollectiveOp::sendrecv: return "sendrecv_perf";
  }
  return "?";
}

std::optional<CollectiveOp> collective_from_string(std::string_view text) {
  for (CollectiveOp op : kAllCollectiveOps)
    if (to_string(op) == text) return op;
  return std::nullopt;
}

bool is_reducing(CollectiveOp op) {
  return op == CollectiveOp::allreduce || op == CollectiveOp::reducescatter || op == CollectiveOp::reduce;
}

bool is_rooted(CollectiveOp op) {
  return op == CollectiveOp::broadcast || op == CollectiveOp::reduce || op == CollectiveOp::gather ||
         op == CollectiveOp::scatter;
}

bool is_integer(DataType t) {
  switch (t) {
    case DataType::fp16:
    case DataType::fp32:
    case DataType::fp64:
    case DataType::bf16: return false;
    default: return true;
  }
}

}  // namespace gpuaccept::collectives
