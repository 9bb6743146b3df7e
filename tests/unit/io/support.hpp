// Helpers for the io tests: a fresh temporary directory per test, and MPI started only by the
// tests that need a group (MPI_COMM_WORLD of size 1, as singleton MPI_Init gives without
// mpirun), so that the pure tests do not pay for it.
#pragma once

#include <mpi.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "collectives/group.hpp"

namespace gpuaccept::io::test_support {

inline collectives::Group world() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) MPI_Init(nullptr, nullptr);  // finalised by mpi_environment.cpp
  return collectives::Group::world();
}

class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "gpuaccept-io-test-XXXXXX").string();
    if (!mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Entries directly in the directory.
  std::size_t entries() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path_)) ++n;
    return n;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace gpuaccept::io::test_support
