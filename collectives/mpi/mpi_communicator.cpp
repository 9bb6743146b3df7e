// The CPU backend of the collectives: MPI on host buffers, timed with steady_clock.
#include <mpi.h>

#include <fmt/format.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>

#include "collectives/communicator.hpp"
#include "collectives/mpi_check.hpp"

namespace gpuaccept::collectives::detail {

namespace {

MPI_Datatype mpi_type(DataType t) {
  switch (t) {
    case DataType::int8: return MPI_INT8_T;
    case DataType::uint8: return MPI_UINT8_T;
    case DataType::int32: return MPI_INT32_T;
    case DataType::uint32: return MPI_UINT32_T;
    case DataType::int64: return MPI_INT64_T;
    case DataType::uint64: return MPI_UINT64_T;
    case DataType::fp32: return MPI_FLOAT;
    case DataType::fp64: return MPI_DOUBLE;
    case DataType::fp16:
    case DataType::bf16: break;
  }
  throw CollectiveError(fmt::format("MPI has no {} type; {} collectives run on the NCCL backend",
                                    to_string(t), to_string(t)));
}

MPI_Op mpi_op(RedOp op) {
  switch (op) {
    case RedOp::sum: return MPI_SUM;
    case RedOp::prod: return MPI_PROD;
    case RedOp::min: return MPI_MIN;
    case RedOp::max: return MPI_MAX;
    case RedOp::avg: break;
  }
  throw CollectiveError("MPI has no avg reduction; it runs on the NCCL backend");
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const Group& group) {
    const MPI_Comm parent = *static_cast<MPI_Comm*>(group.native_handle());
    GA_MPI_CHECK(MPI_Comm_dup(parent, &comm_));
    GA_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    GA_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    GA_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  std::string name() const override { return "mpi"; }
  std::string version() const override {
    char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(text, &length);
    std::string v(text, static_cast<std::size_t>(length));
    if (auto nl = v.find_first_of("\n,"); nl != std::string::npos) v.resize(nl);
    return v;
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void* allocate(std::size_t bytes) override {
    void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096 + 4096);
    if (!p) throw CollectiveError(fmt::format("cannot allocate {} bytes of host memory", bytes));
    return p;
  }
  void release(void* buffer) noexcept override { std::free(buffer); }
  void upload(void* buffer, const void* host, std::size_t bytes) override {
    if (bytes) std::memcpy(buffer, host, bytes);
  }
  void download(void* host, const void* buffer, std::size_t bytes) override {
    if (bytes) std::memcpy(host, buffer, bytes);
  }

  void set_blocking(bool blocking) override { blocking_ = blocking; }

  const void* collective(const CollectiveArgs& a) override {
    if (a.count > static_cast<std::size_t>(INT_MAX) / static_cast<std::size_t>(size_))
      throw CollectiveError(fmt::format("MPI {} count {} exceeds what an int can address", to_string(a.op), a.count));
    const int c = static_cast<int>(a.count);
    // Every call is timed: nothing here but the MPI call itself (rank and size are cached).
    const int n = size_, me = rank_;
    const MPI_Datatype t = mpi_type(a.type);
    const std::size_t block = a.count * size_of(a.type);
    auto* send = const_cast<void*>(a.send);  // MPI-3 takes const; spelled for the in-place cases
    auto* recv_bytes = static_cast<char*>(a.recv);
    MPI_Request request = MPI_REQUEST_NULL;
    // Blocking: the plain call. Asynchronous: the MPI_I* call and a wait.
    auto call = [&](auto&& blocking_call, auto&& nonblocking_call) {
      if (blocking_) {
        GA_MPI_CHECK(blocking_call());
      } else {
        GA_MPI_CHECK(nonblocking_call(&request));
        GA_MPI_CHECK(MPI_Wait(&request, MPI_STATUS_IGNORE));
      }
    };
    switch (a.op) {
      case CollectiveOp::allreduce: {
        const void* s = a.in_place ? MPI_IN_PLACE : a.send;
        const MPI_Op o = mpi_op(a.redop);
        call([&] { return MPI_Allreduce(s, a.recv, c, t, o, comm_); },
             [&](MPI_Request* r) { return MPI_Iallreduce(s, a.recv, c, t, o, comm_, r); });
        return a.recv;
      }
      case CollectiveOp::allgather: {
        const void* s = a.in_place ? MPI_IN_PLACE : a.send;
        call([&] { return MPI_Allgather(s, c, t, a.recv, c, t, comm_); },
             [&](MPI_Request* r) { return MPI_Iallgather(s, c, t, a.recv, c, t, comm_, r); });
        return a.recv;
      }
      case CollectiveOp::reducescatter: {
        // In place, MPI reads the whole input from the receive buffer and leaves this rank's
        // block at its start (NCCL leaves it at rank * count): report where it is.
        const void* s = a.in_place ? MPI_IN_PLACE : a.send;
        void* r_buf = a.in_place ? send : a.recv;
        const MPI_Op o = mpi_op(a.redop);
        call([&] { return MPI_Reduce_scatter_block(s, r_buf, c, t, o, comm_); },
             [&](MPI_Request* r) { return MPI_Ireduce_scatter_block(s, r_buf, c, t, o, comm_, r); });
        return r_buf;
      }
      case CollectiveOp::alltoall: {
        const void* s = a.in_place ? MPI_IN_PLACE : a.send;
        call([&] { return MPI_Alltoall(s, c, t, a.recv, c, t, comm_); },
             [&](MPI_Request* r) { return MPI_Ialltoall(s, c, t, a.recv, c, t, comm_, r); });
        return a.recv;
      }
      case CollectiveOp::broadcast: {
        // MPI broadcasts one buffer: the root's send buffer to the others' receive buffers.
        void* buffer = me == a.root ? send : a.recv;
        call([&] { return MPI_Bcast(buffer, c, t, a.root, comm_); },
             [&](MPI_Request* r) { return MPI_Ibcast(buffer, c, t, a.root, comm_, r); });
        return buffer;
      }
      case CollectiveOp::reduce: {
        const void* s = a.in_place && me == a.root ? MPI_IN_PLACE : a.send;
        const MPI_Op o = mpi_op(a.redop);
        call([&] { return MPI_Reduce(s, a.recv, c, t, o, a.root, comm_); },
             [&](MPI_Request* r) { return MPI_Ireduce(s, a.recv, c, t, o, a.root, comm_, r); });
        return me == a.root ? a.recv : nullptr;
      }
      case CollectiveOp::gather: {
        const void* s = a.in_place && me == a.root ? MPI_IN_PLACE : a.send;
        call([&] { return MPI_Gather(s, c, t, a.recv, c, t, a.root, comm_); },
             [&](MPI_Request* r) { return MPI_Igather(s, c, t, a.recv, c, t, a.root, comm_, r); });
        return me == a.root ? a.recv : nullptr;
      }
      case CollectiveOp::scatter: {
        // In place, the root's own block stays where it is in the send buffer.
        void* r_buf = a.in_place && me == a.root ? MPI_IN_PLACE : a.recv;
        call([&] { return MPI_Scatter(a.send, c, t, r_buf, c, t, a.root, comm_); },
             [&](MPI_Request* r) { return MPI_Iscatter(a.send, c, t, r_buf, c, t, a.root, comm_, r); });
        return a.in_place && me == a.root ? static_cast<const char*>(a.send) + block * static_cast<std::size_t>(me)
                                          : a.recv;
      }
      case CollectiveOp::sendrecv: {
        const int next = (me + 1) % n, previous = (me + n - 1) % n;
        if (a.in_place) {
          // MPI_Isendrecv_replace is MPI 4.0; in place is always the blocking call.
          GA_MPI_CHECK(MPI_Sendrecv_replace(a.recv, c, t, next, 0, previous, 0, comm_, MPI_STATUS_IGNORE));
          return a.recv;
        }
        if (blocking_) {
          GA_MPI_CHECK(MPI_Sendrecv(a.send, c, t, next, 0, recv_bytes, c, t, previous, 0, comm_, MPI_STATUS_IGNORE));
        } else {
          MPI_Request both[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
          GA_MPI_CHECK(MPI_Irecv(recv_bytes, c, t, previous, 0, comm_, &both[0]));
          GA_MPI_CHECK(MPI_Isend(a.send, c, t, next, 0, comm_, &both[1]));
          GA_MPI_CHECK(MPI_Waitall(2, both, MPI_STATUSES_IGNORE));
        }
        return a.recv;
      }
    }
    throw CollectiveError("unknown collective");
  }

  void synchronize() override {}
  std::vector<double> time(const kernels::TimingPolicy& policy, const std::function<void()>& op,
                           bool /*graph: no graphs on the host*/) override {
    return kernels::time_host(policy, op);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  bool blocking_ = true;
};

}  // namespace

std::unique_ptr<Communicator> open_mpi_communicator(const Group& group) {
  return std::make_unique<MpiCommunicator>(group);
}

}  // namespace gpuaccept::collectives::detail
