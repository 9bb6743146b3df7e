// Batch scripts for Slurm: `gpuaccept slurm CAMPAIGN.yaml` writes the sbatch script that runs a
// campaign on a cluster (docs/slurm.md). We generate scripts for the site's launcher and never
// launch ranks ourselves. Every value from the user (paths, names, environment) is shell-quoted.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/campaign.hpp"

namespace gpuaccept::harness {

struct SlurmOptions {
  int nodes = 0;           // 0: the system description's nodes, else 1
  int tasks_per_node = 0;  // 0: the description's GPUs per node, else 1
  int gpus_per_task = -1;  // -1: 1 when the campaign's system has a description, else 0 (no --gpus-per-task)
  int cpus_per_task = 0;   // 0: leave it to Slurm
  std::string time_limit = "02:00:00";
  std::string partition;  // "" = the cluster's default
  std::string account;
  std::string results;    // "" = <output_dir>/<campaign>-<job id>.h5
  std::string log_dir;    // where Slurm's stdout/stderr go; "" = the campaign's output_dir
  std::string gpuaccept;  // the binary srun starts; "" = this one
  std::vector<std::pair<std::string, std::string>> environment;  // extra exports, after the NCCL defaults
  std::vector<std::string> run_args;  // extra arguments to `gpuaccept run` (e.g. --quiet)
};

// 'text' with every ' written as '\'' : safe for any byte string in a POSIX shell.
std::string shell_quote(std::string_view text);

// The batch script. Throws InputError for values Slurm cannot take (e.g. nodes < 1, a time
// limit that is not [D-]HH:MM:SS, an environment name that is not a shell identifier).
std::string slurm_script(const Campaign& campaign, const SlurmOptions& options);

}  // namespace gpuaccept::harness
