// The campaign: what to run (benchmarks and their parameters), on which system, how often,
// and which contract judges it. YAML, documented in docs/campaigns.md. Loading validates
// everything against the benchmark registry, so that bad input fails before anything runs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "results/input_error.hpp"
#include "results/step_result.hpp"
#include "results/system.hpp"
#include "suites/registry.hpp"

namespace gpuaccept::harness {

struct CampaignEntry {
  std::string benchmark;
  // The parameter sets this entry expands to: the cartesian product of its list values,
  // with campaign defaults and the benchmark's own defaults filled in.
  std::vector<Params> expanded;
  SourceLocation where;
};

struct Campaign {
  std::string name;
  std::string description;
  std::string path;  // as given
  std::string text;  // verbatim, stored in the results file
  std::string system;            // the system's name (a description's `system:` when one is named)
  // `system:` naming a description file (a path ending in .yaml/.yml, resolved against the
  // campaign's folder like `contract`): the description, read and checked at load time.
  // nullptr for a bare name ("local"), which keeps its old meaning: no description.
  std::shared_ptr<const SystemDescription> system_description;
  std::string phase;
  std::string backend = "auto";  // auto | cpu | cuda
  int repetitions = 1;
  std::string contract_path;     // resolved against the campaign's folder; "" when none
  std::string output_dir = "runs";
  std::vector<CampaignEntry> entries;
};

// Parses and validates. Throws InputError naming file:line:col and what was expected.
// `stored_system`: the system description's text as a results file stored it; when given, a
// campaign that names a description file takes it from there instead of reading the file
// (judging a results file elsewhere than where it was run).
Campaign load_campaign(const std::string& text, const std::string& path,
                       const suites::Registry& registry, const std::string* stored_system = nullptr);
// Reads the file first; an unreadable file is an InputError too.
Campaign load_campaign_file(const std::string& path, const suites::Registry& registry);
std::string read_text_file(const std::string& path);
// Whether a campaign's `system:` value names a description file (ends in .yaml or .yml)
// rather than being a bare name.
bool names_system_file(const std::string& system);

}  // namespace gpuaccept::harness
