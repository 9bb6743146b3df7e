#include "io/posix_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "io/io_error.hpp"

namespace gpuaccept::io {

AlignedBuffer::AlignedBuffer(std::size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = nullptr;
  // Large buffers sit in transparent huge pages where the kernel offers them (madvise mode):
  // physically contiguous, so that a 1 MiB O_DIRECT transfer is one block-layer segment, not
  // 256 pages that exceed a virtio disk's 254 segments and split every request in two.
  const bool huge = bytes >= kHugeFrom;
  const std::size_t alignment = huge ? kHugePage : kAlignment;
  const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  if (posix_memalign(&p, alignment, rounded) != 0) throw std::bad_alloc();
  if (huge) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint: without THP the pages stay small
  data_ = static_cast<std::byte*>(p);
  std::memset(data_, 0, rounded);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

PosixFile::PosixFile(const std::filesystem::path& path, Mode mode, bool direct) : direct_(direct), path_(path) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case Mode::create_exclusive: flags |= O_CREAT | O_EXCL | O_WRONLY; break;
    case Mode::create_shared: flags |= O_CREAT | O_WRONLY; break;
    case Mode::read: flags |= O_RDONLY; break;
  }
  if (direct) flags |= O_DIRECT;
  do {
    fd_ = ::open(path.c_str(), flags, 0644);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    const int error = errno;
    if (direct && error == EINVAL)
      throw IoError(fmt::format("open of {} with O_DIRECT failed: {}: the file system does not support O_DIRECT "
                                "(set direct: false)", path.string(), errno_text(error)), error);
    throw_errno(mode == Mode::read ? "open for reading of" : "create of", path, error);
  }
}

PosixFile::PosixFile(PosixFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), direct_(other.direct_), path_(std::move(other.path_)) {}

PosixFile& PosixFile::operator=(PosixFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    direct_ = other.direct_;
    path_ = std::move(other.path_);
  }
  return *this;
}

PosixFile::~PosixFile() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
[[noreturn]] void throw_transfer_error(const char* call, std::size_t bytes, std::uint64_t offset,
                                       const std::filesystem::path& path, int error, bool direct) {
  std::string message = fmt::format("{} of {} bytes at offset {} {} {} failed: {}", call, bytes, offset,
                                    std::strcmp(call, "pwrite") == 0 ? "to" : "from", path.string(), errno_text(error));
  if (direct && error == EINVAL)
    message += " (O_DIRECT needs transfer sizes and offsets that are multiples of the device's logical block size)";
  throw IoError(message, error);
}
}  // namespace

void PosixFile::write_at(std::span<const std::byte> data, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_transfer_error("pwrite", data.size(), offset, path_, errno, direct_);
    }
    if (n == 0) throw_transfer_error("pwrite", data.size(), offset, path_, EIO, direct_);
    done += static_cast<std::size_t>(n);
  }
}

std::size_t PosixFile::read_at(std::span<std::byte> data, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pread(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_transfer_error("pread", data.size(), offset, path_, errno, direct_);
    }
    if (n == 0) break;  // end of file
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void PosixFile::sync() {
  if (::fsync(fd_) != 0) throw_errno("fsync of", path_, errno);
}

void PosixFile::advise(bool sequential) {
  // Advice only: a file system that ignores it is not an error.
  (void)::posix_fadvise(fd_, 0, 0, sequential ? POSIX_FADV_SEQUENTIAL : POSIX_FADV_RANDOM);
}

void PosixFile::drop_cache() {
  if (::fdatasync(fd_) != 0) throw_errno("fdatasync of", path_, errno);
  if (const int rc = ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED); rc != 0)
    throw_errno("posix_fadvise(DONTNEED) of", path_, rc);
}

void PosixFile::close() {
  if (fd_ < 0) return;
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR) throw_errno("close of", path_, errno);
}

}  // namespace gpuaccept::io
