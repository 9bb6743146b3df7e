// The `gpuaccept` command line: run, plan, check, show, list.
#pragma once

namespace gpuaccept::harness {

// Parses argv, runs the subcommand and returns the exit status (0 pass, 1 fail, 2 bad input
// or usage, 3 a step broke). Never throws.
int main_cli(int argc, char** argv);

}  // namespace gpuaccept::harness
