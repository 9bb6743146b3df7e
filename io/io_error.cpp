#include "io/io_error.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstring>

namespace gpuaccept::io {

std::string errno_text(int error) {
  const char* name = strerrorname_np(error);
  std::array<char, 256> text{};
  // The GNU strerror_r returns the text (in the buffer or a static string).
  const char* description = strerror_r(error, text.data(), text.size());
  return fmt::format("{} ({})", name ? name : fmt::format("errno {}", error), description);
}

void throw_errno(std::string_view what, const std::filesystem::path& path, int error) {
  throw IoError(fmt::format("{} {} failed: {}", what, path.string(), errno_text(error)), error);
}

std::string format_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  double value = bytes;
  while (std::fabs(value) >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", value);
  return value == std::floor(value) ? fmt::format("{:.0f} {}", value, units[unit])
                                    : fmt::format("{:.3g} {}", value, units[unit]);
}

}  // namespace gpuaccept::io
