#include "suites/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

extern char** environ;

namespace gpuaccept::suites {

namespace {

constexpr std::size_t kMaxLine = 64 * 1024;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct SpawnActions {
  posix_spawn_file_actions_t actions{};
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

struct SpawnAttr {
  posix_spawnattr_t attr{};
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

// Keeps the head and the tail of a stream of bytes.
class BoundedText {
 public:
  explicit BoundedText(std::size_t max) : head_max_(max / 4), tail_max_(max - max / 4) {}
  void append(const char* p, std::size_t n) {
    total_ += n;
    const std::size_t to_head = std::min(n, head_max_ - head_.size());
    head_.append(p, to_head);
    tail_.append(p + to_head, n - to_head);
    if (tail_.size() > 2 * tail_max_ + 4096) tail_.erase(0, tail_.size() - tail_max_);
  }
  std::string text() const {
    std::string out = head_;
    const std::size_t tail_kept = std::min(tail_.size(), tail_max_);
    const std::size_t dropped = total_ - head_.size() - tail_kept;
    if (dropped > 0) out += fmt::format("\n[... {} bytes of output not kept ...]\n", dropped);
    out.append(tail_, tail_.size() - tail_kept, tail_kept);
    for (char& c : out)
      if (c == '\0') c = '?';
    return out;
  }
  std::size_t total() const { return total_; }

 private:
  std::size_t head_max_, tail_max_;
  std::string head_, tail_;
  std::size_t total_ = 0;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_env_list(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    const std::string_view entry = text.substr(i, j - i);
    const auto eq = entry.find('=');
    bool valid = eq != std::string_view::npos && eq > 0 &&
                 !std::isdigit(static_cast<unsigned char>(entry[0]));
    for (std::size_t k = 0; valid && k < eq; ++k)
      valid = std::isalnum(static_cast<unsigned char>(entry[k])) || entry[k] == '_';
    if (!valid)
      throw std::invalid_argument(fmt::format("'{}' is not NAME=value (NAME of letters, digits and _)", entry));
    out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    i = j;
  }
  return out;
}

CommandResult run_command(const CommandSpec& spec) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw ProcessError(fmt::format("pipe: {}", std::strerror(errno)));
  Fd read_end(fds[0]), write_end(fds[1]);

  SpawnActions fa;
  posix_spawn_file_actions_addopen(&fa.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&fa.actions, write_end.get(), 2);
  SpawnAttr sa;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&sa.attr, &all);  // MPI may ignore SIGPIPE; the child must not
  posix_spawnattr_setsigmask(&sa.attr, &none);
  posix_spawnattr_setpgroup(&sa.attr, 0);          // its own process group, killed as a whole
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string_view::npos) env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [name, value] : spec.env) env[name] = value;
  std::vector<std::string> env_text;
  for (const auto& [name, value] : env) env_text.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_text) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", command = spec.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};

  const auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  if (const int rc = posix_spawn(&pid, "/bin/sh", &fa.actions, &sa.attr, argv, envp.data()); rc != 0)
    throw ProcessError(fmt::format("cannot start /bin/sh: {}", std::strerror(rc)));
  write_end.reset();

  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  CommandResult result;
  BoundedText kept(spec.max_output);
  std::string line;
  auto take = [&](const char* p, std::size_t n) {
    kept.append(p, n);
    for (std::size_t i = 0; i < n; ++i) {
      if (p[i] == '\n') {
        if (spec.on_line) spec.on_line(line);
        line.clear();
      } else if (line.size() < kMaxLine) {
        line.push_back(p[i]);
      }
    }
  };
  int status = 0;
  bool reaped = false;
  double exited_at = -1;
  char buf[65536];
  bool eof = false;
  while (!eof) {
    if (!reaped) {
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        reaped = true;
        exited_at = elapsed();
      }
    }
    if (reaped && elapsed() - exited_at > 1.0) break;  // leftovers hold the pipe: stop reading
    if (!reaped && elapsed() > spec.time_limit_s) {
      result.timed_out = true;
      break;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n > 0) take(buf, static_cast<std::size_t>(n));
      else if (n == 0) eof = true;
      else if (errno != EINTR && errno != EAGAIN) eof = true;
    }
  }
  // Whatever is left in the group (the timed-out command, or background leftovers): end it.
  if (result.timed_out) {
    ::kill(-pid, SIGTERM);
    for (int i = 0; i < 40 && !reaped; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      reaped = ::waitpid(pid, &status, WNOHANG) == pid;
    }
  }
  ::kill(-pid, SIGKILL);
  if (!reaped) ::waitpid(pid, &status, 0);
  if (!line.empty() && spec.on_line) spec.on_line(line);  // a last line without a newline
  result.seconds = elapsed();
  result.output = kept.text();
  result.output_bytes = kept.total();
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace gpuaccept::suites
