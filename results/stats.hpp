// Summary statistics used by benchmarks (per-iteration times), evaluation (combining ranks)
// and comparisons. Percentiles interpolate linearly between order statistics, as numpy's
// default does, so that users can reproduce any figure with numpy.percentile.
#pragma once

#include <span>
#include <vector>

namespace gpuaccept::stats {

double mean(std::span<const double> v);
double median(std::span<const double> v);
// q in [0, 100]. An empty input gives NaN.
double percentile(std::span<const double> v, double q);
double min(std::span<const double> v);
double max(std::span<const double> v);
// Sample standard deviation (n-1); 0 for fewer than two values.
double stddev(std::span<const double> v);
// Coefficient of variation: stddev / mean (NaN when the mean is 0).
double cv(std::span<const double> v);
// Median absolute deviation (unscaled).
double mad(std::span<const double> v);
// The MAD scaled to estimate a normal distribution's standard deviation: 1.4826 x MAD.
inline constexpr double kMadToSigma = 1.4826;
double robust_sigma(std::span<const double> v);
double sum(std::span<const double> v);

struct Summary {
  double mean, median, min, max, p99, stddev, cv;
};
Summary summarize(std::span<const double> v);

}  // namespace gpuaccept::stats
