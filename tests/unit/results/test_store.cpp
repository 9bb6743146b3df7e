// The HDF5 results store: round trips, the backup twin, damaged files, locking, and the
// errors a reader meets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <variant>

#include "results/store.hpp"

namespace fs = std::filesystem;

namespace {
// When non-zero, flock() fails with this errno: stands in for a parallel file system without
// locks. Defined here, flock() takes the place of libc's for libhdf5 too.
std::atomic<int> g_flock_errno{0};
}  // namespace

extern "C" int flock(int fd, int operation) noexcept {
  if (const int error = g_flock_errno.load()) {
    errno = error;
    return -1;
  }
  return static_cast<int>(syscall(SYS_flock, fd, operation));
}

namespace gpuaccept {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gpuaccept-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ / "run.h5";
  }
  void TearDown() override {
    g_flock_errno = 0;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path twin() const { return fs::path(path_.string() + "~"); }

  fs::path dir_;
  fs::path path_;
};

RunInfo make_run() {
  RunInfo run;
  run.schema_version = kSchemaVersion;
  run.tool_version = "0.1.0";
  run.git_revision = "abc1234";
  run.campaign = "local";
  run.system = "workstation";
  run.phase = "phase1";
  run.backend = "cpu";
  run.start_time = 1714567890.25;
  run.rank_count = 3;
  run.command_line = "gpuaccept run configs/local.yaml --output run.h5 " + std::string(70000, 'x');
  run.campaign_yaml = "name: local\nsuites:\n  - gemm: {m: 512}\n";
  run.campaign_path = "configs/local.yaml";
  run.contract_yaml = "";
  run.contract_path = "";
  run.system_yaml = "system: tiny\nnodes: 4\n";
  run.system_path = "configs/systems/tiny.yaml";
  run.versions = {{"hdf5", "1.10.8"}, {"mpi", "Open MPI v4.1.4"}, {"empty", ""}};
  for (int i = 0; i < 40; ++i) run.environment["OMPI_VAR_" + std::to_string(i)] = std::to_string(i);
  run.environment["CUDA_VISIBLE_DEVICES"] = "0,1,2,3";
  run.ranks = {{0, "node001", 0, "AMD EPYC 7763", ""},
               {1, "node001", 1, "AMD EPYC 7763", ""},
               {2, "node002", 0, "NVIDIA H100 80GB HBM3", "GPU-1234abcd"}};
  return run;
}

StepResult make_gemm_step() {
  StepResult step;
  step.id = "gemm-0a1b2c3d";
  step.benchmark = "gemm";
  step.params = {{"m", std::int64_t{512}}, {"alpha", 1.5},    {"dtype", std::string("fp32")},
                 {"transpose", true},      {"verify", false}, {"note", std::string()}};
  step.backend = "cpu";
  step.repetition = 2;
  step.status = Status::incorrect;
  step.reason = "rank 1 on node001: 3 wrong elements";
  step.start_time = 1714567891.5;
  step.end_time = 1714567893.75;
  step.ranks = {0, 1, 2};
  step.per_rank.column("rank", "", true).values = {0, 1, 2};
  step.per_rank.column("status", "", true).values = {0, 1, 0};
  step.per_rank.column("flops", "FLOP/s", false, Better::higher).values = {1.0e12, kNaN, 0.9e12};
  step.per_rank.column("time", "s", false, Better::lower).values = {0.001, 0.002, -0.0};
  step.per_rank.column("wrong", "count", true, Better::lower).values = {0, 3, kNaN};
  step.rank_messages = {"", "3 wrong elements", ""};
  step.points.column("size", "B", true).values = {8, 1024, 1 << 20};
  step.points.column("busbw", "GB/s", false, Better::higher).values = {0.5, 12.0, kNaN};
  step.samples.push_back({"zeta_time", "s", "rank", "iteration", 3, 2, {1, 2, 3, 4, kNaN, 6}});
  step.samples.push_back({"alpha_time", "ms", "point", "iteration", 1, 1, {42}});
  step.output = "step 1 loss 4.2\nstep 2 loss 3.9 tokens/s: 1.5e6\n\xce\xbb \ttabs";
  step.output += std::string(100000, 'x');  // larger than an HDF5 compact attribute
  return step;
}

