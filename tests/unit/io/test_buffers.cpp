// I/O buffers: page-aligned and zeroed; large ones on transparent huge pages, so that a 1 MiB
// O_DIRECT transfer reaches the block layer as one physically contiguous segment.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "io/posix_file.hpp"

namespace gpuaccept::io {
namespace {

// The kernel's THP mode: "always", "madvise" or "never" (the bracketed word), "" if unknown.
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto open = text.find('['), close = text.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : text.substr(open + 1, close - open - 1);
}

// kB of anonymous huge pages backing the mapping that holds `address` (/proc/self/smaps).
long huge_kb_at(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= a && a < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
  }
  return -1;
}

TEST(AlignedBuffer, SmallBuffersArePageAlignedAndZeroed) {
  const AlignedBuffer b(12345);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % AlignedBuffer::kAlignment, 0u);
  EXPECT_EQ(b.size(), 12345u);
  for (std::byte x : b.span()) ASSERT_EQ(x, std::byte{0});
}

TEST(AlignedBuffer, LargeBuffersSitOnHugePagesWhereTheKernelOffersThem) {
  const AlignedBuffer b(std::size_t{1} << 20);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % AlignedBuffer::kHugePage, 0u);
  for (std::byte x : b.span()) ASSERT_EQ(x, std::byte{0});
  const std::string mode = thp_mode();
  if (mode != "always" && mode != "madvise")
    GTEST_SKIP() << "transparent huge pages are '" << mode << "' on this kernel: the buffer stays on small pages";
  // The kernel may still fall back to small pages when no 2 MiB page is free; on an idle test
  // machine it has one.
  EXPECT_GE(huge_kb_at(b.data()), 2048) << "a 1 MiB I/O buffer is not backed by a transparent huge page";
}

}  // namespace
}  // namespace gpuaccept::io
