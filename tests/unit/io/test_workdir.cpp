// The work directory: a sub-directory of its own, clear errors before anything is written,
// removal of what the benchmark created (and nothing else) after success, failure or a signal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "collectives/group.hpp"
#include "io/agree.hpp"
#include "io/workdir.hpp"
#include "support.hpp"

using gpuaccept::collectives::Group;
using gpuaccept::io::StepFailure;
using gpuaccept::io::WorkDir;
using gpuaccept::io::test_support::TempDir;
using gpuaccept::io::test_support::world;
namespace fs = std::filesystem;

namespace {

std::string failure_of(const Group& group, const fs::path& target, WorkDir::Need need = {}) {
  try {
    WorkDir work(group, target, "unit", need);
  } catch (const StepFailure& f) {
    EXPECT_TRUE(f.here());
    EXPECT_EQ(f.failed_rank(), 0);
    return f.what();
  }
  return {};
}

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

}  // namespace

TEST(WorkDir, OwnSubdirectoryRemovedWhenDone) {
  const auto group = world();
  TempDir target;
  fs::path made;
  {
    WorkDir work(group, target.path(), "unit", {1e6, 10});
    made = work.path();
    EXPECT_TRUE(fs::is_directory(made));
    EXPECT_EQ(made.parent_path(), target.path());
    EXPECT_EQ(made.filename().string().rfind("gpuaccept-unit-", 0), 0u) << made;
    EXPECT_TRUE(work.shared());
    touch(made / "data");
    work.on_cleanup([&] { fs::remove(made / "data"); });
    EXPECT_EQ(work.close(), "");
  }
  EXPECT_FALSE(fs::exists(made));
  EXPECT_EQ(target.entries(), 0u);
}

TEST(WorkDir, NamesAreUnique) {
  EXPECT_NE(gpuaccept::io::unique_name("x"), gpuaccept::io::unique_name("x"));
}

TEST(WorkDir, MissingTargetFailsBeforeAnythingIsCreated) {
  const auto group = world();
  TempDir parent;
  const auto message = failure_of(group, parent.path() / "absent");
  EXPECT_NE(message.find("the target directory " + (parent.path() / "absent").string() + " does not exist"),
            std::string::npos) << message;
  EXPECT_EQ(parent.entries(), 0u);
  EXPECT_NE(failure_of(group, "").find("no target directory was given"), std::string::npos);
}

TEST(WorkDir, TargetThatIsAFile) {
  const auto group = world();
  TempDir parent;
  touch(parent.path() / "file");
  EXPECT_NE(failure_of(group, parent.path() / "file").find("is not a directory"), std::string::npos);
}

TEST(WorkDir, UnwritableTarget) {
  const auto group = world();
  TempDir parent;
  const fs::path target = parent.path() / "locked";
  fs::create_directory(target);
  bool locked = false;
  if (geteuid() != 0) {
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_exec);
    locked = true;
  } else {
    // Root ignores permission bits; an immutable directory stops it (ext4, xfs, btrfs).
    locked = std::system(("chattr +i " + target.string() + " 2>/dev/null").c_str()) == 0;
  }
  if (!locked) GTEST_SKIP() << "cannot make a directory unwritable for root here (no chattr +i)";
  const auto message = failure_of(group, target);
  if (geteuid() == 0) (void)std::system(("chattr -i " + target.string()).c_str());
  else fs::permissions(target, fs::perms::owner_all);
  EXPECT_NE(message.find("is not writable"), std::string::npos) << message;
  EXPECT_EQ(fs::directory_iterator(target), fs::directory_iterator());
}

TEST(WorkDir, TooLittleSpaceOrInodesFailsAndLeavesNothing) {
  const auto group = world();
  TempDir target;
  auto message = failure_of(group, target.path(), {1e18, 1});
  EXPECT_NE(message.find("free, the step needs"), std::string::npos) << message;
  EXPECT_NE(message.find("nothing was written"), std::string::npos) << message;
  EXPECT_EQ(target.entries(), 0u);
  message = failure_of(group, target.path(), {1, 1e18});
  EXPECT_NE(message.find("free inodes"), std::string::npos) << message;
  EXPECT_EQ(target.entries(), 0u);
}

TEST(WorkDir, FailureRemovesWhatWasCreated) {
  const auto group = world();
  TempDir target;
  try {
    WorkDir work(group, target.path(), "unit", {});
    fs::create_directory(work.path() / "tree");
    touch(work.path() / "tree" / "f");
    const fs::path p = work.path();
    work.on_cleanup([p] { fs::remove(p / "tree" / "f"); });
    work.on_directory_cleanup([p] { fs::remove(p / "tree"); });
    throw std::runtime_error("the benchmark failed half way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(target.entries(), 0u);
}

TEST(WorkDir, NeverRemovesWhatItDidNotCreate) {
  const auto group = world();
  TempDir target;
  touch(target.path() / "someone-elses");
  fs::path made;
  std::string warning;
  {
    WorkDir work(group, target.path(), "unit", {});
    made = work.path();
    touch(made / "foreign");  // not registered: not the benchmark's to remove
    warning = work.close();
  }
  EXPECT_NE(warning.find("1 entries left in it, kept"), std::string::npos) << warning;
  EXPECT_TRUE(fs::exists(made / "foreign"));
  EXPECT_TRUE(fs::exists(target.path() / "someone-elses"));
}

TEST(WorkDir, SignalPathRemovesTheWholeSubdirectory) {
  const auto group = world();
  TempDir target;
  WorkDir work(group, target.path(), "unit", {});
  fs::create_directories(work.path() / "a" / "b" / "c");
  for (int i = 0; i < 300; ++i) touch(work.path() / "a" / "b" / ("f" + std::to_string(i)));
  touch(work.path() / "top");
  gpuaccept::io::remove_work_dirs_now();  // what the SIGINT/SIGTERM/SIGHUP handler does
  EXPECT_FALSE(fs::exists(work.path()));
  EXPECT_EQ(target.entries(), 0u);
}

TEST(Agree, NoErrorNoThrowAndAnErrorReachesEveryRank) {
  const auto group = world();
  EXPECT_NO_THROW(gpuaccept::io::agree(group, ""));
  try {
    gpuaccept::io::agree(group, "disk on fire");
    FAIL();
  } catch (const StepFailure& f) {
    EXPECT_STREQ(f.what(), "disk on fire");
    EXPECT_TRUE(f.here());
  }
}
