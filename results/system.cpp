// Reads a system description (configs/systems/*.yaml, documented in docs/systems.md).
// Every problem is an InputError at file:line:col, like the campaign and contract readers.
#include "results/system.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "results/yaml_util.hpp"

namespace gpuaccept {

namespace {

constexpr const char* kDtypes[] = {"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"};

// An `assumption:` text next to a number is collected under the number's dotted name.
void note_assumption(const YAML::Node& map, const std::string& file, const std::string& key,
                     std::map<std::string, std::string>& out) {
  if (const YAML::Node a = map["assumption"]) out[key] = yaml::get_string(a, file, key + ".assumption");
}

double positive(const YAML::Node& node, const std::string& file, const std::string& what,
                bool allow_zero = false) {
  const double v = yaml::get_number(node, file, what);
  if (v < 0 || (!allow_zero && v == 0))
    yaml::fail(node, file,
               fmt::format("{}: expected a number {} 0, found {}", what, allow_zero ? ">=" : ">", v));
  return v;
}

int positive_int(const YAML::Node& node, const std::string& file, const std::string& what,
                 bool allow_zero = false) {
  const auto v = yaml::get_int(node, file, what);
  if (v < 0 || (!allow_zero && v == 0) || v > 100'000'000)
    yaml::fail(node, file,
               fmt::format("{}: expected an integer {} 0, found {}", what, allow_zero ? ">=" : ">", v));
  return static_cast<int>(v);
}

YAML::Node required(const YAML::Node& map, const YAML::Node& key_node_parent, const std::string& file,
                    const char* key, const std::string& what) {
  YAML::Node node = map[key];
  if (!node) yaml::fail(key_node_parent, file, fmt::format("{}: missing required key '{}'", what, key));
  return node;
}

GpuModel read_gpu(const YAML::Node& node, const std::string& file,
                  std::map<std::string, std::string>& notes) {
  yaml::check_keys(node, file,
                   {"name", "memory_gib", "memory_bandwidth_gbs", "peak_tflops", "nvlink_bandwidth_gbs",
                    "power_w", "host_link", "host_link_gbs", "sm_clock_mhz", "memory_clock_mhz", "assumption"},
                   "gpu");
  GpuModel g;
  g.name = yaml::get_string(required(node, node, file, "name", "gpu"), file, "gpu.name");
  g.memory_gib = positive(required(node, node, file, "memory_gib", "gpu"), file, "gpu.memory_gib");
  g.memory_bandwidth_gbs =
      positive(required(node, node, file, "memory_bandwidth_gbs", "gpu"), file, "gpu.memory_bandwidth_gbs");
  g.nvlink_bandwidth_gbs =
      positive(required(node, node, file, "nvlink_bandwidth_gbs", "gpu"), file, "gpu.nvlink_bandwidth_gbs");
  if (node["power_w"]) g.power_w = positive(node["power_w"], file, "gpu.power_w");
  if (node["host_link"]) g.host_link = yaml::get_string(node["host_link"], file, "gpu.host_link");
  if (node["host_link_gbs"]) g.host_link_gbs = positive(node["host_link_gbs"], file, "gpu.host_link_gbs");
  if (node["sm_clock_mhz"]) g.sm_clock_mhz = positive(node["sm_clock_mhz"], file, "gpu.sm_clock_mhz");
  if (node["memory_clock_mhz"])
    g.memory_clock_mhz = positive(node["memory_clock_mhz"], file, "gpu.memory_clock_mhz");
  const YAML::Node peaks = required(node, node, file, "peak_tflops", "gpu");
  yaml::check_keys(peaks, file, {"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8"}, "gpu.peak_tflops");
  for (const char* dtype : kDtypes)
    if (peaks[dtype])
      g.peak_tflops[dtype] = positive(peaks[dtype], file, fmt::format("gpu.peak_tflops.{}", dtype));
  if (g.peak_tflops.empty()) yaml::fail(peaks, file, "gpu.peak_tflops: give the peak of at least one dtype");
  note_assumption(node, file, "gpu", notes);
  return g;
}

FabricTier read_tier(const YAML::Node& node, const std::string& file, std::size_t index,
                     std::map<std::string, std::string>& notes) {
  const std::string what = fmt::format("fabric[{}]", index);
  yaml::check_keys(node, file,
                   {"name", "radix", "link_bandwidth_gbps", "latency_us", "oversubscription", "assumption"},
                   what);
  FabricTier t;
  t.name = yaml::get_string(required(node, node, file, "name", what), file, what + ".name");
  t.radix = positive_int(required(node, node, file, "radix", what), file, what + ".radix");
  if (t.radix < 2)
    yaml::fail(node["radix"], file, fmt::format("{}.radix: a switch needs at least 2 ports", what));
  t.link_bandwidth_gbps =
      positive(required(node, node, file, "link_bandwidth_gbps", what), file, what + ".link_bandwidth_gbps");
  t.latency_us = positive(required(node, node, file, "latency_us", what), file, what + ".latency_us", true);
  if (node["oversubscription"]) {
    t.oversubscription = yaml::get_number(node["oversubscription"], file, what + ".oversubscription");
    if (t.oversubscription < 1)
      yaml::fail(
          node["oversubscription"], file,
          fmt::format("{}.oversubscription: expected a down:up ratio >= 1 (1 = non-blocking), found {}", what,
                      t.oversubscription));
  }
  note_assumption(node, file, "fabric." + t.name, notes);
  return t;
}

StorageSystem read_storage(const YAML::Node& node, const std::string& file,
                           std::map<std::string, std::string>& notes) {
  yaml::check_keys(
      node, file,
      {"name", "aggregate_read_gbs", "aggregate_write_gbs", "per_client_gbs", "per_client_read_gbs", "metadata_ops",
       "assumption"},
      "storage");
  StorageSystem s;
  if (node["name"]) s.name = yaml::get_string(node["name"], file, "storage.name");
  s.aggregate_read_gbs = positive(required(node, node, file, "aggregate_read_gbs", "storage"), file,
                                  "storage.aggregate_read_gbs");
  s.aggregate_write_gbs = positive(required(node, node, file, "aggregate_write_gbs", "storage"), file,
                                   "storage.aggregate_write_gbs");
  s.per_client_gbs =
      positive(required(node, node, file, "per_client_gbs", "storage"), file, "storage.per_client_gbs");
  if (node["per_client_read_gbs"])
    s.per_client_read_gbs = positive(node["per_client_read_gbs"], file, "storage.per_client_read_gbs");
  if (node["metadata_ops"]) s.metadata_ops = positive(node["metadata_ops"], file, "storage.metadata_ops");
  note_assumption(node, file, "storage", notes);
  return s;
}

// A top-level number may be written plainly (`nodes: 1063`) or with its assumption
// (`nodes: {value: 1063, assumption: "..."}`).
YAML::Node value_of(const YAML::Node& node, const std::string& file, const std::string& key,
                    std::map<std::string, std::string>& notes) {
  if (!node.IsMap()) return node;
  yaml::check_keys(node, file, {"value", "assumption"}, key);
  if (!node["value"]) yaml::fail(node, file, fmt::format("{}: missing required key 'value'", key));
  note_assumption(node, file, key, notes);
  return node["value"];
}

}  // namespace

SystemDescription load_system(const std::string& yaml_text, const std::string& path) {
  const YAML::Node root = yaml::parse(yaml_text, path);
  if (!root.IsMap())
    yaml::fail(root, path, "a system description must be a mapping with at least 'system' and 'nodes'");
  yaml::check_keys(root, path,
                   {"system", "description", "nodes", "gpus_per_node", "nvlink_domain", "nics_per_node",
                    "rails", "nic_bandwidth_gbps", "scalable_unit_nodes", "in_network_reduction", "gpu",
                    "fabric", "storage", "assumptions"},
                   "the system description");
  SystemDescription s;
  s.path = path;
  s.text = yaml_text;
  auto& notes = s.assumptions;
  s.name = yaml::get_string(required(root, root, path, "system", "the system description"), path, "system");
  if (s.name.empty()) yaml::fail(root["system"], path, "system: expected a non-empty name");
  if (root["description"]) s.description = yaml::get_string(root["description"], path, "description");

  auto int_key = [&](const char* key, bool allow_zero = false) {
    return positive_int(value_of(required(root, root, path, key, "the system description"), path, key, notes),
                        path, key, allow_zero);
  };
  s.nodes = int_key("nodes");
  s.gpus_per_node = int_key("gpus_per_node");
  s.nvlink_domain = int_key("nvlink_domain");
  s.nics_per_node = int_key("nics_per_node");
  s.rails = root["rails"] ? positive_int(value_of(root["rails"], path, "rails", notes), path, "rails")
                          : s.nics_per_node;
  s.nic_bandwidth_gbps =
      positive(value_of(required(root, root, path, "nic_bandwidth_gbps", "the system description"), path,
                        "nic_bandwidth_gbps", notes),
               path, "nic_bandwidth_gbps");
  if (root["scalable_unit_nodes"])
    s.scalable_unit_nodes =
        positive_int(value_of(root["scalable_unit_nodes"], path, "scalable_unit_nodes", notes), path,
                     "scalable_unit_nodes");
  if (root["in_network_reduction"])
    s.in_network_reduction =
        yaml::get_bool(value_of(root["in_network_reduction"], path, "in_network_reduction", notes), path,
                       "in_network_reduction");

  // Consistency: an NVLink domain is a whole number of nodes (NVL72: 18 nodes of 4 GPUs) or
  // divides one node (HGX: the 8 GPUs of the node).
  if (s.nvlink_domain % s.gpus_per_node != 0 && s.gpus_per_node % s.nvlink_domain != 0)
    yaml::fail(root["nvlink_domain"], path,
               fmt::format("nvlink_domain: {} GPUs neither holds whole nodes of {} GPUs nor divides one",
                           s.nvlink_domain, s.gpus_per_node));
  if (s.nvlink_domain > s.gpus_per_node) {
    const int nodes_per_domain = s.nvlink_domain / s.gpus_per_node;
    if (s.nodes % nodes_per_domain != 0)
      yaml::fail(root["nodes"], path,
                 fmt::format("nodes: {} nodes do not fill whole NVLink domains of {} nodes", s.nodes,
                             nodes_per_domain));
  }
  if (s.rails > s.nics_per_node)
    yaml::fail(root["rails"], path,
               fmt::format("rails: {} rails need at least as many NICs per node (have {})", s.rails,
                           s.nics_per_node));

  s.gpu = read_gpu(required(root, root, path, "gpu", "the system description"), path, notes);

  const YAML::Node fabric = required(root, root, path, "fabric", "the system description");
  if (!fabric.IsSequence() || fabric.size() == 0)
    yaml::fail(fabric, path, "fabric: expected a non-empty list of tiers, leaf first (leaf, spine, core)");
  for (std::size_t i = 0; i < fabric.size(); ++i) s.fabric.push_back(read_tier(fabric[i], path, i, notes));
  if (s.fabric.back().oversubscription != 1)
    yaml::fail(
        fabric[fabric.size() - 1]["oversubscription"], path,
        fmt::format("fabric: the top tier ({}) has no up-links, so its oversubscription must be 1; give the "
                    "down:up split on the tier below",
                    s.fabric.back().name));
  for (std::size_t i = 0; i < s.fabric.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (s.fabric[i].name == s.fabric[j].name)
        yaml::fail(fabric[i]["name"], path,
                   fmt::format("fabric: tier name '{}' given twice", s.fabric[i].name));

  s.storage = read_storage(required(root, root, path, "storage", "the system description"), path, notes);

  if (const YAML::Node a = root["assumptions"]) {
    yaml::require_map(a, path, "assumptions");
    for (const auto& kv : a)
      notes[kv.first.Scalar()] = yaml::get_string(kv.second, path, "assumptions." + kv.first.Scalar());
  }
  return s;
}

SystemDescription load_system_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError(SourceLocation{path, 0, 0}, "no such system description");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(SourceLocation{path, 0, 0}, "is a directory, not a system description");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(SourceLocation{path, 0, 0}, "cannot be read (permission denied?)");
  std::ostringstream text;
  text << in.rdbuf();
  return load_system(text.str(), path);
}

}  // namespace gpuaccept
