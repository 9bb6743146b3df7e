// FLOP formula, data, learning-rate schedule, and that a tiny model learns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "train/cpu/layers.hpp"
#include "train/cpu/model.hpp"
#include "train/data.hpp"
#include "train/gpt.hpp"
#include "train/trainer.hpp"

namespace gpuaccept::train {
namespace {

TEST(TrainFlops, Gpt2SmallByHand) {
  const auto s = *preset("gpt2-124m");
  // 72 L C^2 + 12 L S C + 6 C V with L=12, C=768, S=1024, V=50257.
  const double by_hand = 72.0 * 12 * 768 * 768 + 12.0 * 12 * 1024 * 768 + 6.0 * 768 * 50257;
  EXPECT_DOUBLE_EQ(flops_per_token(s), by_hand);
  EXPECT_NEAR(flops_per_token(s), 854.4e6, 0.1e6);
  // The matrix parameters (tied head counted once): 6 N of the 6N + 12 L S C rule.
  const auto layout = param_layout(s);
  EXPECT_NEAR(static_cast<double>(layout.total), 124.44e6, 0.01e6);  // GPT-2 small with V = 50257
}

TEST(TrainFlops, FormulaEqualsTheMatrixProductsTheModelRuns) {
  for (const auto& shape : {GptShape{2, 16, 2, 8, 13}, GptShape{3, 24, 4, 12, 50}}) {
    const int B = 3;
    cpu::GptModel<float> model(shape, B, 1);
    std::vector<std::int32_t> in(static_cast<std::size_t>(B) * shape.seq_len, 1), tgt(in.size(), 2);
    auto& meter = cpu::gemm_meter();
    const double before = meter.flops;
    model.zero_grad();
    model.forward(in.data(), tgt.data());
    model.backward(1.0F);
    const double counted = (meter.flops - before) / static_cast<double>(in.size());
    EXPECT_DOUBLE_EQ(counted, flops_per_token(shape)) << "layers " << shape.layers;
  }
}

TEST(TrainShape, Checks) {
  EXPECT_EQ(check_shape(*preset("tiny")), "");
  EXPECT_NE(check_shape(GptShape{2, 10, 3, 8, 16}).find("divisible by heads"), std::string::npos);
  EXPECT_NE(check_shape(GptShape{0, 8, 2, 8, 16}), "");
  EXPECT_FALSE(preset("gpt5").has_value());
}

TEST(TrainData, SyntheticFollowsOnePermutationAndShardsLikeOneRank) {
  TokenSource src(32, 5);
  const int S = 6;
  std::vector<std::int32_t> in(4 * S), tgt(4 * S), in2(2 * S), tgt2(2 * S);
  src.fill(10, 4, S, in.data(), tgt.data());
  for (int i = 0; i + 1 < 4 * S; ++i)
    if ((i + 1) % S != 0) {
      EXPECT_EQ(tgt[static_cast<std::size_t>(i)], in[static_cast<std::size_t>(i) + 1]);
    }
  // A token always has the same successor.
  std::vector<int> next(32, -1);
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto& n = next[static_cast<std::size_t>(in[i])];
    if (n >= 0) {
      EXPECT_EQ(n, tgt[i]);
    }
    n = tgt[i];
  }
  // Sequences 12 and 13 drawn alone equal those drawn as part of 10..13.
  src.fill(12, 2, S, in2.data(), tgt2.data());
  EXPECT_TRUE(std::equal(in2.begin(), in2.end(), in.begin() + 2 * S));
}

TEST(TrainData, TokenFileRoundTripAndErrors) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = (dir / "gpuaccept_train_tokens.bin").string();
  std::vector<std::uint16_t> tokens(40);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>(i % 17);
  write_token_file(path, tokens);
  TokenSource src(path, 17, 8);
  EXPECT_EQ(src.file_tokens(), 40U);
  std::vector<std::int32_t> in(16), tgt(16);
  src.fill(1, 2, 8, in.data(), tgt.data());  // sequences 1, 2 start at tokens 8, 16
  EXPECT_EQ(in[0], 8);
  EXPECT_EQ(tgt[0], 9);
  EXPECT_EQ(in[8], 16);
  EXPECT_EQ(tgt[15], 24 % 17);
  try {
    TokenSource bad(path, 10, 8);  // token 16 >= vocab 10
    ADD_FAILURE() << "no error for a token outside the vocabulary";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("outside the model's vocabulary of 10"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TokenSource(path, 17, 64), DataError);  // fewer tokens than one sequence
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("not a token file", f);
    std::fclose(f);
  }
  EXPECT_THROW(TokenSource(path, 17, 8), DataError);
  EXPECT_THROW(TokenSource((dir / "no_such_dir" / "x.bin").string(), 17, 8), DataError);
  std::filesystem::remove(path);
}

TEST(TrainSchedule, WarmupThenCosine) {
  TrainConfig c;
  c.lr = 1.0;
  c.steps = 12;
  c.warmup_steps = 2;
  c.min_lr_fraction = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(c, 1), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(c, 2), 1.0);
  EXPECT_NEAR(learning_rate(c, 11), 0.1, 1e-12);
  EXPECT_LT(learning_rate(c, 7), learning_rate(c, 6));
  c.schedule = Schedule::constant;
  EXPECT_DOUBLE_EQ(learning_rate(c, 11), 1.0);
}

TEST(TrainLearning, TinyPresetLossFalls) {
  TrainConfig c;
  c.shape = *preset("tiny");
  c.micro_batch = 4;
  c.steps = 60;
  c.lr = 1e-2;
  c.warmup_steps = 4;
  TokenSource data(c.shape.vocab, 1);
  CpuTrainer trainer(c, data, 0, nullptr);
  const double first = trainer.step(0).loss;
  EXPECT_NEAR(first, std::log(c.shape.vocab), 0.3);  // random initialisation: about ln V
  double last = first;
  for (int s = 1; s < c.steps; ++s) last = trainer.step(s).loss;
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

// Gradient accumulation: 2 micro-batches of 2 give the same update as 1 of 4.
TEST(TrainLearning, AccumulationEqualsTheLargerBatch) {
  TrainConfig a;
  a.shape = GptShape{2, 16, 2, 8, 20};
  a.micro_batch = 4;
  a.steps = 2;
  TrainConfig b = a;
  b.micro_batch = 2;
  b.grad_accum = 2;
  TokenSource data(a.shape.vocab, 3);
  CpuTrainer ta(a, data, 0, nullptr), tb(b, data, 0, nullptr);
  EXPECT_NEAR(ta.step(0).loss, tb.step(0).loss, 1e-5);
  EXPECT_NEAR(ta.step(1).loss, tb.step(1).loss, 1e-5);
  EXPECT_NE(fingerprint(ta.params()), 0U);
}

}  // namespace
}  // namespace gpuaccept::train
