// A communicator under test: MPI on the CPU backend, NCCL on the CUDA backend. Buffers live
// where the backend wants them (host memory for MPI, device memory for NCCL); operations are
// enqueued on the backend's stream and timed on the backend's clock.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collectives/group.hpp"
#include "collectives/types.hpp"
#include "kernels/backend.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::collectives {

class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One collective call. `count` is nccl-tests' per-rank count: the elements each rank
// contributes or receives per peer (allgather, reducescatter, alltoall, gather, scatter) or
// the whole message (allreduce, broadcast, reduce, sendrecv). Buffers follow NCCL:
//   allgather/gather: send = count, recv = n*count (in place: send = recv + rank*count)
//   reducescatter/scatter: send = n*count, recv = count (in place: recv = send + rank*count)
//   alltoall: send = recv = n*count (in place: send == recv); the others: count each.
// sendrecv is a ring shift: rank r sends to r+1 and receives from r-1 (mod n).
struct CollectiveArgs {
  CollectiveOp op = CollectiveOp::allreduce;
  const void* send = nullptr;
  void* recv = nullptr;
  std::size_t count = 0;
  DataType type = DataType::fp32;
  RedOp redop = RedOp::sum;
  int root = 0;
  bool in_place = false;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;  // "mpi", "nccl"
  virtual std::string version() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  virtual void* allocate(std::size_t bytes) = 0;
  virtual void release(void* buffer) noexcept = 0;
  virtual void upload(void* buffer, const void* host, std::size_t bytes) = 0;
  virtual void download(void* host, const void* buffer, std::size_t bytes) = 0;

  // Launches one collective (see CollectiveArgs for the buffer conventions) and returns
  // where this rank's result lies once it completes: `recv` as a rule, but a backend may
  // leave it elsewhere (MPI's in-place reduce-scatter leaves it at the start of the buffer,
  // MPI's broadcast root keeps its data in `send`); nullptr when this rank receives nothing
  // (reduce and gather on non-root ranks). Blocking launch: returns after completion.
  // Asynchronous launch: NCCL returns once enqueued (stream-ordered); MPI starts the
  // non-blocking MPI_I* call and waits for it (MPI has no stream to order on).
  virtual const void* collective(const CollectiveArgs& args) = 0;
  // Blocking (true: each operation completes before the next is launched) or asynchronous.
  virtual void set_blocking(bool blocking) = 0;
  // Waits until every enqueued operation has completed.
  virtual void synchronize() = 0;
  // The CUDA stream (a cudaStream_t) that asynchronous launches enqueue on, so that a caller can
  // order them after its own work with cudaStreamWaitEvent (the train benchmark overlaps its
  // gradient all-reduces with the backward pass so); nullptr for MPI, which has no stream.
  virtual void* native_stream() const { return nullptr; }
  // Runs op() warmup + iterations times and returns each timed iteration's seconds, on the
  // backend's clock (steady_clock for MPI, CUDA events around each op for NCCL). With
  // `graph`, NCCL captures op() once into a CUDA graph and launches the graph per iteration;
  // MPI ignores it.
  virtual std::vector<double> time(const kernels::TimingPolicy& policy, const std::function<void()>& op,
                                   bool graph = false) = 0;
};

// RAII buffer owned by a communicator.
class Buffer {
 public:
  Buffer(Communicator& comm, std::size_t bytes) : comm_(&comm), bytes_(bytes), ptr_(comm.allocate(bytes)) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { comm_->release(ptr_); }
  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }

 private:
  Communicator* comm_;
  std::size_t bytes_;
  void* ptr_;
};

// Opens a communicator over `group`: MPI (a duplicate of the group's MPI communicator) for
// Backend::cpu, NCCL (ncclCommInitRank, unique id broadcast over the group) for Backend::cuda
// on CUDA device `device`.
std::unique_ptr<Communicator> open_communicator(kernels::Backend backend, const Group& group,
                                                int device);

namespace detail {
std::unique_ptr<Communicator> open_mpi_communicator(const Group& group);
#if defined(GPUACCEPT_HAVE_CUDA)
std::unique_ptr<Communicator> open_nccl_communicator(const Group& group, int device);
#endif
}  // namespace detail

}  // namespace gpuaccept::collectives
