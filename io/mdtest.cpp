#include "io/mdtest.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "io/agree.hpp"
#include "io/io_error.hpp"
#include "io/posix_file.hpp"

namespace gpuaccept::io {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<std::string> tree_paths(const std::string& top, std::uint64_t nodes, std::uint32_t branch) {
  std::vector<std::string> paths;
  paths.reserve(nodes);
  paths.push_back(top);
  for (std::uint64_t k = 1; k < nodes; ++k) paths.push_back(fmt::format("{}/d{}", paths[(k - 1) / branch], k));
  return paths;
}

}  // namespace

std::uint64_t tree_directories(std::uint32_t depth, std::uint32_t branch) {
  std::uint64_t total = 1, level = 1;
  for (std::uint32_t d = 0; d < depth; ++d) {
    level *= branch;
    total += level;
  }
  return total;
}

MdtestRun::MdtestRun(const collectives::Group& group, MdtestConfig config, std::filesystem::path dir,
                     const Pattern& pattern, bool node_leader)
    : group_(group), config_(config), dir_(std::move(dir)), pattern_(pattern) {
  rank_ = static_cast<std::uint32_t>(group.rank());
  size_ = static_cast<std::uint32_t>(group.size());
  nodes_ = tree_directories(config_.depth, std::max<std::uint32_t>(config_.branch, 1));
  tree_owner_ = config_.unique_dir || rank_ == 0 || node_leader;
  own_tree_ = tree_paths(tree_top(rank_), nodes_, std::max<std::uint32_t>(config_.branch, 1));
  const std::uint32_t peer = (rank_ + config_.task_offset) % size_;
  if (config_.unique_dir && peer != rank_)
    peer_tree_ = tree_paths(tree_top(peer), nodes_, std::max<std::uint32_t>(config_.branch, 1));
}

std::string MdtestRun::tree_top(std::uint32_t rank) const {
  return (dir_ / (config_.unique_dir ? fmt::format("mdtest.r{:06d}", rank) : std::string("mdtest.shared"))).string();
}

const std::string& MdtestRun::directory(std::uint32_t rank, std::uint64_t node) const {
  const bool own = !config_.unique_dir || rank == rank_ || peer_tree_.empty();
  return own ? own_tree_[node] : peer_tree_[node];
}

std::string MdtestRun::file_path(std::uint32_t rank, std::uint64_t index) const {
  return fmt::format("{}/f.{}.{}", directory(rank, index % nodes_), rank, index);
}

MdtestOutcome MdtestRun::iteration(std::uint32_t generation) {
  MdtestOutcome out;
  const auto phase = [&](auto&& body) {
    std::string error;
    std::uint64_t operations = 0;
    group_.barrier();
    const auto start = Clock::now();
    try {
      body(operations);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double elapsed = seconds_since(start);
    agree(group_, error);
    MetadataPhase p;
    p.mine = {0.0, elapsed, static_cast<double>(operations)};
    p.all = combine(group_, p.mine);
    return p;
  };
  const std::uint64_t files = config_.files_per_rank;
  const auto tag_of = [&](std::uint32_t rank, std::uint64_t index) {
    return DataTag{static_cast<std::uint64_t>(rank) * files + index, rank, generation};
  };
  const auto wrong = [&](std::string what) {
    ++out.wrong_files;
    if (out.first_wrong.empty()) out.first_wrong = std::move(what);
  };
  AlignedBuffer written(config_.write_bytes), read_back(config_.read_bytes);

  out.tree_create = phase([&](std::uint64_t& ops) {
    if (!tree_owner_) return;
    for (; tree_created_ < nodes_; ++tree_created_, ++ops)
      if (::mkdir(own_tree_[tree_created_].c_str(), 0755) != 0) throw_errno("mkdir of", own_tree_[tree_created_], errno);
  });

  created_ = removed_ = 0;
  out.create = phase([&](std::uint64_t& ops) {
    for (std::uint64_t i = 0; i < files; ++i, ++ops) {
      PosixFile file(file_path(rank_, i), PosixFile::Mode::create_exclusive, false);
      created_ = i + 1;
      if (config_.write_bytes > 0) {
        pattern_.fill(written.span(), tag_of(rank_, i), 0);
        file.write_at(written.span(), 0);
      }
      file.close();
    }
  });

  const std::uint32_t peer = (rank_ + config_.task_offset) % size_;
  out.stat = phase([&](std::uint64_t& ops) {
    for (std::uint64_t i = 0; i < files; ++i, ++ops) {
      const std::string path = file_path(peer, i);
      struct stat st;
      ++out.checked_files;
      if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) throw_errno("stat of", path, errno);
        wrong(fmt::format("{} is missing", path));
      } else if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != config_.write_bytes) {
        wrong(fmt::format("{}: a {} of {} bytes, expected a regular file of {} bytes", path,
                          S_ISREG(st.st_mode) ? "regular file" : "non-regular file", st.st_size, config_.write_bytes));
      }
    }
  });

  out.read = phase([&](std::uint64_t& ops) {
    for (std::uint64_t i = 0; i < files; ++i, ++ops) {
      const std::string path = file_path(peer, i);
      PosixFile file;
      try {
        file = PosixFile(path, PosixFile::Mode::read, false);
      } catch (const IoError& e) {
        if (e.code() != ENOENT) throw;
        wrong(fmt::format("{} is missing", path));
        continue;
      }
      if (config_.read_bytes > 0) {
        const std::size_t got = file.read_at(read_back.span(), 0);
        const VerifyResult v = pattern_.verify(read_back.span().first(got), tag_of(peer, i), 0);
        if (got < config_.read_bytes) wrong(fmt::format("{}: {} of {} bytes read", path, got, config_.read_bytes));
        else if (!v.ok()) wrong(fmt::format("{}: {}", path, v.first_wrong));
      }
      file.close();
    }
  });

  out.remove = phase([&](std::uint64_t& ops) {
    for (; removed_ < created_; ++removed_, ++ops) {
      const std::string path = file_path(rank_, removed_);
      if (::unlink(path.c_str()) != 0) throw_errno("unlink of", path, errno);
    }
  });

  out.tree_remove = phase([&](std::uint64_t& ops) {
    if (!tree_owner_) return;
    for (; tree_created_ > 0; --tree_created_, ++ops)
      if (::rmdir(own_tree_[tree_created_ - 1].c_str()) != 0) throw_errno("rmdir of", own_tree_[tree_created_ - 1], errno);
  });
  return out;
}

void MdtestRun::remove_files() noexcept {
  try {
    for (; removed_ < created_; ++removed_) ::unlink(file_path(rank_, removed_).c_str());
  } catch (...) {
  }
}

void MdtestRun::remove_directories() noexcept {
  // Every rank may try: the shared tree empties only when the last rank has removed its files.
  for (std::uint64_t k = nodes_; k > 0; --k) ::rmdir(own_tree_[k - 1].c_str());
}

}  // namespace gpuaccept::io
