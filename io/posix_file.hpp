// POSIX files and I/O buffers, each owned once (RAII). Failed calls throw IoError with the
// operation, path, offset and errno; destructors never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace gpuaccept::io {

// Page-aligned host memory (O_DIRECT needs aligned buffers), zero-filled.
class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 4096;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  static constexpr std::size_t kHugeFrom = std::size_t{256} << 10;  // buffers from here on: huge pages
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t bytes);
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  std::span<std::byte> span() const { return {data_, size_}; }
  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

class PosixFile {
 public:
  enum class Mode {
    create_exclusive,  // O_CREAT | O_EXCL | O_WRONLY: a file nobody else has (N-N, mdtest)
    create_shared,     // O_CREAT | O_WRONLY: every rank opens the one shared file
    read,              // O_RDONLY
  };
  PosixFile() = default;
  PosixFile(const std::filesystem::path& path, Mode mode, bool direct);
  PosixFile(PosixFile&& other) noexcept;
  PosixFile& operator=(PosixFile&& other) noexcept;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;
  ~PosixFile();

  bool is_open() const { return fd_ >= 0; }
  const std::filesystem::path& path() const { return path_; }

  // Writes all of `data` at `offset` (retrying short writes and EINTR).
  void write_at(std::span<const std::byte> data, std::uint64_t offset);
  // Reads up to data.size() bytes at `offset`; returns fewer only at the end of the file.
  std::size_t read_at(std::span<std::byte> data, std::uint64_t offset);
  void sync();  // fsync: the data is on stable storage when it returns
  // Tells the kernel the access pattern (posix_fadvise SEQUENTIAL or RANDOM), as fio does by
  // default (fadvise_hint): a larger read-ahead window for sequential reads, none for random ones.
  void advise(bool sequential);
  // Writes back and drops this file's pages from the page cache, so that the next read comes
  // from the storage (fdatasync, then posix_fadvise DONTNEED, as fio's invalidate does).
  void drop_cache();
  // Closes and reports a failed close (NFS and parallel file systems report write errors there).
  void close();

 private:
  int fd_ = -1;
  bool direct_ = false;
  std::filesystem::path path_;
};

}  // namespace gpuaccept::io
