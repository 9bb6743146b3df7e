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
  int rank() const override {
    int r = 0;
    MPI_Comm_rank(comm_, &r);
    return r;
  }
  int size() const override {
    int s = 0;
    MPI_Comm_size(comm_, &s);
    return s;
  }

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

  void all_reduce(const void* send, void* recv, std::size_t count, DataType type, RedOp op) override {
    if (count > static_cast<std::size_t>(INT_MAX))
      throw CollectiveError(fmt::format("MPI_Allreduce count {} exceeds INT_MAX", count));
    const void* source = send == recv ? MPI_IN_PLACE : send;
    GA_MPI_CHECK(MPI_Allreduce(source, recv, static_cast<int>(count), mpi_type(type), mpi_op(op), comm_));
  }
  void synchronize() override {}
  std::vector<double> time(const kernels::TimingPolicy& policy,
                           const std::function<void()>& op) override {
    return kernels::time_host(policy, op);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace

std::unique_ptr<Communicator> open_mpi_communicator(const Group& group) {
  return std::make_unique<MpiCommunicator>(group);
}

}  // namespace gpuaccept::collectives::detail
