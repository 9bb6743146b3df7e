"""Smoke test of gpuaccept-kernels, the Google Benchmark binary of the kernel benchmarks: a tiny
filter, --benchmark_format=json, and the JSON read back: it parses, every selected benchmark
ran without error, its counters are positive, and the rate counters agree with the manual
(session-measured) times, i.e. they are computed from the GEMM's and STREAM's declared work.
"""

import json
import os
import subprocess
import unittest

BIN = os.path.join(os.path.dirname(os.environ.get("GPUACCEPT_BIN", "build/no-cuda/bin/gpuaccept")), "gpuaccept-kernels")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=240)


class KernelsBench(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest(f"{BIN} not built (Google Benchmark missing)")

    def test_json_counters_and_not_applicable(self):
        result = run("--backend=cpu", "--threads=1", "--gemm_sizes=48,square-1024", "--stream_elements=20000",
                     "--benchmark_filter=gemm/fp(32|64)/48x|stream/(copy|triad)", "--benchmark_format=json",
                     "--benchmark_min_time=0.01", "--benchmark_repetitions=2")
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["context"]["gpuaccept.backend"], "cpu")
        runs = [b for b in report["benchmarks"] if b.get("run_type") == "iteration"]
        names = sorted({b["run_name"] for b in runs})
        self.assertEqual(names, ["gemm/fp32/48x48x48/manual_time", "gemm/fp64/48x48x48/manual_time",
                                 "stream/copy/manual_time", "stream/triad/manual_time"])
        self.assertEqual(len(runs), 8)  # two repetitions each
        for b in runs:
            with self.subTest(name=b["name"]):
                self.assertFalse(b.get("error_occurred", False), b.get("error_message"))
                self.assertGreater(b["iterations"], 0)
                self.assertEqual(b["time_unit"], "ms")
                seconds = b["real_time"] * 1e-3  # manual time per iteration
                if b["name"].startswith("gemm/"):
                    self.assertGreater(b["FLOP/s"], 0)
                    self.assertAlmostEqual(b["FLOP/s"] / (2 * 48**3 / seconds), 1.0, places=6)
                    self.assertIn("openblas", b["label"])
                else:
                    self.assertGreater(b["bytes/s"], 0)
                    arrays = 2 if "copy" in b["name"] else 3
                    self.assertAlmostEqual(b["bytes/s"] / (arrays * 8 * 20000 / seconds), 1.0, places=6)
        # What the CPU backend cannot run is said, not faked.
        self.assertIn("gemm/fp16: fp16 GEMM is not applicable on this backend", result.stderr)
        self.assertIn("gemm/int8: int8 GEMM is not applicable on this backend", result.stderr)
        self.assertIn("hostcopy: not applicable on the cpu backend", result.stderr)

    def test_bad_flags(self):
        for args, message in ((["--threads=0"], "--threads: expected an integer of at least 1"),
                              (["--gemm_dtypes=fp4"], "--gemm_dtypes: unknown dtype 'fp4'"),
                              (["--backend=tpu"], "--backend: expected cpu or cuda")):
            with self.subTest(args=args):
                result = run(*args)
                self.assertEqual(result.returncode, 2)
                self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
