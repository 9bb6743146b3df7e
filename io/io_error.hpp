// Errors of the storage layer. A failed system call becomes an IoError whose message names
// the operation, the path (and offset where there is one), and errno's name and text:
//
//   pwrite of 1048576 bytes at offset 7340032 to /lustre/x/gpuaccept-ior-1f2e/ior.00000003
//   failed: ENOSPC (No space left on device)
//
// The harness adds the rank and host. MPI-IO calls go through GA_MPI_CHECK
// (collectives/mpi_check.hpp), the one checking macro for MPI.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gpuaccept::io {

class IoError : public std::runtime_error {
 public:
  explicit IoError(const std::string& message, int code = 0) : std::runtime_error(message), code_(code) {}
  // errno of the failed call, 0 when there was none.
  int code() const { return code_; }

 private:
  int code_;
};

// "ENOSPC (No space left on device)".
std::string errno_text(int error);

// Throws IoError: "<what> <path> failed: <errno_text>".
[[noreturn]] void throw_errno(std::string_view what, const std::filesystem::path& path, int error);

// Bytes as a person reads them: "512 B", "4 KiB", "1.5 GiB".
std::string format_bytes(double bytes);

}  // namespace gpuaccept::io
