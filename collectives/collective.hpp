// Every collective over a message-size sweep, measured and reported as nccl-tests does.
//
// For each size: `bytes` is nccl-tests' size (the largest buffer of the operation: the
// whole gathered/scattered/exchanged message for allgather, reducescatter, alltoall, gather,
// scatter; the message for the others) and `count` nccl-tests' per-rank count. time = the
// maximum over the communicator's ranks of each rank's mean iteration time (nccl-tests'
// figure); the per-iteration maxima over ranks are kept for p99 and CV. Then
//   algbw = bytes / time                      (GB/s, 1 GB = 1e9 bytes)
//   busbw = algbw * busbw_factor(op, n)       (nccl-tests doc/PERFORMANCE.md, n ranks):
//     allreduce 2(n-1)/n; allgather, reducescatter, alltoall, gather, scatter (n-1)/n;
//     broadcast, reduce, sendrecv 1.
// busbw is comparable with the hardware's link bandwidth whatever n is. Out-of-place and
// in-place are measured separately.
//
// Correctness: every rank's input is a known function of (rank, element), so the expected
// value of every element of every rank's result is known exactly (input_value,
// expected_value); #wrong counts the elements that differ after one checked operation on
// fresh buffers (result buffers zeroed first, and no expected value is 0), before timing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "collectives/arrivals.hpp"
#include "collectives/communicator.hpp"
#include "collectives/group.hpp"
#include "collectives/types.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::collectives {

struct Sweep {
  std::int64_t min_bytes = 8;
  std::int64_t max_bytes = 1 << 20;
  double factor = 2;           // multiply the size by this (nccl-tests -f)
  std::int64_t step_bytes = 0; // when > 0: add this instead (nccl-tests -i)
};

// The sizes of a sweep, each a whole number of elements of `element_size` bytes (at least one).
std::vector<std::int64_t> sweep_sizes(const Sweep& sweep, std::size_t element_size);

// nccl-tests' bus-bandwidth factor for `op` on n ranks (0 for n < 1).
double busbw_factor(CollectiveOp op, int nranks);

// How a requested size becomes buffers, as nccl-tests rounds it: partitioned operations
// (allgather, reducescatter, alltoall, gather, scatter) use a whole number of elements per
// rank (at least one), so `bytes` may be smaller than requested.
struct MessageShape {
  std::int64_t count = 0;          // nccl-tests' count: per rank for partitioned operations
  std::int64_t bytes = 0;          // nccl-tests' size
  std::int64_t send_elements = 0;  // send buffer (out of place)
  std::int64_t recv_elements = 0;  // receive buffer (out of place)
};
MessageShape message_shape(CollectiveOp op, std::int64_t bytes, std::size_t element_size, int nranks);

// The value rank `rank` of n puts at element `index` of its send buffer. Reducing operations:
// 1 + (3i + 7r) mod 4 (prod: 1 except one rank per element, which puts 2 or 3, so that the
// product stays exact); the others: 1 + (37r + 11i) mod 101. Every value is an integer in
// 1..101, exact in every data type.
double input_value(CollectiveOp op, RedOp redop, int nranks, int rank, std::int64_t index);

// Elements of this rank's result (0 when the rank receives nothing: reduce and gather off the root).
std::int64_t result_elements(CollectiveOp op, int nranks, int rank, int root, std::int64_t count);

// The exact expected value of element j of rank `rank`'s result (integer arithmetic for
// avg on integer types truncates, as NCCL does). Compare with it as the type holds it
// (expected_as_stored) and within tolerance() for floating types.
double expected_value(CollectiveOp op, RedOp redop, DataType type, int nranks, int rank, int root,
                      std::int64_t count, std::int64_t j);
// The expected value after a round trip through `type` (integers wrap modulo 2^bits, as the
// hardware adds them; floats round to nearest even).
double expected_as_stored(DataType type, double exact);
// Allowed difference for one element: 0 for integers; for floats one ulp per rank of the
// reduction, since the order of the additions is the library's choice.
double tolerance(DataType type, int nranks, double expected);

// Counts the wrong elements of one rank's result (`result` holds result_elements(...) elements).
std::int64_t count_wrong(CollectiveOp op, RedOp redop, DataType type, int nranks, int rank, int root,
                         std::int64_t count, const std::byte* result);

// Encodes/decodes one element of `type` from/to double (fp16/bf16 round to nearest even,
// integers wrap modulo 2^bits).
void encode_element(DataType type, double value, void* destination);
double decode_element(DataType type, const void* source);

struct CollectiveConfig {
  CollectiveOp op = CollectiveOp::allreduce;
  Sweep sweep;
  DataType dtype = DataType::fp32;
  RedOp redop = RedOp::sum;
  int root = 0;
  kernels::TimingPolicy timing;
  bool in_place = true;     // also measure in place
  bool blocking = true;     // each operation completes before the next starts
  bool cuda_graph = false;  // NCCL: capture each operation into a CUDA graph, launch that
  // Test-only fault injection: this rank waits so long before each timed operation (a slow
  // node, for the bisect tests on one machine). 0 in every real run.
  double injected_delay_s = 0;
  // Announces each phase to the step's rank 0 before entering it (hang diagnosis), if set.
  ArrivalBoard* arrivals = nullptr;
};

struct PhaseResult {
  std::vector<double> iteration_seconds;  // per timed iteration, max over ranks
  double time_s = 0;                      // max over ranks of each rank's mean iteration time
  double algbw = 0;                       // GB/s
  double busbw = 0;                       // GB/s
  std::int64_t wrong = 0;                 // elements wrong, summed over ranks
  std::int64_t local_wrong = 0;           // elements wrong in this rank's own result
};

struct CollectivePoint {
  std::int64_t bytes = 0;
  std::int64_t count = 0;
  PhaseResult out_of_place;
  PhaseResult in_place;  // empty iteration_seconds when not measured
};

// Every rank of `comm` calls this; `control` (the same ranks, same order) reduces the timings.
std::vector<CollectivePoint> run_collective(Communicator& comm, const Group& control, const CollectiveConfig& config);

// The table in nccl-tests' layout, one line per point (redop "none" and root -1 where they do
// not apply, as nccl-tests prints them).
std::string format_table(const CollectiveConfig& config, const std::vector<CollectivePoint>& points);
std::string format_table_header(bool in_place);
std::string format_table_rows(const CollectiveConfig& config, const std::vector<CollectivePoint>& points);

}  // namespace gpuaccept::collectives
