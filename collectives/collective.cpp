#include "collectives/collective.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <thread>
#include <cmath>
#include <cstring>

namespace gpuaccept::collectives {

std::vector<std::int64_t> sweep_sizes(const Sweep& sweep, std::size_t element_size) {
  const auto elem = static_cast<std::int64_t>(element_size);
  std::vector<std::int64_t> sizes;
  auto add = [&](double bytes) {
    const std::int64_t size = std::max<std::int64_t>(elem, static_cast<std::int64_t>(bytes) / elem * elem);
    if (sizes.empty() || sizes.back() != size) sizes.push_back(size);
  };
  const double last = static_cast<double>(sweep.max_bytes) * (1 + 1e-12);
  if (sweep.step_bytes > 0) {
    for (std::int64_t bytes = sweep.min_bytes; static_cast<double>(bytes) <= last; bytes += sweep.step_bytes)
      add(static_cast<double>(bytes));
    return sizes;
  }
  const double factor = sweep.factor > 1 ? sweep.factor : 2;
  for (double bytes = static_cast<double>(sweep.min_bytes); bytes <= last; bytes *= factor) add(bytes);
  return sizes;
}

double busbw_factor(CollectiveOp op, int n) {
  if (n < 1) return 0;
  const double share = static_cast<double>(n - 1) / n;
  switch (op) {
    case CollectiveOp::allreduce: return 2 * share;
    case CollectiveOp::allgather:
    case CollectiveOp::reducescatter:
    case CollectiveOp::alltoall:
    case CollectiveOp::gather:
    case CollectiveOp::scatter: return share;
    case CollectiveOp::broadcast:
    case CollectiveOp::reduce:
    case CollectiveOp::sendrecv: return 1;
  }
  return 0;
}

namespace {
bool partitioned(CollectiveOp op) {
  return op == CollectiveOp::allgather || op == CollectiveOp::reducescatter || op == CollectiveOp::alltoall ||
         op == CollectiveOp::gather || op == CollectiveOp::scatter;
}
}  // namespace

MessageShape message_shape(CollectiveOp op, std::int64_t bytes, std::size_t element_size, int nranks) {
  const auto elem = static_cast<std::int64_t>(element_size);
  const std::int64_t n = std::max(nranks, 1);
  MessageShape s;
  if (!partitioned(op)) {
    s.count = std::max<std::int64_t>(1, bytes / elem);
    s.bytes = s.count * elem;
    s.send_elements = s.recv_elements = s.count;
    return s;
  }
  s.count = std::max<std::int64_t>(1, bytes / elem / n);
  s.bytes = s.count * n * elem;
  const bool gathers = op == CollectiveOp::allgather || op == CollectiveOp::gather;
  const bool scatters = op == CollectiveOp::reducescatter || op == CollectiveOp::scatter;
  s.send_elements = gathers ? s.count : s.count * n;
  s.recv_elements = scatters ? s.count : s.count * n;
  return s;
}

double input_value(CollectiveOp op, RedOp redop, int nranks, int rank, std::int64_t index) {
  const auto r = static_cast<std::int64_t>(rank);
  if (!is_reducing(op)) return 1.0 + static_cast<double>((37 * r + 11 * index) % 101);
  if (redop == RedOp::prod) {
    const std::int64_t n = std::max(nranks, 1);
    return (index + r) % n == 0 ? 2.0 + static_cast<double>((index / n) % 2) : 1.0;
  }
  return 1.0 + static_cast<double>((3 * index + 7 * r) % 4);
}

std::int64_t result_elements(CollectiveOp op, int nranks, int rank, int root, std::int64_t count) {
  switch (op) {
    case CollectiveOp::allgather:
    case CollectiveOp::alltoall: return count * nranks;
    case CollectiveOp::gather: return rank == root ? count * nranks : 0;
    case CollectiveOp::reduce: return rank == root ? count : 0;
    default: return count;
  }
}

namespace {
double reduction(RedOp redop, DataType type, int nranks, std::int64_t index, CollectiveOp op) {
  double acc = input_value(op, redop, nranks, 0, index);
  for (int r = 1; r < nranks; ++r) {
    const double v = input_value(op, redop, nranks, r, index);
    switch (redop) {
      case RedOp::sum:
      case RedOp::avg: acc += v; break;
      case RedOp::prod: acc *= v; break;
      case RedOp::min: acc = std::min(acc, v); break;
      case RedOp::max: acc = std::max(acc, v); break;
    }
  }
  if (redop != RedOp::avg) return acc;
  return is_integer(type) ? std::trunc(acc / nranks) : acc / nranks;
}
}  // namespace

double expected_value(CollectiveOp op, RedOp redop, DataType type, int n, int rank, int root, std::int64_t count,
                      std::int64_t j) {
  const std::int64_t block = j / std::max<std::int64_t>(count, 1), within = j % std::max<std::int64_t>(count, 1);
  switch (op) {
    case CollectiveOp::allreduce:
    case CollectiveOp::reduce: return reduction(redop, type, n, j, op);
    case CollectiveOp::reducescatter: return reduction(redop, type, n, rank * count + j, op);
    case CollectiveOp::allgather:
    case CollectiveOp::gather: return input_value(op, redop, n, static_cast<int>(block), within);
    case CollectiveOp::alltoall: return input_value(op, redop, n, static_cast<int>(block), rank * count + within);
    case CollectiveOp::broadcast: return input_value(op, redop, n, root, j);
    case CollectiveOp::scatter: return input_value(op, redop, n, root, rank * count + j);
    case CollectiveOp::sendrecv: return input_value(op, redop, n, (rank + n - 1) % n, j);
  }
  return 0;
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

std::int64_t to_int64(double value) {
  if (!(value > -0x1p63 && value < 0x1p63)) return 0;  // NaN or out of range: never an expected value
  return static_cast<std::int64_t>(value);
}

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
    // Through int64: narrowing integer conversions wrap modulo 2^bits (C++20), as the
    // hardware's additions do; a direct double -> int8 conversion out of range is undefined.
    case DataType::int8: put(d, static_cast<std::int8_t>(to_int64(value))); break;
    case DataType::uint8: put(d, static_cast<std::uint8_t>(to_int64(value))); break;
    case DataType::int32: put(d, static_cast<std::int32_t>(to_int64(value))); break;
    case DataType::uint32: put(d, static_cast<std::uint32_t>(to_int64(value))); break;
    case DataType::int64: put(d, to_int64(value)); break;
    case DataType::uint64: put(d, static_cast<std::uint64_t>(to_int64(value))); break;
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

double expected_as_stored(DataType type, double exact) {
  std::byte encoded[8];
  encode_element(type, exact, encoded);
  return decode_element(type, encoded);
}

double tolerance(DataType type, int nranks, double expected) {
  double ulp = 0;
  switch (type) {
    case DataType::fp16: ulp = 0x1p-10; break;
    case DataType::bf16: ulp = 0x1p-7; break;
    case DataType::fp32: ulp = 0x1p-23; break;
    case DataType::fp64: ulp = 0x1p-52; break;
    default: return 0;  // integers are exact
  }
  return ulp * std::max(nranks, 1) * std::fabs(expected);
}

std::int64_t count_wrong(CollectiveOp op, RedOp redop, DataType type, int nranks, int rank, int root,
                         std::int64_t count, const std::byte* result) {
  const std::size_t elem = size_of(type);
  const std::int64_t elements = result_elements(op, nranks, rank, root, count);
  std::int64_t wrong = 0;
  for (std::int64_t j = 0; j < elements; ++j) {
    const double expected = expected_as_stored(type, expected_value(op, redop, type, nranks, rank, root, count, j));
    const double value = decode_element(type, result + static_cast<std::size_t>(j) * elem);
    if (!(std::fabs(value - expected) <= tolerance(type, nranks, expected))) ++wrong;
  }
  return wrong;
}

namespace {

std::vector<std::byte> encoded_input(const CollectiveConfig& cfg, int nranks, int rank, std::int64_t elements) {
  const std::size_t elem = size_of(cfg.dtype);
  std::vector<std::byte> host(static_cast<std::size_t>(elements) * elem);
  for (std::int64_t i = 0; i < elements; ++i)
    encode_element(cfg.dtype, input_value(cfg.op, cfg.redop, nranks, rank, i),
                   host.data() + static_cast<std::size_t>(i) * elem);
  return host;
}

PhaseResult measure(Communicator& comm, const Group& control, const CollectiveConfig& cfg, const MessageShape& shape,
                    bool in_place) {
  const int n = comm.size(), me = comm.rank();
  const std::size_t elem = size_of(cfg.dtype);
  const auto block_bytes = static_cast<std::size_t>(shape.count) * elem;
  const auto send_bytes = static_cast<std::size_t>(shape.send_elements) * elem;
  const auto recv_bytes = static_cast<std::size_t>(shape.recv_elements) * elem;
  // Out of place: two buffers. In place: one, with nccl-tests' offsets (collective args).
  Buffer first(comm, in_place ? std::max(send_bytes, recv_bytes) : send_bytes);
  Buffer second(comm, in_place ? 0 : recv_bytes);
  auto* base = static_cast<std::byte*>(first.get());
  std::byte* send = base;
  std::byte* recv = in_place ? base : static_cast<std::byte*>(second.get());
  if (in_place) {
    if (cfg.op == CollectiveOp::allgather || cfg.op == CollectiveOp::gather) send = base + block_bytes * static_cast<std::size_t>(me);
    if (cfg.op == CollectiveOp::reducescatter || cfg.op == CollectiveOp::scatter) recv = base + block_bytes * static_cast<std::size_t>(me);
  }
  CollectiveArgs args{cfg.op, send, recv, static_cast<std::size_t>(shape.count), cfg.dtype, cfg.redop, cfg.root, in_place};
  const auto input = encoded_input(cfg, n, me, shape.send_elements);
  const std::vector<std::byte> zeros(std::max(send_bytes, recv_bytes));
  auto prepare = [&] {
    // Zeros where results land (no expected value is 0), then this rank's input.
    comm.upload(first.get(), zeros.data(), first.bytes());
    if (second.bytes()) comm.upload(second.get(), zeros.data(), second.bytes());
    comm.upload(send, input.data(), send_bytes);
  };

  // Check once on fresh data, then time (timed iterations keep working on the same buffers).
  prepare();
  if (cfg.arrivals) cfg.arrivals->announce();
  comm.set_blocking(cfg.blocking);
  const void* result = comm.collective(args);
  comm.synchronize();
  std::int64_t local_wrong = 0;
  if (const std::int64_t elements = result_elements(cfg.op, n, me, cfg.root, shape.count); elements > 0) {
    std::vector<std::byte> output(static_cast<std::size_t>(elements) * elem);
    comm.download(output.data(), result, output.size());
    local_wrong = count_wrong(cfg.op, cfg.redop, cfg.dtype, n, me, cfg.root, shape.count, output.data());
  }
  long long wrong = local_wrong;
  if (in_place) prepare();

  PhaseResult r;
  r.iteration_seconds = comm.time(
      cfg.timing,
      [&] {
        if (cfg.injected_delay_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(cfg.injected_delay_s));
        comm.collective(args);
      },
      cfg.cuda_graph);
  // time: as nccl-tests, the maximum over ranks of each rank's mean iteration time. (The mean
  // of per-iteration maxima would charge back-to-back operations twice: when ranks take turns
  // waiting for each other, every iteration's maximum is a waiting one.) The per-iteration
  // maxima are kept for p99 and CV.
  double mean = 0;
  for (double s : r.iteration_seconds) mean += s;
  mean = r.iteration_seconds.empty() ? 0 : mean / static_cast<double>(r.iteration_seconds.size());
  control.allreduce_max(std::span<double>(&mean, 1));
  control.allreduce_max(r.iteration_seconds);
  control.allreduce_sum(std::span<long long>(&wrong, 1));
  r.wrong = wrong;
  r.local_wrong = local_wrong;
  r.time_s = mean;
  r.algbw = r.time_s > 0 ? static_cast<double>(shape.bytes) / r.time_s / 1e9 : 0;
  r.busbw = r.algbw * busbw_factor(cfg.op, n);
  return r;
}

}  // namespace

std::vector<CollectivePoint> run_collective(Communicator& comm, const Group& control, const CollectiveConfig& config) {
  if (is_rooted(config.op) && (config.root < 0 || config.root >= comm.size()))
    throw CollectiveError(fmt::format("root {} is not a rank of the {}-rank communicator", config.root, comm.size()));
  std::vector<CollectivePoint> points;
  for (std::int64_t requested : sweep_sizes(config.sweep, size_of(config.dtype))) {
    const MessageShape shape = message_shape(config.op, requested, size_of(config.dtype), comm.size());
    if (!points.empty() && points.back().bytes == shape.bytes) continue;  // rounded onto the previous size
    CollectivePoint p;
    p.bytes = shape.bytes;
    p.count = shape.count;
    p.out_of_place = measure(comm, control, config, shape, false);
    if (config.in_place) p.in_place = measure(comm, control, config, shape, true);
    points.push_back(std::move(p));
  }
  return points;
}

std::string format_table_header(bool in_place) {
  std::string out;
  out += fmt::format("#{:>48}  {:>30}  {:>30}\n", "", "out-of-place", in_place ? "in-place" : "");
  out += fmt::format("#{:>11} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>7} {:>7} {:>6}  {:>7} {:>7} {:>7} {:>6}\n",
                     "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong",
                     "time", "algbw", "busbw", "#wrong");
  out += fmt::format("#{:>11} {:>12} {:>8} {:>6} {:>6}  {:>7} {:>7} {:>7} {:>6}  {:>7} {:>7} {:>7} {:>6}\n",
                     "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                     "(GB/s)", "");
  return out;
}

std::string format_table_rows(const CollectiveConfig& cfg, const std::vector<CollectivePoint>& points) {
  std::string out;
  const std::string_view redop = is_reducing(cfg.op) ? to_string(cfg.redop) : "none";
  const int root = is_rooted(cfg.op) ? cfg.root : -1;
  for (const auto& p : points) {
    out += fmt::format(" {:>11} {:>12} {:>8} {:>6} {:>6}  {:>7.2f} {:>7.2f} {:>7.2f} {:>6}", p.bytes, p.count,
                       nccl_tests_name(cfg.dtype), redop, root, p.out_of_place.time_s * 1e6, p.out_of_place.algbw,
                       p.out_of_place.busbw, p.out_of_place.wrong);
    if (cfg.in_place)
      out += fmt::format("  {:>7.2f} {:>7.2f} {:>7.2f} {:>6}", p.in_place.time_s * 1e6, p.in_place.algbw,
                         p.in_place.busbw, p.in_place.wrong);
    out += '\n';
  }
  return out;
}

std::string format_table(const CollectiveConfig& config, const std::vector<CollectivePoint>& points) {
  return format_table_header(config.in_place) + format_table_rows(config, points);
}

}  // namespace gpuaccept::collectives
