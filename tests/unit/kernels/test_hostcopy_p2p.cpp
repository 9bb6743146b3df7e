// hostcopy and p2p without a GPU: not-applicable reasons on the CPU backend, the data check, the
// NUMA helpers over a fake sysfs tree, and the p2p matrix analysis on synthetic matrices.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <tuple>
#include <vector>

#include "kernels/hostcopy.hpp"
#include "kernels/p2p.hpp"

using namespace gpuaccept::kernels;

TEST(Hostcopy, NotApplicableOnTheCpuBackendWithAReason) {
  std::string reason;
  EXPECT_FALSE(hostcopy_supported(Backend::cpu, &reason));
  EXPECT_NE(reason.find("not applicable on the cpu backend"), std::string::npos) << reason;
  EXPECT_NE(reason.find("GPU"), std::string::npos);
  try {
    run_hostcopy(Backend::cpu, HostcopyConfig{});
    ADD_FAILURE() << "hostcopy ran on the cpu backend";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("not applicable"), std::string::npos);
  }
  if (!cuda_compiled()) {
    EXPECT_FALSE(hostcopy_supported(Backend::cuda, &reason));
    EXPECT_NE(reason.find("without CUDA"), std::string::npos);
  }
}

TEST(P2p, NotApplicableOnTheCpuBackendWithAReason) {
  std::string reason;
  EXPECT_FALSE(p2p_supported(Backend::cpu, &reason));
  EXPECT_NE(reason.find("not applicable on the cpu backend"), std::string::npos) << reason;
  EXPECT_THROW(run_p2p(Backend::cpu, P2pConfig{}), KernelError);
}

TEST(Hostcopy, PatternIsNeverZeroAndTheCheckFindsAPlantedWord) {
  std::vector<std::uint64_t> words(4096);
  for (std::uint64_t i = 0; i < words.size(); ++i) {
    words[i] = copy_pattern_word(9, i);
    ASSERT_NE(words[i], 0u);
  }
  EXPECT_NE(copy_pattern_word(9, 0), copy_pattern_word(10, 0));
  std::string first;
  EXPECT_EQ(count_wrong_words(words.data(), words.size(), 9, &first), 0);
  EXPECT_TRUE(first.empty());
  words[1000] ^= std::uint64_t{1} << 17;
  words[3000] = 0;
  EXPECT_EQ(count_wrong_words(words.data(), words.size(), 9, &first), 2);
  EXPECT_EQ(first.rfind("word 1000 = 0x", 0), 0u) << first;
  EXPECT_EQ(count_wrong_words(words.data(), words.size(), 10, nullptr), 4096);  // the wrong seed
}

TEST(Hostcopy, GbpsIsBytesOverTheMedianTime) {
  HostcopyMeasurement m;
  m.bytes = 1e9;
  m.seconds = {0.3, 0.1, 0.2};
  EXPECT_DOUBLE_EQ(hostcopy_gbps(m), 5.0);
  m.direction = CopyDirection::bidirectional;
  m.bytes = 2e9;  // both ways
  EXPECT_DOUBLE_EQ(hostcopy_gbps(m), 10.0);
  m.seconds.clear();
  EXPECT_TRUE(std::isnan(hostcopy_gbps(m)));
}

TEST(Numa, CpuListsAsSysfsWritesThem) {
  EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpu_list("5"), std::vector<int>{5});
  EXPECT_EQ(parse_cpu_list("3,1,1"), (std::vector<int>{1, 3}));
  EXPECT_TRUE(parse_cpu_list("").empty());
  EXPECT_TRUE(parse_cpu_list("3-1").empty());
  EXPECT_TRUE(parse_cpu_list("a-b").empty());
  EXPECT_TRUE(parse_cpu_list("1,,2").empty());
}

TEST(Numa, PciBusIdsAsSysfsNamesThem) {
  EXPECT_EQ(sysfs_pci_name("00000000:3B:00.0"), "0000:3b:00.0");  // nvidia-smi's 8-digit domain
  EXPECT_EQ(sysfs_pci_name("0000:3B:00.0"), "0000:3b:00.0");      // cudaDeviceGetPCIBusId
  EXPECT_EQ(sysfs_pci_name("0001:c1:00.1"), "0001:c1:00.1");
  EXPECT_EQ(sysfs_pci_name("GPU-5f1c"), "");
  EXPECT_EQ(sysfs_pci_name("3B:00.0"), "");
  EXPECT_EQ(sysfs_pci_name("0000:3B:0G.0"), "");
  EXPECT_EQ(sysfs_pci_name(""), "");
}

