#include "io/mpiio_file.hpp"

#include <fmt/format.h>

#include <climits>

#include "collectives/communicator.hpp"
#include "collectives/mpi_check.hpp"

namespace gpuaccept::io {

namespace {

int count_of(std::size_t bytes) {
  if (bytes > static_cast<std::size_t>(INT_MAX))
    throw collectives::CollectiveError(fmt::format("MPI-IO transfer of {} bytes is larger than MPI's int count", bytes));
  return static_cast<int>(bytes);
}

// Adds the path to an MPI error, so that the message says which file.
template <typename F>
void with_path(const std::filesystem::path& path, F&& call) {
  try {
    call();
  } catch (const collectives::CollectiveError& e) {
    throw collectives::CollectiveError(fmt::format("MPI-IO on {}: {}", path.string(), e.what()));
  }
}

}  // namespace

MpiioFile::MpiioFile(const collectives::Group& group, const std::filesystem::path& path, Mode mode) : path_(path) {
  const MPI_Comm comm = *static_cast<MPI_Comm*>(group.native_handle());
  const int amode = mode == Mode::create_write ? (MPI_MODE_CREATE | MPI_MODE_WRONLY) : MPI_MODE_RDONLY;
  with_path(path_, [&] { GA_MPI_CHECK(MPI_File_open(comm, path.c_str(), amode, MPI_INFO_NULL, &file_)); });
  MPI_File_set_errhandler(file_, MPI_ERRORS_RETURN);
}

MpiioFile::~MpiioFile() {
  if (file_ != MPI_FILE_NULL) MPI_File_close(&file_);
}

void MpiioFile::write_at(std::span<const std::byte> data, std::uint64_t offset, bool collective) {
  MPI_Status status;
  const auto at = static_cast<MPI_Offset>(offset);
  with_path(path_, [&] {
    if (collective)
      GA_MPI_CHECK(MPI_File_write_at_all(file_, at, data.data(), count_of(data.size()), MPI_BYTE, &status));
    else
      GA_MPI_CHECK(MPI_File_write_at(file_, at, data.data(), count_of(data.size()), MPI_BYTE, &status));
  });
  int written = 0;
  MPI_Get_count(&status, MPI_BYTE, &written);
  if (static_cast<std::size_t>(written) != data.size())
    throw collectives::CollectiveError(fmt::format("MPI-IO on {}: wrote {} of {} bytes at offset {}", path_.string(),
                                                   written, data.size(), offset));
}

std::size_t MpiioFile::read_at(std::span<std::byte> data, std::uint64_t offset, bool collective) {
  MPI_Status status;
  const auto at = static_cast<MPI_Offset>(offset);
  with_path(path_, [&] {
    if (collective)
      GA_MPI_CHECK(MPI_File_read_at_all(file_, at, data.data(), count_of(data.size()), MPI_BYTE, &status));
    else
      GA_MPI_CHECK(MPI_File_read_at(file_, at, data.data(), count_of(data.size()), MPI_BYTE, &status));
  });
  int got = 0;
  MPI_Get_count(&status, MPI_BYTE, &got);
  return static_cast<std::size_t>(got);
}

void MpiioFile::sync() {
  with_path(path_, [&] { GA_MPI_CHECK(MPI_File_sync(file_)); });
}

void MpiioFile::close() {
  if (file_ == MPI_FILE_NULL) return;
  with_path(path_, [&] { GA_MPI_CHECK(MPI_File_close(&file_)); });
  file_ = MPI_FILE_NULL;
}

}  // namespace gpuaccept::io
