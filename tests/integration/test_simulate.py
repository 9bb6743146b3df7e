"""`gpuaccept simulate` on a few hundred simulated nodes, judged by `gpuaccept check`: the faults
injected are named exactly (no misses, no false alarms)."""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import h5py
import numpy as np

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
SOURCE = os.environ.get("GPUACCEPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

NODES = 300

CONTRACT = textwrap.dedent("""\
    contract: simulated
    criteria:
      - id: gemm-no-outlier
        benchmark: gemm
        metric: tflops
        outliers: {ratio: 0.95}
      - id: allreduce-1G
        benchmark: allreduce
        point: {bytes: 1G}
        metric: busbw_oop
        bound: {min: 300}
    """)

CAMPAIGN = textwrap.dedent("""\
    campaign: simulated
    system: system.yaml
    contract: contract.yaml
    benchmarks:
      - benchmark: gemm
        params: {m: 8192, n: 8192, k: 8192, dtype: bf16}
      - benchmark: allreduce
        params: {min_bytes: 8, max_bytes: 1G}
    """)


def read(path):
    with open(path) as f:
        return f.read()


class Simulate(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpuaccept-sim-")
        system = read(os.path.join(SOURCE, "configs", "systems", "phase1-8500.yaml"))
        system = system.replace("value: 1063", f"value: {NODES}", 1)
        for name, text in (("system.yaml", system), ("contract.yaml", CONTRACT), ("campaign.yaml", CAMPAIGN)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def simulate_and_check(self, faults):
        args = [BIN, "simulate", "campaign.yaml", "-o", "r.h5"]
        if faults is not None:
            with open(os.path.join(self.dir, "faults.yaml"), "w") as f:
                f.write(faults)
            args += ["--faults", "faults.yaml"]
        sim = subprocess.run(args, cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(sim.returncode, 0, sim.stderr)
        check = subprocess.run([BIN, "check", "r.h5", "--quarantine", "q.txt", "--max-evidence", "20"],
                               cwd=self.dir, capture_output=True, text=True)
        quarantine = read(os.path.join(self.dir, "q.txt")).split()
        return check, quarantine

    def test_healthy_machine_passes(self):
        check, quarantine = self.simulate_and_check(None)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(quarantine, [])
        # Judged elsewhere (the system file out of reach): the stored description re-plans it.
        os.rename(os.path.join(self.dir, "system.yaml"), os.path.join(self.dir, "moved.yaml"))
        elsewhere = subprocess.run([BIN, "check", os.path.join(self.dir, "r.h5")], cwd=tempfile.gettempdir(),
                                   capture_output=True, text=True)
        self.assertEqual(elsewhere.returncode, 0, elsewhere.stdout + elsewhere.stderr)
        self.assertNotIn("cannot re-plan", elsewhere.stderr)
        with h5py.File(os.path.join(self.dir, "r.h5"), "r") as f:
            self.assertEqual(int(f.attrs["rank_count"]), NODES * 8)
            self.assertIn("system: phase1-8500", f["config/system_yaml"].asstr()[()])
            self.assertEqual(f["ranks"]["host"][8].decode(), "node00001")

    def test_slow_gpu_and_throttling_node_named_exactly(self):
        check, quarantine = self.simulate_and_check(textwrap.dedent("""\
            faults:
              - {kind: slow_gpu, node: 12, gpu: 3, factor: 0.7}
              - {kind: throttling_node, node: 240, factor: 0.85}
            """))
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertEqual(quarantine, ["node00012", "node00240"])
        # 1 GPU + the 8 of the throttled node, nothing else.
        self.assertIn(f"9 of {NODES * 8} ranks are outliers", check.stdout)
        named = set(re.findall(r"host (node\d+)\s+gpu (\d+)", check.stdout))
        self.assertEqual(named, {("node00012", "3")} | {("node00240", str(g)) for g in range(8)})
        self.assertRegex(check.stdout, r"allreduce-1G\s+\S+ GB/s\s+>= 300\s+PASS")

    def test_dead_node_breaks_the_steps_and_is_named(self):
        check, quarantine = self.simulate_and_check("faults:\n  - {kind: dead_node, node: 77}\n")
        self.assertEqual(check.returncode, 3, check.stdout + check.stderr)
        self.assertEqual(set(re.findall(r"node\d+", check.stdout)), {"node00077"})
        self.assertIn("no response (simulated dead node)", check.stdout)

    def test_degraded_link_slows_the_world_allreduce(self):
        check, quarantine = self.simulate_and_check("faults:\n  - {kind: degraded_link, node: 5, factor: 0.5}\n")
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertRegex(check.stdout, r"allreduce-1G\s+1\d\d\.\d GB/s\s+>= 300\s+FAIL")
        self.assertRegex(check.stdout, r"gemm-no-outlier\s+0 outliers.*PASS")

    def test_calibrated_from_a_results_file(self):
        # A "measured" file: the simulator at a 5 % spread stands in for one measured on hardware.
        for args in (["--spread", "0.05", "-o", "measured.h5", "--seed", "7"],
                     ["--calibrate", "measured.h5", "-o", "r.h5"]):
            sim = subprocess.run([BIN, "simulate", "campaign.yaml", *args], cwd=self.dir, capture_output=True, text=True)
            self.assertEqual(sim.returncode, 0, sim.stderr)

        def gemm_tflops(name):
            with h5py.File(os.path.join(self.dir, name), "r") as f:
                for step in f["steps"].values():
                    if step.attrs["benchmark"] == "gemm":
                        return np.array(step["per_rank"]["tflops"])

        measured, calibrated = gemm_tflops("measured.h5"), gemm_tflops("r.h5")
        self.assertAlmostEqual(np.median(calibrated) / np.median(measured), 1, delta=0.01)
        cv = np.std(calibrated) / np.mean(calibrated)
        self.assertAlmostEqual(cv, 0.05, delta=0.005)
        bad = subprocess.run([BIN, "simulate", "campaign.yaml", "--calibrate", "contract.yaml"], cwd=self.dir,
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2, bad.stderr)

    def test_bad_faults_file(self):
        with open(os.path.join(self.dir, "faults.yaml"), "w") as f:
            f.write("faults:\n  - {kind: slow_gpu, node: 300, gpu: 1, factor: 0.5}\n")
        sim = subprocess.run([BIN, "simulate", "campaign.yaml", "--faults", "faults.yaml", "-o", "r.h5"],
                             cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(sim.returncode, 2)
        self.assertIn("faults.yaml:2:28: node: expected 0..299 (the system has 300 nodes), found 300", sim.stderr)


if __name__ == "__main__":
    unittest.main()
