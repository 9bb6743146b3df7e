"""The phase-1 acceptance campaign shipped in configs/, simulated with the shipped faults
example and judged by its shipped contract: the five injected faults are named, nothing else
(the README's tour shows this run)."""

import os
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
SOURCE = os.environ.get("GPUACCEPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class Phase1(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpuaccept-configs-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, *args):
        return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)

    def test_simulated_faults_are_named_exactly(self):
        out = os.path.join(self.dir, "phase1.h5")
        drain = os.path.join(self.dir, "drain.txt")
        configs = os.path.join(SOURCE, "configs")
        sim = self.run_cli("simulate", os.path.join(configs, "phase1-acceptance.yaml"),
                           "--faults", os.path.join(configs, "faults-example.yaml"), "-o", out)
        self.assertEqual(sim.returncode, 0, sim.stdout + sim.stderr)
        check = self.run_cli("check", out, "--quarantine", drain)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)  # criteria failed
        text = check.stdout
        self.assertIn("8504 rank(s)", text)
        self.assertRegex(text, r"gemm-bf16-no-outlier +9 outliers .* FAIL")
        self.assertRegex(text, r"nvlink-domains-64M +0 outliers .* PASS")
        self.assertIn("diagnosis: suspected node node00020 (slow with", text)
        self.assertIn("diagnosis: suspected link node00005<->node01058", text)
        # The flapping link: by the spread of its pair's iteration times (and, this time, by the
        # pair's mean too, which a flapping link does not always pull below the bound).
        self.assertRegex(text, r"node-pairs-stable-64M +1 outliers .* FAIL")
        self.assertIn("diagnosis: suspected link node00007<->node01056 (unstable in round 0;", text)
        self.assertIn("diagnosis: suspected link node00007<->node01056 (slow in round 0;", text)
        self.assertEqual(text.count("diagnosis:"), 4, text)
        self.assertRegex(text, r"worst: rank \d+ +host node00012 +gpu 3 ")
        with open(drain) as f:
            self.assertEqual(f.read().split(), ["node00012", "node00020", "node00040"])


if __name__ == "__main__":
    unittest.main()
