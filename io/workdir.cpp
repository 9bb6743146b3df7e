#include "io/workdir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

#include "io/agree.hpp"
#include "io/io_error.hpp"
#include "kernels/pattern.hpp"

namespace gpuaccept::io {

namespace {

namespace fs = std::filesystem;

// --- Removal on signals: a fixed table, written under a mutex, read by the handler. ---

constexpr int kSlots = 16;
constexpr std::size_t kPathBytes = 4096;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kSignalCount = 3;

struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 live
  char path[kPathBytes] = {};
};
Slot g_slots[kSlots];
std::mutex g_slots_mutex;
int g_live_slots = 0;
struct sigaction g_previous[kSignalCount];
bool g_installed[kSignalCount] = {};

struct LinuxDirent64 {
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

bool is_dot(const char* name) { return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)); }

// Removes everything below `dir` (an open directory), async-signal-safe: no allocation, no
// stdio, only system calls. Repeats the listing until a pass finds nothing, because removing
// entries while listing may skip some.
void remove_contents(int dir, int depth) noexcept {
  if (depth > 64) return;
  alignas(8) char buffer[8192];
  for (int pass = 0; pass < 1000; ++pass) {
    bool found = false;
    ::lseek(dir, 0, SEEK_SET);
    for (;;) {
      const long n = ::syscall(SYS_getdents64, dir, buffer, sizeof buffer);
      if (n <= 0) break;
      for (long at = 0; at < n;) {
        const auto* entry = reinterpret_cast<const LinuxDirent64*>(buffer + at);
        at += entry->d_reclen;
        if (is_dot(entry->d_name)) continue;
        found = true;
        bool directory = entry->d_type == DT_DIR;
        if (entry->d_type == DT_UNKNOWN) {
          struct stat st;
          directory = ::fstatat(dir, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        if (directory) {
          const int sub = ::openat(dir, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub >= 0) {
            remove_contents(sub, depth + 1);
            ::close(sub);
          }
          ::unlinkat(dir, entry->d_name, AT_REMOVEDIR);
        } else {
          ::unlinkat(dir, entry->d_name, 0);
        }
      }
    }
    if (!found) return;
  }
}

extern "C" void remove_and_reraise(int signal) {
  remove_work_dirs_now();
  for (int i = 0; i < kSignalCount; ++i)
    if (kSignals[i] == signal && g_installed[i]) ::sigaction(signal, &g_previous[i], nullptr);
  ::raise(signal);  // blocked until this handler returns, then delivered with the previous disposition
}

int register_for_signals(const fs::path& path) {
  const std::string text = path.string();
  if (text.size() >= kPathBytes) return -1;
  std::lock_guard lock(g_slots_mutex);
  for (int s = 0; s < kSlots; ++s) {
    int expected = 0;
    if (!g_slots[s].state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(g_slots[s].path, text.c_str(), text.size() + 1);
    g_slots[s].state.store(2, std::memory_order_release);
    if (g_live_slots++ == 0) {
      for (int i = 0; i < kSignalCount; ++i) {
        struct sigaction previous;
        ::sigaction(kSignals[i], nullptr, &previous);
        // A signal the process ignores stays ignored: removing the directory and carrying on
        // would pull it from under the running benchmark.
        g_installed[i] = previous.sa_handler != SIG_IGN;
        if (!g_installed[i]) continue;
        struct sigaction action {};
        action.sa_handler = remove_and_reraise;
        sigemptyset(&action.sa_mask);
        ::sigaction(kSignals[i], &action, &g_previous[i]);
      }
    }
    return s;
  }
  return -1;
}

void unregister_for_signals(int slot) {
  if (slot < 0) return;
  std::lock_guard lock(g_slots_mutex);
  g_slots[slot].state.store(0, std::memory_order_release);
  if (--g_live_slots == 0) {
    for (int i = 0; i < kSignalCount; ++i)
      if (g_installed[i]) ::sigaction(kSignals[i], &g_previous[i], nullptr);
  }
}

// --- Checks ---

std::string check_target(const fs::path& target) {
  if (target.empty()) return "no target directory was given (parameter dir)";
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) return fmt::format("the target directory {} does not exist", target.string());
    return fmt::format("cannot reach the target directory {}: {}", target.string(), errno_text(error));
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("the target {} is not a directory", target.string());
  if (::access(target.c_str(), W_OK | X_OK) != 0)
    return fmt::format("the target directory {} is not writable by this process: {}", target.string(),
                       errno_text(errno));
  return {};
}

std::string mkdir_error(const fs::path& target, const fs::path& dir, int error) {
  return fmt::format("the target directory {} is not writable: mkdir of {} failed: {}", target.string(),
                     dir.string(), errno_text(error));
}

}  // namespace

std::string unique_name(std::string_view prefix) {
  std::array<char, 256> host{};
  ::gethostname(host.data(), host.size() - 1);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char* c = host.data(); *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 0x100000001b3ull;
  const auto now = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t id =
      kernels::mix64(now ^ kernels::mix64(h ^ (static_cast<std::uint64_t>(::getpid()) << 20) ^ counter++));
  return fmt::format("{}-{:016x}", prefix, id);
}

void remove_work_dirs_now() noexcept {
  for (auto& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) != 2) continue;
    const int dir = ::open(slot.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) continue;
    remove_contents(dir, 0);
    ::close(dir);
    ::rmdir(slot.path);
  }
}

