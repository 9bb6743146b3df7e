// The plain data that every benchmark run produces and everything downstream reads.
//
// StepResult is the boundary of the pipeline: execution (real ranks under MPI, or a simulated
// machine) produces it; the HDF5 store, the contract evaluation, comparisons and reports read
// only this, never MPI, CUDA or NCCL.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gpuaccept {

// How a step (or one rank of it) ended. Values are stored in HDF5 as these integers: never
// renumber, only append.
enum class Status : std::int32_t {
  ok = 0,         // ran, and its answer was checked and correct
  incorrect = 1,  // ran, but its answer was wrong (a machine fault: counts against acceptance)
  skipped = 2,    // not applicable here (e.g. a GPU-only dtype on the CPU backend); has a reason
  error = 3,      // the step itself broke (exception, library error)
  timeout = 4,    // the step ran past its time limit
  missing = 5,    // never ran (only ever seen by evaluation, never stored)
};

std::string_view to_string(Status s);
std::optional<Status> status_from_string(std::string_view text);
// The worse of two statuses, for combining ranks: error/timeout > incorrect > skipped > ok.
Status worse(Status a, Status b);

// A bound parameter value. Sizes are integers (bytes).
using ParamValue = std::variant<std::int64_t, double, std::string, bool>;
// Ordered by name, so that iteration order is canonical (step ids depend on it).
using Params = std::map<std::string, ParamValue, std::less<>>;

std::string format_value(const ParamValue& v);
// "dtype=fp32 k=512 m=512 n=512": the canonical text of a parameter set.
std::string format_params(const Params& p);
// The parameters whose value differs from `defaults` (or that `defaults` lacks): what tells a
// configuration apart. Step ids and the matching of figures across runs use it, so that a
// parameter added to a benchmark later, at its default, changes no existing id or match.
Params without_defaults(const Params& params, const Params& defaults);
std::optional<std::int64_t> as_int(const ParamValue& v);
std::optional<double> as_number(const ParamValue& v);

// Which way is better for a metric: used for "worst rank" ordering and regression direction.
enum class Better : std::int32_t { higher = 0, lower = 1, none = 2 };
std::string_view to_string(Better b);

// One named column of numbers. `integer` columns are stored as int64 in HDF5.
struct Column {
  std::string name;
  std::string unit;
  bool integer = false;
  Better better = Better::none;
  std::vector<double> values;
};

// A set of equally long columns: the per-rank metrics of a step, or the points of a sweep.
struct Table {
  std::vector<Column> columns;

  std::size_t rows() const { return columns.empty() ? 0 : columns.front().values.size(); }
  const Column* find(std::string_view name) const;
  Column* find(std::string_view name);
  // Adds a column (or returns the existing one of that name).
  Column& column(std::string_view name, std::string_view unit = {}, bool integer = false,
                 Better better = Better::none);
};

// A 2-D array of samples, e.g. per-iteration times: rows x cols, row-major.
struct Samples {
  std::string name;      // e.g. "iteration_time"
  std::string unit;      // e.g. "s"
  std::string row_axis;  // what a row is: "rank", "point"
  std::string col_axis;  // what a column is: "iteration"
  std::size_t rows = 0;
  std::size_t cols = 0;
  // rows x cols values; empty when the reader left them in the file (read_results with
  // ReadOptions: loaded() is false then, and read_sample_values() reads them).
  std::vector<double> values;
  bool loaded() const { return values.size() == rows * cols; }
};

// Who a rank is. Kept once per run (the ranks table) and referenced by world rank.
struct RankInfo {
  std::int32_t rank = 0;
  std::string host;
  std::int32_t local_rank = 0;
  std::string device;  // GPU name or CPU model
  std::string uuid;    // GPU UUID ("GPU-...") or "" on CPU
};

struct StepResult {
  std::string id;         // content-derived, stable across runs of the same campaign
  std::string benchmark;  // registry name, e.g. "gemm"
  Params params;          // fully bound parameters
  std::string backend;    // "cpu" or "cuda"
  std::int32_t repetition = 0;
  Status status = Status::ok;
  std::string reason;     // why, when status != ok (names rank and host)
  double start_time = 0;  // seconds since the Unix epoch
  double end_time = 0;

  // Row i of per_rank belongs to world rank ranks[i]. per_rank always has the columns
  // "rank" and "status"; the rest are the benchmark's declared metrics.
  std::vector<std::int32_t> ranks;
  Table per_rank;
  std::vector<std::string> rank_messages;  // one per row; "" when that rank had nothing to say
  Table points;                            // one row per sweep point; empty for non-sweeps
  std::vector<Samples> samples;
  // Text a benchmark keeps as evidence, e.g. the (bounded) output of an external command;
  // "" when it keeps none. Stored as the dataset `output` of the step.
  std::string output;
};

// Everything the results file records about a run as a whole.
struct RunInfo {
  std::string schema_version;
  std::string tool_version;
  std::string git_revision;
  std::string campaign;
  std::string system;
  std::string phase;
  std::string backend;
  double start_time = 0;
  double end_time = 0;  // 0 while the run is going on (or was killed)
  std::int32_t rank_count = 0;
  std::string command_line;
  std::string campaign_yaml;  // verbatim
  std::string campaign_path;
  std::string contract_yaml;  // verbatim, "" when the campaign names none
  std::string contract_path;
  std::string system_yaml;    // the system description, verbatim; "" when the campaign names none
  std::string system_path;
  std::map<std::string, std::string> versions;     // "mpi", "hdf5", "openblas", "cuda", "nccl", ...
  std::map<std::string, std::string> environment;  // sanitised: NCCL_*, OMPI_*, CUDA_*, SLURM_*, ...
  std::vector<RankInfo> ranks;
};

}  // namespace gpuaccept
