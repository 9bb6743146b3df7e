// Data types and reduction operators of the collectives, named as NCCL names them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace gpuaccept::collectives {

enum class DataType { int8, uint8, int32, uint32, int64, uint64, fp16, fp32, fp64, bf16 };
enum class RedOp { sum, prod, min, max, avg };

// The collective operations, in nccl-tests' order. Each is one registered benchmark named by
// to_string(op) ("allreduce", ...); nccl_tests_binary(op) is the nccl-tests program that
// measures the same thing ("all_reduce_perf", ...).
enum class CollectiveOp { allreduce, allgather, reducescatter, alltoall, broadcast, reduce, gather, scatter, sendrecv };
inline constexpr CollectiveOp kAllCollectiveOps[] = {
    CollectiveOp::allreduce, CollectiveOp::allgather, CollectiveOp::reducescatter,
    CollectiveOp::alltoall,  CollectiveOp::broadcast, CollectiveOp::reduce,
    CollectiveOp::gather,    CollectiveOp::scatter,   CollectiveOp::sendrecv};
inline constexpr DataType kAllDataTypes[] = {DataType::int8,  DataType::uint8,  DataType::int32, DataType::uint32,
                                             DataType::int64, DataType::uint64, DataType::fp16,  DataType::fp32,
                                             DataType::fp64,  DataType::bf16};
inline constexpr RedOp kAllRedOps[] = {RedOp::sum, RedOp::prod, RedOp::min, RedOp::max, RedOp::avg};

std::string_view to_string(DataType t);       // campaign name: "fp32", "int32", ...
std::string_view nccl_tests_name(DataType t); // as nccl-tests prints it: "float", "int32", ...
std::optional<DataType> datatype_from_string(std::string_view text);  // accepts both spellings
std::size_t size_of(DataType t);
std::string_view to_string(RedOp op);
std::optional<RedOp> redop_from_string(std::string_view text);
std::string_view to_string(CollectiveOp op);          // "allreduce", "sendrecv", ...
std::string_view nccl_tests_binary(CollectiveOp op);  // "all_reduce_perf", ...
std::optional<CollectiveOp> collective_from_string(std::string_view text);
bool is_reducing(CollectiveOp op);  // takes a reduction operator (allreduce, reducescatter, reduce)
bool is_rooted(CollectiveOp op);    // takes a root (broadcast, reduce, gather, scatter)
bool is_integer(DataType t);

}  // namespace gpuaccept::collectives