WorkDir::WorkDir(const collectives::Group& group, const fs::path& target, std::string_view benchmark, Need mine)
    : WorkDir(group, group.node_local(), target, benchmark, mine) {}

WorkDir::WorkDir(const collectives::Group& group, const collectives::Group& node, const fs::path& target,
                 std::string_view benchmark, Need mine)
    : group_(group) {
  const int rank = group.rank();
  agree(group, check_target(target));

  std::string error, name;
  if (rank == 0) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      name = unique_name(fmt::format("gpuaccept-{}", benchmark));
      if (::mkdir((target / name).c_str(), 0755) == 0) {
        created_here_ = true;
        error.clear();
        break;
      }
      const int failure = errno;
      error = mkdir_error(target, target / name, failure);
      if (failure != EEXIST) break;
    }
  }
  agree(group, error);
  group.broadcast(name, 0);
  path_ = target / name;
  signal_slot_ = register_for_signals(path_);

  try {
    // Node-local storage: ranks that do not see rank 0's directory make their own, of the
    // same name, on their node's file system.
    group.barrier();
    struct stat st;
    const bool visible = ::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (!visible) {
      if (::mkdir(path_.c_str(), 0755) == 0) {
        created_here_ = true;
      } else if (const int failure = errno; failure != EEXIST) {
        error = mkdir_error(target, path_, failure);
      }
    }
    double seen[1] = {visible ? 1.0 : 0.0};
    group.allreduce_min(seen);
    shared_ = seen[0] == 1.0;
    agree(group, error);

    // Free space, for what every rank sharing this file system will write.
    double everyone[2] = {mine.bytes, mine.inodes};
    group.allreduce_sum(everyone);
    double on_node[2] = {mine.bytes, mine.inodes};
    node.allreduce_sum(on_node);
    const double need_bytes = shared_ ? everyone[0] : on_node[0];
    space_needed_ = need_bytes;
    const double need_inodes = shared_ ? everyone[1] : on_node[1];
    struct statvfs vfs;
    if (::statvfs(path_.c_str(), &vfs) != 0) {
      error = fmt::format("statvfs of {} failed: {}", path_.string(), errno_text(errno));
    } else {
      const double free_bytes = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
      // Room for the file system's own metadata (indirect blocks, extents, journal).
      const double wanted = need_bytes * 1.02 + 16.0 * 1024 * 1024;
      if (need_bytes > 0 && free_bytes < wanted) {
        error = fmt::format("the file system of {} has {} free, the step needs {} there ({} of data{}); nothing was written",
                            target.string(), format_bytes(free_bytes), format_bytes(wanted), format_bytes(need_bytes),
                            shared_ ? " from all ranks" : " from the ranks of this node");
      } else if (vfs.f_files > 0 && static_cast<double>(vfs.f_favail) < need_inodes) {
        error = fmt::format("the file system of {} has {} free inodes, the step creates {} files and directories there; "
                            "nothing was written", target.string(), vfs.f_favail, need_inodes);
      }
    }
    agree(group, error);
  } catch (...) {
    remove_directory();
    unregister_for_signals(signal_slot_);
    throw;
  }
}

WorkDir::~WorkDir() {
  if (!closed_) {
    // Not collective (an exception is on its way): the other ranks are cleaning up at about
    // the same time. Directories empty out as they finish, so try for a while; any rank may
    // remove this run's (empty) directory, and the last one out does.
    run_file_cleanups();
    for (int attempt = 0; attempt < 40; ++attempt) {
      run_directory_cleanups();
      if (::rmdir(path_.c_str()) == 0 || errno != ENOTEMPTY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  unregister_for_signals(signal_slot_);
}

void WorkDir::on_cleanup(std::function<void()> remove_files) { file_cleanups_.push_back(std::move(remove_files)); }

void WorkDir::on_directory_cleanup(std::function<void()> remove_directories) {
  directory_cleanups_.push_back(std::move(remove_directories));
}

void WorkDir::run_file_cleanups() noexcept {
  while (!file_cleanups_.empty()) {
    auto cleanup = std::move(file_cleanups_.back());
    file_cleanups_.pop_back();
    try {
      cleanup();
    } catch (...) {
      // A cleanup that fails leaves its file; the directory then stays, and close() says so.
    }
  }
}

void WorkDir::run_directory_cleanups() noexcept {
  for (auto it = directory_cleanups_.rbegin(); it != directory_cleanups_.rend(); ++it) {
    try {
      (*it)();
    } catch (...) {
    }
  }
}

std::string WorkDir::remove_directory() noexcept {
  if (!created_here_) return {};
  if (::rmdir(path_.c_str()) == 0 || errno == ENOENT) return {};
  const int error = errno;
  std::size_t left = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(path_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++left;
  return fmt::format("could not remove {}: {} ({} entries left in it, kept)", path_.string(), errno_text(error), left);
}

std::string WorkDir::close() {
  run_file_cleanups();
  group_.barrier();
  run_directory_cleanups();
  directory_cleanups_.clear();
  group_.barrier();
  closed_ = true;
  return remove_directory();
}

}  // namespace gpuaccept::io
