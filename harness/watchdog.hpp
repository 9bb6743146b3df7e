// A step's time limit. A hung collective cannot be cancelled, so when a step outlives its
// limit the harness records it as "timeout" (on the writer rank) and ends the process with
// exit status 3; mpirun or srun then ends the others. Only the harness decides that.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace gpuaccept::harness {

class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Calls on_expire (on the watchdog's thread) if disarm() is not called within `seconds`.
  void arm(double seconds, std::function<void()> on_expire);
  void disarm();

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool armed_ = false;
  bool stop_ = false;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void()> on_expire_;
  std::thread thread_;
};

}  // namespace gpuaccept::harness
