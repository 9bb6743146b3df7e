#include "results/input_error.hpp"

#include <fmt/format.h>

namespace gpuaccept {

std::string format_location(const SourceLocation& where) {
  if (where.file.empty()) return {};
  if (where.line <= 0) return where.file;
  if (where.column <= 0) return fmt::format("{}:{}", where.file, where.line);
  return fmt::format("{}:{}:{}", where.file, where.line, where.column);
}

InputError::InputError(SourceLocation where, const std::string& message)
    : std::runtime_error(where.file.empty() ? message
                                            : format_location(where) + ": " + message),
      where_(std::move(where)),
      message_(message) {}

InputError::InputError(const std::string& message)
    : std::runtime_error(message), message_(message) {}

}  // namespace gpuaccept
