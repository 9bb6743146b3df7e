#include "results/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace gpuaccept::stats {

namespace {
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}

double mean(std::span<const double> v) {
  if (v.empty()) return nan;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double percentile(std::span<const double> v, double q) {
  if (v.empty()) return nan;
  std::vector<double> s(v.begin(), v.end());
  std::sort(s.begin(), s.end());
  q = std::clamp(q, 0.0, 100.0);
  const double pos = q / 100.0 * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, s.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return s[lo] + (s[hi] - s[lo]) * frac;
}

double median(std::span<const double> v) { return percentile(v, 50.0); }

double min(std::span<const double> v) {
  return v.empty() ? nan : *std::min_element(v.begin(), v.end());
}

double max(std::span<const double> v) {
  return v.empty() ? nan : *std::max_element(v.begin(), v.end());
}

double stddev(std::span<const double> v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double sum = 0;
  for (double x : v) sum += (x - m) * (x - m);
  return std::sqrt(sum / static_cast<double>(v.size() - 1));
}

double cv(std::span<const double> v) {
  const double m = mean(v);
  if (v.empty() || m == 0.0) return nan;
  return stddev(v) / std::fabs(m);
}

double mad(std::span<const double> v) {
  if (v.empty()) return nan;
  const double med = median(v);
  std::vector<double> dev;
  dev.reserve(v.size());
  for (double x : v) dev.push_back(std::fabs(x - med));
  return median(dev);
}

double robust_sigma(std::span<const double> v) { return kMadToSigma * mad(v); }

double sum(std::span<const double> v) { return std::accumulate(v.begin(), v.end(), 0.0); }

Summary summarize(std::span<const double> v) {
  return Summary{mean(v), median(v), min(v), max(v), percentile(v, 99.0), stddev(v), cv(v)};
}

}  // namespace gpuaccept::stats
