#include "results/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpuaccept::svg {

namespace {

constexpr double kWidth = 760, kHeight = 330;
constexpr double kLeft = 70, kRight = 20, kTop = 34, kBottom = 48;
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                                    "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79"};
constexpr const char* kAlarm = "#d62728";

std::string num(double v) { return fmt::format("{:.1f}", v); }

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double from = 0, to = 1;  // pixels
  double map(double v) const {
    const double a = log ? std::log2(std::max(v, 1e-300)) : v;
    const double l = log ? std::log2(std::max(lo, 1e-300)) : lo;
    const double h = log ? std::log2(std::max(hi, 1e-300)) : hi;
    if (h == l) return (from + to) / 2;
    return from + (a - l) / (h - l) * (to - from);
  }
};

// Ticks at 1, 2 or 5 x a power of ten, about `count` of them.
std::vector<double> linear_ticks(double lo, double hi, int count = 5) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (raw <= step) break;
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return out;
}

// Powers of two (every other one, or sparser) for byte axes.
std::vector<double> log2_ticks(double lo, double hi) {
  std::vector<double> out;
  const int a = static_cast<int>(std::ceil(std::log2(std::max(lo, 1.0))));
  const int b = static_cast<int>(std::floor(std::log2(std::max(hi, 1.0))));
  const int span = std::max(1, b - a);
  const int every = span <= 8 ? 1 : span <= 16 ? 2 : span <= 32 ? 4 : 8;
  for (int e = a; e <= b; ++e)
    if ((e - a) % every == 0) out.push_back(std::ldexp(1.0, e));
  return out;
}

void expand(double& lo, double& hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
}

// At most `n` bytes, cut at a UTF-8 boundary, with an ellipsis; the full text stays in <title>.
std::string shorten(const std::string& text, std::size_t n) {
  if (text.size() <= n) return text;
  std::size_t cut = n - 1;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "\xE2\x80\xA6";
}

std::string frame(const std::string& title, double width, double height) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" "
      "role=\"img\" aria-label=\"{t}\"><title>{t}</title>"
      "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>"
      "<text x=\"{cx}\" y=\"20\" text-anchor=\"middle\" class=\"pt\">{shown}</text>",
      fmt::arg("w", num(width)), fmt::arg("h", num(height)), fmt::arg("t", escape(title)),
      fmt::arg("shown", escape(shorten(title, 96))), fmt::arg("cx", num(width / 2)));
}

std::string axes(const Axis& x, const Axis& y, const std::vector<double>& xticks, AxisFormat xf,
                 const std::vector<double>& yticks, const std::string& x_label, const std::string& y_label) {
  std::string out;
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"ax\"/>", num(x.from), num(y.from), num(x.to));
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"ax\"/>", num(x.from), num(y.from), num(y.to));
  for (double t : xticks) {
    const double px = x.map(t);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"gr\"/>", num(px), num(y.from), num(y.to));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"tk\">{}</text>", num(px), num(y.from + 15),
                       escape(tick_label(t, xf)));
  }
  for (double t : yticks) {
    const double py = y.map(t);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"gr\"/>", num(x.from), num(py), num(x.to));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"tk\">{}</text>", num(x.from - 5), num(py + 4),
                       escape(tick_label(t, AxisFormat::number)));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"al\">{}</text>", num((x.from + x.to) / 2),
                     num(y.from + 34), escape(x_label));
  out += fmt::format("<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\" class=\"al\">{}</text>",
                     num((y.from + y.to) / 2), escape(y_label));
  return out;
}

// From red (0) through amber (0.5) to green (1).
std::string ramp(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const auto mix = [](double a, double b, double f) { return static_cast<int>(std::lround(a + (b - a) * f)); };
  int r, g, b;
  if (t < 0.5) {
    r = mix(215, 240, t * 2);
    g = mix(48, 190, t * 2);
    b = mix(39, 50, t * 2);
  } else {
    r = mix(240, 40, (t - 0.5) * 2);
    g = mix(190, 160, (t - 0.5) * 2);
    b = mix(50, 70, (t - 0.5) * 2);
  }
  return fmt::format("#{:02x}{:02x}{:02x}", r, g, b);
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') out += "\xEF\xBF\xBD";
        else if (c == 0x7f) out += "\xEF\xBF\xBD";
        else out += c;
    }
  }
  return out;
}

