#include "io/ior.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "io/agree.hpp"
#include "io/io_error.hpp"
#include "io/mpiio_file.hpp"
#include "io/staging.hpp"

namespace gpuaccept::io {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Below this, waking a helper thread per transfer costs more than the pattern work it saves.
constexpr std::uint64_t kThreadedTransfer = 64 * 1024;

// Either file API behind one small interface for the phases.
class PhaseFile {
 public:
  PhaseFile(const collectives::Group& group, const IorConfig& config, const std::filesystem::path& path, bool write) {
    if (config.api == Api::posix) {
      const auto mode = !write ? PosixFile::Mode::read
                               : (config.layout.shared() ? PosixFile::Mode::create_shared
                                                         : PosixFile::Mode::create_exclusive);
      posix_.emplace(path, mode, config.direct);
      if (!write) posix_->advise(config.layout.order == AccessOrder::sequential);
    } else {
      mpiio_.emplace(group, path, write ? MpiioFile::Mode::create_write : MpiioFile::Mode::read);
    }
    collective_ = config.api == Api::mpiio && config.collective;
  }
  void write(std::span<const std::byte> data, std::uint64_t offset) {
    if (posix_) posix_->write_at(data, offset);
    else mpiio_->write_at(data, offset, collective_);
  }
  std::size_t read(std::span<std::byte> data, std::uint64_t offset) {
    return posix_ ? posix_->read_at(data, offset) : mpiio_->read_at(data, offset, collective_);
  }
  void sync() {
    if (posix_) posix_->sync();
    else mpiio_->sync();
  }
  void close() {
    if (posix_) posix_->close();
    else mpiio_->close();
  }
  bool collective() const { return collective_; }
  // MPI-IO opens, syncs and closes collectively: every rank must make those calls, error or not.
  bool collective_open_close() const { return mpiio_.has_value(); }
  // After a local error, a collective file keeps taking part (empty contributions) so that
  // the other ranks are not left waiting inside a collective call.
  void keep_in_step_write() {
    if (collective_) mpiio_->write_at({}, 0, true);
  }
  void keep_in_step_read() {
    if (collective_) mpiio_->read_at({}, 0, true);
  }

 private:
  std::optional<PosixFile> posix_;
  std::optional<MpiioFile> mpiio_;
  bool collective_ = false;
};

}  // namespace

std::string_view to_string(Api api) { return api == Api::mpiio ? "mpiio" : "posix"; }

std::optional<Api> api_from_string(std::string_view text) {
  if (text == "posix") return Api::posix;
  if (text == "mpiio") return Api::mpiio;
  return std::nullopt;
}

IorRun::IorRun(const collectives::Group& group, IorConfig config, std::filesystem::path dir, const Pattern& pattern,
               DataHooks hooks)
    : group_(group), config_(std::move(config)), dir_(std::move(dir)), pattern_(pattern), hooks_(std::move(hooks)) {
  rank_ = static_cast<std::uint32_t>(group.rank());
  size_ = static_cast<std::uint32_t>(group.size());
  config_.layout.ranks = size_;
  const auto transfer = static_cast<std::size_t>(config_.layout.transfer);
  const std::size_t count = transfer <= (std::size_t{64} << 20) ? 4 : 2;
  if (hooks_.allocate_slots) {
    slots_ = hooks_.allocate_slots(count, transfer);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      owned_slots_.emplace_back(transfer);
      slots_.push_back(owned_slots_.back().span());
    }
  }
  written_.assign(size_, config_.layout.transfers_per_rank());
}

std::filesystem::path IorRun::file_path(std::uint64_t file) const {
  if (config_.layout.shared()) return dir_ / fmt::format("{}.shared", config_.file_prefix);
  return dir_ / fmt::format("{}.{:08d}", config_.file_prefix, file);
}

std::vector<std::uint64_t> IorRun::exchange_counts(std::uint64_t mine) const {
  std::vector<std::uint64_t> counts(size_);
  const auto all = group_.gather(std::as_bytes(std::span(&mine, 1)), 0);
  if (rank_ == 0) std::memcpy(counts.data(), all.data(), all.size());
  group_.broadcast(std::as_writable_bytes(std::span(counts)), 0);
  return counts;
}

