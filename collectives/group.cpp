#include "collectives/group.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <climits>

#include "collectives/communicator.hpp"
#include "collectives/mpi_check.hpp"

namespace gpuaccept::collectives {

namespace detail {
void throw_mpi_error(int code, const char* expression, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  int rank = -1, initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw CollectiveError(fmt::format("{} failed at {}:{} on host {} rank {}: {}", expression, file,
                                    line, host, rank, std::string(text, static_cast<std::size_t>(length))));
}
}  // namespace detail

struct Group::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  explicit Impl(MPI_Comm c) : comm(c) { MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
  }
};

Group Group::world() {
  MPI_Comm dup = MPI_COMM_NULL;
  GA_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  Group g;
  g.impl_ = std::make_shared<Impl>(dup);
  return g;
}

Group Group::split(int color, int key) const {
  MPI_Comm out = MPI_COMM_NULL;
  GA_MPI_CHECK(MPI_Comm_split(impl_->comm, color, key, &out));
  Group g;
  g.impl_ = std::make_shared<Impl>(out);
  return g;
}

std::optional<Group> Group::split_or_none(int color, int key) const {
  MPI_Comm out = MPI_COMM_NULL;
  GA_MPI_CHECK(MPI_Comm_split(impl_->comm, color < 0 ? MPI_UNDEFINED : color, key, &out));
  if (out == MPI_COMM_NULL) return std::nullopt;
  Group g;
  g.impl_ = std::make_shared<Impl>(out);
  return g;
}

Group Group::node_local() const {
  MPI_Comm out = MPI_COMM_NULL;
  GA_MPI_CHECK(MPI_Comm_split_type(impl_->comm, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &out));
  Group g;
  g.impl_ = std::make_shared<Impl>(out);
  return g;
}

int Group::rank() const {
  int r = 0;
  GA_MPI_CHECK(MPI_Comm_rank(impl_->comm, &r));
  return r;
}

int Group::size() const {
  int s = 0;
  GA_MPI_CHECK(MPI_Comm_size(impl_->comm, &s));
  return s;
}

void Group::barrier() const { GA_MPI_CHECK(MPI_Barrier(impl_->comm)); }

namespace {
int count_of(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw CollectiveError("control message too large for MPI");
  return static_cast<int>(n);
}
}  // namespace

void Group::allreduce_max(std::span<double> v) const {
  GA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), count_of(v.size()), MPI_DOUBLE, MPI_MAX, impl_->comm));
}
void Group::allreduce_min(std::span<double> v) const {
  GA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), count_of(v.size()), MPI_DOUBLE, MPI_MIN, impl_->comm));
}
void Group::allreduce_sum(std::span<double> v) const {
  GA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), count_of(v.size()), MPI_DOUBLE, MPI_SUM, impl_->comm));
}
void Group::allreduce_sum(std::span<long long> v) const {
  GA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), count_of(v.size()), MPI_LONG_LONG, MPI_SUM, impl_->comm));
}

std::vector<std::uint64_t> Group::allgather(std::uint64_t value) const {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(size()));
  GA_MPI_CHECK(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, impl_->comm));
  return all;
}

void Group::broadcast(std::span<std::byte> bytes, int root) const {
  GA_MPI_CHECK(MPI_Bcast(bytes.data(), count_of(bytes.size()), MPI_BYTE, root, impl_->comm));
}

void Group::broadcast(std::string& text, int root) const {
  unsigned long long length = text.size();
  GA_MPI_CHECK(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, impl_->comm));
  text.resize(static_cast<std::size_t>(length));
  if (length > 0) GA_MPI_CHECK(MPI_Bcast(text.data(), count_of(text.size()), MPI_CHAR, root, impl_->comm));
}

std::vector<std::byte> Group::gather(std::span<const std::byte> record, int root) const {
  std::vector<std::byte> all;
  if (rank() == root) all.resize(record.size() * static_cast<std::size_t>(size()));
  GA_MPI_CHECK(MPI_Gather(record.data(), count_of(record.size()), MPI_BYTE, all.data(),
                          count_of(record.size()), MPI_BYTE, root, impl_->comm));
  return all;
}

std::vector<std::vector<double>> Group::gather_values(std::span<const double> values, int root) const {
  const int n = size();
  const bool at_root = rank() == root;
  int mine = count_of(values.size());
  std::vector<int> counts(at_root ? static_cast<std::size_t>(n) : 0), offsets(counts.size());
  GA_MPI_CHECK(MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, root, impl_->comm));
  std::size_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    offsets[r] = count_of(total);
    total += static_cast<std::size_t>(counts[r]);
  }
  std::vector<double> all(total);
  GA_MPI_CHECK(MPI_Gatherv(values.data(), mine, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                           root, impl_->comm));
  std::vector<std::vector<double>> out(counts.size());
  for (std::size_t r = 0; r < counts.size(); ++r)
    out[r].assign(all.begin() + offsets[r], all.begin() + offsets[r] + counts[r]);
  return out;
}

std::vector<std::string> Group::allgather_text(const std::string& text) const {
  const int n = size();
  int mine = count_of(text.size());
  std::vector<int> counts(static_cast<std::size_t>(n)), offsets(counts.size());
  GA_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, impl_->comm));
  std::size_t total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    offsets[r] = count_of(total);
    total += static_cast<std::size_t>(counts[r]);
  }
  std::string all(total, '\0');
  GA_MPI_CHECK(MPI_Allgatherv(text.data(), mine, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR,
                              impl_->comm));
  std::vector<std::string> out;
  for (std::size_t r = 0; r < counts.size(); ++r) out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(counts[r])));
  return out;
}

void* Group::native_handle() const { return static_cast<void*>(&impl_->comm); }

}  // namespace gpuaccept::collectives