std::string tick_label(double v, AxisFormat format) {
  if (!std::isfinite(v)) return "-";
  if (format == AxisFormat::bytes) {
    const char* units[] = {"", "K", "M", "G", "T", "P"};
    int u = 0;
    double x = v;
    while (std::fabs(x) >= 1024 && u < 5) {
      x /= 1024;
      ++u;
    }
    return fmt::format("{:g}{}", x, units[u]);
  }
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3)) return fmt::format("{:.3g}", v);
  return fmt::format("{:g}", std::round(v * 1e6) / 1e6);
}

std::string line_plot(const LinePlot& p) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  const auto see = [&](double x, double y) {
    if (std::isfinite(x) && (!p.log_x || x > 0)) {
      xlo = std::min(xlo, x);
      xhi = std::max(xhi, x);
    }
    if (std::isfinite(y)) {
      ylo = std::min(ylo, y);
      yhi = std::max(yhi, y);
    }
  };
  for (const auto& s : p.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) see(s.x[i], s.y[i]);
  for (const auto& m : p.markers) see(m.x, m.y);
  for (const auto& h : p.hlines) see(std::numeric_limits<double>::quiet_NaN(), h.y);
  if (p.band) see(std::numeric_limits<double>::quiet_NaN(), p.band->first), see(std::numeric_limits<double>::quiet_NaN(), p.band->second);
  expand(xlo, xhi);
  if (ylo > 0 && ylo < yhi * 0.5) ylo = 0;  // start at zero unless the values sit far from it
  expand(ylo, yhi);
  const double ypad = (yhi - ylo) * 0.06;
  ylo = ylo == 0 ? 0 : ylo - ypad;
  yhi += ypad;
  const bool legend = p.series.size() > 1 || !p.hlines.empty() || !p.markers.empty();
  const double legend_rows = legend ? std::ceil(static_cast<double>(p.series.size() + p.hlines.size() + (p.markers.empty() ? 0 : 1)) / 3.0) : 0;
  const double height = kHeight + legend_rows * 16 + (legend ? 8 : 0);
  Axis x{xlo, xhi, p.log_x, kLeft, kWidth - kRight};
  Axis y{ylo, yhi, false, kHeight - kBottom, kTop};
  std::string out = frame(p.title, kWidth, height);
  std::vector<double> xt = p.log_x && p.x_format == AxisFormat::bytes ? log2_ticks(xlo, xhi) : linear_ticks(xlo, xhi, 6);
  bool integer_x = !p.log_x;
  for (const auto& series : p.series)
    for (double v : series.x) integer_x = integer_x && (!std::isfinite(v) || std::floor(v) == v);
  if (integer_x) {
    // Iterations and run numbers: no tick between two of them.
    std::erase_if(xt, [](double t) { return std::floor(t) != t; });
  }
  out += axes(x, y, xt, p.x_format, linear_ticks(ylo, yhi), p.x_label, p.y_label);
  if (p.band) {
    const double a = y.map(p.band->second), b = y.map(p.band->first);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"band\"/>", num(x.from), num(a),
                       num(x.to - x.from), num(std::max(0.0, b - a)));
  }
  std::size_t colour = 0;
  for (const auto& s : p.series) {
    const char* c = kPalette[colour++ % std::size(kPalette)];
    std::string points;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_x && s.x[i] <= 0)) continue;
      points += fmt::format("{},{} ", num(x.map(s.x[i])), num(y.map(s.y[i])));
    }
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{} points=\"{}\"><title>{}</title></polyline>", c,
                       s.dashed ? " stroke-dasharray=\"5 3\"" : "", points, escape(s.label));
    if (s.x.size() <= 64) {
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (p.log_x && s.x[i] <= 0)) continue;
        out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\"><title>{}: {} at {}</title></circle>",
                           num(x.map(s.x[i])), num(y.map(s.y[i])), c, escape(s.label),
                           escape(tick_label(s.y[i], AxisFormat::number)), escape(tick_label(s.x[i], p.x_format)));
      }
    }
  }
  for (const auto& h : p.hlines) {
    const double py = y.map(h.y);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-dasharray=\"6 4\"><title>{}</title></line>",
                       num(x.from), num(py), num(x.to), num(py), kAlarm, escape(h.label));
  }
  for (const auto& m : p.markers) {
    if (!std::isfinite(m.x) || !std::isfinite(m.y)) continue;
    const double px = x.map(m.x), py = y.map(m.y);
    out += fmt::format("<path d=\"M{} {}h16\" stroke=\"{}\" stroke-width=\"3\"/><path d=\"M{} {}l-5 -8h10z\" fill=\"{}\">"
                       "<title>{}</title></path>",
                       num(px - 8), num(py), kAlarm, num(px), num(py), kAlarm, escape(m.label));
  }
  if (legend) {
    double lx = kLeft, ly = kHeight + 6;
    std::size_t n = 0;
    const auto entry = [&](const std::string& colour_, bool dashed, const std::string& text) {
      if (n > 0 && n % 3 == 0) {
        lx = kLeft;
        ly += 16;
      }
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>", num(lx), num(ly - 4),
                         num(lx + 18), num(ly - 4), colour_, dashed ? " stroke-dasharray=\"5 3\"" : "");
      std::string shown = text.size() > 34 ? text.substr(0, 33) + "\xE2\x80\xA6" : text;
      out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"lg\">{}<title>{}</title></text>", num(lx + 22), num(ly), escape(shown),
                         escape(text));
      lx += (kWidth - kLeft - kRight) / 3;
      ++n;
    };
    colour = 0;
    for (const auto& s : p.series) entry(kPalette[colour++ % std::size(kPalette)], s.dashed, s.label);
    for (const auto& h : p.hlines) entry(kAlarm, true, h.label);
    if (!p.markers.empty()) entry(kAlarm, false, p.markers.size() == 1 ? p.markers.front().label : "contract bounds");
  }
  return out + "</svg>";
}

