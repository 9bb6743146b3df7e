// The CUDA backend of the collectives: NCCL on device buffers, one non-blocking stream per
// communicator, each timed operation between its own pair of CUDA events.
//
// Setup is collective over the control-plane Group: every rank selects its device and
// creates its stream, the ranks agree that all of them succeeded (so that one rank's failure
// becomes an error everywhere instead of a hang in ncclCommInitRank), rank 0 creates the
// NCCL unique id and broadcasts it, and every rank joins with ncclCommInitRank.
#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "collectives/communicator.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "gpuaccept needs NCCL 2.10 or later (ncclAvg, ncclBfloat16)"
#endif

namespace gpuaccept::collectives::detail {

namespace {

namespace gpu = kernels::gpu;

const char* nccl_result_name(ncclResult_t rc) {
  switch (rc) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
    default: return "ncclResult";
  }
}

// The message of a failed NCCL call: expression, file:line, host and ranks, NCCL's name and
// text for the code, and NCCL's own last error (often the actual cause: which peer, which
// transport). `comm` may be null (before ncclCommInitRank).
std::string nccl_error_message(ncclResult_t rc, ncclComm_t comm, int rank, int size,
                               const char* expression, const char* file, int line) {
  std::string_view path = file;
  if (const auto at = path.rfind("/collectives/"); at != std::string_view::npos) path.remove_prefix(at + 1);
  const char* last = ncclGetLastError(comm);
  return fmt::format("{} failed at {}:{} on {} (NCCL rank {} of {}): {} ({}){}{}", expression, path, line,
                     gpu::process_location(), rank, size, nccl_result_name(rc), ncclGetErrorString(rc),
                     last && *last ? "; NCCL says: " : "", last ? last : "");
}

[[noreturn]] void throw_nccl_error(ncclResult_t rc, ncclComm_t comm, int rank, int size,
                                   const char* expression, const char* file, int line) {
  throw CollectiveError(nccl_error_message(rc, comm, rank, size, expression, file, line));
}

}  // namespace

}  // namespace gpuaccept::collectives::detail

