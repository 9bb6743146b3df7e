#include <gtest/gtest.h>

#include "harness/slurm.hpp"

using namespace gpuaccept;
using namespace gpuaccept::harness;

TEST(Slurm, ShellQuoteKeepsEveryByte) {
  EXPECT_EQ(shell_quote("plain"), "'plain'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("a \"b\" $HOME `x`"), "'a \"b\" $HOME `x`'");
}

TEST(Slurm, ScriptTakesSizesFromTheSystemDescription) {
  Campaign c = load_campaign_file(GPUACCEPT_SOURCE_DIR "/configs/local.yaml", suites::Registry::instance());
  auto system = std::make_shared<SystemDescription>();
  system->name = "s";
  system->nodes = 1063;
  system->gpus_per_node = 8;
  system->in_network_reduction = true;
  c.system_description = system;
  SlurmOptions o;
  o.gpuaccept = "/opt/gpu accept/bin/gpuaccept";
  const std::string s = slurm_script(c, o);
  EXPECT_NE(s.find("#SBATCH --nodes=1063\n"), std::string::npos) << s;
  EXPECT_NE(s.find("#SBATCH --ntasks-per-node=8\n"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --gpus-per-task=1\n"), std::string::npos);
  EXPECT_NE(s.find("srun --mpi=pmix --nodes=1063 --ntasks-per-node=8 --gpus-per-task=1 \"$gpuaccept\" run"),
            std::string::npos);
  EXPECT_NE(s.find("gpuaccept='/opt/gpu accept/bin/gpuaccept'\n"), std::string::npos);
  EXPECT_NE(s.find("export NCCL_NVLS_ENABLE=1\n"), std::string::npos);
  o.nodes = 4;
  o.partition = "gpu; rm -rf /";
  EXPECT_THROW(slurm_script(c, o), InputError);
}
