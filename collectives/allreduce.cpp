#include "collectives/allreduce.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace gpuaccept::collectives {

std::vector<std::int64_t> sweep_sizes(const Sweep& sweep, std::size_t element_size) {
  const auto elem = static_cast<std::int64_t>(element_size);
  std::vector<std::int64_t> sizes;
  auto aligned = [&](double bytes) {
    return std::max<std::int64_t>(elem, static_cast<std::int64_t>(bytes) / elem * elem);
  };
  const double factor = sweep.factor > 1 ? sweep.factor : 2;
  for (double bytes = static_cast<double>(sweep.min_bytes);
       bytes <= static_cast<double>(sweep.max_bytes) * (1 + 1e-12); bytes *= factor) {
    const std::int64_t size = aligned(bytes);
    if (sizes.empty() || sizes.back() != size) sizes.push_back(size);
  }
  return sizes;
}

double allreduce_busbw_factor(int nranks) {
  return nranks > 0 ? 2.0 * (nranks - 1) / nranks : 0.0;
}

double allreduce_input(int rank, std::int64_t index) {
  return 1.0 + static_cast<double>((3 * index + 7 * static_cast<std::int64_t>(rank)) % 4);
}

double allreduce_expected(RedOp op, int nranks, std::int64_t index) {
  double acc = allreduce_input(0, index);
  for (int r = 1; r < nranks; ++r) {
    const double v = allreduce_input(r, index);
    switch (op) {
      case RedOp::sum:
      case RedOp::avg: acc += v; break;
      case RedOp::prod: acc *= v; break;
      case RedOp::min: acc = std::min(acc, v); break;
      case RedOp::max: acc = std::max(acc, v); break;
    }
  }
  return op == RedOp::avg ? acc / nranks : acc;
}