// The one checking facility for NCCL calls: throws CollectiveError. `comm` (null before
// initialisation), `rank` and `size` say where the failure happened.
#define GA_NCCL_CHECK(comm, rank, size, expr)                                                    \
  do {                                                                                           \
    const ncclResult_t ga_nccl_rc_ = (expr);                                                     \
    if (ga_nccl_rc_ != ncclSuccess)                                                              \
      ::gpuaccept::collectives::detail::throw_nccl_error(ga_nccl_rc_, (comm), (rank), (size),    \
                                                         #expr, __FILE__, __LINE__);             \
  } while (false)

namespace gpuaccept::collectives::detail {

namespace {

ncclDataType_t nccl_type(DataType t) {
  switch (t) {
    case DataType::int8: return ncclInt8;
    case DataType::uint8: return ncclUint8;
    case DataType::int32: return ncclInt32;
    case DataType::uint32: return ncclUint32;
    case DataType::int64: return ncclInt64;
    case DataType::uint64: return ncclUint64;
    case DataType::fp16: return ncclFloat16;
    case DataType::fp32: return ncclFloat32;
    case DataType::fp64: return ncclFloat64;
    case DataType::bf16: return ncclBfloat16;
  }
  throw CollectiveError("NCCL: unknown data type");
}

ncclRedOp_t nccl_op(RedOp op) {
  switch (op) {
    case RedOp::sum: return ncclSum;
    case RedOp::prod: return ncclProd;
    case RedOp::min: return ncclMin;
    case RedOp::max: return ncclMax;
    case RedOp::avg: return ncclAvg;
  }
  throw CollectiveError("NCCL: unknown reduction");
}

// A captured CUDA graph and its executable form, destroyed together.
struct GraphExec {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  GraphExec() = default;
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() {
    if (exec) (void)cudaGraphExecDestroy(exec);
    if (graph) (void)cudaGraphDestroy(graph);
  }
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const Group& group, int device)
      : device_(device), rank_(group.rank()), size_(group.size()) {
    // 1. Local preparation; its failure is shared with every rank below instead of thrown
    //    here, which would leave the others waiting in the broadcast or in ncclCommInitRank.
    std::string local_error;
    ncclUniqueId id{};
    try {
      GA_CUDA_CHECK(cudaSetDevice(device_));
      stream_ = std::make_unique<gpu::Stream>();
      if (rank_ == 0) GA_NCCL_CHECK(nullptr, rank_, size_, ncclGetUniqueId(&id));
    } catch (const std::exception& e) {
      local_error = e.what();
    }
    // 2. Agree that every rank is ready.
    std::array<double, 1> ready{local_error.empty() ? 1.0 : 0.0};
    group.allreduce_min(ready);
    if (ready[0] < 1.0)
      throw CollectiveError(
          local_error.empty()
              ? fmt::format("cannot create the NCCL communicator on {}: another of its {} ranks failed "
                            "to prepare its device (see that rank's error)",
                            gpu::process_location(), size_)
              : fmt::format("cannot create the NCCL communicator: {}", local_error));
    // 3. Rank 0's unique id to everyone, then join.
    group.broadcast(std::span<std::byte>(reinterpret_cast<std::byte*>(&id), sizeof id), 0);
    ncclComm_t comm = nullptr;
    const ncclResult_t rc = ncclCommInitRank(&comm, size_, id, rank_);
    if (rc != ncclSuccess) {
      const std::string message = nccl_error_message(rc, comm, rank_, size_,
                                                     "ncclCommInitRank(&comm, size, id, rank)", __FILE__, __LINE__);
      if (comm) (void)ncclCommAbort(comm);
      throw CollectiveError(message);
    }
    comm_ = comm;
  }

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  ~NcclCommunicator() override {
    // Never throws. After an error the communicator may be wedged (a peer gone, a kernel
    // stuck): abort it, which does not wait for peers. Otherwise destroy it cleanly.
    if (!comm_) return;
    ncclResult_t async = ncclSuccess;
    if (failed_ || ncclCommGetAsyncError(comm_, &async) != ncclSuccess ||
        (async != ncclSuccess && async != ncclInProgress))
      (void)ncclCommAbort(comm_);
    else
      (void)ncclCommDestroy(comm_);
  }

  std::string name() const override { return "nccl"; }
  std::string version() const override {
    int code = 0;
    if (ncclGetVersion(&code) != ncclSuccess) return "NCCL (unknown version)";
    // NCCL 2.9 and later encode 10000 * major + 100 * minor + patch; earlier, 1000 * major.
    if (code >= 10000) return fmt::format("NCCL {}.{}.{}", code / 10000, (code % 10000) / 100, code % 100);
    return fmt::format("NCCL {}.{}.{}", code / 1000, (code % 1000) / 100, code % 100);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void* allocate(std::size_t bytes) override {
    GA_CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    if (bytes > 0) GA_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void release(void* buffer) noexcept override {
    if (buffer) (void)cudaFree(buffer);
  }
  // Copies go on our stream, so that they are ordered after the collectives enqueued there
  // (a plain cudaMemcpy would run on the legacy stream, which a non-blocking stream does not
  // wait for).
  void upload(void* buffer, const void* host, std::size_t bytes) override {
    if (bytes == 0) return;
    GA_CUDA_CHECK(cudaMemcpyAsync(buffer, host, bytes, cudaMemcpyHostToDevice, stream_->get()));
    synchronize();
  }
  void download(void* host, const void* buffer, std::size_t bytes) override {
    if (bytes == 0) return;
    GA_CUDA_CHECK(cudaMemcpyAsync(host, buffer, bytes, cudaMemcpyDeviceToHost, stream_->get()));
    synchronize();
  }

  void set_blocking(bool blocking) override { blocking_ = blocking; }
  void* native_stream() const override { return stream_->get(); }

  // Point-to-point based operations (alltoall, gather, scatter, sendrecv) are one NCCL group
  // of sends and receives, as nccl-tests builds them.
  const void* collective(const CollectiveArgs& a) override {
    return guarded([&]() -> const void* {
      const ncclDataType_t t = nccl_type(a.type);
      const std::size_t c = a.count, block = c * size_of(a.type);
      const auto* send = static_cast<const char*>(a.send);
      auto* recv = static_cast<char*>(a.recv);
      cudaStream_t st = stream_->get();
      const void* result = a.recv;
      switch (a.op) {
        case CollectiveOp::allreduce:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclAllReduce(send, recv, c, t, nccl_op(a.redop), comm_, st));
          break;
        case CollectiveOp::allgather:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclAllGather(send, recv, c, t, comm_, st));
          break;
        case CollectiveOp::reducescatter:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclReduceScatter(send, recv, c, t, nccl_op(a.redop), comm_, st));
          break;
        case CollectiveOp::broadcast:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclBroadcast(send, recv, c, t, a.root, comm_, st));
          break;
        case CollectiveOp::reduce:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclReduce(send, recv, c, t, nccl_op(a.redop), a.root, comm_, st));
          if (rank_ != a.root) result = nullptr;
          break;
        case CollectiveOp::alltoall:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupStart());
          for (int p = 0; p < size_; ++p) {
            GA_NCCL_CHECK(comm_, rank_, size_, ncclSend(send + block * static_cast<std::size_t>(p), c, t, p, comm_, st));
            GA_NCCL_CHECK(comm_, rank_, size_, ncclRecv(recv + block * static_cast<std::size_t>(p), c, t, p, comm_, st));
          }
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupEnd());
          break;
        case CollectiveOp::gather:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupStart());
          if (rank_ == a.root)
            for (int p = 0; p < size_; ++p)
              GA_NCCL_CHECK(comm_, rank_, size_, ncclRecv(recv + block * static_cast<std::size_t>(p), c, t, p, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclSend(send, c, t, a.root, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupEnd());
          if (rank_ != a.root) result = nullptr;
          break;
        case CollectiveOp::scatter:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupStart());
          if (rank_ == a.root)
            for (int p = 0; p < size_; ++p)
              GA_NCCL_CHECK(comm_, rank_, size_, ncclSend(send + block * static_cast<std::size_t>(p), c, t, p, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclRecv(recv, c, t, a.root, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupEnd());
          break;
        case CollectiveOp::sendrecv:
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupStart());
          GA_NCCL_CHECK(comm_, rank_, size_, ncclSend(send, c, t, (rank_ + 1) % size_, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclRecv(recv, c, t, (rank_ + size_ - 1) % size_, comm_, st));
          GA_NCCL_CHECK(comm_, rank_, size_, ncclGroupEnd());
          break;
      }
      // Blocking launch: wait for this operation (never while a graph is being captured).
      if (blocking_ && !capturing_) synchronize();
      return result;
    });
  }

  // Waits for the stream while watching NCCL's asynchronous error state, so that a failed
  // peer or network surfaces as an error here rather than as a wait without end.
  void synchronize() override {
    guarded([&] {
      for (;;) {
        const cudaError_t query = cudaStreamQuery(stream_->get());
        if (query == cudaSuccess) break;
        if (query != cudaErrorNotReady) GA_CUDA_CHECK(query);
        ncclResult_t async = ncclSuccess;
        GA_NCCL_CHECK(comm_, rank_, size_, ncclCommGetAsyncError(comm_, &async));
        if (async != ncclSuccess && async != ncclInProgress)
          throw_nccl_error(async, comm_, rank_, size_, "ncclCommGetAsyncError (while waiting for the stream)",
                           __FILE__, __LINE__);
        std::this_thread::yield();
      }
    });
  }

  std::vector<double> time(const kernels::TimingPolicy& policy, const std::function<void()>& op,
                           bool graph) override {
    return guarded([&] {
      // With a graph: op() is captured once (stream capture, relaxed mode so that NCCL may
      // call CUDA APIs) and every iteration launches the captured graph.
      GraphExec captured;
      if (graph) {
        GA_CUDA_CHECK(cudaStreamBeginCapture(stream_->get(), cudaStreamCaptureModeRelaxed));
        capturing_ = true;
        cudaGraph_t g = nullptr;
        try {
          op();
        } catch (...) {
          capturing_ = false;
          (void)cudaStreamEndCapture(stream_->get(), &g);
          if (g) (void)cudaGraphDestroy(g);
          throw;
        }
        capturing_ = false;
        GA_CUDA_CHECK(cudaStreamEndCapture(stream_->get(), &g));
        captured.graph = g;
        GA_CUDA_CHECK(cudaGraphInstantiate(&captured.exec, g, 0));
      }
      auto launch = [&] {
        if (graph) {
          GA_CUDA_CHECK(cudaGraphLaunch(captured.exec, stream_->get()));
          if (blocking_) synchronize();
        } else {
          op();
        }
      };
      for (int w = 0; w < policy.warmup; ++w) launch();
      const auto iterations = static_cast<std::size_t>(policy.iterations > 0 ? policy.iterations : 0);
      std::vector<gpu::Event> starts(iterations), stops(iterations);
      for (std::size_t i = 0; i < iterations; ++i) {
        starts[i].record(stream_->get());
        launch();
        stops[i].record(stream_->get());
      }
      synchronize();
      std::vector<double> seconds;
      seconds.reserve(iterations);
      for (std::size_t i = 0; i < iterations; ++i) seconds.push_back(gpu::elapsed_seconds(starts[i], stops[i]));
      return seconds;
    });
  }

 private:
  // Runs f; if it throws, the communicator is marked failed (the destructor then aborts it).
  template <typename F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  int device_;
  int rank_;
  int size_;
  std::unique_ptr<gpu::Stream> stream_;
  ncclComm_t comm_ = nullptr;
  bool failed_ = false;
  bool blocking_ = true;
  bool capturing_ = false;
};

}  // namespace

std::unique_ptr<Communicator> open_nccl_communicator(const Group& group, int device) {
  return std::make_unique<NcclCommunicator>(group, device);
}

}  // namespace gpuaccept::collectives::detail
