// bench_pattern: what the storage benchmarks' data pattern (io/pattern.hpp) costs per byte, next
// to memcpy of the same buffer, one core, 1 MiB buffers (the transfer size of the fio
// comparison in docs/storage.md). Not run by ctest: run bin/bench_pattern.
//
//   memcpy            copy 1 MiB from one buffer to another (what the kernel's copy into the
//                     page cache costs, roughly)
//   fill/full         Pattern::fill: header and body of every 4 KiB block
//   fill/restamp      Filler::fill on a buffer that holds the body already: headers only (every
//                     sequential 1 MiB transfer after the first)
//   verify            Pattern::verify of a right buffer (every byte compared)
// Counter bytes_per_second: 1 MiB per iteration. Each benchmark checks its output once after its
// loop; a wrong one ends it with SkipWithError.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "io/pattern.hpp"

namespace gpuaccept::io {
namespace {

constexpr std::size_t kBytes = std::size_t{1} << 20;
const DataTag kTag{3, 1, 2};

void BM_memcpy(benchmark::State& state) {
  std::vector<std::byte> from(kBytes, std::byte{7}), to(kBytes);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), kBytes);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  if (to != from) state.SkipWithError("memcpy copied wrong bytes");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

void BM_fill_full(benchmark::State& state) {
  const Pattern p(1);
  std::vector<std::byte> out(kBytes);
  std::uint64_t t = 0;
  for (auto _ : state) {
    p.fill(out, kTag, (t++) * kBytes);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (!p.verify(out, kTag, (t - 1) * kBytes).ok()) state.SkipWithError("fill wrote a wrong pattern");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

void BM_fill_restamp(benchmark::State& state) {
  const Pattern p(1);
  Filler filler(p, kTag);
  std::vector<std::byte> out(kBytes);
  std::uint64_t t = 0;
  for (auto _ : state) {
    filler.fill(out, (t++) * kBytes);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (!p.verify(out, kTag, (t - 1) * kBytes).ok() || filler.full_fills() != 1)
    state.SkipWithError("restamping wrote a wrong pattern");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

void BM_verify(benchmark::State& state) {
  const Pattern p(1);
  std::vector<std::byte> data(kBytes);
  p.fill(data, kTag, 0);
  bool ok = true;
  for (auto _ : state) {
    const VerifyResult r = p.verify(data, kTag, 0);
    ok = ok && r.ok();
    benchmark::DoNotOptimize(r.checked_bytes);
  }
  data[12345] ^= std::byte{1};
  if (!ok || p.verify(data, kTag, 0).wrong_bytes != 1) state.SkipWithError("verify is wrong");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

BENCHMARK(BM_memcpy)->Name("memcpy");
BENCHMARK(BM_fill_full)->Name("fill/full");
BENCHMARK(BM_fill_restamp)->Name("fill/restamp");
BENCHMARK(BM_verify)->Name("verify");

}  // namespace
}  // namespace gpuaccept::io

BENCHMARK_MAIN();
