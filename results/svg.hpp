// Inline SVG plots for the HTML report: line plots (log axes for message sizes), histograms
// with labelled members, and heat maps. Plain strings, no scripts, every text escaped, sizes
// bounded by the number of points drawn (callers aggregate before they draw).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpuaccept::svg {

// Escapes text for HTML and SVG content and attribute values: & < > " '. Control characters
// other than tab and newline become U+FFFD, so that no byte from a host name can end a tag.
std::string escape(std::string_view text);

enum class AxisFormat { number, bytes };

// "1K", "64M", "8G" for byte counts; "0.5", "1.2e+06" for numbers.
std::string tick_label(double value, AxisFormat format);

struct Series {
  std::string label;
  std::vector<double> x, y;
  bool dashed = false;
};

// A labelled point, e.g. a contract bound at one message size.
struct Marker {
  double x = 0;
  double y = 0;
  std::string label;
};

struct HLine {
  double y = 0;
  std::string label;
};

struct LinePlot {
  std::string title;
  std::string x_label;
  std::string y_label;
  AxisFormat x_format = AxisFormat::number;
  bool log_x = false;
  std::vector<Series> series;
  std::vector<HLine> hlines;    // e.g. a bound over the whole range
  std::vector<Marker> markers;  // drawn in the alarm colour
  std::optional<std::pair<double, double>> band;  // a shaded y range, e.g. baseline +- threshold
};
std::string line_plot(const LinePlot& plot);

struct Histogram {
  std::string title;
  std::string x_label;
  std::vector<double> values;
  std::size_t bins = 40;
  std::vector<HLine> vlines;     // vertical lines at x = y-field (bound, median)
  std::vector<Marker> labelled;  // members named under the axis (x = value)
};
std::string histogram(const Histogram& plot);

struct HeatCell {
  std::string label;    // short, drawn in the cell when it is large enough
  std::string tooltip;  // shown on hover (<title>)
  double value = 0;     // NaN: no value (grey)
};

struct HeatMap {
  std::string title;
  std::string unit;
  std::vector<HeatCell> cells;
  double good = 1;   // the colour scale runs from `bad` (red) to `good` (green)
  double bad = 0;
};
std::string heat_map(const HeatMap& map);

}  // namespace gpuaccept::svg
