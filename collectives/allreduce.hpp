// All-reduce over a message-size sweep, measured and reported as nccl-tests does.
//
// For each size: `bytes` = count * sizeof(dtype); time = mean over timed iterations of the
// per-iteration time, each iteration's time being the maximum over ranks; then
//   algbw = bytes / time                      (GB/s, 1 GB = 1e9 bytes)
//   busbw = algbw * 2 (n - 1) / n             (nccl-tests' factor for all-reduce, n ranks)
// busbw is comparable with the hardware's link bandwidth whatever n is (nccl-tests,
// doc/PERFORMANCE.md). Out-of-place (send != recv) and in-place (send == recv) are measured
// separately. Correctness: rank r sends value(r, i) = 1 + (3i + 7r) mod 4 at element i; the
// expected sum is known exactly for every dtype at the scales we test, and #wrong counts the
// elements that differ (after one checked operation before timing, on every rank).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collectives/communicator.hpp"
#include "collectives/group.hpp"
#include "collectives/types.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::collectives {

struct Sweep {
  std::int64_t min_bytes = 8;
  std::int64_t max_bytes = 1 << 20;
  double factor = 2;  // multiply the size by this (nccl-tests -f)
};

// The sizes of a sweep, each a whole number of elements of `element_size` bytes (at least one).
std::vector<std::int64_t> sweep_sizes(const Sweep& sweep, std::size_t element_size);

// nccl-tests' bus-bandwidth factor for all-reduce on n ranks: 2 (n - 1) / n.
double allreduce_busbw_factor(int nranks);

struct AllReduceConfig {
  Sweep sweep;
  DataType dtype = DataType::fp32;
  RedOp op = RedOp::sum;
  kernels::TimingPolicy timing;
  bool in_place = true;  // also measure in-place
};

struct PhaseResult {
  std::vector<double> iteration_seconds;  // per timed iteration, max over ranks
  double time_s = 0;                      // mean of iteration_seconds
  double algbw = 0;                       // GB/s
  double busbw = 0;                       // GB/s
  std::int64_t wrong = 0;                 // elements wrong, summed over ranks
  std::int64_t local_wrong = 0;           // elements wrong in this rank's own result
};

struct AllReducePoint {
  std::int64_t bytes = 0;
  std::int64_t count = 0;
  PhaseResult out_of_place;
  PhaseResult in_place;  // empty iteration_seconds when not measured
};

// Every rank of `comm` calls this; `control` (the same ranks) reduces the timings.
std::vector<AllReducePoint> run_allreduce(Communicator& comm, const Group& control,
                                          const AllReduceConfig& config);

// The value rank r contributes at element i, and the expected result of the reduction over n.
double allreduce_input(int rank, std::int64_t index);
double allreduce_expected(RedOp op, int nranks, std::int64_t index);

// Encodes/decodes one element of `type` from/to double (fp16/bf16 round to nearest even).
void encode_element(DataType type, double value, void* destination);
double decode_element(DataType type, const void* source);

// The table in nccl-tests' layout, one line per point.
std::string format_allreduce_table(const std::vector<AllReducePoint>& points, DataType dtype,
                                   RedOp op, bool in_place);

}  // namespace gpuaccept::collectives
