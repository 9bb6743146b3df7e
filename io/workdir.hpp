// The directory a storage benchmark works in. The campaign names a target directory; the
// benchmark creates its own sub-directory there, with a name nobody else uses
// (gpuaccept-<benchmark>-<16 hex digits>), works only inside it, and removes what it created
// when it ends: after success, after a failure (RAII), and on SIGINT, SIGTERM or SIGHUP
// (a handler removes the sub-directory, then lets the signal take its usual course).
//
// Before anything is written, every rank checks that the target exists, is a directory, is
// writable, and that its file system has the free space (and inodes) the step needs: the sum
// over the ranks that share that file system (all ranks on a parallel file system, the ranks of
// one node on node-local storage). A failed check is a StepFailure with one clear sentence.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/group.hpp"

namespace gpuaccept::io {

class WorkDir {
 public:
  // What this rank will have on the file system at most at once.
  struct Need {
    double bytes = 0;
    double inodes = 0;
  };

  // Collective over `group`. Throws StepFailure on every rank if any rank's check failed;
  // nothing is left behind then.
  // `node`: the ranks of this rank's node (they share node-local storage); the first form
  // takes the ranks that share a host (group.node_local()).
  WorkDir(const collectives::Group& group, const std::filesystem::path& target, std::string_view benchmark, Need mine);
  WorkDir(const collectives::Group& group, const collectives::Group& node, const std::filesystem::path& target,
          std::string_view benchmark, Need mine);
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  // Not collective: runs the cleanups that close() has not run, and removes the directory if
  // this rank created it and it is empty.
  ~WorkDir();

  const std::filesystem::path& path() const { return path_; }
  // True when every rank sees rank 0's directory (one shared file system).
  bool shared() const { return shared_; }
  // The data the free-space check asked of this rank's file system: every rank's when shared,
  // the node's ranks' otherwise (bytes, before headroom).
  double space_needed() const { return space_needed_; }

  // What to remove when the work is done. A cleanup removes only what the benchmark created
  // (it knows the names), ignores what is already gone, and does not throw. File cleanups run
  // first (in reverse order of registration), then directory cleanups, which must be safe to
  // repeat: a directory shared by ranks can only go once every rank has emptied it.
  void on_cleanup(std::function<void()> remove_files);
  void on_directory_cleanup(std::function<void()> remove_directories);

  // Collective: runs the file cleanups on every rank, waits for all ranks, runs the directory
  // cleanups, waits again, then the ranks that created the directory remove it. Returns "" or
  // a warning (something foreign was left in the directory, which is then kept).
  std::string close();

 private:
  void run_file_cleanups() noexcept;
  void run_directory_cleanups() noexcept;
  std::string remove_directory() noexcept;

  const collectives::Group& group_;
  std::filesystem::path path_;
  bool created_here_ = false;
  bool shared_ = true;
  double space_needed_ = 0;
  bool closed_ = false;
  int signal_slot_ = -1;
  std::vector<std::function<void()>> file_cleanups_;
  std::vector<std::function<void()>> directory_cleanups_;
};

// Removes every directory registered by a live WorkDir, with async-signal-safe calls only
// (openat, getdents64, unlinkat): for a signal handler or a watchdog that must end the
// process at once (the destructors do not run then).
void remove_work_dirs_now() noexcept;

// A name nobody else uses: <prefix>-<16 hex digits>, from the time, process and host.
std::string unique_name(std::string_view prefix);

}  // namespace gpuaccept::io
