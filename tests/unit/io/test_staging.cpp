// The staging ring: work ahead of or behind the caller, in order, exactly once, errors passed on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "io/staging.hpp"

using gpuaccept::io::StagingRing;

namespace {

struct Slots {
  explicit Slots(std::size_t n, std::size_t bytes = 64) : memory(n, std::vector<std::byte>(bytes)) {
    for (auto& m : memory) spans.emplace_back(m);
  }
  std::vector<std::vector<std::byte>> memory;
  std::vector<std::span<std::byte>> spans;
};

std::uint64_t read_index(std::span<const std::byte> s) {
  std::uint64_t v;
  std::memcpy(&v, s.data(), sizeof v);
  return v;
}

}  // namespace

TEST(StagingRing, AheadPreparesEveryTransferInOrder) {
  for (bool threaded : {false, true}) {
    Slots slots(3);
    std::atomic<int> calls{0};
    StagingRing ring(slots.spans, StagingRing::Direction::ahead,
                     [&](std::uint64_t i, std::span<std::byte> s) {
                       std::memcpy(s.data(), &i, sizeof i);
                       ++calls;
                     },
                     threaded, 100);
    for (std::uint64_t i = 0; i < 100; ++i) {
      EXPECT_EQ(read_index(ring.take(i)), i);
      ring.give_back(i);
    }
    EXPECT_EQ(calls.load(), 100);
  }
}

TEST(StagingRing, LimitStopsTheHelper) {
  Slots slots(2);
  std::atomic<std::uint64_t> highest{0};
  {
    StagingRing ring(slots.spans, StagingRing::Direction::ahead,
                     [&](std::uint64_t i, std::span<std::byte>) { highest = std::max<std::uint64_t>(highest, i); },
                     true, 1000);
    for (std::uint64_t i = 0; i < 5; ++i) {
      ring.take(i);
      ring.give_back(i);
    }
    ring.limit(5);
  }
  EXPECT_LT(highest.load(), 7u);  // at most the slots ahead of transfer 4
}

TEST(StagingRing, BehindProcessesEverySubmittedTransferOnce) {
  for (bool threaded : {false, true}) {
    Slots slots(4);
    std::vector<std::uint64_t> seen;  // the helper's until drain()
    StagingRing ring(slots.spans, StagingRing::Direction::behind,
                     [&](std::uint64_t i, std::span<std::byte> s) {
                       EXPECT_EQ(s.size(), 8u + i % 3);
                       EXPECT_EQ(read_index(s), i);
                       seen.push_back(i);
                     },
                     threaded);
    for (std::uint64_t i = 0; i < 1000; ++i) {
      auto slot = ring.free_slot(i);
      std::memcpy(slot.data(), &i, sizeof i);
      ring.submit(i, 8 + i % 3);
    }
    ring.drain();
    ASSERT_EQ(seen.size(), 1000u);
    for (std::uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], i);
  }
}

TEST(StagingRing, AHelperErrorReachesTheCaller) {
  Slots slots(2);
  StagingRing ahead(slots.spans, StagingRing::Direction::ahead,
                    [](std::uint64_t i, std::span<std::byte>) {
                      if (i == 3) throw std::runtime_error("copy failed");
                    },
                    true, 10);
  EXPECT_THROW(
      {
        for (std::uint64_t i = 0; i < 10; ++i) {
          ahead.take(i);
          ahead.give_back(i);
        }
      },
      std::runtime_error);

  StagingRing behind(slots.spans, StagingRing::Direction::behind,
                     [](std::uint64_t i, std::span<std::byte>) {
                       if (i == 1) throw std::runtime_error("check failed");
                     },
                     true);
  EXPECT_THROW(
      {
        for (std::uint64_t i = 0; i < 10; ++i) {
          behind.free_slot(i);
          behind.submit(i, 1);
        }
        behind.drain();
      },
      std::runtime_error);
}