StepResult make_skipped_step() {
  StepResult step;
  step.id = "stream.cuda-ffee";
  step.benchmark = "stream";
  step.backend = "cpu";
  step.status = Status::skipped;
  step.reason = "needs a GPU";
  step.start_time = 10;
  step.end_time = 10;
  step.per_rank.column("rank", "", true);
  step.per_rank.column("status", "", true);
  step.points.column("size", "B", true);  // a sweep with no points: the columns survive
  step.samples.push_back({"empty", "s", "rank", "iteration", 0, 4, {}});
  return step;
}

StepResult make_ok_step(const std::string& id, Status status = Status::ok) {
  StepResult step;
  step.id = id;
  step.benchmark = "allreduce";
  step.backend = "cpu";
  step.status = status;
  step.ranks = {0};
  step.per_rank.column("rank", "", true).values = {0};
  step.per_rank.column("status", "", true).values = {static_cast<double>(status)};
  step.rank_messages = {""};
  return step;
}

bool same_number(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
}

void expect_same_table(const Table& a, const Table& b, const std::string& what) {
  ASSERT_EQ(a.columns.size(), b.columns.size()) << what;
  for (std::size_t c = 0; c < a.columns.size(); ++c) {
    const Column& x = a.columns[c];
    const Column& y = b.columns[c];
    EXPECT_EQ(x.name, y.name) << what;
    EXPECT_EQ(x.unit, y.unit) << what << " " << x.name;
    EXPECT_EQ(x.integer, y.integer) << what << " " << x.name;
    EXPECT_EQ(x.better, y.better) << what << " " << x.name;
    ASSERT_EQ(x.values.size(), y.values.size()) << what << " " << x.name;
    for (std::size_t r = 0; r < x.values.size(); ++r) {
      EXPECT_TRUE(same_number(x.values[r], y.values[r]))
          << what << " " << x.name << "[" << r << "]: " << x.values[r] << " vs " << y.values[r];
    }
  }
}

void expect_same_step(const StepResult& a, const StepResult& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.benchmark, b.benchmark);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.repetition, b.repetition);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.start_time, b.start_time);
  EXPECT_EQ(a.end_time, b.end_time);
  EXPECT_EQ(a.ranks, b.ranks);
  expect_same_table(a.per_rank, b.per_rank, a.id + " per_rank");
  EXPECT_EQ(a.rank_messages, b.rank_messages);
  EXPECT_EQ(a.output, b.output);
  expect_same_table(a.points, b.points, a.id + " points");
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (std::size_t i = 0; i < a.samples.size(); ++i) {
    const Samples& x = a.samples[i];
    const Samples& y = b.samples[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.unit, y.unit);
    EXPECT_EQ(x.row_axis, y.row_axis);
    EXPECT_EQ(x.col_axis, y.col_axis);
    EXPECT_EQ(x.rows, y.rows);
    EXPECT_EQ(x.cols, y.cols);
    ASSERT_EQ(x.values.size(), y.values.size());
    for (std::size_t v = 0; v < x.values.size(); ++v) {
      EXPECT_TRUE(same_number(x.values[v], y.values[v])) << x.name << "[" << v << "]";
    }
  }
}

