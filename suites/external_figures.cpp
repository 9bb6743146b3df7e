#include "suites/external_figures.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace gpuaccept::suites {

std::map<std::string, double> parse_simulated_figures(const std::string& text) {
  std::map<std::string, double> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t begin = text.find_first_not_of(" ,\t\n", pos);
    if (begin == std::string::npos) break;
    std::size_t end = text.find_first_of(" ,\t\n", begin);
    if (end == std::string::npos) end = text.size();
    const std::string pair = text.substr(begin, end - begin);
    pos = end;
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size())
      throw std::invalid_argument(fmt::format("'{}' is not metric=value", pair));
    const std::string name = pair.substr(0, eq), number = pair.substr(eq + 1);
    char* stop = nullptr;
    const double v = std::strtod(number.c_str(), &stop);
    if (stop != number.c_str() + number.size() || !std::isfinite(v))
      throw std::invalid_argument(fmt::format("'{}': '{}' is not a finite number", pair, number));
    if (!out.emplace(name, v).second) throw std::invalid_argument(fmt::format("{} is given twice", name));
  }
  return out;
}

}  // namespace gpuaccept::suites