TEST(Numa, GpuLocalityFromAFakeSysfsTree) {
  const auto root = std::filesystem::temp_directory_path() / ("gpuaccept-sysfs-" + std::to_string(getpid()));
  const auto dir = root / "bus/pci/devices/0000:3b:00.0";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "numa_node") << "1\n";
  std::ofstream(dir / "local_cpulist") << "8-11,24\n";
  const GpuLocality l = gpu_locality("00000000:3B:00.0", root.string());
  EXPECT_EQ(l.numa_node, 1);
  EXPECT_EQ(l.cpus, (std::vector<int>{8, 9, 10, 11, 24}));
  std::ofstream(dir / "numa_node") << "-1\n";  // no NUMA: sysfs says -1
  EXPECT_EQ(gpu_locality("0000:3b:00.0", root.string()).numa_node, -1);
  const GpuLocality missing = gpu_locality("0000:99:00.0", root.string());
  EXPECT_EQ(missing.numa_node, -1);
  EXPECT_TRUE(missing.cpus.empty());
  std::filesystem::remove_all(root);
}

TEST(Numa, CpusNearTheGpuRespectTheLauncherWhenTheyCan) {
  EXPECT_EQ(cpus_near_gpu({0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 6, 7, 8, 9}), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(cpus_near_gpu({0, 1}, {8, 9}), (std::vector<int>{8, 9}));  // bound far away: go near the GPU
  EXPECT_EQ(cpus_near_gpu({0, 1}, {}), (std::vector<int>{0, 1}));      // unknown: stay
}

TEST(Numa, NodeOfAPageAndAnUnknownGpuLeaveTheThreadAlone) {
  std::vector<char> page(1 << 16, 1);
  const int node = numa_node_of(page.data());
  if (node >= 0) {
    EXPECT_TRUE(std::filesystem::exists("/sys/devices/system/node/node" + std::to_string(node)));
  } else {
    EXPECT_EQ(node, -1);
  }

  cpu_set_t before, after;
  CPU_ZERO(&before);
  CPU_ZERO(&after);
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof before, &before), 0);
  {
    const NearGpuThread near("0000:ff:1f.7", true);  // no such device: nothing to bind to
    EXPECT_EQ(near.gpu_numa_node(), -1);
    EXPECT_NE(near.description().find("unknown"), std::string::npos) << near.description();
  }
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
  const NearGpuThread off("0000:ff:1f.7", false);
  EXPECT_NE(off.description().find("NUMA placement off"), std::string::npos);
}

namespace {

// Four GPUs, every test measured on every link at 100 GB/s (latency 2 us), except where set.
P2pMatrix uniform_node() {
  P2pMatrix m(4);
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 4; ++d) {
      if (s == d) continue;
      m.peer_access[m.at(s, d)] = 1;
      for (std::size_t t = 0; t < kP2pTests; ++t)
        m.values[t][m.at(s, d)] = static_cast<P2pTest>(t) == P2pTest::latency ? 2.0 : 100.0;
    }
  return m;
}

}  // namespace

TEST(P2p, SlowLinksAreNamedAgainstTheMedianOfTheOthers) {
  P2pMatrix m = uniform_node();
  EXPECT_TRUE(find_slow_links(m, 0.8).empty());
  m.values[static_cast<std::size_t>(P2pTest::ce_write)][m.at(0, 3)] = 30;
  m.values[static_cast<std::size_t>(P2pTest::sm_read)][m.at(2, 1)] = 81;  // 0.81 x: not slow
  m.values[static_cast<std::size_t>(P2pTest::latency)][m.at(1, 2)] = 5;   // 2.5 x the median: slow
  const auto slow = find_slow_links(m, 0.8);
  ASSERT_EQ(slow.size(), 2u);
  EXPECT_EQ(slow[0].test, P2pTest::ce_write);
  EXPECT_EQ(slow[0].src, 0);
  EXPECT_EQ(slow[0].dst, 3);
  EXPECT_EQ(slow[0].peer_median, 100);
  EXPECT_EQ(describe_slow_link(slow[0]),
            "GPU 0 -> GPU 3 ce_write 30 GB/s (0.30 x the median 100 of the other links)");
  EXPECT_EQ(slow[1].test, P2pTest::latency);
  EXPECT_EQ(slow[1].src, 1);
  EXPECT_EQ(slow[1].dst, 2);
  EXPECT_NE(describe_slow_link(slow[1]).find("latency 5 us"), std::string::npos);
  // A stricter factor names the 81 GB/s link too.
  EXPECT_EQ(find_slow_links(m, 0.85).size(), 3u);
}

TEST(P2p, UnmeasuredLinksAreLeftOutAndOneLinkHasNoPeers) {
  P2pMatrix two(2);
  two.values[0][two.at(0, 1)] = 10;
  EXPECT_TRUE(find_slow_links(two, 0.8).empty());  // one measured link: nothing to compare with
  two.values[0][two.at(1, 0)] = 100;
  const auto slow = find_slow_links(two, 0.8);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].src, 0);
}

