// Errors in what a user gave us (campaign, contract, results file, command line).
// They carry the place so that the message reads like a compiler's: "file:line:col: what".
#pragma once

#include <stdexcept>
#include <string>

namespace gpuaccept {

struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
};

std::string format_location(const SourceLocation& where);

// Bad input: the CLI prints what() and exits with status 2.
class InputError : public std::runtime_error {
 public:
  InputError(SourceLocation where, const std::string& message);
  explicit InputError(const std::string& message);
  const SourceLocation& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  SourceLocation where_;
  std::string message_;
};

}  // namespace gpuaccept
