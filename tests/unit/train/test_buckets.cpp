// The logic both backends share: where parameters start (init_parameters), the order in which a
// backward pass finishes gradients, and how they are grouped into all-reduce buckets.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "train/cpu/model.hpp"
#include "train/gpt.hpp"

namespace gpuaccept::train {
namespace {

TEST(TrainInit, SameValuesInEveryPrecisionAndAsTheCpuModel) {
  const GptShape shape{2, 16, 2, 8, 20};
  const auto layout = param_layout(shape);
  std::vector<float> f(layout.total);
  std::vector<double> d(layout.total);
  init_parameters<float>(shape, layout, 7, f);
  init_parameters<double>(shape, layout, 7, d);
  for (std::size_t i = 0; i < f.size(); ++i) ASSERT_EQ(f[i], static_cast<float>(d[i])) << i;
  cpu::GptModel<float> model(shape, 1, 7);
  ASSERT_EQ(model.params().size(), f.size());
  EXPECT_TRUE(std::equal(f.begin(), f.end(), model.params().begin()));
  // GPT-2's initialisation: layer-norm gains 1, biases 0, matrices N(0, 0.02), the residual
  // projections narrower by 1 / sqrt(2 L).
  const auto& gain = layout.find("h1.ln2.w");
  const auto& bias = layout.find("h0.attn.qkv.b");
  for (std::size_t i = 0; i < gain.size; ++i) EXPECT_EQ(f[gain.offset + i], 1.0F);
  for (std::size_t i = 0; i < bias.size; ++i) EXPECT_EQ(f[bias.offset + i], 0.0F);
  auto stddev = [&](const char* name) {
    const auto& t = layout.find(name);
    double s = 0;
    for (std::size_t i = 0; i < t.size; ++i) s += d[t.offset + i] * d[t.offset + i];
    return std::sqrt(s / static_cast<double>(t.size));
  };
  EXPECT_NEAR(stddev("h0.mlp.fc.w"), 0.02, 0.003);
  EXPECT_NEAR(stddev("h0.mlp.proj.w"), 0.02 / std::sqrt(4.0), 0.002);
  // Another seed, other values.
  std::vector<float> g(layout.total);
  init_parameters<float>(shape, layout, 8, g);
  EXPECT_NE(f, g);
  EXPECT_THROW(init_parameters<float>(shape, layout, 7, std::span<float>(f.data(), f.size() - 1)), std::invalid_argument);
}

TEST(TrainBuckets, ReadyOrderIsWhatTheCpuModelReports) {
  const GptShape shape{3, 16, 2, 8, 20};
  cpu::GptModel<float> model(shape, 2, 1);
  std::vector<std::int32_t> in(2 * 8, 3), tgt(in.size(), 4);
  model.forward(in.data(), tgt.data());
  std::vector<ParamRange> seen;
  model.backward(1.0F, [&](std::size_t b, std::size_t e) { seen.push_back({b, e}); });
  const auto order = backward_ready_order(model.layout());
  EXPECT_EQ(seen, order);
  ASSERT_EQ(order.size(), 5U);  // final norm, 3 layers, embeddings
  EXPECT_EQ(order.front().end, model.layout().total);
  EXPECT_EQ(order.back().begin, 0U);
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_EQ(order[i].end, order[i - 1].begin);
}

TEST(TrainBuckets, EveryGradientInExactlyOneBucket) {
  const auto layout = param_layout(GptShape{4, 32, 4, 16, 50});
  for (const std::size_t bucket : {std::size_t{1}, std::size_t{100}, std::size_t{5000}, std::size_t{20000},
                                   layout.total, layout.total * 2}) {
    const auto buckets = plan_buckets(layout, bucket);
    ASSERT_FALSE(buckets.empty());
    EXPECT_EQ(buckets.front().end, layout.total) << bucket;
    EXPECT_EQ(buckets.back().begin, 0U) << bucket;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      EXPECT_GT(buckets[i].size(), 0U);
      if (i > 0) {
        EXPECT_EQ(buckets[i].end, buckets[i - 1].begin) << bucket;
      }
      if (i + 1 < buckets.size()) {
        EXPECT_GE(buckets[i].size(), bucket) << bucket;
      }
    }
  }
  // One element per bucket at most: every ready range is sent as it comes.
  EXPECT_EQ(plan_buckets(layout, 1), backward_ready_order(layout));
  // A bucket larger than the model: one all-reduce of everything, when the embeddings are done.
  const auto one = plan_buckets(layout, layout.total * 2);
  ASSERT_EQ(one.size(), 1U);
  EXPECT_EQ(one.front(), (ParamRange{0, layout.total}));
}

TEST(TrainBuckets, ThreeLayerBucketsByHand) {
  // Per layer 12 C^2 + 13 C = 3,280 values at C = 16; the final norm 32; embeddings 20*16 + 8*16.
  const auto layout = param_layout(GptShape{3, 16, 2, 8, 20});
  const std::size_t layer = layout.layer_end(0) - layout.layer_begin(0);
  ASSERT_EQ(layer, 12U * 16 * 16 + 13U * 16);
  const auto buckets = plan_buckets(layout, 2 * layer);
  // norm + layer 2 (3,312 < 6,560) waits; + layer 1 (6,592) goes; layer 0 + embeddings go last.
  ASSERT_EQ(buckets.size(), 2U);
  EXPECT_EQ(buckets[0], (ParamRange{layout.layer_begin(1), layout.total}));
  EXPECT_EQ(buckets[1], (ParamRange{0, layout.layer_begin(1)}));
}

TEST(TrainBuckets, RangesOutOfOrderAreAnError) {
  BucketPlanner planner(100, 10);
  EXPECT_FALSE(planner.ready(95, 100).has_value());
  EXPECT_THROW(planner.ready(80, 90), std::logic_error);  // a gap: [90, 95) never finished
  const auto b = planner.ready(0, 95);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, (ParamRange{0, 100}));
  EXPECT_TRUE(planner.done());
}

}  // namespace
}  // namespace gpuaccept::train