void expect_same_run(const RunInfo& a, const RunInfo& b) {
  EXPECT_EQ(a.schema_version, b.schema_version);
  EXPECT_EQ(a.tool_version, b.tool_version);
  EXPECT_EQ(a.git_revision, b.git_revision);
  EXPECT_EQ(a.campaign, b.campaign);
  EXPECT_EQ(a.system, b.system);
  EXPECT_EQ(a.phase, b.phase);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.start_time, b.start_time);
  EXPECT_EQ(a.end_time, b.end_time);
  EXPECT_EQ(a.rank_count, b.rank_count);
  EXPECT_EQ(a.command_line, b.command_line);
  EXPECT_EQ(a.campaign_yaml, b.campaign_yaml);
  EXPECT_EQ(a.campaign_path, b.campaign_path);
  EXPECT_EQ(a.contract_yaml, b.contract_yaml);
  EXPECT_EQ(a.contract_path, b.contract_path);
  EXPECT_EQ(a.system_yaml, b.system_yaml);
  EXPECT_EQ(a.system_path, b.system_path);
  EXPECT_EQ(a.versions, b.versions);
  EXPECT_EQ(a.environment, b.environment);
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (std::size_t i = 0; i < a.ranks.size(); ++i) {
    EXPECT_EQ(a.ranks[i].rank, b.ranks[i].rank);
    EXPECT_EQ(a.ranks[i].host, b.ranks[i].host);
    EXPECT_EQ(a.ranks[i].local_rank, b.ranks[i].local_rank);
    EXPECT_EQ(a.ranks[i].device, b.ranks[i].device);
    EXPECT_EQ(a.ranks[i].uuid, b.ranks[i].uuid);
  }
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no StoreError)";
}

void overwrite_start(const fs::path& path, std::size_t bytes) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(file);
  const std::string garbage(bytes, '#');
  file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

// Writes two steps and leaves the run unfinished, as a killed run does.
void write_unfinished_run(const fs::path& path) {
  ResultsWriter writer = ResultsWriter::create(path, make_run());
  writer.write_step(make_gemm_step());
  writer.write_step(make_skipped_step());
}

TEST_F(StoreTest, RoundTripsRunAndSteps) {
  const RunInfo run = make_run();
  const StepResult gemm = make_gemm_step();
  const StepResult skipped = make_skipped_step();
  StepResult bare;  // no columns, no ranks at all
  bare.id = "bare";
  bare.status = Status::error;
  bare.reason = "crashed before any rank reported";
  {
    ResultsWriter writer = ResultsWriter::create(path_, run);
    EXPECT_EQ(writer.path(), path_);
    writer.write_step(gemm);
    writer.write_step(skipped);
    writer.write_step(bare);
    writer.finish(1714569999.5);
  }
  const ResultsFile file = read_results(path_);
  EXPECT_EQ(file.path, path_);
  EXPECT_TRUE(file.notes.empty());
  RunInfo expected = run;
  expected.end_time = 1714569999.5;
  expect_same_run(expected, file.run);
  ASSERT_EQ(file.steps.size(), 3u);
  expect_same_step(gemm, file.steps[0]);
  expect_same_step(skipped, file.steps[1]);
  expect_same_step(bare, file.steps[2]);
  ASSERT_EQ(file.steps[0].samples.size(), 2u);
  EXPECT_EQ(file.steps[0].samples[0].name, "zeta_time");  // write order, not name order
  EXPECT_TRUE(std::isnan(file.steps[0].per_rank.find("flops")->values[1]));
  EXPECT_TRUE(std::isnan(file.steps[0].per_rank.find("wrong")->values[2]));
  EXPECT_TRUE(std::holds_alternative<bool>(file.steps[0].params.at("transpose")));
  EXPECT_TRUE(std::holds_alternative<std::int64_t>(file.steps[0].params.at("m")));
}

TEST_F(StoreTest, NoMessagesReadBackAsOneEmptyMessagePerRank) {
  StepResult step = make_ok_step("quiet");
  step.rank_messages.clear();
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(step);
    writer.finish(2);
  }
  const ResultsFile file = read_results(path_);
  ASSERT_EQ(file.steps.size(), 1u);
  EXPECT_EQ(file.steps[0].rank_messages, std::vector<std::string>{""});
  EXPECT_EQ(file.steps[0].output, "");  // no output dataset: an empty output
}

