// One shared file through MPI-IO, owned once (RAII). Opening and closing are collective over
// the group; reads and writes are independent (MPI_File_write_at) or collective
// (MPI_File_write_at_all). Failures throw CollectiveError via GA_MPI_CHECK, with MPI's own
// error text and the file's path.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <span>

#include "collectives/group.hpp"

namespace gpuaccept::io {

class MpiioFile {
 public:
  enum class Mode { create_write, read };
  // Collective over `group`.
  MpiioFile(const collectives::Group& group, const std::filesystem::path& path, Mode mode);
  MpiioFile(const MpiioFile&) = delete;
  MpiioFile& operator=(const MpiioFile&) = delete;
  // Closes (collectively) if close() was not called; errors are dropped.
  ~MpiioFile();

  // `collective`: every rank of the group must call, the same number of times (an empty
  // span is a valid contribution).
  void write_at(std::span<const std::byte> data, std::uint64_t offset, bool collective);
  std::size_t read_at(std::span<std::byte> data, std::uint64_t offset, bool collective);
  void sync();   // MPI_File_sync, collective
  void close();  // MPI_File_close, collective

 private:
  MPI_File file_ = MPI_FILE_NULL;
  std::filesystem::path path_;
};

}  // namespace gpuaccept::io
