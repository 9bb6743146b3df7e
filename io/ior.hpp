// The IOR-style bandwidth engine: one iteration is a write phase, a read phase and the
// removal of the files, collectively over a group of ranks.
//
// Write phase (timed from a barrier to this rank's close): open or create, write every
// transfer of this rank's layout in its order, fsync if asked, close. With stonewalling, a
// rank stops issuing transfers `stonewall_seconds` after the start; the ranks then agree on
// the largest count any rank reached and, with wear-out (as IO500 does), every rank writes up
// to that count, so that the files are complete up to a common point. The bytes moved are
// what is reported.
// Read phase: optionally drop the files from the page cache (untimed), then, from a barrier,
// rank r reads what rank (r + read_shift) mod N wrote (IOR's task reordering: with a shift of
// the ranks per node, a rank reads what another node wrote, out of reach of its page cache),
// every byte checked against the pattern on the fly.
// Pattern work overlaps the I/O (io/staging.hpp) for transfers of 64 KiB and more, for reads
// (verification) and O_DIRECT writes (filling). A buffered write fills one buffer inline: the
// kernel copies from it at once, and from this core's cache that copy is fastest (measured:
// docs/storage.md). Either way a buffer's pattern body is generated once per phase where the
// transfers fall on the same place of the pattern's 1 MiB ring; later transfers only rewrite
// the 32-byte header of each 4 KiB block (io/pattern.hpp, Filler).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "collectives/group.hpp"
#include "io/bandwidth.hpp"
#include "io/layout.hpp"
#include "io/pattern.hpp"
#include "io/posix_file.hpp"

namespace gpuaccept::io {

enum class Api { posix, mpiio };
std::string_view to_string(Api api);
std::optional<Api> api_from_string(std::string_view text);

struct IorConfig {
  Api api = Api::posix;
  bool collective = false;       // MPI-IO only: MPI_File_write_at_all / read_at_all
  Layout layout;
  bool direct = false;           // O_DIRECT (POSIX only)
  bool fsync = true;             // fsync (MPI_File_sync) at the end of the write phase, timed
  bool invalidate = false;       // drop the page cache of the files before reading (untimed)
  double stonewall_seconds = 0;  // 0: off
  bool wearout = true;
  std::uint32_t read_shift = 0;  // rank r reads what rank (r + read_shift) mod N wrote
  bool read = true;
  std::string file_prefix = "ior";
};

struct PhaseOutcome {
  PhaseSpan mine;                // start 0 at the phase's barrier, end = this rank's elapsed seconds, bytes
  PhaseTotals all;               // over all ranks
  std::uint64_t transfers = 0;   // this rank's
  VerifyResult verify;           // read phase: what this rank's checks found
};

struct IterationOutcome {
  PhaseOutcome write;
  std::optional<PhaseOutcome> read;
  std::uint64_t stonewall_transfers = 0;  // the count every rank reached (0 without stonewalling)
};

// Where the bytes come from and go to, for the checkpoint's GPU source. By default the data
// is the pattern, generated on the fly, and reads are only verified.
struct DataHooks {
  // Fills `data` with what this rank writes as its transfer `index` (at file offset `offset`).
  std::function<void(std::uint64_t index, std::uint64_t offset, std::span<std::byte> data)> produce;
  // Called with what was read as transfer `index`, after verification.
  std::function<void(std::uint64_t index, std::uint64_t offset, std::span<const std::byte> data)> consume;
  // Staging memory: `count` slots of `bytes` each (pinned memory for GPU copies). Default: page-aligned host memory.
  std::function<std::vector<std::span<std::byte>>(std::size_t count, std::size_t bytes)> allocate_slots;
};

class IorRun {
 public:
  IorRun(const collectives::Group& group, IorConfig config, std::filesystem::path dir, const Pattern& pattern,
         DataHooks hooks = {});

  // Collective. Throws StepFailure (on every rank) when a rank could not do its part.
  IterationOutcome iteration(std::uint32_t generation);

  // The phases of an iteration, one by one (collective each).
  PhaseOutcome write_phase(std::uint32_t generation, std::uint64_t& stonewall_transfers);
  PhaseOutcome read_phase(std::uint32_t generation);
  void remove_phase();

  // Removes the files this rank owns, if they exist (a cleanup for WorkDir).
  void remove_files() noexcept;

  std::filesystem::path file_path(std::uint64_t file) const;
  const IorConfig& config() const { return config_; }

 private:
  std::vector<std::uint64_t> exchange_counts(std::uint64_t mine) const;

  const collectives::Group& group_;
  IorConfig config_;
  std::filesystem::path dir_;
  const Pattern& pattern_;
  DataHooks hooks_;
  std::uint32_t rank_ = 0;
  std::uint32_t size_ = 1;
  std::vector<std::uint64_t> written_;  // transfers each rank wrote in the last write phase
  std::vector<AlignedBuffer> owned_slots_;
  std::vector<std::span<std::byte>> slots_;
};

}  // namespace gpuaccept::io