TEST_F(StoreTest, ListedSamplesAreLoadedTheOthersReadOnDemand) {
  const StepResult gemm = make_gemm_step();
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(gemm);
    writer.write_step(make_skipped_step());
    writer.finish(3);
  }
  const ResultsFile file = read_results(path_, ReadOptions{SampleLoading::listed, {"alpha_time", "empty"}});
  ASSERT_EQ(file.steps.size(), 2u);
  const auto& samples = file.steps[0].samples;
  ASSERT_EQ(samples.size(), 2u);
  // Left in the file: name, unit, axes and shape, no values.
  EXPECT_EQ(samples[0].name, "zeta_time");
  EXPECT_EQ(samples[0].unit, "s");
  EXPECT_EQ(samples[0].row_axis, "rank");
  EXPECT_EQ(samples[0].col_axis, "iteration");
  EXPECT_EQ(samples[0].rows, 3u);
  EXPECT_EQ(samples[0].cols, 2u);
  EXPECT_TRUE(samples[0].values.empty());
  EXPECT_FALSE(samples[0].loaded());
  // Listed: loaded.
  EXPECT_EQ(samples[1].name, "alpha_time");
  EXPECT_TRUE(samples[1].loaded());
  EXPECT_EQ(samples[1].values, std::vector<double>{42});
  EXPECT_TRUE(file.steps[1].samples[0].loaded());  // 0 x 4: nothing to load, loaded all the same
  // The tables are read whole either way.
  expect_same_table(gemm.per_rank, file.steps[0].per_rank, "per_rank");
  expect_same_table(gemm.points, file.steps[0].points, "points");

  const std::vector<double> zeta = read_sample_values(file.path, gemm.id, "zeta_time");
  ASSERT_EQ(zeta.size(), 6u);
  for (std::size_t i = 0; i < zeta.size(); ++i) EXPECT_TRUE(same_number(zeta[i], gemm.samples[0].values[i])) << i;

  const std::string no_set = error_of([&] { read_sample_values(file.path, gemm.id, "beta_time"); });
  EXPECT_NE(no_set.find("samples 'beta_time' of step gemm-0a1b2c3d"), std::string::npos) << no_set;
  EXPECT_NE(no_set.find(path_.string()), std::string::npos) << no_set;
  const std::string no_step = error_of([&] { read_sample_values(file.path, "nope", "zeta_time"); });
  EXPECT_NE(no_step.find("has no member 'nope'"), std::string::npos) << no_step;

  // Nothing listed: no sample set is loaded, and a file read whole still has them all.
  const ResultsFile bare = read_results(path_, ReadOptions{SampleLoading::listed, {}});
  EXPECT_FALSE(bare.steps[0].samples[1].loaded());
  expect_same_step(gemm, read_results(path_).steps[0]);
}

TEST_F(StoreTest, TablesLongerThanOneSliceRoundTrip) {
  // Tables are written and read in slices of 65,536 rows: two full slices and a partial one.
  constexpr std::size_t rows = 2 * 65536 + 7;
  StepResult step = make_ok_step("long");
  step.points.column("node", "", true);
  step.points.column("rate", "GB/s", false, Better::higher);
  auto& node = step.points.find("node")->values;
  auto& rate = step.points.find("rate")->values;
  for (std::size_t r = 0; r < rows; ++r) {
    node.push_back(r % 1000 == 999 ? kNaN : static_cast<double>(r) * 3 - 1e6);
    rate.push_back(r == rows - 1 ? kNaN : 0.5 + static_cast<double>(r) / 7);
  }
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(step);
    writer.finish(4);
  }
  const ResultsFile file = read_results(path_);
  ASSERT_EQ(file.steps.size(), 1u);
  ASSERT_EQ(file.steps[0].points.rows(), rows);
  expect_same_table(step.points, file.steps[0].points, "points");
}

