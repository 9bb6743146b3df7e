// Overlapping the work on the data with the I/O itself. A helper thread prepares the next
// slots while the calling thread writes the current one (pattern fill, or a copy out of GPU
// memory), or processes the slots the calling thread has just read (verification, or a copy
// into GPU memory), as a checkpointing library serialises the next tensor while the previous
// one is being written. The time of a phase is still wall time from its start to its end: the
// overlap only keeps the CPU work off the critical path where there is a core for it.
//
// A few slots (a ring): the helper is never more than `slots` transfers ahead or behind.
// Without a thread (small transfers, where waking a thread costs more than the work), the
// work runs inline at take() or submit().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace gpuaccept::io {

class StagingRing {
 public:
  using Work = std::function<void(std::uint64_t transfer, std::span<std::byte> data)>;
  enum class Direction {
    ahead,   // work(i) fills slot i before the caller writes it: take(i), then give_back(i)
    behind,  // the caller reads into slot i, then work(i) processes it: free_slot(i), then submit(i)
  };

  // `count`: transfers the caller will do (ahead only; may be lowered with limit()).
  StagingRing(std::vector<std::span<std::byte>> slots, Direction direction, Work work, bool threaded,
              std::uint64_t count = 0);
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;
  ~StagingRing();  // stops the helper and joins it

  // ahead: the prepared data of transfer i (transfers in order, 0, 1, 2, ...). Rethrows an
  // error of the helper.
  std::span<std::byte> take(std::uint64_t i);
  void give_back(std::uint64_t i);
  // ahead: no transfer at or after `count` will be taken (stonewalling ended the phase).
  void limit(std::uint64_t count);

  // behind: a slot for transfer i, free once the helper is done with transfer i - slots.
  std::span<std::byte> free_slot(std::uint64_t i);
  // behind: slot i now holds `bytes` bytes for work(i).
  void submit(std::uint64_t i, std::size_t bytes);
  // behind: returns once every submitted transfer has been processed; rethrows its error.
  void drain();

 private:
  void helper_ahead();
  void helper_behind();
  void rethrow_locked();

  std::vector<std::span<std::byte>> slots_;
  std::vector<std::size_t> sizes_;
  Direction direction_;
  Work work_;
  bool threaded_;
  std::uint64_t count_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t produced_ = 0;  // ahead: slots prepared; behind: slots submitted
  std::uint64_t consumed_ = 0;  // ahead: slots given back; behind: slots processed
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread helper_;
};

}  // namespace gpuaccept::io
