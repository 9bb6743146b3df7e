// selftest: a benchmark that misbehaves on request, linked only into the test build of the
// CLI (gpuaccept-selftest), so that the harness's failure paths are tested for real: a step
// that throws, one that hangs past its timeout, a rank with a wrong answer, a slow step to
// kill in the middle of.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "collectives/arrivals.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::suites {
namespace {

// GPUACCEPT_TEST_HANG_RANK=r (honoured only by this test binary): step rank r never enters
// any collective benchmark's operation, so that the hang path (watchdog, timeout record,
// the ranks named as missing) is tested with a real hung collective.
[[maybe_unused]] const bool hang_hook_installed = [] {
  if (std::getenv("GPUACCEPT_TEST_HANG_RANK") == nullptr) return false;
  collectives::set_before_collective_hook([](int step_rank) {
    if (step_rank == std::atoi(std::getenv("GPUACCEPT_TEST_HANG_RANK")))
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  });
  return true;
}();

RankOutcome run(const RunContext& ctx) {
  const auto& mode = param_text(ctx.params, "mode");
  const auto target = param_int(ctx.params, "target_rank");
  const bool me = target < 0 || target == ctx.rank;
  const double seconds = param_real(ctx.params, "seconds");
  RankOutcome out;
  const auto start = std::chrono::steady_clock::now();
  if (mode == "sleep" || (mode == "hang" && me)) {
    std::this_thread::sleep_for(std::chrono::duration<double>(mode == "hang" ? 1e6 : seconds));
  }
  if (mode == "throw" && me) throw std::runtime_error("selftest: thrown on purpose");
  // Everybody agrees on the step's end, as a collective benchmark would.
  ctx.group.barrier();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.metrics["value"] = 100.0 + ctx.rank;  // known per-rank values for evaluation tests
  out.metrics["elapsed"] = elapsed;
  for (int i = 0; i < ctx.timing.iterations; ++i) out.iteration_seconds.push_back(elapsed / ctx.timing.iterations);
  if (mode == "wrong" && me) {
    out.status = Status::incorrect;
    out.message = "selftest: wrong answer on purpose";
  }
  return out;
}

BenchmarkDef make() {
  BenchmarkDef b;
  b.name = "selftest";
  b.summary = "test-only benchmark that sleeps, throws, hangs or answers wrong on request";
  b.params = {
      {"mode", ParamType::text, std::string("ok"), "ok|sleep|throw|hang|wrong", {}, {}, {"ok", "sleep", "throw", "hang", "wrong"}},
      {"target_rank", ParamType::integer, std::int64_t{-1}, "the rank that misbehaves (-1: all)", -1, 1e6, {}},
      {"seconds", ParamType::real, 0.0, "sleep time for mode sleep", 0, 3600, {}},
  };
  b.rank_metrics = {{"value", "", Better::higher, "100 + rank"}, {"elapsed", "s", Better::lower, "time in the step"}};
  b.headline = "value";
  b.estimate_seconds = [](const Params& p, kernels::Backend, int) { return param_real(p, "seconds"); };
  b.run = run;
  return b;
}

GPUACCEPT_REGISTER_BENCHMARK(make);

}  // namespace
}  // namespace gpuaccept::suites
