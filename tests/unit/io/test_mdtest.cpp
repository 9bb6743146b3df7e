// The mdtest engine on one rank: counts per phase, trees, contents checked, nothing left.
#include <gtest/gtest.h>

#include "collectives/group.hpp"
#include "io/mdtest.hpp"
#include "support.hpp"

using namespace gpuaccept::io;
using gpuaccept::collectives::Group;
using gpuaccept::io::test_support::TempDir;
using gpuaccept::io::test_support::world;

TEST(Mdtest, TreeSizes) {
  EXPECT_EQ(tree_directories(0, 5), 1u);
  EXPECT_EQ(tree_directories(2, 3), 13u);
  EXPECT_EQ(tree_directories(3, 2), 15u);
}

TEST(MdtestRun, EveryPhaseCountsItsOperationsAndLeavesNothing) {
  const auto group = world();
  const Pattern pattern(2);
  for (bool unique : {false, true}) {
    for (std::uint32_t depth : {0u, 2u}) {
      SCOPED_TRACE(testing::Message() << (unique ? "unique" : "shared") << " depth " << depth);
      TempDir dir;
      MdtestConfig config;
      config.files_per_rank = 50;
      config.unique_dir = unique;
      config.depth = depth;
      config.branch = 3;
      config.write_bytes = 3901;
      config.read_bytes = 3901;
      MdtestRun run(group, config, dir.path(), pattern);
      for (std::uint32_t generation = 0; generation < 2; ++generation) {
        const MdtestOutcome out = run.iteration(generation);
        const double dirs = static_cast<double>(tree_directories(depth, 3));
        EXPECT_EQ(out.tree_create.mine.amount, dirs);
        EXPECT_EQ(out.create.mine.amount, 50);
        EXPECT_EQ(out.stat.mine.amount, 50);
        EXPECT_EQ(out.read.mine.amount, 50);
        EXPECT_EQ(out.remove.mine.amount, 50);
        EXPECT_EQ(out.tree_remove.mine.amount, dirs);
        EXPECT_GT(aggregate_rate(out.create.all), 0);
        EXPECT_EQ(out.checked_files, 50u);  // each stat'ed and read
        EXPECT_EQ(out.wrong_files, 0u) << out.first_wrong;
        EXPECT_EQ(dir.entries(), 0u);
      }
    }
  }
}

TEST(MdtestRun, FilePathsSpreadOverTheTree) {
  const auto group = world();
  const Pattern pattern(2);
  TempDir dir;
  MdtestConfig config;
  config.files_per_rank = 10;
  config.depth = 1;
  config.branch = 2;
  MdtestRun run(group, config, dir.path(), pattern);
  const std::string top = (dir.path() / "mdtest.shared").string();
  EXPECT_EQ(run.file_path(0, 0), top + "/f.0.0");
  EXPECT_EQ(run.file_path(0, 1), top + "/d1/f.0.1");
  EXPECT_EQ(run.file_path(0, 2), top + "/d2/f.0.2");
  EXPECT_EQ(run.file_path(0, 3), top + "/f.0.3");
}
