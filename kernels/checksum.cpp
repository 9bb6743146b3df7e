#include "kernels/checksum.hpp"

#include <map>

namespace gpuaccept::kernels {

MajorityVerdict majority_of(const std::vector<std::uint64_t>& values) {
  MajorityVerdict v;
  std::map<std::uint64_t, std::size_t> counts;
  for (auto x : values) ++counts[x];
  std::size_t best = 0;
  for (const auto& [value, count] : counts) {
    if (count > best) {
      best = count;
      v.majority = value;
    }
  }
  v.clear = 2 * best > values.size();
  for (std::size_t r = 0; r < values.size(); ++r)
    if (!v.clear || values[r] != v.majority) v.dissenters.push_back(static_cast<int>(r));
  return v;
}

}  // namespace gpuaccept::kernels
