// Reading YAML with errors that name file, line and column. yaml-cpp's own exceptions are
// turned into InputError here, so no caller ever sees a yaml-cpp exception.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "results/input_error.hpp"

namespace gpuaccept::yaml {

// Parses text (the file's whole content). Syntax errors become InputError at their place.
YAML::Node parse(const std::string& text, const std::string& file);

SourceLocation where(const YAML::Node& node, const std::string& file);
[[noreturn]] void fail(const YAML::Node& node, const std::string& file, const std::string& message);

// Fails on the first key of a map that is not in `allowed`, naming the allowed ones.
void check_keys(const YAML::Node& map, const std::string& file,
                std::initializer_list<std::string_view> allowed, std::string_view what);
void require_map(const YAML::Node& node, const std::string& file, std::string_view what);

std::string get_string(const YAML::Node& node, const std::string& file, std::string_view what);
double get_number(const YAML::Node& node, const std::string& file, std::string_view what);
std::int64_t get_int(const YAML::Node& node, const std::string& file, std::string_view what);
bool get_bool(const YAML::Node& node, const std::string& file, std::string_view what);
// Byte counts: 4096, 4K, 4KiB, 8M, 1G, 1.5G (binary units, as nccl-tests and IOR read them).
std::int64_t get_size(const YAML::Node& node, const std::string& file, std::string_view what);
std::optional<std::int64_t> parse_size(std::string_view text);

}  // namespace gpuaccept::yaml
