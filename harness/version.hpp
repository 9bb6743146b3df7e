// The tool's version and the git revision it was built from. The revision is looked up at
// every build (harness/version.cmake), not only when CMake configures, so that a results file
// never names a commit older than the code that wrote it.
#pragma once

#include <string_view>

namespace gpuaccept::harness {

std::string_view tool_version();  // the project version, e.g. "0.1.0"
std::string_view git_revision();  // `git describe --always --dirty`, or "unknown" outside a git checkout

}  // namespace gpuaccept::harness
