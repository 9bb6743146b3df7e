#include "io/staging.hpp"

#include <algorithm>
#include <stdexcept>

namespace gpuaccept::io {

StagingRing::StagingRing(std::vector<std::span<std::byte>> slots, Direction direction, Work work, bool threaded,
                         std::uint64_t count)
    : slots_(std::move(slots)),
      sizes_(slots_.size(), 0),
      direction_(direction),
      work_(std::move(work)),
      threaded_(threaded),
      count_(count) {
  if (slots_.empty()) throw std::invalid_argument("StagingRing needs at least one slot");
  if (threaded_) {
    helper_ = std::thread([this] { direction_ == Direction::ahead ? helper_ahead() : helper_behind(); });
  }
}

StagingRing::~StagingRing() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (helper_.joinable()) helper_.join();
}

void StagingRing::rethrow_locked() {
  if (error_) std::rethrow_exception(error_);
}

void StagingRing::helper_ahead() {
  const std::uint64_t depth = slots_.size();
  for (std::uint64_t j = 0;; ++j) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || j >= count_ || j < consumed_ + depth; });
      if (stop_ || j >= count_) return;
    }
    try {
      work_(j, slots_[j % depth]);
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      produced_ = j + 1;
    }
    changed_.notify_all();
  }
}

void StagingRing::helper_behind() {
  const std::uint64_t depth = slots_.size();
  for (std::uint64_t j = 0;; ++j) {
    std::size_t bytes = 0;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || produced_ > j; });
      if (produced_ <= j) return;  // stopped with nothing left to process
      bytes = sizes_[j % depth];
    }
    try {
      work_(j, slots_[j % depth].first(bytes));
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      consumed_ = j + 1;
    }
    changed_.notify_all();
  }
}

std::span<std::byte> StagingRing::take(std::uint64_t i) {
  const std::span<std::byte> slot = slots_[i % slots_.size()];
  if (!threaded_) {
    work_(i, slot);
    return slot;
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return error_ || produced_ > i; });
  rethrow_locked();
  return slot;
}

void StagingRing::give_back(std::uint64_t i) {
  if (!threaded_) return;
  {
    std::lock_guard lock(mutex_);
    consumed_ = i + 1;
  }
  changed_.notify_all();
}

void StagingRing::limit(std::uint64_t count) {
  {
    std::lock_guard lock(mutex_);
    count_ = std::min(count_, count);
  }
  changed_.notify_all();
}

std::span<std::byte> StagingRing::free_slot(std::uint64_t i) {
  const std::span<std::byte> slot = slots_[i % slots_.size()];
  if (!threaded_) return slot;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return error_ || i < consumed_ + slots_.size(); });
  rethrow_locked();
  return slot;
}

void StagingRing::submit(std::uint64_t i, std::size_t bytes) {
  if (!threaded_) {
    work_(i, slots_[i % slots_.size()].first(bytes));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    sizes_[i % slots_.size()] = bytes;
    produced_ = i + 1;
  }
  changed_.notify_all();
}

void StagingRing::drain() {
  if (!threaded_) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return error_ || consumed_ >= produced_; });
  rethrow_locked();
}

}  // namespace gpuaccept::io