std::string histogram(const Histogram& p) {
  std::vector<double> v;
  v.reserve(p.values.size());
  for (double x : p.values)
    if (std::isfinite(x)) v.push_back(x);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  {
    // A line (a bound) near the data widens the axis to show it; one far away would squash the
    // data into one bin, so it is drawn at the edge, marked off scale.
    const double data_lo = lo, data_hi = hi;
    const double reach = std::isfinite(data_lo) ? std::max(data_hi - data_lo, std::fabs(data_hi) * 0.05) : 0;
    for (const auto& l : p.vlines) {
      if (!std::isfinite(l.y) || !std::isfinite(data_lo)) continue;
      if (l.y >= data_lo - reach && l.y <= data_hi + reach) lo = std::min(lo, l.y), hi = std::max(hi, l.y);
    }
    if (!std::isfinite(data_lo))
      for (const auto& l : p.vlines)
        if (std::isfinite(l.y)) lo = std::min(lo, l.y), hi = std::max(hi, l.y);
  }
  expand(lo, hi);
  const std::size_t bins = std::max<std::size_t>(1, p.bins);
  const double width = (hi - lo) / static_cast<double>(bins);
  std::vector<std::size_t> counts(bins, 0);
  for (double x : v) {
    auto b = static_cast<std::size_t>((x - lo) / width);
    counts[std::min(b, bins - 1)]++;
  }
  const std::size_t top = std::max<std::size_t>(1, *std::max_element(counts.begin(), counts.end()));
  const double labels_height = static_cast<double>(std::min<std::size_t>(p.labelled.size(), 6)) * 14;
  const double height = kHeight + labels_height + (labels_height > 0 ? 8 : 0);
  Axis x{lo, hi, false, kLeft, kWidth - kRight};
  Axis y{0, static_cast<double>(top) * 1.08, false, kHeight - kBottom, kTop};
  std::string out = frame(p.title, kWidth, height);
  out += axes(x, y, linear_ticks(lo, hi, 6), AxisFormat::number, linear_ticks(0, static_cast<double>(top) * 1.08),
              p.x_label, "members");
  for (std::size_t b = 0; b < bins; ++b) {
    if (counts[b] == 0) continue;
    const double x0 = x.map(lo + width * static_cast<double>(b)), x1 = x.map(lo + width * static_cast<double>(b + 1));
    const double y0 = y.map(static_cast<double>(counts[b]));
    // A bin with few members still shows: at least 2 pixels high.
    const double h = std::max(2.0, y.from - y0);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"bar\"><title>{} in [{}, {})</title></rect>",
                       num(x0 + 0.5), num(y.from - h), num(std::max(0.5, x1 - x0 - 1)), num(h), counts[b],
                       escape(tick_label(lo + width * static_cast<double>(b), AxisFormat::number)),
                       escape(tick_label(lo + width * static_cast<double>(b + 1), AxisFormat::number)));
  }
  std::size_t colour = 3;
  for (const auto& l : p.vlines) {
    if (!std::isfinite(l.y)) continue;
    const bool off_scale = l.y < lo || l.y > hi;
    const double px = x.map(std::clamp(l.y, lo, hi));
    const bool bound = l.label.rfind("bound", 0) == 0;
    const char* c = bound ? kAlarm : kPalette[colour++ % std::size(kPalette)];
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-dasharray=\"6 4\"/>"
                       "<text x=\"{4}\" y=\"{5}\" class=\"lg\" fill=\"{3}\" text-anchor=\"{7}\">{6}</text>",
                       num(px), num(y.from), num(y.to), c, num(px + (px > kWidth * 0.7 ? -3 : 3)),
                       num(y.to + 10 + (bound ? 0 : 12)),
                       escape(l.label + (off_scale ? (l.y < lo ? " (off scale, left)" : " (off scale, right)") : "")),
                       px > kWidth * 0.7 ? "end" : "start");
  }
  std::size_t row = 0;
  for (const auto& m : p.labelled) {
    if (row >= 6 || !std::isfinite(m.x)) break;
    const double px = x.map(m.x);
    const double ly = kHeight + 6 + static_cast<double>(row) * 14;
    out += fmt::format("<path d=\"M{0} {1}v6\" stroke=\"{2}\" stroke-width=\"2\"/>", num(px), num(y.from), kAlarm);
    const bool right_side = px > kWidth * 0.6;
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"0.6\"/>"
                       "<text x=\"{4}\" y=\"{2}\" text-anchor=\"{5}\" class=\"ol\">{6}</text>",
                       num(px), num(y.from + 6), num(ly), kAlarm, num(px + (right_side ? -3 : 3)), right_side ? "end" : "start",
                       escape(m.label));
    ++row;
  }
  return out + "</svg>";
}