TEST_F(StoreTest, TwinExistsWhileRunningAndIsRemovedByFinish) {
  ResultsWriter writer = ResultsWriter::create(path_, make_run());
  EXPECT_TRUE(fs::exists(twin()));
  writer.write_step(make_gemm_step());
  EXPECT_TRUE(fs::exists(twin()));

  // Both copies hold the step while the run goes on; end_time is still 0.
  const ResultsFile main_copy = read_results(path_);
  EXPECT_EQ(main_copy.run.end_time, 0.0);
  ASSERT_EQ(main_copy.steps.size(), 1u);
  const ResultsFile twin_copy = read_results(twin());
  ASSERT_EQ(twin_copy.steps.size(), 1u);
  expect_same_step(main_copy.steps[0], twin_copy.steps[0]);

  writer.finish(99.0);
  EXPECT_FALSE(fs::exists(twin()));
  EXPECT_EQ(read_results(path_).run.end_time, 99.0);
  EXPECT_NE(error_of([&] { writer.write_step(make_ok_step("late")); }).find("already finished"),
            std::string::npos);
}

TEST_F(StoreTest, RewrittenStepReplacesTheOldOneAndMovesToTheEnd) {
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(make_ok_step("a", Status::error));
    writer.write_step(make_ok_step("b"));
    writer.write_step(make_ok_step("a", Status::ok));
    writer.finish(5);
  }
  const ResultsFile file = read_results(path_);
  ASSERT_EQ(file.steps.size(), 2u);
  EXPECT_EQ(file.steps[0].id, "b");
  EXPECT_EQ(file.steps[1].id, "a");
  EXPECT_EQ(file.steps[1].status, Status::ok);
}

TEST_F(StoreTest, GarbledMainFileFallsBackToTheTwin) {
  write_unfinished_run(path_);
  overwrite_start(path_, 64);
  const ResultsFile file = read_results(path_);
  EXPECT_EQ(file.path, twin());
  ASSERT_EQ(file.steps.size(), 2u);
  expect_same_step(make_gemm_step(), file.steps[0]);
  ASSERT_FALSE(file.notes.empty());
  const std::string expected = path_.string() +
                               " is damaged (a run killed during a write?); read its backup " +
                               twin().string() + " holding 2 steps";
  EXPECT_EQ(file.notes[0], expected);
}

TEST_F(StoreTest, TruncatedMainFileFallsBackToTheTwin) {
  write_unfinished_run(path_);
  fs::resize_file(path_, fs::file_size(path_) / 2);
  const ResultsFile file = read_results(path_);
  EXPECT_EQ(file.path, twin());
  EXPECT_EQ(file.steps.size(), 2u);
  ASSERT_FALSE(file.notes.empty());
  EXPECT_NE(file.notes[0].find("is damaged"), std::string::npos);
}

TEST_F(StoreTest, DamagedMainFileWithoutTwinReportsTheMainError) {
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.finish(1);
  }
  overwrite_start(path_, 64);
  EXPECT_EQ(error_of([&] { read_results(path_); }), path_.string() + " is not an HDF5 file");
}

TEST_F(StoreTest, ResumeRestoresTheMainFileFromTheTwin) {
  write_unfinished_run(path_);
  overwrite_start(path_, 64);
  {
    ResultsFile existing;
    ResultsWriter writer = ResultsWriter::resume(path_, existing);
    EXPECT_EQ(existing.path, path_);
    ASSERT_EQ(existing.steps.size(), 2u);
    expect_same_step(make_gemm_step(), existing.steps[0]);
    ASSERT_FALSE(existing.notes.empty());
    EXPECT_NE(existing.notes[0].find("restored it from its backup"), std::string::npos);
    EXPECT_TRUE(fs::exists(twin()));
    writer.write_step(make_ok_step("third"));
    writer.finish(7);
  }
  EXPECT_FALSE(fs::exists(twin()));
  const ResultsFile file = read_results(path_);
  EXPECT_TRUE(file.notes.empty());
  ASSERT_EQ(file.steps.size(), 3u);
  EXPECT_EQ(file.steps[2].id, "third");
  EXPECT_EQ(file.run.end_time, 7.0);
}