PhaseOutcome IorRun::write_phase(std::uint32_t generation, std::uint64_t& stonewall_transfers) {
  const Layout& layout = config_.layout;
  const Layout::Sequence sequence = layout.sequence(rank_);
  const DataTag tag{layout.file_of(rank_), rank_, generation};
  // Buffered writes fill inline (see ior.hpp); O_DIRECT writes overlap the fill with the device.
  const bool threaded = layout.transfer >= kThreadedTransfer && (config_.direct || hooks_.produce);
  // Inline, one buffer does (as fio's one buffer): it stays in cache, and after the first
  // transfer the filler only rewrites its block headers.
  Filler filler(pattern_, tag);
  StagingRing ring(
      threaded ? slots_ : std::vector<std::span<std::byte>>{slots_.front()}, StagingRing::Direction::ahead,
      [&](std::uint64_t i, std::span<std::byte> slot) {
        const auto data = slot.first(sequence.bytes(i));
        if (hooks_.produce) hooks_.produce(i, sequence.offset(i), data);
        else filler.fill(data, sequence.offset(i));
      },
      threaded, sequence.size());

  std::string error;
  std::uint64_t done = 0, bytes = 0;
  std::optional<PhaseFile> file;
  const auto write_one = [&] {
    const auto data = ring.take(done).first(sequence.bytes(done));
    file->write(data, sequence.offset(done));
    ring.give_back(done);
    bytes += data.size();
    ++done;
  };

  group_.barrier();
  const auto start = Clock::now();
  try {
    file.emplace(group_, config_, file_path(tag.file), true);
    const bool deadline = config_.stonewall_seconds > 0;
    while (done < sequence.size()) {
      write_one();
      if (deadline && seconds_since(start) >= config_.stonewall_seconds) break;
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (config_.stonewall_seconds > 0) {
    // The ranks agree how far the fastest got; with wear-out every rank completes that much.
    double reached[1] = {static_cast<double>(done)};
    group_.allreduce_max(reached);
    stonewall_transfers = static_cast<std::uint64_t>(reached[0]);
    if (config_.wearout && error.empty()) {
      try {
        while (done < stonewall_transfers) write_one();
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    ring.limit(done);
  }
  if (file && file->collective()) {
    for (std::uint64_t i = done; !error.empty() && i < sequence.size(); ++i) {
      try {
        file->keep_in_step_write();
      } catch (const std::exception&) {
      }
    }
  }
  if (file) {
    try {
      if (config_.fsync && (error.empty() || file->collective_open_close())) file->sync();
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
    try {
      file->close();
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
  }
  const double elapsed = seconds_since(start);
  agree(group_, error);

  PhaseOutcome out;
  out.mine = {0.0, elapsed, static_cast<double>(bytes)};
  out.transfers = done;
  out.all = combine(group_, out.mine);
  written_ = exchange_counts(done);
  return out;
}

PhaseOutcome IorRun::read_phase(std::uint32_t generation) {
  const Layout& layout = config_.layout;
  const std::uint32_t writer = (rank_ + config_.read_shift) % size_;
  const Layout::Sequence sequence = layout.sequence(writer);
  const std::uint64_t count = written_[writer];
  const DataTag tag{layout.file_of(writer), writer, generation};
  const auto path = file_path(tag.file);

  std::string error;
  if (config_.invalidate) {
    try {
      PosixFile cached(path, PosixFile::Mode::read, false);
      cached.drop_cache();
      cached.close();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  agree(group_, error);

  VerifyResult verified;  // the helper's until drain()
  VerifyResult missing;   // this thread's
  std::uint64_t done = 0, bytes = 0;
  const bool threaded = layout.transfer >= kThreadedTransfer;
  std::optional<PhaseFile> file;
  {
    StagingRing ring(
        slots_, StagingRing::Direction::behind,
        [&](std::uint64_t i, std::span<std::byte> data) {
          // Whatever came back short is counted as missing by the reader; check the rest.
          verified.merge(pattern_.verify(data, tag, sequence.offset(i)));
          if (hooks_.consume) hooks_.consume(i, sequence.offset(i), data);
        },
        threaded);

    group_.barrier();
    const auto start = Clock::now();
    try {
      file.emplace(group_, config_, path, false);
      for (; done < count; ++done) {
        const std::uint64_t want = sequence.bytes(done), offset = sequence.offset(done);
        const auto slot = ring.free_slot(done).first(want);
        const std::size_t got = file->read(slot, offset);
        bytes += got;
        if (got < want) {
          const std::uint64_t lost = want - got;
          missing.checked_bytes += lost;
          missing.wrong_bytes += lost;
          missing.wrong_blocks += (lost + Pattern::kBlockBytes - 1) / Pattern::kBlockBytes;
          if (!missing.first_wrong_offset) {
            missing.first_wrong_offset = offset + got;
            missing.first_wrong = fmt::format("the file ends early: {} of {} bytes came back at offset {} of {}", got,
                                              want, offset, path.string());
          }
        }
        ring.submit(done, got);
      }
      ring.drain();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (file && file->collective()) {
      for (std::uint64_t i = done; !error.empty() && i < count; ++i) {
        try {
          file->keep_in_step_read();
        } catch (const std::exception&) {
        }
      }
    }
    if (file) {
      try {
        file->close();
      } catch (const std::exception& e) {
        if (error.empty()) error = e.what();
      }
    }
    const double elapsed = seconds_since(start);
    agree(group_, error);
    PhaseOutcome out;
    out.mine = {0.0, elapsed, static_cast<double>(bytes)};
    out.transfers = done;
    out.all = combine(group_, out.mine);
    verified.merge(missing);
    if (!verified.ok())
      verified.first_wrong = fmt::format("{} (written by rank {}): {}", path.string(), writer, verified.first_wrong);
    out.verify = std::move(verified);
    return out;
  }
}

void IorRun::remove_phase() {
  group_.barrier();
  std::string error;
  const bool owner = !config_.layout.shared() || rank_ == 0;
  if (owner) {
    const auto path = file_path(config_.layout.file_of(rank_));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      const int failure = errno;
      error = fmt::format("unlink of {} failed: {}", path.string(), errno_text(failure));
    }
  }
  agree(group_, error);
}

void IorRun::remove_files() noexcept {
  if (config_.layout.shared() && rank_ != 0) return;
  try {
    ::unlink(file_path(config_.layout.file_of(rank_)).c_str());
  } catch (...) {
  }
}

IterationOutcome IorRun::iteration(std::uint32_t generation) {
  IterationOutcome out;
  out.write = write_phase(generation, out.stonewall_transfers);
  if (config_.read) out.read = read_phase(generation);
  remove_phase();
  return out;
}

}  // namespace gpuaccept::io