std::string heat_map(const HeatMap& m) {
  const std::size_t n = m.cells.size();
  const double plot_width = kWidth - 40;
  // Square-ish cells: as many columns as keep the map at most ~3:1.
  std::size_t cols = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(n) * 3))));
  cols = std::min(cols, n == 0 ? std::size_t{1} : n);
  const std::size_t rows = (n + cols - 1) / std::max<std::size_t>(cols, 1);
  const double cell = std::clamp(plot_width / static_cast<double>(cols), 4.0, 48.0);
  const double height = 44 + static_cast<double>(rows) * cell + 40;
  std::string out = frame(m.title, kWidth, height);
  const double x0 = 20, y0 = 34;
  const double span = m.good - m.bad;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& c = m.cells[i];
    const double cx = x0 + static_cast<double>(i % cols) * cell, cy = y0 + static_cast<double>(i / cols) * cell;
    const std::string fill = std::isfinite(c.value) && span != 0 ? ramp((c.value - m.bad) / span) : "#c8c8c8";
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>", num(cx), num(cy),
                       num(cell - (cell > 6 ? 1 : 0)), num(cell - (cell > 6 ? 1 : 0)), fill, escape(c.tooltip));
    if (cell >= 40 && !c.label.empty()) {
      const std::string shown = c.label.size() > 6 ? c.label.substr(c.label.size() - 6) : c.label;
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"hc\">{}</text>", num(cx + cell / 2),
                         num(cy + cell / 2 + 3), escape(shown));
    }
  }
  // The colour scale.
  const double ly = y0 + static_cast<double>(rows) * cell + 14;
  const double bar = x0 + 150;
  for (int i = 0; i < 20; ++i) {
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{}\"/>", num(bar + i * 12), num(ly),
                       ramp(i / 19.0));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"tk\">{}</text>", num(bar - 4), num(ly + 9),
                     escape(tick_label(m.bad, AxisFormat::number) + (m.unit.empty() ? "" : " " + m.unit)));
  out += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tk\">{}</text>", num(bar + 244), num(ly + 9),
                     escape(tick_label(m.good, AxisFormat::number) + (m.unit.empty() ? "" : " " + m.unit)));
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#c8c8c8\"/><text x=\"{}\" y=\"{}\" class=\"tk\">no value</text>",
                     num(bar + 400), num(ly), num(bar + 416), num(ly + 9));
  return out + "</svg>";
}

}  // namespace gpuaccept::svg
