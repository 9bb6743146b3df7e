// Runs a shell command in a child process: `/bin/sh -c COMMAND` started with posix_spawn in its
// own process group, stdin from /dev/null, stdout and stderr merged into one pipe. The command
// text is handed to the shell of the child, never evaluated in this process. On time-out the
// whole process group gets SIGTERM, then SIGKILL 2 s later; when the shell exits, processes it
// left behind in its group are killed too (after 1 s to flush their output).
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpuaccept::suites {

class ProcessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommandSpec {
  std::string command;
  // Set in the child's environment (on top of this process's).
  std::vector<std::pair<std::string, std::string>> env;
  double time_limit_s = 60;
  // Output kept: the first quarter and the last three quarters of this many bytes, with a
  // marker line between them where bytes were dropped.
  std::size_t max_output = std::size_t{1} << 20;
  // Called for every line of output (without its newline; lines longer than 64 KiB are cut),
  // however much of it is kept.
  std::function<void(std::string_view)> on_line;
};

struct CommandResult {
  bool timed_out = false;
  bool exited = false;     // exited normally (exit_code valid); false: killed by a signal
  int exit_code = -1;
  int signal = 0;          // the signal that ended it, when !exited
  double seconds = 0;
  std::string output;      // bounded as CommandSpec::max_output says; NUL bytes become '?'
  std::size_t output_bytes = 0;  // everything it printed
};

// Throws ProcessError when the child cannot be started (pipe, posix_spawn).
CommandResult run_command(const CommandSpec& spec);

// "NAME=value OTHER=x" (whitespace-separated; a value has no spaces) into pairs; throws
// std::invalid_argument naming the bad entry.
std::vector<std::pair<std::string, std::string>> parse_env_list(std::string_view text);

}  // namespace gpuaccept::suites