TEST_F(StoreTest, ResumeOfAHealthyFileKeepsStepOrder) {
  write_unfinished_run(path_);
  {
    ResultsFile existing;
    ResultsWriter writer = ResultsWriter::resume(path_, existing);
    EXPECT_TRUE(existing.notes.empty());
    ASSERT_EQ(existing.steps.size(), 2u);
    expect_same_run(make_run(), existing.run);
    writer.write_step(make_ok_step("after-resume"));
    writer.write_step(make_gemm_step());  // re-run of a stored step: replaced, moved last
  }
  const ResultsFile file = read_results(path_);  // unfinished: the twin is still there
  EXPECT_TRUE(fs::exists(twin()));
  ASSERT_EQ(file.steps.size(), 3u);
  EXPECT_EQ(file.steps[0].id, make_skipped_step().id);
  EXPECT_EQ(file.steps[1].id, "after-resume");
  EXPECT_EQ(file.steps[2].id, make_gemm_step().id);
  ASSERT_EQ(read_results(twin()).steps.size(), 3u);
}

TEST_F(StoreTest, ResumeOfAFinishedRunMarksItRunningAgain) {
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(make_ok_step("first"));
    writer.finish(5);
  }
  ResultsFile existing;
  ResultsWriter writer = ResultsWriter::resume(path_, existing);
  EXPECT_EQ(existing.run.end_time, 5.0);
  EXPECT_TRUE(fs::exists(twin()));
  EXPECT_EQ(read_results(path_).run.end_time, 0.0);
  EXPECT_EQ(read_results(twin()).run.end_time, 0.0);
  writer.write_step(make_ok_step("second"));
  writer.finish(8);
  const ResultsFile file = read_results(path_);
  EXPECT_EQ(file.run.end_time, 8.0);
  ASSERT_EQ(file.steps.size(), 2u);
  EXPECT_EQ(file.steps[1].id, "second");
}

TEST_F(StoreTest, HalfWrittenStepIsSkippedWithANoteAndRewrittenOnResume) {
  write_unfinished_run(path_);
  {
    // A step group without its final "index" attribute, as a kill mid-write leaves it.
    const hid_t file = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t group = H5Gcreate2(file, "steps/half", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(group, 0);
    H5Gclose(group);
    H5Fclose(file);
  }
  const ResultsFile file = read_results(path_);
  EXPECT_EQ(file.path, path_);
  EXPECT_EQ(file.steps.size(), 2u);
  ASSERT_EQ(file.notes.size(), 1u);
  EXPECT_NE(file.notes[0].find("step half was being written"), std::string::npos);

  {
    ResultsFile existing;
    ResultsWriter writer = ResultsWriter::resume(path_, existing);
    writer.write_step(make_ok_step("half"));
    writer.finish(3);
  }
  const ResultsFile after = read_results(path_);
  EXPECT_TRUE(after.notes.empty());
  ASSERT_EQ(after.steps.size(), 3u);
  EXPECT_EQ(after.steps[2].id, "half");
}

TEST_F(StoreTest, CreateRefusesAnExistingFile) {
  std::ofstream(path_) << "anything";
  EXPECT_EQ(error_of([&] { ResultsWriter::create(path_, make_run()); }),
            path_.string() + " exists; use --resume to continue it or choose another --output");
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "anything");
}

TEST_F(StoreTest, MalformedStepIsRefusedAndTheFileStaysGood) {
  ResultsWriter writer = ResultsWriter::create(path_, make_run());
  StepResult step = make_gemm_step();
  step.per_rank.columns[2].values.pop_back();
  EXPECT_NE(error_of([&] { writer.write_step(step); }).find("column 'flops' has 2 values"),
            std::string::npos);
  StepResult twice = make_ok_step("twice");
  twice.per_rank.columns.push_back(twice.per_rank.columns[0]);
  EXPECT_NE(error_of([&] { writer.write_step(twice); }).find("two columns are named 'rank'"),
            std::string::npos);
  StepResult bad_id = make_ok_step("a/b");
  EXPECT_NE(error_of([&] { writer.write_step(bad_id); }).find("id"), std::string::npos);
  writer.write_step(make_ok_step("good"));
  writer.finish(1);
  EXPECT_EQ(read_results(path_).steps.size(), 1u);
}

