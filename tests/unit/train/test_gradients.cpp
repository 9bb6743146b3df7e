// Every layer's backward against central finite differences of its forward, in double
// precision: loss = sum(out * R) for a fixed random R, so that dout = R.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "train/cpu/layers.hpp"
#include "train/cpu/model.hpp"
#include "train/rng.hpp"

namespace gpuaccept::train::cpu {
namespace {

using Vec = std::vector<double>;

Vec random_vec(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  SplitMix64 rng(seed);
  Vec v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compares analytic[i] with (f(x + h e_i) - f(x - h e_i)) / 2h for every element of x.
void expect_gradient(const char* what, Vec& x, const Vec& analytic, const std::function<double()>& f,
                     double tol = 1e-7) {
  ASSERT_EQ(x.size(), analytic.size());
  const double h = 1e-5;
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = f();
    x[i] = saved - h;
    const double down = f();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double err = std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, err);
    EXPECT_LE(err, tol) << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric;
    if (err > tol) return;  // one message per tensor
  }
  EXPECT_GT(x.size(), 0U) << what;
}

TEST(TrainGradients, Layernorm) {
  const int N = 3, C = 8;
  Vec x = random_vec(N * C, 1), w = random_vec(C, 2), b = random_vec(C, 3), r = random_vec(N * C, 4);
  Vec out(N * C), mean(N), rstd(N);
  auto f = [&] { layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C); return dot(out, r); };
  f();
  Vec dx(N * C, 0), dw(C, 0), db(C, 0);
  layernorm_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
  expect_gradient("x", x, dx, f);
  expect_gradient("w", w, dw, f);
  expect_gradient("b", b, db, f);
}

TEST(TrainGradients, Matmul) {
  const int N = 5, C = 4, OC = 6;
  Vec x = random_vec(N * C, 1), w = random_vec(OC * C, 2), b = random_vec(OC, 3), r = random_vec(N * OC, 4);
  Vec out(N * OC);
  auto f = [&] { matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC); return dot(out, r); };
  Vec dx(N * C, 0), dw(OC * C, 0), db(OC, 0);
  matmul_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), N, C, OC);
  expect_gradient("x", x, dx, f);
  expect_gradient("w", w, dw, f);
  expect_gradient("bias", b, db, f);
}

TEST(TrainGradients, CausalAttention) {
  const int B = 2, S = 5, C = 8, NH = 2;
  Vec qkv = random_vec(B * S * 3 * C, 1), r = random_vec(B * S * C, 2);
  Vec out(B * S * C), att(B * NH * S * S);
  auto f = [&] { attention_forward(out.data(), att.data(), qkv.data(), B, S, C, NH); return dot(out, r); };
  f();
  // Causality: the first position attends only to itself.
  for (int h = 0; h < NH; ++h) EXPECT_DOUBLE_EQ(att[static_cast<std::size_t>(h) * S * S], 1.0);
  Vec dqkv(qkv.size(), 0), scratch(S * S);
  attention_backward(dqkv.data(), scratch.data(), r.data(), qkv.data(), att.data(), B, S, C, NH);
  expect_gradient("qkv", qkv, dqkv, f);
}

TEST(TrainGradients, Gelu) {
  const std::size_t n = 16;
  Vec x = random_vec(n, 1, 2.0), r = random_vec(n, 2), out(n);
  auto f = [&] { gelu_forward(out.data(), x.data(), n); return dot(out, r); };
  Vec dx(n, 0);
  gelu_backward(dx.data(), x.data(), r.data(), n);
  expect_gradient("x", x, dx, f);
}

TEST(TrainGradients, Encoder) {
  const int B = 2, S = 3, C = 4, V = 5;
  const std::vector<std::int32_t> tokens = {1, 4, 1, 0, 2, 4};  // repeated tokens accumulate
  Vec wte = random_vec(V * C, 1), wpe = random_vec(S * C, 2), r = random_vec(B * S * C, 3), out(B * S * C);
  auto f = [&] { encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, S, C); return dot(out, r); };
  Vec dwte(V * C, 0), dwpe(S * C, 0);
  encoder_backward(dwte.data(), dwpe.data(), r.data(), tokens.data(), B, S, C);
  expect_gradient("wte", wte, dwte, f);
  expect_gradient("wpe", wpe, dwpe, f);
}

TEST(TrainGradients, SoftmaxCrossEntropy) {
  const int N = 4, V = 7;
  const std::vector<std::int32_t> targets = {0, 6, 3, 3};
  Vec logits = random_vec(N * V, 1, 3.0), probs(N * V), losses(N);
  auto f = [&] { return softmax_crossentropy_forward(probs.data(), losses.data(), logits.data(), targets.data(), N, V); };
  const double loss = f();
  EXPECT_GT(loss, 0);
  Vec dlogits(N * V);
  softmax_crossentropy_backward(dlogits.data(), probs.data(), targets.data(), N, V, 1.0 / N);
  expect_gradient("logits", logits, dlogits, f);
}

// The whole model: a few elements of every parameter tensor, through every layer at once.
TEST(TrainGradients, WholeModelEveryTensor) {
  const GptShape shape{2, 8, 2, 4, 11};
  const int B = 2;
  GptModel<double> model(shape, B, 7);
  // Non-trivial layer-norm gains and biases, so that their gradients are exercised.
  SplitMix64 rng(3);
  for (auto& p : model.params()) p += 0.05 * rng.normal();
  const std::vector<std::int32_t> in = {1, 2, 3, 4, 10, 9, 8, 7}, tgt = {2, 3, 4, 5, 9, 8, 7, 0};
  model.zero_grad();
  model.forward(in.data(), tgt.data());
  std::vector<std::pair<std::size_t, std::size_t>> ready;
  model.backward(1.0, [&](std::size_t b, std::size_t e) { ready.emplace_back(b, e); });
  const Vec grads(model.grads().begin(), model.grads().end());
  // Ready ranges: the final layer norm, each layer from the last, then the embeddings; together
  // they cover every parameter exactly once.
  ASSERT_EQ(ready.size(), static_cast<std::size_t>(shape.layers + 2));
  std::size_t covered = model.layout().total;
  for (const auto& [b, e] : ready) {
    EXPECT_EQ(e, covered);
    covered = b;
  }
  EXPECT_EQ(covered, 0U);

  auto params = model.params();
  auto f = [&] { return model.forward(in.data(), tgt.data()); };
  const double h = 1e-5;
  for (const auto& t : model.layout().tensors) {
    for (std::size_t k : {std::size_t{0}, t.size / 2, t.size - 1}) {
      const std::size_t i = t.offset + k;
      const double saved = params[i];
      params[i] = saved + h;
      const double up = f();
      params[i] = saved - h;
      const double down = f();
      params[i] = saved;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grads[i], numeric, 1e-8 + 1e-6 * std::abs(numeric)) << t.name << "[" << k << "]";
    }
  }
}

}  // namespace
}  // namespace gpuaccept::train::cpu
