// The IOR engine on one rank: every layout and API round-trips, files go away, a block
// corrupted on disk between write and read is found, stonewalling reports what was moved.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "collectives/group.hpp"
#include "io/agree.hpp"
#include "io/ior.hpp"
#include "support.hpp"

using namespace gpuaccept::io;
using gpuaccept::collectives::Group;
using gpuaccept::io::test_support::TempDir;
using gpuaccept::io::test_support::world;

namespace {

IorConfig small(FileLayout kind, Api api = Api::posix, bool collective = false) {
  IorConfig c;
  c.api = api;
  c.collective = collective;
  c.layout.kind = kind;
  c.layout.transfer = 64 * 1024;  // threaded staging from 64 KiB on
  c.layout.block = 256 * 1024;
  c.layout.segments = 3;
  return c;
}

}  // namespace

TEST(IorRun, EveryLayoutAndApiRoundTrips) {
  const auto group = world();
  const Pattern pattern(3);
  struct Case {
    FileLayout kind;
    Api api;
    bool collective;
    AccessOrder order;
    std::uint64_t transfer;
  };
  const Case cases[] = {
      {FileLayout::file_per_process, Api::posix, false, AccessOrder::sequential, 64 * 1024},
      {FileLayout::file_per_process, Api::posix, false, AccessOrder::random, 4096},
      {FileLayout::segmented, Api::posix, false, AccessOrder::sequential, 64 * 1024},
      {FileLayout::strided, Api::posix, false, AccessOrder::random, 8192},
      {FileLayout::segmented, Api::mpiio, false, AccessOrder::sequential, 64 * 1024},
      {FileLayout::strided, Api::mpiio, true, AccessOrder::sequential, 32 * 1024},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << to_string(c.kind) << " " << to_string(c.api) << (c.collective ? " collective " : " ")
                                    << to_string(c.order));
    TempDir dir;
    IorConfig config = small(c.kind, c.api, c.collective);
    config.layout.order = c.order;
    config.layout.transfer = c.transfer;
    config.invalidate = true;
    IorRun run(group, config, dir.path(), pattern);
    for (std::uint32_t generation = 0; generation < 2; ++generation) {
      const IterationOutcome out = run.iteration(generation);
      EXPECT_EQ(out.write.mine.amount, 3.0 * 256 * 1024);
      EXPECT_EQ(out.write.transfers, config.layout.transfers_per_rank());
      EXPECT_GT(out.write.mine.seconds(), 0);
      EXPECT_DOUBLE_EQ(out.write.all.amount, out.write.mine.amount);
      ASSERT_TRUE(out.read);
      EXPECT_EQ(out.read->mine.amount, 3.0 * 256 * 1024);
      EXPECT_TRUE(out.read->verify.ok()) << out.read->verify.first_wrong;
      EXPECT_EQ(out.read->verify.checked_bytes, 3u * 256 * 1024);
      EXPECT_EQ(dir.entries(), 0u) << "the iteration removes its files";
    }
  }
}

TEST(IorRun, BlockCorruptedOnDiskIsFound) {
  const auto group = world();
  const Pattern pattern(5);
  TempDir dir;
  IorRun run(group, small(FileLayout::file_per_process), dir.path(), pattern);
  std::uint64_t stonewall = 0;
  run.write_phase(0, stonewall);
  // Plant a corrupted 4 KiB block in the middle of the file.
  const int fd = ::open(run.file_path(0).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::vector<std::byte> junk(4096, std::byte{0x5A});
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 300 * 1024), 4096);
  ::close(fd);
  const PhaseOutcome read = run.read_phase(0);
  EXPECT_FALSE(read.verify.ok());
  EXPECT_EQ(read.verify.wrong_blocks, 1u);
  EXPECT_GE(read.verify.wrong_bytes, 4000u);
  EXPECT_EQ(*read.verify.first_wrong_offset, 300u * 1024);
  EXPECT_NE(read.verify.first_wrong.find(run.file_path(0).string() + " (written by rank 0)"), std::string::npos)
      << read.verify.first_wrong;
  EXPECT_NE(read.verify.first_wrong.find("unrecognised data (corrupted)"), std::string::npos);
  run.remove_phase();
  EXPECT_EQ(dir.entries(), 0u);
}

TEST(IorRun, ShortFileIsMissingData) {
  const auto group = world();
  const Pattern pattern(5);
  TempDir dir;
  IorRun run(group, small(FileLayout::file_per_process), dir.path(), pattern);
  std::uint64_t stonewall = 0;
  run.write_phase(0, stonewall);
  ASSERT_EQ(::truncate(run.file_path(0).c_str(), 700 * 1024), 0);
  const PhaseOutcome read = run.read_phase(0);
  EXPECT_EQ(read.verify.wrong_bytes, 3u * 256 * 1024 - 700 * 1024);
  EXPECT_NE(read.verify.first_wrong.find("the file ends early"), std::string::npos) << read.verify.first_wrong;
  run.remove_phase();
}

TEST(IorRun, StonewallReportsWhatWasMoved) {
  const auto group = world();
  const Pattern pattern(5);
  TempDir dir;
  IorConfig config = small(FileLayout::file_per_process);
  config.stonewall_seconds = 1e-9;  // ends the phase after the first transfer
  IorRun run(group, config, dir.path(), pattern);
  const IterationOutcome out = run.iteration(0);
  EXPECT_EQ(out.stonewall_transfers, 1u);
  EXPECT_EQ(out.write.transfers, 1u);
  EXPECT_EQ(out.write.mine.amount, 64.0 * 1024);
  ASSERT_TRUE(out.read);
  EXPECT_EQ(out.read->mine.amount, 64.0 * 1024) << "reads what was written, no more";
  EXPECT_TRUE(out.read->verify.ok());
}

TEST(IorRun, DataHooksReplaceThePatternSource) {
  const auto group = world();
  const Pattern pattern(5);
  TempDir dir;
  std::uint64_t consumed = 0;
  DataHooks hooks;
  hooks.produce = [&](std::uint64_t, std::uint64_t offset, std::span<std::byte> data) {
    pattern.fill(data, {0, 0, 0}, offset);
  };
  hooks.consume = [&](std::uint64_t, std::uint64_t, std::span<const std::byte> data) { consumed += data.size(); };
  IorRun run(group, small(FileLayout::file_per_process), dir.path(), pattern, hooks);
  const IterationOutcome out = run.iteration(0);
  EXPECT_TRUE(out.read->verify.ok());
  EXPECT_EQ(consumed, 3u * 256 * 1024);
}

TEST(IorRun, AFailedOpenIsAStepFailure) {
  const auto group = world();
  const Pattern pattern(5);
  TempDir dir;
  IorRun run(group, small(FileLayout::file_per_process), dir.path() / "gone", pattern);
  try {
    run.iteration(0);
    FAIL();
  } catch (const StepFailure& f) {
    EXPECT_NE(std::string(f.what()).find("create of"), std::string::npos) << f.what();
    EXPECT_NE(std::string(f.what()).find("ENOENT"), std::string::npos) << f.what();
  }
}
