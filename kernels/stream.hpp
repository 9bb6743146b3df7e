// STREAM: sustained memory bandwidth with McCalpin's four kernels over three arrays a, b, c
// of n elements (double), far larger than the last-level cache:
//   copy  c = a            2 n * 8 bytes moved
//   scale b = s c          2 n * 8
//   add   c = a + b        3 n * 8
//   triad a = b + s c      3 n * 8
// GB/s = bytes moved / time (1 GB = 1e9 B), per kernel. As STREAM reports it, the rate uses
// the best (minimum) time over the timed iterations; the median is kept too.
// Correctness as STREAM checks it: from a = 1, b = 2, c = 0 the values after any number of
// iterations follow a scalar recurrence, and every element of a, b and c is compared with it.
// CPU: OpenMP threads (first touch by the thread that uses the data). CUDA: one kernel per
// operation, CUDA events around each.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/timing.hpp"

namespace gpuaccept::kernels {

enum class StreamKernel { copy = 0, scale = 1, add = 2, triad = 3 };
inline constexpr std::array<const char*, 4> kStreamKernelNames{"copy", "scale", "add", "triad"};
inline constexpr double kStreamScalar = 3.0;

struct StreamConfig {
  std::int64_t elements = 1 << 25;  // per array
  TimingPolicy timing;
  int threads = 1;                  // CPU
  int device = 0;                   // CUDA
};

struct StreamRun {
  // [kernel][iteration] seconds, timed iterations only.
  std::array<std::vector<double>, 4> seconds;
  std::int64_t checked = 0;
  std::int64_t wrong = 0;
  std::string first_wrong;
};

// Bytes one kernel moves per iteration.
double stream_bytes(StreamKernel kernel, std::int64_t elements);
// The values {a, b, c} of every element after one more kernel.
std::array<double, 3> stream_step(const std::array<double, 3>& values, StreamKernel kernel);
// The values every element of a, b, c must hold after `passes` passes of the four kernels.
std::array<double, 3> stream_expected(int passes);
// Compares arrays with the expected values (relative 1e-13, as STREAM's checkSTREAMresults).
void stream_check(const double* a, const double* b, const double* c, std::int64_t n,
                  const std::array<double, 3>& expected, StreamRun& run);
void stream_check(const double* a, const double* b, const double* c, std::int64_t n, int passes, StreamRun& run);

// The three arrays allocated and initialised (a = 1, b = 2, c = 0) once, then any kernel run
// any number of times in any order: run_stream runs full passes, the gpuaccept-kernels binary
// runs one kernel per benchmark. Throws KernelError on library failures.
class StreamSession {
 public:
  virtual ~StreamSession() = default;
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  const StreamConfig& config() const { return config_; }
  // Runs `kernel` once over the arrays; its seconds (steady_clock on CPU, CUDA events on GPU).
  double run(StreamKernel kernel) {
    const double seconds = run_kernel(kernel);
    expected_ = stream_step(expected_, kernel);
    return seconds;
  }
  // Compares every element of a, b and c with what the kernels run so far must have left;
  // fills checked, wrong and first_wrong of `run`.
  virtual void verify(StreamRun& run) = 0;

 protected:
  explicit StreamSession(const StreamConfig& config) : config_(config) {}
  virtual double run_kernel(StreamKernel kernel) = 0;
  StreamConfig config_;
  std::array<double, 3> expected_{1.0, 2.0, 0.0};
};

bool stream_supported(Backend backend, std::string* reason);
std::unique_ptr<StreamSession> open_stream_session(Backend backend, const StreamConfig& config);
// open_stream_session, warmup + iterations passes of copy, scale, add, triad, verify.
StreamRun run_stream(Backend backend, const StreamConfig& config);

namespace detail {
std::unique_ptr<StreamSession> open_stream_session_cpu(const StreamConfig& config);
#if defined(GPUACCEPT_HAVE_CUDA)
std::unique_ptr<StreamSession> open_stream_session_cuda(const StreamConfig& config);
#endif
}  // namespace detail

}  // namespace gpuaccept::kernels
