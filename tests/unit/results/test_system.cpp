#include <gtest/gtest.h>

#include <string>

#include "results/system.hpp"

using namespace gpuaccept;

namespace {

const char* kMinimal =
    "system: tiny\n"
    "nodes: 4\n"
    "gpus_per_node: 4\n"
    "nvlink_domain: {value: 8, assumption: two nodes per domain}\n"
    "nics_per_node: 4\n"
    "nic_bandwidth_gbps: 400\n"
    "gpu:\n"
    "  name: G\n"
    "  memory_gib: 80\n"
    "  memory_bandwidth_gbs: 3000\n"
    "  nvlink_bandwidth_gbs: 450\n"
    "  peak_tflops: {bf16: 1000, fp64: 60}\n"
    "fabric:\n"
    "  - {name: leaf, radix: 64, link_bandwidth_gbps: 400, latency_us: 0.5, oversubscription: 2}\n"
    "  - {name: spine, radix: 64, link_bandwidth_gbps: 400, latency_us: 0.5}\n"
    "storage: {aggregate_read_gbs: 100, aggregate_write_gbs: 50, per_client_gbs: 10}\n";

std::string error_of(const std::string& text) {
  try {
    load_system(text, "s.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST(System, ReadsEveryField) {
  const SystemDescription s = load_system(kMinimal, "s.yaml");
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.nodes, 4);
  EXPECT_EQ(s.gpus_per_node, 4);
  EXPECT_EQ(s.nvlink_domain, 8);
  EXPECT_EQ(s.rails, 4);  // defaults to one rail per NIC
  EXPECT_EQ(s.total_gpus(), 16);
  EXPECT_DOUBLE_EQ(*s.gpu.peak("bf16"), 1000);
  EXPECT_FALSE(s.gpu.peak("fp8").has_value());
  ASSERT_EQ(s.fabric.size(), 2u);
  EXPECT_DOUBLE_EQ(s.fabric[0].oversubscription, 2);
  EXPECT_DOUBLE_EQ(s.fabric[1].oversubscription, 1);
  EXPECT_DOUBLE_EQ(s.storage.per_client_gbs, 10);
  EXPECT_EQ(s.assumptions.at("nvlink_domain"), "two nodes per domain");
  EXPECT_EQ(s.text, kMinimal);
}

TEST(System, ErrorsNamePlaceAndExpectation) {
  EXPECT_EQ(error_of(replaced(kMinimal, "nodes: 4\n", "nodes: four\n")),
            "s.yaml:2:8: nodes: expected an integer, found 'four'");
  EXPECT_EQ(error_of(replaced(kMinimal, "nodes: 4\n", "")),
            "s.yaml:1:1: the system description: missing required key 'nodes'");
  EXPECT_EQ(error_of(replaced(kMinimal, "nodes: 4\n", "nodes: 3\n")),
            "s.yaml:2:8: nodes: 3 nodes do not fill whole NVLink domains of 2 nodes");
  EXPECT_EQ(error_of(replaced(kMinimal, "nvlink_domain: {value: 8,", "nvlink_domain: {value: 6,")),
            "s.yaml:4:16: nvlink_domain: 6 GPUs neither holds whole nodes of 4 GPUs nor divides one");
  EXPECT_EQ(error_of(replaced(kMinimal, "oversubscription: 2", "oversubscription: 0.5")),
            "s.yaml:14:90: fabric[0].oversubscription: expected a down:up ratio >= 1 (1 = non-blocking), "
            "found 0.5");
  EXPECT_EQ(error_of(replaced(kMinimal, "bf16: 1000", "bf17: 1000")),
            "s.yaml:12:17: unknown key 'bf17' in gpu.peak_tflops (expected one of: fp64, fp32, tf32, bf16, "
            "fp16, fp8, "
            "int8)");
  EXPECT_EQ(error_of(replaced(kMinimal, "0.5}\nstorage", "0.5, oversubscription: 3}\nstorage")),
            "s.yaml:15:91: fabric: the top tier (spine) has no up-links, so its oversubscription must be 1; "
            "give the "
            "down:up split on the tier below");
  EXPECT_EQ(error_of(replaced(kMinimal, "name: spine", "name: leaf")),
            "s.yaml:15:12: fabric: tier name 'leaf' given twice");
  EXPECT_EQ(error_of(replaced(kMinimal, "per_client_gbs: 10", "per_client_gbs: -1")),
            "s.yaml:16:77: storage.per_client_gbs: expected a number > 0, found -1");
  EXPECT_EQ(error_of("system: x\nnodes: [\n"),
            "s.yaml:3:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(error_of(replaced(kMinimal, "fabric:\n", "fabrik:\n")).substr(0, 30),
            "s.yaml:13:1: unknown key 'fabr");
}

TEST(System, OptionalHostLinkClocksAndReadRate) {
  const SystemDescription plain = load_system(kMinimal, "s.yaml");
  EXPECT_EQ(plain.gpu.host_link_gbs, 0);  // not described: what needs it is skipped, never guessed
  EXPECT_EQ(plain.gpu.sm_clock_mhz, 0);
  EXPECT_EQ(plain.storage.per_client_read_gbs, 0);
  const SystemDescription s = load_system(
      replaced(replaced(kMinimal, "  nvlink_bandwidth_gbs: 450\n",
                        "  nvlink_bandwidth_gbs: 450\n  host_link: NVLink-C2C\n  host_link_gbs: 450\n"
                        "  sm_clock_mhz: 1980\n  memory_clock_mhz: 2619\n"),
               "per_client_gbs: 10}", "per_client_gbs: 10, per_client_read_gbs: 20}"),
      "s.yaml");
  EXPECT_EQ(s.gpu.host_link, "NVLink-C2C");
  EXPECT_DOUBLE_EQ(s.gpu.host_link_gbs, 450);
  EXPECT_DOUBLE_EQ(s.gpu.sm_clock_mhz, 1980);
  EXPECT_DOUBLE_EQ(s.gpu.memory_clock_mhz, 2619);
  EXPECT_DOUBLE_EQ(s.storage.per_client_read_gbs, 20);
  EXPECT_EQ(error_of(replaced(kMinimal, "  nvlink_bandwidth_gbs: 450\n", "  nvlink_bandwidth_gbs: 450\n  host_link_gbs: 0\n")),
            "s.yaml:12:18: gpu.host_link_gbs: expected a number > 0, found 0");
}

TEST(System, MissingFileIsAnInputError) {
  try {
    load_system_file("/nonexistent/system.yaml");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/system.yaml: no such system description");
  }
}

// The shipped descriptions load, and their sizes are the ones the documentation promises.
TEST(System, ShippedDescriptionsLoad) {
  const auto p1 = load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase1-8500.yaml");
  EXPECT_EQ(p1.total_gpus(), 8504);
  EXPECT_EQ(p1.fabric.size(), 2u);
  EXPECT_FALSE(p1.assumptions.at("nodes").empty());
  const auto p2 = load_system_file(GPUACCEPT_SOURCE_DIR "/configs/systems/phase2-500k.yaml");
  EXPECT_DOUBLE_EQ(p1.gpu.host_link_gbs, 63);
  EXPECT_DOUBLE_EQ(p1.gpu.sm_clock_mhz, 1980);
  EXPECT_EQ(p1.gpu.host_link, "PCIe Gen5 x16");
  EXPECT_EQ(p2.total_gpus(), 500000);
  EXPECT_GT(p2.gpu.memory_clock_mhz, 0);
  EXPECT_EQ(p2.nodes, 62500);
  ASSERT_EQ(p2.fabric.size(), 3u);
  EXPECT_DOUBLE_EQ(p2.fabric[1].oversubscription, 2);
  EXPECT_TRUE(p2.assumptions.count("fabric.core"));
}
