// Training data: batches of (input, target) token sequences, target = input shifted by one.
//
// Synthetic (from a seed): every sequence follows one fixed random permutation pi of the
// vocabulary, x[t+1] = pi(x[t]), from a start token that depends on the sequence's global index.
// A model that learns pi predicts every token after the first: the loss must fall from ln V
// towards 0, which is what the benchmark checks.
// Token file: llm.c's .bin format (a 256 x int32 header: magic 20240520, version 1, token count;
// then uint16 tokens). Sequence g starts at token (g * S) mod (count - S).
//
// Sample g of the global batch is the same whichever rank draws it: rank r of P, micro-step m
// of step s with micro-batch B draws g = ((s * accum + m) * P + r) * B + b, so that P ranks with
// B sequences each see exactly the sequences of one rank with P * B.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpuaccept::train {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TokenSource {
 public:
  // Synthetic sequences over `vocab` tokens.
  TokenSource(int vocab, std::uint64_t seed);
  // Tokens from an llm.c .bin file; throws DataError (path, what is wrong) on a bad header, a
  // short file or a token >= vocab.
  TokenSource(const std::string& path, int vocab, int seq_len);

  // Fills inputs and targets (count x seq_len each) with sequences first .. first + count - 1.
  void fill(std::uint64_t first, int count, int seq_len, std::int32_t* inputs, std::int32_t* targets) const;
  bool synthetic() const { return tokens_.empty(); }
  std::size_t file_tokens() const { return tokens_.size(); }

 private:
  int vocab_;
  std::uint64_t seed_ = 0;
  std::vector<std::int32_t> permutation_;
  std::vector<std::uint16_t> tokens_;
};

// Writes an llm.c .bin token file (for tests and for users who want a synthetic file).
void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens);

}  // namespace gpuaccept::train
