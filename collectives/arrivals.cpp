#include "collectives/arrivals.hpp"

#include <mpi.h>
#include <fmt/format.h>

#include <atomic>

#include "collectives/mpi_check.hpp"

namespace gpuaccept::collectives {

namespace {
constexpr int kTag = 4242;
std::atomic<const ArrivalBoard*> g_current{nullptr};
std::atomic<BeforeCollectiveHook> g_hook{nullptr};
}  // namespace

struct ArrivalBoard::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::vector<std::string> hosts;
  std::int64_t phase = 0;  // phases this rank has announced
  // Rank 0: the last phase announced by each rank (the receive buffers), requests, counts.
  std::vector<std::int64_t> board;
  std::vector<MPI_Request> receives;
  std::vector<std::int64_t> received;
  // Every rank: its sends in flight and their buffers (which must outlive them).
  std::deque<std::int64_t> sent_values;
  std::vector<MPI_Request> sends;
  bool closed = false;

  void drain() {  // rank 0: take every completed receive and post the next
    for (int r = 1; r < size; ++r) {
      auto& request = receives[static_cast<std::size_t>(r)];
      for (;;) {
        int done = 0;
        GA_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
        if (!done) break;
        ++received[static_cast<std::size_t>(r)];
        GA_MPI_CHECK(MPI_Irecv(&board[static_cast<std::size_t>(r)], 1, MPI_INT64_T, r, kTag, comm, &request));
      }
    }
  }
};

ArrivalBoard::ArrivalBoard(const Group& step, std::vector<std::string> hosts) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  GA_MPI_CHECK(MPI_Comm_dup(*static_cast<MPI_Comm*>(step.native_handle()), &s.comm));
  GA_MPI_CHECK(MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN));
  s.rank = step.rank();
  s.size = step.size();
  s.hosts = std::move(hosts);
  if (s.rank == 0) {
    s.board.assign(static_cast<std::size_t>(s.size), 0);
    s.receives.assign(static_cast<std::size_t>(s.size), MPI_REQUEST_NULL);
    s.received.assign(static_cast<std::size_t>(s.size), 0);
    for (int r = 1; r < s.size; ++r)
      GA_MPI_CHECK(MPI_Irecv(&s.board[static_cast<std::size_t>(r)], 1, MPI_INT64_T, r, kTag, s.comm,
                             &s.receives[static_cast<std::size_t>(r)]));
  }
  g_current.store(this);
}

ArrivalBoard::~ArrivalBoard() {
  g_current.store(nullptr);
  auto& s = *impl_;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (!s.closed) {
    // After an error: nothing collective any more. Let go of what is pending.
    for (auto& r : s.receives)
      if (r != MPI_REQUEST_NULL) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      }
    for (auto& r : s.sends)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
  }
  MPI_Comm_free(&s.comm);
}

void ArrivalBoard::announce() {
  auto& s = *impl_;
  if (auto hook = g_hook.load()) hook(s.rank);
  ++s.phase;
  if (s.rank == 0) {
    s.drain();
    std::atomic_ref<std::int64_t>(s.board[0]).store(s.phase);
    return;
  }
  s.sent_values.push_back(s.phase);
  s.sends.emplace_back(MPI_REQUEST_NULL);
  GA_MPI_CHECK(MPI_Isend(&s.sent_values.back(), 1, MPI_INT64_T, 0, kTag, s.comm, &s.sends.back()));
}

void ArrivalBoard::close() {
  auto& s = *impl_;
  long long mine = s.phase;
  std::vector<long long> counts(static_cast<std::size_t>(s.size));
  GA_MPI_CHECK(MPI_Gather(&mine, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG, 0, s.comm));
  if (s.rank == 0) {
    for (int r = 1; r < s.size; ++r) {
      auto& request = s.receives[static_cast<std::size_t>(r)];
      // The posted receive takes the next one; then plain receives for the rest.
      auto& got = s.received[static_cast<std::size_t>(r)];
      if (got < counts[static_cast<std::size_t>(r)]) {
        GA_MPI_CHECK(MPI_Wait(&request, MPI_STATUS_IGNORE));
        ++got;
      } else {
        GA_MPI_CHECK(MPI_Cancel(&request));
        GA_MPI_CHECK(MPI_Wait(&request, MPI_STATUS_IGNORE));
      }
      for (; got < counts[static_cast<std::size_t>(r)]; ++got)
        GA_MPI_CHECK(MPI_Recv(&s.board[static_cast<std::size_t>(r)], 1, MPI_INT64_T, r, kTag, s.comm, MPI_STATUS_IGNORE));
    }
  }
  if (!s.sends.empty())
    GA_MPI_CHECK(MPI_Waitall(static_cast<int>(s.sends.size()), s.sends.data(), MPI_STATUSES_IGNORE));
  s.sends.clear();
  s.closed = true;
}

std::string ArrivalBoard::missing_text() const {
  const auto& s = *impl_;
  if (s.rank != 0 || s.board.empty()) return {};
  std::vector<std::int64_t> last(s.board.size());
  for (std::size_t r = 0; r < last.size(); ++r)
    last[r] = std::atomic_ref<std::int64_t>(const_cast<std::int64_t&>(s.board[r])).load();
  std::int64_t furthest = 0;
  for (auto v : last) furthest = std::max(furthest, v);
  if (last[0] < furthest)
    return fmt::format("rank 0 had not entered the collective of phase {} that other ranks had entered, "
                       "so which others were missing cannot be known", furthest);
  std::string names;
  int missing = 0;
  for (std::size_t r = 0; r < last.size(); ++r)
    if (last[r] < furthest) {
      names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", r, r < s.hosts.size() ? s.hosts[r] : "?");
      ++missing;
    }
  if (missing == 0)
    return fmt::format("no rank was seen behind phase {} of the collective (rank 0 sees announcements only "
                       "while it waits inside MPI)", furthest);
  return fmt::format("rank(s) {} had not entered phase {} of the collective", names, furthest);
}

const ArrivalBoard* ArrivalBoard::current() { return g_current.load(); }

void set_before_collective_hook(BeforeCollectiveHook hook) { g_hook.store(hook); }
BeforeCollectiveHook before_collective_hook() { return g_hook.load(); }

}  // namespace gpuaccept::collectives