namespace {

std::uint16_t float_to_half(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const int exponent = static_cast<int>((x >> 23) & 0xFF) - 127 + 15;
  std::uint32_t mantissa = x & 0x7FFFFFu;
  if (((x >> 23) & 0xFF) == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mantissa ? 0x200u : 0));
  if (exponent >= 31) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (exponent <= 0) {
    if (exponent < -10) return static_cast<std::uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - exponent;
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(exponent) << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return static_cast<std::uint16_t>(sign | half);
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

std::uint16_t float_to_bf16(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // NaN
  const std::uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

template <typename T>
void put(void* d, T v) { std::memcpy(d, &v, sizeof v); }
template <typename T>
T get(const void* s) {
  T v;
  std::memcpy(&v, s, sizeof v);
  return v;
}

}  // namespace

void encode_element(DataType type, double value, void* d) {
  switch (type) {
    case DataType::int8: put(d, static_cast<std::int8_t>(value)); break;
    case DataType::uint8: put(d, static_cast<std::uint8_t>(value)); break;
    case DataType::int32: put(d, static_cast<std::int32_t>(value)); break;
    case DataType::uint32: put(d, static_cast<std::uint32_t>(value)); break;
    case DataType::int64: put(d, static_cast<std::int64_t>(value)); break;
    case DataType::uint64: put(d, static_cast<std::uint64_t>(value)); break;
    case DataType::fp16: put(d, float_to_half(static_cast<float>(value))); break;
    case DataType::bf16: put(d, float_to_bf16(static_cast<float>(value))); break;
    case DataType::fp32: put(d, static_cast<float>(value)); break;
    case DataType::fp64: put(d, value); break;
  }
}

double decode_element(DataType type, const void* s) {
  switch (type) {
    case DataType::int8: return get<std::int8_t>(s);
    case DataType::uint8: return get<std::uint8_t>(s);
    case DataType::int32: return get<std::int32_t>(s);
    case DataType::uint32: return get<std::uint32_t>(s);
    case DataType::int64: return static_cast<double>(get<std::int64_t>(s));
    case DataType::uint64: return static_cast<double>(get<std::uint64_t>(s));
    case DataType::fp16: return half_to_float(get<std::uint16_t>(s));
    case DataType::bf16: return bf16_to_float(get<std::uint16_t>(s));
    case DataType::fp32: return get<float>(s);
    case DataType::fp64: return get<double>(s);
  }
  return 0;
}

namespace {

// Relative tolerance when the exact result is not representable (large rank counts in
// 16-bit floats, avg): half an ulp of the type per rounding, one rounding per rank.
double tolerance(DataType type, int nranks, double expected) {
  double ulp = 0;
  switch (type) {
    case DataType::fp16: ulp = 0x1p-10; break;
    case DataType::bf16: ulp = 0x1p-7; break;
    case DataType::fp32: ulp = 0x1p-23; break;
    case DataType::fp64: ulp = 0x1p-52; break;
    default: return 0;  // integers are exact
  }
  return ulp * nranks * std::fabs(expected);
}

std::vector<std::byte> pattern(DataType type, int rank, std::int64_t count) {
  const std::size_t elem = size_of(type);
  std::vector<std::byte> host(static_cast<std::size_t>(count) * elem);
  for (std::int64_t i = 0; i < count; ++i)
    encode_element(type, allreduce_input(rank, i), host.data() + static_cast<std::size_t>(i) * elem);
  return host;
}

std::int64_t count_wrong(DataType type, RedOp op, int nranks, const std::vector<std::byte>& got,
                         std::int64_t count) {
  const std::size_t elem = size_of(type);
  std::vector<std::byte> encoded(elem);
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const double expected_exact = allreduce_expected(op, nranks, i);
    // Compare with the expected value as the type can hold it.
    encode_element(type, expected_exact, encoded.data());
    const double expected = decode_element(type, encoded.data());
    const double value = decode_element(type, got.data() + static_cast<std::size_t>(i) * elem);
    if (!(std::fabs(value - expected) <= tolerance(type, nranks, expected))) ++wrong;
  }
  return wrong;
}

PhaseResult measure(Communicator& comm, const Group& control, const AllReduceConfig& cfg,
                    std::int64_t count, bool in_place) {
  const std::size_t bytes = static_cast<std::size_t>(count) * size_of(cfg.dtype);
  const auto input = pattern(cfg.dtype, comm.rank(), count);
  Buffer send(comm, bytes);
  Buffer recv_storage(comm, in_place ? 0 : bytes);
  void* recv = in_place ? send.get() : recv_storage.get();

  // Check once on fresh data, then time (timed iterations keep reducing the same buffers).
  comm.upload(send.get(), input.data(), bytes);
  comm.all_reduce(send.get(), recv, static_cast<std::size_t>(count), cfg.dtype, cfg.op);
  comm.synchronize();
  std::vector<std::byte> output(bytes);
  comm.download(output.data(), recv, bytes);
  const std::int64_t local_wrong = count_wrong(cfg.dtype, cfg.op, comm.size(), output, count);
  long long wrong = local_wrong;

  if (in_place) comm.upload(send.get(), input.data(), bytes);
  PhaseResult result;
  result.iteration_seconds = comm.time(cfg.timing, [&] {
    comm.all_reduce(send.get(), recv, static_cast<std::size_t>(count), cfg.dtype, cfg.op);
  });
  control.allreduce_max(result.iteration_seconds);
  control.allreduce_sum(std::span<long long>(&wrong, 1));
  result.wrong = wrong;
  result.local_wrong = local_wrong;
  double total = 0;
  for (double s : result.iteration_seconds) total += s;
  result.time_s = result.iteration_seconds.empty() ? 0 : total / static_cast<double>(result.iteration_seconds.size());
  result.algbw = result.time_s > 0 ? static_cast<double>(bytes) / result.time_s / 1e9 : 0;
  result.busbw = result.algbw * allreduce_busbw_factor(comm.size());
  return result;
}

}  // namespace

std::vector<AllReducePoint> run_allreduce(Communicator& comm, const Group& control,
                                          const AllReduceConfig& config) {
  std::vector<AllReducePoint> points;
  for (std::int64_t bytes : sweep_sizes(config.sweep, size_of(config.dtype))) {
    AllReducePoint p;
    p.bytes = bytes;
    p.count = bytes / static_cast<std::int64_t>(size_of(config.dtype));
    p.out_of_place = measure(comm, control, config, p.count, false);
    if (config.in_place) p.in_place = measure(comm, control, config, p.count, true);
    points.push_back(std::move(p));
  }
  return points;
}

std::string format_allreduce_table(const std::vector<AllReducePoint>& points, DataType dtype,
                                   RedOp op, bool in_place) {
  std::string out;
  out += fmt::format("#{:>48}  {:>30}  {:>30}\n", "", "out-of-place", in_place ? "in-place" : "");
  out += fmt::format("#{:>11} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>7} {:>7} {:>6}  {:>7} {:>7} {:>7} {:>6}\n",
                     "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong",
                     "time", "algbw", "busbw", "#wrong");
  out += fmt::format("#{:>11} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>7} {:>7} {:>6}  {:>7} {:>7} {:>7} {:>6}\n",
                     "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                     "(GB/s)", "");
  for (const auto& p : points) {
    out += fmt::format(" {:>11} {:>12} {:>8} {:>6} {:>6}  {:>7.2f} {:>7.2f} {:>7.2f} {:>6}", p.bytes,
                       p.count, nccl_tests_name(dtype), to_string(op), -1, p.out_of_place.time_s * 1e6,
                       p.out_of_place.algbw, p.out_of_place.busbw, p.out_of_place.wrong);
    if (in_place)
      out += fmt::format("  {:>7.2f} {:>7.2f} {:>7.2f} {:>6}", p.in_place.time_s * 1e6, p.in_place.algbw,
                         p.in_place.busbw, p.in_place.wrong);
    out += '\n';
  }
  return out;
}

}  // namespace gpuaccept::collectives
