// The HDF5 results store: one file per run, readable with h5dump and h5py without our code.
// The layout is documented in docs/results-schema.md; kSchemaVersion changes with it.
//
// Durability: write_step() returns only after the step is flushed to disk, so a run killed
// (even with SIGKILL) after that keeps the step. A backup twin "<file>~" is written after
// the main file at every step and removed by finish(): a kill that lands in the middle of a
// write can damage at most one of the two, and open_for_reading() falls back to the twin.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "results/step_result.hpp"

namespace gpuaccept {

inline constexpr const char* kSchemaVersion = "1.0";

// A results file that cannot be read, is not ours, or cannot be written.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ResultsFile {
  std::filesystem::path path;  // the file actually read (the twin, when it was used)
  RunInfo run;
  std::vector<StepResult> steps;  // in the order they were written
  std::vector<std::string> notes; // things the reader had to do, e.g. "read the backup twin"
};

// "1.10.8": the HDF5 library this binary writes with, for provenance.
std::string hdf5_library_version();

// Which sample sets read_results loads into memory. At full scale they are most of a file
// (per-iteration times of 500,000 ranks, burn-in series, p2p matrices) and most readers need
// none of them: `check` only the communicators' `group_ranks`, `compare` none.
enum class SampleLoading {
  all,     // every sample set, values included
  listed,  // only those named in ReadOptions::sample_names; the others keep name, unit, axes
           // and shape, without values (Samples::loaded() is false): read_sample_values()
};

struct ReadOptions {
  SampleLoading samples = SampleLoading::all;
  std::vector<std::string> sample_names;  // SampleLoading::listed: the sample sets to load
};

// Reads a whole results file. Throws StoreError with a message that names the file and says
// what is wrong (not HDF5, not a gpuaccept file, newer schema, damaged).
ResultsFile read_results(const std::filesystem::path& path, const ReadOptions& options = {});

// The values (rows x cols, row-major) of the sample set `name` of step `step_id`, for one that
// read_results left in the file. `path` is the file read_results read (ResultsFile::path: the
// twin when the main file was damaged). Throws StoreError naming the file, step and set.
std::vector<double> read_sample_values(const std::filesystem::path& path, const std::string& step_id,
                                       const std::string& name);

class ResultsWriter {
 public:
  // Creates a new results file (refuses to overwrite an existing one).
  static ResultsWriter create(const std::filesystem::path& path, const RunInfo& run);
  // Opens an existing file to add steps to it (run --resume); restores it from its twin when
  // the main file is damaged. Returns the steps already stored through `existing`.
  static ResultsWriter resume(const std::filesystem::path& path, ResultsFile& existing);

  ResultsWriter(ResultsWriter&&) noexcept;
  ResultsWriter& operator=(ResultsWriter&&) noexcept;
  ~ResultsWriter();

  // Appends one step and flushes it to disk. A step id already stored is replaced.
  void write_step(const StepResult& step);
  // Records the end time, closes the file and removes the backup twin.
  void finish(double end_time);

  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit ResultsWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuaccept
