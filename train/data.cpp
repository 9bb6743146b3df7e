#include "train/data.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <fstream>
#include <numeric>

#include "train/rng.hpp"

namespace gpuaccept::train {

namespace {
constexpr std::int32_t kMagic = 20240520;
constexpr std::int32_t kVersion = 1;
constexpr std::size_t kHeaderInts = 256;
}  // namespace

TokenSource::TokenSource(int vocab, std::uint64_t seed) : vocab_(vocab), seed_(seed) {
  permutation_.resize(static_cast<std::size_t>(vocab));
  std::iota(permutation_.begin(), permutation_.end(), 0);
  SplitMix64 rng(seed ^ 0x5EED0F0DA7AULL);
  for (std::size_t i = permutation_.size() - 1; i > 0; --i)
    std::swap(permutation_[i], permutation_[rng.next() % (i + 1)]);
}

TokenSource::TokenSource(const std::string& path, int vocab, int seq_len) : vocab_(vocab) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot open the token file", path));
  std::array<std::int32_t, kHeaderInts> header{};
  in.read(reinterpret_cast<char*>(header.data()), sizeof(header));
  if (in.gcount() != static_cast<std::streamsize>(sizeof(header)))
    throw DataError(fmt::format("{}: shorter than the 1024-byte header of an llm.c token file", path));
  if (header[0] != kMagic || header[1] != kVersion)
    throw DataError(fmt::format("{}: not an llm.c token file (magic {} version {}, expected {} version {})",
                                path, header[0], header[1], kMagic, kVersion));
  const auto count = static_cast<std::int64_t>(static_cast<std::uint32_t>(header[2]));
  if (count < seq_len + 1)
    throw DataError(fmt::format("{}: {} tokens, fewer than one sequence of {} + 1", path, count, seq_len));
  tokens_.resize(static_cast<std::size_t>(count));
  in.read(reinterpret_cast<char*>(tokens_.data()), static_cast<std::streamsize>(tokens_.size() * sizeof(std::uint16_t)));
  if (in.gcount() != static_cast<std::streamsize>(tokens_.size() * sizeof(std::uint16_t)))
    throw DataError(fmt::format("{}: the header says {} tokens but the file holds {}", path, count,
                                in.gcount() / static_cast<std::streamsize>(sizeof(std::uint16_t))));
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i] >= vocab)
      throw DataError(fmt::format("{}: token {} at position {} is outside the model's vocabulary of {}", path,
                                  tokens_[i], i, vocab));
}

void TokenSource::fill(std::uint64_t first, int count, int seq_len, std::int32_t* inputs, std::int32_t* targets) const {
  const auto S = static_cast<std::size_t>(seq_len);
  for (int b = 0; b < count; ++b) {
    const std::uint64_t g = first + static_cast<std::uint64_t>(b);
    std::int32_t* in = inputs + static_cast<std::size_t>(b) * S;
    std::int32_t* out = targets + static_cast<std::size_t>(b) * S;
    if (synthetic()) {
      SplitMix64 rng(seed_ * 0x100000001B3ULL + g);
      auto x = static_cast<std::int32_t>(rng.next() % static_cast<std::uint64_t>(vocab_));
      for (std::size_t t = 0; t < S; ++t) {
        in[t] = x;
        x = permutation_[static_cast<std::size_t>(x)];
        out[t] = x;
      }
    } else {
      const std::uint64_t windows = tokens_.size() - S;  // start positions with S + 1 tokens
      const std::size_t start = static_cast<std::size_t>((g * S) % windows);
      for (std::size_t t = 0; t < S; ++t) {
        in[t] = tokens_[start + t];
        out[t] = tokens_[start + t + 1];
      }
    }
  }
}

void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens) {
  std::array<std::int32_t, kHeaderInts> header{};
  header[0] = kMagic;
  header[1] = kVersion;
  header[2] = static_cast<std::int32_t>(tokens.size());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), sizeof(header));
  out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * sizeof(std::uint16_t)));
  if (!out) throw DataError(fmt::format("{}: cannot write the token file", path));
}

}  // namespace gpuaccept::train
