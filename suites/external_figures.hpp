// The `simulate` parameter of the external benchmark: the figures `gpuaccept simulate` stores for
// a command it cannot run (docs/simulation.md). A real run ignores it. Written as
//   simulate: "tokens_per_s=1.2e6 step_time=0.85 seconds=1500"
// metric=value pairs separated by spaces or commas; metric names are the external benchmark's
// rank metrics (tokens_per_s, step_time, tflops, mfu, loss, bandwidth, latency, value, seconds, ...).
#pragma once

#include <map>
#include <stdexcept>
#include <string>

namespace gpuaccept::suites {

// Throws std::invalid_argument naming the bad pair; an empty text gives an empty map.
std::map<std::string, double> parse_simulated_figures(const std::string& text);

}  // namespace gpuaccept::suites
