#include "harness/slurm.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <regex>

#include "harness/version.hpp"

namespace gpuaccept::harness {

namespace {

bool is_identifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// #SBATCH lines are read by sbatch, not by the shell, and its quoting rules differ between
// versions: only values made of these characters go there; the rest is in the script body.
bool sbatch_safe(std::string_view value) {
  if (value.empty()) return false;
  for (char c : value)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
          c == ',' || c == '/' || c == '%' || c == '='))
      return false;
  return true;
}

std::string job_name_of(const std::string& campaign) {
  std::string name;
  for (char c : campaign)
    name += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  return "gpuaccept-" + name;
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(std::filesystem::path(path)).lexically_normal().string();
}

std::string this_binary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gpuaccept") : self.string();
}

}  // namespace

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

std::string slurm_script(const Campaign& campaign, const SlurmOptions& o) {
  const SystemDescription* system = campaign.system_description.get();
  const int nodes = o.nodes > 0 ? o.nodes : system ? system->nodes : 1;
  const int tasks = o.tasks_per_node > 0 ? o.tasks_per_node : system ? system->gpus_per_node : 1;
  const int gpus = o.gpus_per_task >= 0 ? o.gpus_per_task : system ? 1 : 0;
  if (nodes < 1) throw InputError(fmt::format("--nodes: expected at least 1, found {}", nodes));
  if (tasks < 1) throw InputError(fmt::format("--tasks-per-node: expected at least 1, found {}", tasks));
  static const std::regex time_form(R"(^(\d+-)?\d{1,2}(:\d{2}){0,2}$|^\d+$)");
  if (!std::regex_match(o.time_limit, time_form))
    throw InputError(
        fmt::format("--time: expected minutes or [D-]HH:MM:SS as Slurm takes it, found '{}'", o.time_limit));
  for (const auto& [what, value] : {std::pair<const char*, const std::string&>{"--partition", o.partition},
                                    std::pair<const char*, const std::string&>{"--account", o.account}})
    if (!value.empty() && !sbatch_safe(value))
      throw InputError(fmt::format("{}: '{}' holds characters a Slurm name cannot have", what, value));
  for (const auto& [name, value] : o.environment)
    if (!is_identifier(name))
      throw InputError(fmt::format("--env: '{}' is not a variable name (letters, digits, _)", name));

  const std::string campaign_path = absolute(campaign.path);
  const std::string base_dir = o.log_dir.empty() ? campaign.output_dir : o.log_dir;
  const std::string log_dir = absolute(base_dir);
  // The results file: given, or the campaign's output_dir with the job id in its name.
  std::string results_expr;
  if (!o.results.empty()) {
    results_expr = shell_quote(absolute(o.results));
  } else {
    results_expr =
        shell_quote(absolute((std::filesystem::path(campaign.output_dir) / (campaign.name + "-")).string())) +
        "\"${SLURM_JOB_ID}.h5\"";
  }
  const std::string binary = o.gpuaccept.empty() ? this_binary() : o.gpuaccept;

  std::string s;
  s += "#!/bin/bash\n";
  s += fmt::format("# Written by gpuaccept {} (`gpuaccept slurm`) for campaign {}.\n", tool_version(),
                   shell_quote(campaign.name));
  s += "# Submit with sbatch; Slurm's own output goes to the log folder named below.\n";
  s += fmt::format("#SBATCH --job-name={}\n", job_name_of(campaign.name));
  s += fmt::format("#SBATCH --nodes={}\n", nodes);
  s += fmt::format("#SBATCH --ntasks-per-node={}\n", tasks);
  if (gpus > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", gpus);
  if (o.cpus_per_task > 0) s += fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task);
  s += fmt::format("#SBATCH --time={}\n", o.time_limit);
  if (!o.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", o.partition);
  if (!o.account.empty()) s += fmt::format("#SBATCH --account={}\n", o.account);
  s += "#SBATCH --exclusive\n";
  // The log path may hold any character, so it is passed in the body, where the shell quotes it:
  // stdout and stderr of the batch step are redirected there once the job starts.
  s += "\n";
  s += fmt::format("log_dir={}\n", shell_quote(log_dir));
  s += "mkdir -p \"$log_dir\"\n";
  s += "exec >\"$log_dir/slurm-${SLURM_JOB_ID}.out\" 2>&1\n";
  s += "\n";
  s += fmt::format("campaign={}\n", shell_quote(campaign_path));
  s += fmt::format("results={}\n", results_expr);
  s += fmt::format("gpuaccept={}\n", shell_quote(binary));
  s += "mkdir -p \"$(dirname \"$results\")\"\n";
  s += "\n";
  s += "# NCCL: warnings only; NVLink SHARP as the system description says. Site settings\n";
  s += "# (NCCL_IB_HCA, NCCL_SOCKET_IFNAME, ...) come from --env or the submitting shell.\n";
  s += "export NCCL_DEBUG=WARN\n";
  if (system) s += fmt::format("export NCCL_NVLS_ENABLE={}\n", system->in_network_reduction ? 1 : 0);
  for (const auto& [name, value] : o.environment)
    s += fmt::format("export {}={}\n", name, shell_quote(value));
  s += "\n";
  s += "echo \"gpuaccept: job ${SLURM_JOB_ID} on ${SLURM_JOB_NUM_NODES} node(s): $campaign -> $results\"\n";
  // Debian's (and most sites') Open MPI starts under srun only through PMIx.
  std::string srun = fmt::format("srun --mpi=pmix --nodes={} --ntasks-per-node={}", nodes, tasks);
  if (gpus > 0) srun += fmt::format(" --gpus-per-task={}", gpus);
  srun += " \"$gpuaccept\" run \"$campaign\" --output \"$results\"";
  for (const auto& arg : o.run_args) srun += " " + shell_quote(arg);
  s += srun + "\n";
  s += "status=$?\n";
  s +=
      "echo \"gpuaccept: exit status $status (0 pass, 1 a criterion failed, 2 bad input, 3 a step broke)\"\n";
  s += "exit $status\n";
  return s;
}

}  // namespace gpuaccept::harness