TEST(P2p, EachGpuIsReportedByOneRank) {
  EXPECT_EQ(p2p_rank_gpus(0, 8, 8), std::vector<int>{0});
  EXPECT_EQ(p2p_rank_gpus(3, 8, 8), std::vector<int>{3});
  EXPECT_EQ(p2p_rank_gpus(9, 16, 8), std::vector<int>{1});  // more ranks than GPUs: as the harness maps them
  EXPECT_EQ(p2p_rank_gpus(0, 1, 4), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(p2p_rank_gpus(1, 2, 8), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_TRUE(p2p_rank_gpus(0, 1, 0).empty());
}

TEST(P2p, RankSummaryIsTheWorstOfItsLinks) {
  P2pMatrix m = uniform_node();
  m.values[static_cast<std::size_t>(P2pTest::ce_write)][m.at(0, 3)] = 30;
  m.values[static_cast<std::size_t>(P2pTest::latency)][m.at(0, 1)] = 3;
  m.values[static_cast<std::size_t>(P2pTest::sm_bidir)][m.at(0, 2)] = NAN;  // not measured
  m.wrong[m.at(0, 2)] = 5;
  const auto slow = find_slow_links(m, 0.8);
  const P2pRankSummary zero = summarize_p2p(m, {0}, slow);
  EXPECT_EQ(zero.links, 3);
  EXPECT_EQ(zero.worst[static_cast<std::size_t>(P2pTest::ce_write)], 30);
  EXPECT_EQ(zero.worst[static_cast<std::size_t>(P2pTest::latency)], 3);  // the highest latency
  EXPECT_EQ(zero.worst[static_cast<std::size_t>(P2pTest::sm_bidir)], 100);
  EXPECT_EQ(zero.slow_links, 2);  // 0->3 (ce_write) and 0->1 (latency 1.5 x)
  EXPECT_EQ(zero.wrong, 5);
  const P2pRankSummary two = summarize_p2p(m, {2}, slow);
  EXPECT_EQ(two.slow_links, 0);
  EXPECT_EQ(two.worst[static_cast<std::size_t>(P2pTest::ce_write)], 100);
  const P2pRankSummary all = summarize_p2p(m, {0, 1, 2, 3}, slow);
  EXPECT_EQ(all.links, 12);
}

TEST(P2p, MatrixPrintsAsNvbandwidthDoes) {
  P2pMatrix m(2);
  m.values[0][m.at(0, 1)] = 123.456;
  const std::string text = format_p2p_matrix(m, P2pTest::ce_write);
  EXPECT_NE(text.find("ce_write GB/s (row: src, column: dst)"), std::string::npos) << text;
  EXPECT_NE(text.find("123.46"), std::string::npos) << text;
  EXPECT_NE(text.find("N/A"), std::string::npos);
}

// The median of the other links, taken from one sorted copy, equals the brute-force median of
// every link's others (odd and even counts, ties), on random matrices with a few slow links.
TEST(P2p, SlowLinkMediansMatchABruteForceMedian) {
  std::uint64_t state = 12345;
  auto next = [&] {  // xorshift: deterministic, no <random> distribution differences
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<double>(state % 1000);
  };
  for (int gpus : {2, 3, 4, 5, 8}) {
    for (int round = 0; round < 20; ++round) {
      P2pMatrix m(gpus);
      for (auto& test : m.values)
        for (int s = 0; s < gpus; ++s)
          for (int d = 0; d < gpus; ++d)
            if (s != d) test[m.at(s, d)] = round % 3 == 0 ? 100 + std::floor(next() / 500) : 50 + next() / 10;
      m.values[0][m.at(0, 1)] = round % 2 ? NAN : 1;  // an unmeasured link, or a very slow one
      // Brute force: every link against the sorted others.
      std::vector<std::tuple<int, int, int, double>> expected;  // test, src, dst, peer median
      for (std::size_t t = 0; t < kP2pTests; ++t) {
        const auto& v = m.values[t];
        for (int a = 0; a < gpus; ++a)
          for (int b = 0; b < gpus; ++b) {
            if (a == b || !std::isfinite(v[m.at(a, b)])) continue;
            std::vector<double> others;
            for (int s = 0; s < gpus; ++s)
              for (int d = 0; d < gpus; ++d)
                if (s != d && !(s == a && d == b) && std::isfinite(v[m.at(s, d)])) others.push_back(v[m.at(s, d)]);
            if (others.empty()) continue;
            std::sort(others.begin(), others.end());
            const std::size_t n = others.size();
            const double median = n % 2 ? others[n / 2] : 0.5 * (others[n / 2 - 1] + others[n / 2]);
            const double x = v[m.at(a, b)];
            if (p2p_lower_is_better(static_cast<P2pTest>(t)) ? x > median / 0.9 : x < 0.9 * median)
              expected.emplace_back(static_cast<int>(t), a, b, median);
          }
      }
      std::vector<std::tuple<int, int, int, double>> found;
      for (const auto& l : find_slow_links(m, 0.9)) found.emplace_back(static_cast<int>(l.test), l.src, l.dst, l.peer_median);
      EXPECT_EQ(found, expected) << gpus << " GPUs, round " << round;
    }
  }
}