TEST_F(StoreTest, MissingFileIsNamed) {
  EXPECT_EQ(error_of([&] { read_results(path_); }), path_.string() + " does not exist");
  ResultsFile existing;
  EXPECT_EQ(error_of([&] { ResultsWriter::resume(path_, existing); }),
            path_.string() + " does not exist");
}

TEST_F(StoreTest, NonHdf5FileIsNamed) {
  std::ofstream(path_) << "name: local\nsuites: []\n";
  EXPECT_EQ(error_of([&] { read_results(path_); }), path_.string() + " is not an HDF5 file");
  std::ofstream(dir_ / "empty.h5");
  EXPECT_EQ(error_of([&] { read_results(dir_ / "empty.h5"); }),
            (dir_ / "empty.h5").string() + " is not an HDF5 file");
}

TEST_F(StoreTest, ForeignHdf5FileIsNamed) {
  const hid_t file = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Fclose(file);
  EXPECT_EQ(
      error_of([&] { read_results(path_); }),
      path_.string() +
          " is an HDF5 file but not a gpuaccept results file (no gpuaccept_schema attribute)");
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.finish(1);
  }
  {
    const hid_t file = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t attribute = H5Aopen(file, "gpuaccept_schema", H5P_DEFAULT);
    const hid_t type = H5Aget_type(attribute);
    const char* newer = "2.0";
    EXPECT_GE(H5Awrite(attribute, type, &newer), 0);
    H5Tclose(type);
    H5Aclose(attribute);
    H5Fclose(file);
  }
  const std::string message = error_of([&] { read_results(path_); });
  EXPECT_NE(message.find(path_.string()), std::string::npos) << message;
  EXPECT_NE(message.find("schema 2.0, newer than this gpuaccept reads"), std::string::npos)
      << message;
}

TEST_F(StoreTest, FileLockedByAnotherWriterIsReported) {
  if (std::getenv("HDF5_USE_FILE_LOCKING")) GTEST_SKIP() << "HDF5_USE_FILE_LOCKING is set";
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.finish(1);
  }
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string message = error_of([&] { read_results(path_); });
  ::close(fd);
  EXPECT_NE(message.find("is locked by another process"), std::string::npos) << message;
}

TEST_F(StoreTest, ResumeOfAFileHeldOpenByAReaderIsRefused) {
  if (std::getenv("HDF5_USE_FILE_LOCKING")) GTEST_SKIP() << "HDF5_USE_FILE_LOCKING is set";
  write_unfinished_run(path_);
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_SH | LOCK_NB), 0);  // what a reader such as h5py holds
  ResultsFile existing;
  const std::string message = error_of([&] { ResultsWriter::resume(path_, existing); });
  ::close(fd);
  EXPECT_NE(message.find("is locked by another process"), std::string::npos) << message;
  EXPECT_NE(message.find("close that first"), std::string::npos) << message;
}

TEST_F(StoreTest, FileSystemWithoutLocksDisablesLocking) {
  if (std::getenv("HDF5_USE_FILE_LOCKING")) GTEST_SKIP() << "HDF5_USE_FILE_LOCKING is set";
  g_flock_errno = ENOLCK;
  testing::internal::CaptureStderr();
  {
    ResultsWriter writer = ResultsWriter::create(path_, make_run());
    writer.write_step(make_ok_step("one"));
    writer.finish(1);
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("file locking was disabled for " + path_.string()), std::string::npos)
      << printed;
  const ResultsFile file = read_results(path_);
  g_flock_errno = 0;
  EXPECT_EQ(file.steps.size(), 1u);
  ASSERT_EQ(file.notes.size(), 1u);
  EXPECT_NE(file.notes[0].find("file locking was disabled"), std::string::npos);
  EXPECT_TRUE(read_results(path_).notes.empty());
}

}  // namespace
}  // namespace gpuaccept
