// train's CUDA kernels (train/cuda/kernels.hpp) against the CPU layers in double precision, at
// bf16 tolerance. They run where a GPU is visible and skip with the reason everywhere else.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/backend.hpp"
#include "train/cpu/layers.hpp"
#include "train/cpu/model.hpp"
#include "train/rng.hpp"

#if defined(GPUACCEPT_HAVE_CUDA)
#include <cuda_runtime.h>

#include "tests/unit/gpu/device_buffer.hpp"

#include "train/cuda/kernels.hpp"
#endif

namespace {

using namespace gpuaccept;

class TrainCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kernels::cuda_compiled()) GTEST_SKIP() << "built without CUDA (GPUACCEPT_CUDA=OFF or no toolkit)";
    std::string why;
    if (kernels::cuda_device_count(&why) == 0) GTEST_SKIP() << "no GPU visible: " << why;
  }
};

#if defined(GPUACCEPT_HAVE_CUDA)
std::vector<double> random_vec(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  train::SplitMix64 rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

using train::cuda::bf16;
using train::cuda::from_bf16;
using train::cuda::to_bf16;

using gpuaccept::testing::Dev;

// Rounds to bf16 (the GPU's input) and returns both forms.
std::vector<bf16> as_bf16(std::vector<double>& v) {
  std::vector<bf16> b(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    b[i] = to_bf16(static_cast<float>(v[i]));
    v[i] = from_bf16(b[i]);
  }
  return b;
}

void expect_close(const std::vector<bf16>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(from_bf16(got[i]), want[i], tol * (1 + std::abs(want[i]))) << what << "[" << i << "]";
}
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << "[" << i << "]";
}
#endif

}  // namespace

