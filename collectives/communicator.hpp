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

  // Enqueues an all-reduce (blocking for MPI, asynchronous on the stream for NCCL).
  virtual void all_reduce(const void* send, void* recv, std::size_t count, DataType type,
                          RedOp op) = 0;
  // Waits until every enqueued operation has completed.
  virtual void synchronize() = 0;
  // Runs op() warmup + iterations times and returns each timed iteration's seconds, on the
  // backend's clock (steady_clock for MPI, CUDA events around each op for NCCL).
  virtual std::vector<double> time(const kernels::TimingPolicy& policy,
                                   const std::function<void()>& op) = 0;
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
