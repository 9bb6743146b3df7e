#include <gtest/gtest.h>

#include <cmath>

#include "results/stats.hpp"
#include "results/yaml_util.hpp"

using namespace gpuaccept;

TEST(Stats, PercentilesInterpolateLikeNumpy) {
  const std::vector<double> v{15, 20, 35, 40, 50};
  EXPECT_DOUBLE_EQ(stats::percentile(v, 0), 15);
  EXPECT_DOUBLE_EQ(stats::percentile(v, 100), 50);
  EXPECT_DOUBLE_EQ(stats::percentile(v, 40), 29);    // numpy.percentile([15,20,35,40,50], 40) == 29.0
  EXPECT_DOUBLE_EQ(stats::percentile(v, 99), 49.6);  // numpy: 49.6
  EXPECT_DOUBLE_EQ(stats::median(std::vector<double>{3, 1, 2, 10}), 2.5);
  EXPECT_TRUE(std::isnan(stats::median(std::vector<double>{})));
}

TEST(Stats, SpreadMeasures) {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(stats::mean(v), 5);
  EXPECT_NEAR(stats::stddev(v), 2.1380899352993950, 1e-12);  // sample standard deviation
  EXPECT_NEAR(stats::cv(v), 2.1380899352993950 / 5, 1e-12);
  EXPECT_DOUBLE_EQ(stats::mad(v), 0.5);  // numpy: median(|v - median(v)|) == 0.5
  EXPECT_DOUBLE_EQ(stats::min(v), 2);
  EXPECT_DOUBLE_EQ(stats::max(v), 9);
  EXPECT_DOUBLE_EQ(stats::stddev(std::vector<double>{42}), 0);
}

TEST(Yaml, SizesWithBinaryUnits) {
  EXPECT_EQ(yaml::parse_size("4096"), 4096);
  EXPECT_EQ(yaml::parse_size("64K"), 65536);
  EXPECT_EQ(yaml::parse_size("8M"), 8 << 20);
  EXPECT_EQ(yaml::parse_size("1G"), std::int64_t{1} << 30);
  EXPECT_EQ(yaml::parse_size("1.5KiB"), 1536);
  EXPECT_EQ(yaml::parse_size("2T"), std::int64_t{2} << 40);
  EXPECT_FALSE(yaml::parse_size("1.3"));   // not a whole byte
  EXPECT_FALSE(yaml::parse_size("12 parsecs"));
  EXPECT_FALSE(yaml::parse_size(""));
}
