// The child-process runner behind the external benchmark: output, exit status, environment,
// bounded output, time-out killing the whole process group.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "suites/process.hpp"

namespace gpuaccept::suites {
namespace {

TEST(ExternalProcess, OutputLinesAndExitStatus) {
  CommandSpec spec;
  spec.command = "echo one; echo two >&2; printf 'no newline'; exit 7";
  std::vector<std::string> lines;
  spec.on_line = [&](std::string_view l) { lines.emplace_back(l); };
  const auto r = run_command(spec);
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, "one\ntwo\nno newline");
  EXPECT_EQ(r.output_bytes, r.output.size());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "no newline"}));
}

TEST(ExternalProcess, EnvironmentAndNoInput) {
  CommandSpec spec;
  spec.command = "echo \"$GA_A|$GA_B\"; cat";  // cat reads /dev/null: returns at once
  spec.env = parse_env_list("GA_A=x=1  GA_B=two");
  const auto r = run_command(spec);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "x=1|two\n");
}

TEST(ExternalProcess, SignalIsReported) {
  CommandSpec spec;
  spec.command = "kill -USR1 $$";
  const auto r = run_command(spec);
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.signal, SIGUSR1);
}

TEST(ExternalProcess, OutputIsBoundedHeadAndTail) {
  CommandSpec spec;
  spec.command = "i=0; while [ $i -lt 2000 ]; do echo \"line $i\"; i=$((i+1)); done";
  spec.max_output = 4096;
  int lines = 0;
  spec.on_line = [&](std::string_view) { ++lines; };
  const auto r = run_command(spec);
  EXPECT_EQ(lines, 2000);  // every line is seen, however much is kept
  EXPECT_EQ(r.output_bytes, 10 * 7 + 90 * 8 + 900 * 9 + 1000 * 10U);  // "line N\n" for N < 2000
  EXPECT_LT(r.output.size(), 4096U + 100);
  EXPECT_EQ(r.output.rfind("line 0\n", 0), 0U);
  EXPECT_NE(r.output.find("bytes of output not kept"), std::string::npos);
  EXPECT_NE(r.output.find("line 1999\n"), std::string::npos);
}

TEST(ExternalProcess, TimeoutKillsTheWholeGroup) {
  const auto pidfile = std::filesystem::temp_directory_path() / "gpuaccept_external_pid";
  std::filesystem::remove(pidfile);
  CommandSpec spec;
  // A grandchild in the background and a foreground sleep: both must be gone after the limit.
  spec.command = "sleep 60 & echo $! > " + pidfile.string() + "; echo started; sleep 60";
  spec.time_limit_s = 0.5;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_command(spec);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(took, 5.0);
  EXPECT_EQ(r.output, "started\n");
  long pid = 0;
  std::ifstream(pidfile) >> pid;
  ASSERT_GT(pid, 0);
  // Dead, or a zombie waiting for whoever adopted it to reap it.
  auto dead = [](long p) {
    if (::kill(static_cast<pid_t>(p), 0) != 0) return true;
    std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
    std::string pid_field, comm, state;
    stat >> pid_field >> comm >> state;
    return state == "Z";
  };
  bool gone = false;
  for (int i = 0; i < 40 && !gone; ++i) {
    gone = dead(pid);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "background process " << pid << " survived the time-out";
  std::filesystem::remove(pidfile);
}

TEST(ExternalProcess, EnvListErrors) {
  EXPECT_TRUE(parse_env_list("  ").empty());
  EXPECT_THROW(parse_env_list("NOVALUE"), std::invalid_argument);
  EXPECT_THROW(parse_env_list("=x"), std::invalid_argument);
  EXPECT_THROW(parse_env_list("A-B=1"), std::invalid_argument);
  EXPECT_THROW(parse_env_list("1A=1"), std::invalid_argument);
  try {
    parse_env_list("OK=1 bad");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "'bad' is not NAME=value (NAME of letters, digits and _)");
  }
}

}  // namespace
}  // namespace gpuaccept::suites