#if defined(GPUACCEPT_HAVE_CUDA)
TEST_F(TrainCuda, LayernormForwardBackward) {
  // C = 200: parameter gradients summed per block in shared memory; C = 7000: too wide for
  // that, one atomic per row and channel.
  for (const int C : {200, 7000}) {
    const int N = 37;
    auto x = random_vec(N * C, 1), w = random_vec(C, 2), b = random_vec(C, 3), d = random_vec(N * C, 4);
    const auto xb = as_bf16(x), wb = as_bf16(w), bb = as_bf16(b), db16 = as_bf16(d);
    std::vector<double> out(N * C), mean(N), rstd(N), dx(N * C, 0), dw(C, 0), dbias(C, 0);
    train::cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    train::cpu::layernorm_backward(dx.data(), dw.data(), dbias.data(), d.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
    Dev<bf16> gx(xb), gw(wb), gb(bb), gd(db16), gout(N * C), gdx(N * C);
    Dev<float> gmean(N), grstd(N), gdw(C), gdb(C);
    train::cuda::layernorm_forward(gout.get(), gmean.get(), grstd.get(), gx.get(), gw.get(), gb.get(), N, C, nullptr);
    train::cuda::layernorm_backward(gdx.get(), gdw.get(), gdb.get(), gd.get(), gx.get(), gw.get(), gmean.get(), grstd.get(), N, C, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(gout.host(), out, 2e-2, "out");
    expect_close(gdx.host(), dx, 3e-2, "dx");
    expect_close(gdw.host(), dw, 1e-3, "dw");
    expect_close(gdb.host(), dbias, 1e-3, "db");
  }
}

TEST_F(TrainCuda, GeluForwardBackward) {
  const std::size_t n = 5000;
  auto x = random_vec(n, 1, 3.0), d = random_vec(n, 2);
  const auto xb = as_bf16(x), db16 = as_bf16(d);
  std::vector<double> out(n), dx(n, 0);
  train::cpu::gelu_forward(out.data(), x.data(), n);
  train::cpu::gelu_backward(dx.data(), x.data(), d.data(), n);
  Dev<bf16> gx(xb), gd(db16), gout(n), gdx(n);
  train::cuda::gelu_forward(gout.get(), gx.get(), n, nullptr);
  train::cuda::gelu_backward(gdx.get(), gx.get(), gd.get(), n, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  expect_close(gout.host(), out, 1e-2, "out");
  expect_close(gdx.host(), dx, 1e-2, "dx");
}

TEST_F(TrainCuda, CausalSoftmaxForwardBackward) {
  const int S = 70, blocks = 3;
  const std::size_t rows = static_cast<std::size_t>(S) * blocks;
  const double scale = 0.125;
  auto scores = random_vec(rows * S, 1, 4.0), datt = random_vec(rows * S, 2);
  const auto sb = as_bf16(scores), dab = as_bf16(datt);
  std::vector<double> att(rows * S), dscores(rows * S);
  for (std::size_t r = 0; r < rows; ++r) {
    const int i = static_cast<int>(r % S);
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j <= i; ++j) mx = std::max(mx, scale * scores[r * S + j]);
    for (int j = 0; j <= i; ++j) sum += std::exp(scale * scores[r * S + j] - mx);
    for (int j = 0; j < S; ++j) att[r * S + j] = j <= i ? std::exp(scale * scores[r * S + j] - mx) / sum : 0;
  }
  const auto att_b = [&] { auto a = att; return as_bf16(a); }();
  for (std::size_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int j = 0; j < S; ++j) dot += from_bf16(att_b[r * S + j]) * datt[r * S + j];
    for (int j = 0; j < S; ++j) dscores[r * S + j] = scale * from_bf16(att_b[r * S + j]) * (datt[r * S + j] - dot);
  }
  Dev<bf16> ga(sb), gd(dab);
  train::cuda::causal_softmax_forward(ga.get(), rows, S, static_cast<float>(scale), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto got = ga.host();
  expect_close(got, att, 1e-2, "att");
  Dev<bf16> ga2(att_b);
  train::cuda::causal_softmax_backward(gd.get(), ga2.get(), rows, S, static_cast<float>(scale), nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  expect_close(gd.host(), dscores, 2e-2, "dscores");
}

TEST_F(TrainCuda, CrossEntropy) {
  const int N = 9, V = 1999;
  auto logits = random_vec(static_cast<std::size_t>(N) * V, 1, 2.0);
  const auto lb = as_bf16(logits);
  std::vector<std::int32_t> targets(N);
  for (int i = 0; i < N; ++i) targets[static_cast<std::size_t>(i)] = (i * 431) % V;
  std::vector<double> probs(logits.size()), losses(N), dlogits(logits.size());
  train::cpu::softmax_crossentropy_forward(probs.data(), losses.data(), logits.data(), targets.data(), N, V);
  train::cpu::softmax_crossentropy_backward(dlogits.data(), probs.data(), targets.data(), N, V, 1.0 / N);
  Dev<bf16> gl(lb);
  Dev<float> gloss(N);
  Dev<std::int32_t> gt(targets);
  train::cuda::crossentropy_forward_backward(gloss.get(), gl.get(), V, gt.get(), N, V, 1.0F / N, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  expect_close(gloss.host(), losses, 1e-5, "losses");
  expect_close(gl.host(), dlogits, 1e-2, "dlogits");
}

TEST_F(TrainCuda, AdamwMasterWeights) {
  const std::size_t n = 1000;
  std::vector<float> master(n), grads(n), m(n, 0), v(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    master[i] = 0.01F * static_cast<float>(i % 17) - 0.08F;
    grads[i] = 0.003F * static_cast<float>(i % 11) - 0.015F;
  }
  std::vector<float> want = master, wm, wv;
  train::cpu::AdamW opt;
  opt.update(want, grads, wm, wv, 1e-3, 1);
  Dev<float> gmaster(master), ggrads(grads), gm(m), gv(v);
  Dev<bf16> gparams(n);
  train::cuda::adamw(gmaster.get(), gparams.get(), ggrads.get(), gm.get(), gv.get(), n, 1e-3F, 0.9F, 0.95F, 1e-8F, 0.1F, 1, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto got = gmaster.host();
  const auto shadow = gparams.host();
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-6) << i;
    ASSERT_EQ(shadow[i], to_bf16(got[i])) << i;  // the bf16 copy is the rounded master
  }
}
#else
TEST_F(TrainCuda, KernelsAgainstTheCpuLayers) {}  // skipped in SetUp: built without CUDA
#endif
