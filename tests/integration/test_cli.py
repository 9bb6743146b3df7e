"""Integration tests of the gpuaccept CLI: real runs under mpirun, results read with h5py.

Run through ctest (which sets GPUACCEPT_BIN and friends), or by hand:
    GPUACCEPT_BIN=build/default/bin/gpuaccept \
    GPUACCEPT_SELFTEST_BIN=build/default/bin/gpuaccept-selftest \
    GPUACCEPT_SOURCE_DIR=$PWD /usr/bin/python3 -m unittest -v test_cli   (from tests/integration)
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest

import h5py
import numpy as np

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
SELFTEST = os.environ.get("GPUACCEPT_SELFTEST_BIN", "gpuaccept-selftest")
SOURCE = os.environ.get("GPUACCEPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
H5DUMP = os.environ.get("GPUACCEPT_H5DUMP") or shutil.which("h5dump")


def mpi_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # Keep Open MPI quiet and local: no network probing on a test machine.
    env.setdefault("OMPI_MCA_btl", "self,vader")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def mpirun(ranks, *args, binary=BIN, timeout=240):
    cmd = ["mpirun", "--oversubscribe", "-np", str(ranks), binary, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=timeout)


def cli(*args, binary=BIN, timeout=120):
    return subprocess.run([binary, *args], capture_output=True, text=True, env=mpi_env(), timeout=timeout)


def text_attr(obj, name):
    value = obj.attrs[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def steps_in_order(f):
    groups = list(f["steps"].values())
    return sorted(groups, key=lambda g: int(g.attrs["index"]))


TINY_CONTRACT = """\
contract: tiny
criteria:
  - id: gemm-fp64-min
    description: every rank multiplies fp64 at some speed
    benchmark: gemm
    select: {dtype: fp64}
    metric: tflops
    combine: min
    bound: {min: 1.0e-6}
  - id: allreduce-busbw-32K
    benchmark: allreduce
    point: {bytes: 32K}
    metric: busbw_oop
    bound: {min: 1.0e-6}
"""

TINY_CAMPAIGN = """\
campaign: tiny
system: test-machine
phase: ci
contract: contract.yaml
defaults: {warmup: 1, iterations: 3}
benchmarks:
  - benchmark: gemm
    params: {m: 96, n: 80, k: 64, dtype: [fp64, fp32, bf16]}
  - benchmark: allreduce
    params: {min_bytes: 8, max_bytes: 64K, factor: 8, dtype: fp32}
"""


class Workdir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpuaccept-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code,
                         f"exit {result.returncode}, expected {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")


class LocalCampaign(Workdir):
    def run_tiny(self, ranks):
        self.write("contract.yaml", TINY_CONTRACT)
        campaign = self.write("tiny.yaml", TINY_CAMPAIGN)
        out = self.path("tiny.h5")
        result = mpirun(ranks, "run", campaign, "--output", out)
        self.assertExit(result, 0)
        return out, result

    def test_two_ranks_end_to_end(self):
        out, result = self.run_tiny(2)
        self.assertIn("verdict: PASS", result.stdout)
        self.assertRegex(result.stdout, r"\[1/4\] gemm .* OK")
        self.assertRegex(result.stdout, r"SKIPPED: bf16 GEMM is not applicable on this backend")
        self.assertFalse(os.path.exists(out + "~"), "the backup twin must be gone after a finished run")
        # The progress line's figure and `show`'s are the same text (one formatter): the bus
        # bandwidth at the largest message, the GEMM rate's min and median over ranks.
        figures = re.findall(r"OK  ((?:busbw_oop \S+ GB/s at 32768 B)|(?:tflops min \S+ median \S+ TFLOP/s))$",
                             result.stdout, re.M)
        self.assertEqual(len(figures), 3, result.stdout)
        show = cli("show", out)
        self.assertExit(show, 0)
        for figure in figures:
            self.assertIn(figure, show.stdout)
        with h5py.File(out, "r") as f:
            self.assertEqual(text_attr(f, "gpuaccept_schema").split(".")[0], "1")
            self.assertEqual(text_attr(f, "campaign"), "tiny")
            self.assertEqual(text_attr(f, "system"), "test-machine")
            self.assertEqual(int(f.attrs["rank_count"]), 2)
            self.assertGreater(float(f.attrs["end_time"]), float(f.attrs["start_time"]))
            self.assertRegex(text_attr(f, "command_line"), r"gpuaccept run .*tiny\.yaml --output .*tiny\.h5")
            ranks = f["ranks"][()]
            self.assertEqual(list(ranks["rank"]), [0, 1])
            self.assertTrue(all(len(h) > 0 for h in ranks["host"]))
            self.assertEqual(f["config/campaign_yaml"][()].decode(), TINY_CAMPAIGN)  # verbatim
            self.assertEqual(f["config/contract_yaml"][()].decode(), TINY_CONTRACT)
            versions = dict(f["provenance/versions"].attrs)
            for library in ("mpi", "hdf5", "openblas", "gpuaccept"):
                self.assertTrue(versions.get(library), f"no {library} version recorded")
            self.assertIn("Open MPI", versions["mpi"])
            environment = dict(f["provenance/environment"].attrs)
            self.assertEqual(environment.get("OMPI_COMM_WORLD_SIZE"), "2")
            self.assertTrue(all(k.split("_")[0] in ("NCCL", "OMPI", "PMIX", "CUDA", "SLURM", "UCX", "HDF5",
                                                    "OPENBLAS", "OMP", "GPUACCEPT", "NVIDIA", "FI")
                                for k in environment), environment.keys())
            self.assertNotIn("PATH", environment)
            steps = steps_in_order(f)
            self.assertEqual([text_attr(s, "benchmark") for s in steps], ["gemm"] * 3 + ["allreduce"])
            self.assertEqual([text_attr(s, "status") for s in steps], ["ok", "ok", "skipped", "ok"])
            # Step ids are content-derived and stable: benchmark-<16 hex digits>.
            for s in steps:
                self.assertRegex(s.name.split("/")[-1], r"^(gemm|allreduce)-[0-9a-f]{16}$")
            fp64 = steps[0]
            self.assertEqual(text_attr(fp64["params"], "dtype"), "fp64")
            self.assertEqual(int(fp64["params"].attrs["m"]), 96)
            per_rank = fp64["per_rank"][()]
            self.assertEqual(list(per_rank["rank"]), [0, 1])
            self.assertTrue(np.all(per_rank["tflops"] > 0))
            self.assertTrue(np.all(per_rank["wrong"] == 0))
            self.assertTrue(np.all(per_rank["checked"] == 256))
            # tflops is 2mnk over the median iteration time, which is stored too.
            np.testing.assert_allclose(per_rank["tflops"], 2 * 96 * 80 * 64 / per_rank["time_median"] / 1e12, rtol=1e-9)
            iters = fp64["samples/iteration_time"][()]
            self.assertEqual(iters.shape, (2, 3))
            np.testing.assert_allclose(np.median(iters, axis=1), per_rank["time_median"], rtol=1e-12)
            self.assertIn("OpenBLAS", text_attr(steps[2], "reason"))
            ar = steps[3]
            pts = ar["points"][()]
            self.assertEqual(list(pts["bytes"]), [8, 64, 512, 4096, 32768])
            self.assertEqual(list(pts["count"]), [2, 16, 128, 1024, 8192])
            self.assertTrue(np.all(pts["wrong_oop"] == 0) and np.all(pts["wrong_ip"] == 0))
            # nccl-tests: algbw = bytes / time, busbw = algbw * 2(n-1)/n = algbw for n = 2.
            np.testing.assert_allclose(pts["algbw_oop"], pts["bytes"] / (pts["time_oop"] * 1e-6) / 1e9, rtol=1e-9)
            np.testing.assert_allclose(pts["busbw_oop"], pts["algbw_oop"] * 1.0, rtol=1e-12)
            oop = ar["samples/iteration_time_oop"][()]
            self.assertEqual(oop.shape, (5, 3))
            # time (nccl-tests) = max over ranks of each rank's mean; the samples hold per-iteration
            # maxima over ranks, whose mean bounds it from above, and from below within a factor n = 2
            # (each maximum is at most the sum of the two ranks' times).
            means_of_maxima = oop.mean(axis=1) * 1e6
            self.assertTrue(np.all(pts["time_oop"] <= means_of_maxima * (1 + 1e-9)))
            self.assertTrue(np.all(pts["time_oop"] >= means_of_maxima / 2 * (1 - 1e-9)))
        # The documented reader (h5py only, no gpuaccept code) agrees.
        check = subprocess.run([os.sys.executable, os.path.join(SOURCE, "tests/integration/read_results.py"),
                                "--check-local", out], capture_output=True, text=True)
        self.assertExit(check, 0)

    def test_four_ranks_busbw_factor(self):
        self.write("contract.yaml", TINY_CONTRACT)
        campaign = self.write("tiny.yaml", TINY_CAMPAIGN)
        out = self.path("four.h5")
        result = mpirun(4, "run", campaign, "--output", out, "--quiet")
        self.assertExit(result, 0)
        self.assertNotIn("out-of-place", result.stdout)  # --quiet drops the tables
        with h5py.File(out, "r") as f:
            self.assertEqual(int(f.attrs["rank_count"]), 4)
            ar = [s for s in steps_in_order(f) if text_attr(s, "benchmark") == "allreduce"][0]
            pts = ar["points"][()]
            np.testing.assert_allclose(pts["busbw_oop"], pts["algbw_oop"] * 2 * 3 / 4, rtol=1e-12)
            np.testing.assert_allclose(pts["busbw_ip"], pts["algbw_ip"] * 2 * 3 / 4, rtol=1e-12)
            self.assertEqual(list(ar["per_rank"][()]["ranks"]), [4, 4, 4, 4])
            gemm = steps_in_order(f)[0]["per_rank"][()]
            self.assertEqual(list(gemm["rank"]), [0, 1, 2, 3])

    def test_single_process_without_mpirun(self):
        self.write("contract.yaml", TINY_CONTRACT)
        campaign = self.write("tiny.yaml", TINY_CAMPAIGN)
        out = self.path("one.h5")
        result = cli("run", campaign, "-o", out, "-q")
        # One rank has no bus: busbw = algbw * 2(n-1)/n = 0, and the contract says so.
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"allreduce-busbw-32K\s+0 GB/s\s+>= 1e-06\s+FAIL")
        self.assertRegex(result.stdout, r"gemm-fp64-min .* PASS")
        with h5py.File(out, "r") as f:
            self.assertEqual(int(f.attrs["rank_count"]), 1)
            ar = [s for s in steps_in_order(f) if text_attr(s, "benchmark") == "allreduce"][0]
            self.assertTrue(np.all(ar["points"][()]["busbw_oop"] == 0))  # 2(n-1)/n = 0 for one rank

    def test_stream_two_ranks(self):
        campaign = self.write("s.yaml", """\
            campaign: stream
            benchmarks:
              - benchmark: stream
                params: {bytes: 4M, warmup: 1, iterations: 4}
            """)
        out = self.path("s.h5")
        result = mpirun(2, "run", campaign, "-o", out)
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"\[1/1\] stream .* OK  triad_gbps min [\d.]+")
        with h5py.File(out, "r") as f:
            step = steps_in_order(f)[0]
            rows = step["per_rank"][()]
            self.assertEqual(list(rows["wrong"]), [0, 0])
            for kernel, arrays in (("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)):
                self.assertTrue(np.all(rows[f"{kernel}_gbps"] >= rows[f"{kernel}_gbps_median"]))
            # triad GB/s is 3 arrays x 8 B x elements over the best triad iteration time.
            iters = step["samples/iteration_time"][()]
            self.assertEqual(iters.shape, (2, 4))
            np.testing.assert_allclose(rows["triad_gbps"], 3 * 4 * 2**20 / iters.min(axis=1) / 1e9, rtol=1e-9)
            self.assertEqual(step["samples/kernel_time"].shape, (4, 4))

    @unittest.skipUnless(H5DUMP, "h5dump is not installed (hdf5-tools)")
    def test_h5dump_reads_results(self):
        out, _ = self.run_tiny(2)
        dump = subprocess.run([H5DUMP, "-H", out], capture_output=True, text=True)
        self.assertExit(dump, 0)
        self.assertIn('GROUP "steps"', dump.stdout)
        self.assertIn('DATASET "per_rank"', dump.stdout)
        full = subprocess.run([H5DUMP, "-d", "/ranks", out], capture_output=True, text=True)
        self.assertExit(full, 0)
        self.assertIn('"host"', full.stdout)


class Verdicts(Workdir):
    def test_failing_contract_names_worst_ranks(self):
        self.write("contract.yaml", """\
            contract: impossible
            criteria:
              - id: gemm-fp64-petaflop
                benchmark: gemm
                select: {dtype: fp64}
                metric: tflops
                bound: {min: 1000}
              - id: gemm-fp64-sane
                benchmark: gemm
                metric: wrong
                combine: max
                bound: {max: 0}
            """)
        campaign = self.write("c.yaml", """\
            campaign: failing
            contract: contract.yaml
            defaults: {warmup: 0, iterations: 2}
            benchmarks:
              - benchmark: gemm
                params: {m: 64, n: 64, k: 64, dtype: fp64}
            """)
        out = self.path("f.h5")
        result = mpirun(2, "run", campaign, "-o", out)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"gemm-fp64-petaflop .* FAIL")
        self.assertRegex(result.stdout, r"gemm-fp64-sane .* PASS")
        host = os.uname().nodename
        self.assertRegex(result.stdout, rf"rank [01] .*{re.escape(host)}")
        # check judges the stored results again, with the stored contract: same verdict.
        again = cli("check", out)
        self.assertExit(again, 1)
        self.assertRegex(again.stdout, r"gemm-fp64-petaflop .* FAIL")

    def test_check_with_other_contract(self):
        campaign = self.write("c.yaml", """\
            campaign: recheck
            defaults: {warmup: 0, iterations: 2}
            benchmarks:
              - benchmark: selftest
            """)
        out = self.path("r.h5")
        self.assertExit(mpirun(2, "run", campaign, "-o", out, binary=SELFTEST), 0)
        strict = self.write("strict.yaml", """\
            contract: strict
            criteria:
              - id: value-min
                benchmark: selftest
                metric: value
                combine: min
                bound: {min: 100.5}
            """)
        result = cli("check", out, "--contract", strict, binary=SELFTEST)
        self.assertExit(result, 1)
        # selftest reports 100 + rank: rank 0 (100) is below 100.5, rank 1 (101) is not.
        self.assertRegex(result.stdout, r"value-min\s+100\b.*FAIL")
        self.assertRegex(result.stdout, r"rank 0 ")
        self.assertNotRegex(result.stdout, r"worst.*\n(.*\n)*.*rank 1 ")
        lenient = self.write("lenient.yaml", """\
            contract: lenient
            criteria:
              - id: value-median
                benchmark: selftest
                metric: value
                combine: median
                bound: {min: 100.5, max: 100.5}
            """)
        self.assertExit(cli("check", out, "--contract", lenient, binary=SELFTEST), 0)

    def test_wrong_answer_exit_1(self):
        campaign = self.write("c.yaml", """\
            campaign: wrong
            benchmarks:
              - benchmark: selftest
                params: {mode: wrong, target_rank: 1, iterations: 1, warmup: 0}
            """)
        out = self.path("w.h5")
        result = mpirun(2, "run", campaign, "-o", out, binary=SELFTEST)
        self.assertExit(result, 1)
        self.assertIn("INCORRECT", result.stdout)
        self.assertIn("rank 1", result.stdout)
        with h5py.File(out, "r") as f:
            step = steps_in_order(f)[0]
            self.assertEqual(text_attr(step, "status"), "incorrect")
            self.assertEqual(list(step["per_rank"][()]["status"]), [0, 1])
            self.assertIn("rank 1", text_attr(step, "reason"))

    def test_silent_data_corruption_is_named(self):
        campaign = self.write("c.yaml", """\
            campaign: sdc
            defaults: {warmup: 0, iterations: 2}
            benchmarks:
              - benchmark: gemm
                params: {m: 64, n: 64, k: 64, dtype: fp64, inject_fault_rank: [-1, 1]}
            """)
        out = self.path("s.h5")
        result = mpirun(3, "run", campaign, "-o", out)
        self.assertExit(result, 1)
        self.assertIn("silent data corruption", result.stdout)
        with h5py.File(out, "r") as f:
            clean, faulty = steps_in_order(f)
            self.assertEqual(text_attr(clean, "status"), "ok")
            self.assertEqual(list(clean["per_rank"][()]["sdc_mismatch"]), [0, 0, 0])
            self.assertEqual(text_attr(faulty, "status"), "incorrect")
            rows = faulty["per_rank"][()]
            self.assertEqual(list(rows["sdc_mismatch"]), [0, 1, 0])
            self.assertEqual(list(rows["status"]), [0, 1, 0])
            self.assertEqual(list(rows["wrong"]), [0, 0, 0])  # inside the tolerance: only the checksum sees it
            self.assertRegex(text_attr(faulty, "reason"), r"^rank 1 \(host .*differs from .* 2 of 3 ranks")

    def test_step_error_exit_3(self):
        campaign = self.write("c.yaml", """\
            campaign: broken
            benchmarks:
              - benchmark: selftest
                params: {mode: throw, iterations: 1, warmup: 0}
              - benchmark: selftest
                params: {mode: ok, iterations: 1, warmup: 0}
            """)
        out = self.path("e.h5")
        result = mpirun(2, "run", campaign, "-o", out, binary=SELFTEST)
        self.assertExit(result, 3)
        self.assertIn("thrown on purpose", result.stdout)
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual([text_attr(s, "status") for s in steps], ["error", "ok"])

    def test_timeout_recorded_exit_3(self):
        campaign = self.write("c.yaml", """\
            campaign: hang
            benchmarks:
              - benchmark: selftest
                params: {mode: ok, iterations: 1, warmup: 0}
              - benchmark: selftest
                params: {mode: hang, target_rank: 1, timeout: 2, iterations: 1, warmup: 0}
            """)
        out = self.path("t.h5")
        started = time.monotonic()
        result = mpirun(2, "run", campaign, "-o", out, binary=SELFTEST, timeout=120)
        self.assertLess(time.monotonic() - started, 60)
        self.assertExit(result, 3)
        self.assertIn("TIMEOUT", result.stdout)
        show = cli("show", out, binary=SELFTEST)
        self.assertExit(show, 0)
        self.assertRegex(show.stdout, r"selftest-[0-9a-f]{16}\s+timeout")
        self.assertRegex(show.stdout, r"selftest-[0-9a-f]{16}\s+ok")
        self.assertIn("incomplete", show.stdout)


class BadInput(Workdir):
    def expect_input_error(self, name, text, pattern, binary=BIN):
        path = self.write(name, text)
        out = self.path(name + ".h5")
        result = mpirun(2, "run", path, "-o", out, binary=binary)
        self.assertExit(result, 2)
        self.assertRegex(result.stderr, pattern)
        self.assertEqual(result.stderr.count("gpuaccept: error:"), 1, result.stderr)  # one message, not one per rank
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(out), "no results file may be left after bad input")

    def test_campaign_errors(self):
        base = "campaign: bad\nbenchmarks:\n  - benchmark: gemm\n    params: {m: 64, n: 64, k: 64}\n"
        cases = [
            ("syntax.yaml", "campaign: bad\nbenchmarks: [\n  - oops: {\n", r"syntax\.yaml:\d+:\d+: YAML syntax error"),
            ("key.yaml", base + "repetitons: 2\n", r"key\.yaml:5:1: unknown key 'repetitons' in the campaign"),
            ("type.yaml", base.replace("m: 64", "m: lots"), r"type\.yaml:4:17: parameter 'm': expected an integer"),
            ("bench.yaml", base.replace("benchmark: gemm", "benchmark: gemmm"),
             r"bench\.yaml:3:16: unknown benchmark 'gemmm' \(registered: (\w+, )*allreduce, (\w+, )*gemm\b"),
            ("negative.yaml", "campaign: bad\nbenchmarks:\n  - benchmark: allreduce\n    params: {min_bytes: -8}\n",
             r"negative\.yaml:4:25: parameter 'min_bytes': expected a size .*cannot be negative"),
            ("minmax.yaml", "campaign: bad\nbenchmarks:\n  - benchmark: allreduce\n    params: {min_bytes: 1M, max_bytes: 1K}\n",
             r"minmax\.yaml:4:13: benchmark allreduce: min_bytes \(1048576\) is larger than max_bytes \(1024\)"),
            ("param.yaml", base.replace("k: 64", "kk: 64"), r"param\.yaml:4:28: unknown parameter 'kk' of benchmark gemm"),
            ("dtype.yaml", base.replace("k: 64", "k: 64, dtype: fp4"),
             r"dtype\.yaml:\d+:\d+: parameter 'dtype': expected one of: fp64, fp32, tf32, bf16, fp16, fp8, int8, "
             r"found 'fp4'"),
            ("layout.yaml", base.replace("k: 64", "k: 64, dtype: fp8, ta: n"),
             r"layout\.yaml:\d+:\d+: benchmark gemm: fp8 GEMM needs ta: t and tb: n"),
        ]
        for name, text, pattern in cases:
            with self.subTest(name=name):
                self.expect_input_error(name, text, pattern)
        missing = mpirun(2, "run", self.path("nope.yaml"))
        self.assertExit(missing, 2)
        self.assertIn("nope.yaml: no such file", missing.stderr)

    def test_contract_errors(self):
        campaign = "campaign: bad\ncontract: contract.yaml\nbenchmarks:\n  - benchmark: gemm\n"
        self.write("contract.yaml", "contract: x\ncriteria:\n  - id: a\n    benchmark: gemm\n    metric: tflopz\n    bound: {min: 1}\n")
        self.expect_input_error("c1.yaml", campaign, r"contract\.yaml:5:13: .*tflopz")
        self.write("contract.yaml", "contract: x\ncriteria:\n  - id: a\n    benchmark: gemm\n    metric: tflops\n    bound: {min: 2, max: 1}\n")
        self.expect_input_error("c2.yaml", campaign, r"contract\.yaml:6:\d+: .*min.*max")
        self.write("contract.yaml", "contract: x\ncriteria:\n  - id: a\n    benchmark: gemm\n    select: {dtype: fp8}\n"
                   "    metric: tflops\n    bound: {min: 1}\n")
        self.expect_input_error("c3.yaml", campaign, r"contract\.yaml:5:5: criterion 'a': select matches none")

    def test_results_file_errors(self):
        not_hdf5 = self.write("notes.h5", "this is not HDF5\n")
        for command in ("show", "check"):
            with self.subTest(command=command):
                result = cli(command, not_hdf5)
                self.assertExit(result, 2)
                self.assertIn("not an HDF5 file", result.stderr)
        foreign = self.path("foreign.h5")
        with h5py.File(foreign, "w") as f:
            f["x"] = np.arange(3)
        result = cli("show", foreign)
        self.assertExit(result, 2)
        self.assertIn("not a gpuaccept results file", result.stderr)
        result = cli("check", self.path("absent.h5"))
        self.assertExit(result, 2)
        self.assertNotIn("HDF5-DIAG", result.stderr)

    def test_usage_errors(self):
        self.assertExit(cli(), 2)
        self.assertExit(cli("frobnicate"), 2)
        self.assertExit(cli("run"), 2)
        for sub in ("run", "plan", "check", "show", "list"):
            with self.subTest(sub=sub):
                result = cli(sub, "--help")
                self.assertExit(result, 0)
                self.assertIn("Usage", result.stdout)


class Durability(Workdir):
    @staticmethod
    def cmdline(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def state(pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                return f.read().lower()
        except OSError:
            return "zombie"

    def test_sigkill_then_show_check_resume(self):
        self.write("contract.yaml", """\
            contract: all-steps
            criteria:
              - id: slow-steps-ran
                benchmark: selftest
                select: {mode: sleep}
                metric: value
                bound: {min: 100}
            """)
        campaign = self.write("k.yaml", """\
            campaign: killme
            contract: contract.yaml
            defaults: {warmup: 0, iterations: 1}
            benchmarks:
              - benchmark: gemm
                params: {m: 64, n: 64, k: 64, dtype: fp64}
              - benchmark: selftest
                params: {mode: sleep, seconds: [0.5, 0.6, 4.0, 4.1, 4.2]}
            """)
        out = self.path("k.h5")
        cmd = ["mpirun", "--oversubscribe", "-np", "2", SELFTEST, "run", campaign, "-o", out]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=mpi_env(), start_new_session=True)
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("[3/6]"):
                break  # three steps stored; the fourth (4 s of sleep) is running now
        # Kill everything, launcher and ranks, without a chance to clean up. Open MPI puts the
        # ranks in process groups of their own, so they are found by their command line.
        time.sleep(0.5)
        ranks = [int(p) for p in os.listdir("/proc") if p.isdigit() and self.cmdline(int(p)).find(campaign) >= 0
                 and self.cmdline(int(p)).startswith(SELFTEST)]
        self.assertEqual(len(ranks), 2, "expected to find the two running ranks")
        for pid in ranks:
            os.kill(pid, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        for pid in ranks:
            while os.path.exists(f"/proc/{pid}") and "zombie" not in self.state(pid):
                time.sleep(0.05)
        self.assertTrue(any(l.startswith("[3/6]") for l in seen), "".join(seen))

        show = cli("show", out, binary=SELFTEST)
        self.assertExit(show, 0)
        self.assertIn("incomplete", show.stdout)
        self.assertEqual(len(re.findall(r"^\s+(?:gemm|selftest)-[0-9a-f]{16}\s+ok", show.stdout, re.M)), 3, show.stdout)
        with h5py.File(out, "r") as f:
            before = {g.name: float(g.attrs["start_time"]) for g in steps_in_order(f)}
        self.assertEqual(len(before), 3)
        check = cli("check", out, binary=SELFTEST)
        self.assertExit(check, 3)  # the run broke off: never a silent pass on what happens to be there
        self.assertIn("INCOMPLETE", check.stdout)
        self.assertIn("broken steps (3):", check.stdout)
        self.assertEqual(check.stdout.count("never ran: the run stopped before this step"), 6, check.stdout)

        resumed = mpirun(2, "run", campaign, "--resume", out, binary=SELFTEST)
        self.assertExit(resumed, 0)
        self.assertIn("(3 already stored)", resumed.stdout)
        ran = re.findall(r"^\[(\d)/6\]", resumed.stdout, re.M)
        self.assertEqual(ran, ["4", "5", "6"])
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual(len(steps), 6)
            self.assertTrue(all(text_attr(s, "status") == "ok" for s in steps))
            for name, start in before.items():
                self.assertEqual(float(f[name].attrs["start_time"]), start)  # untouched, not re-run
            self.assertGreater(float(f.attrs["end_time"]), 0)
        self.assertFalse(os.path.exists(out + "~"))


def visible_gpus():
    listing = cli("list")
    match = re.search(r"GPUs visible: (\d+)", listing.stdout)
    return int(match.group(1)) if match else 0


class Gpu(Workdir):
    def test_cuda_campaign_gemm_and_nccl(self):
        gpus = visible_gpus()
        if gpus == 0:
            self.skipTest("no GPU visible: the cuda backend (cuBLASLt, NCCL) is tested where one is")
        ranks = min(gpus, 2)
        campaign = self.write("g.yaml", """\
            campaign: gpu
            backend: cuda
            defaults: {warmup: 2, iterations: 5}
            benchmarks:
              - benchmark: gemm
                params: {m: 2048, n: 2048, k: 2048, dtype: [fp64, fp32, tf32, bf16, fp16]}
              - benchmark: allreduce
                params: {min_bytes: 8, max_bytes: 64M, factor: 8, dtype: [fp32, bf16]}
            """)
        out = self.path("g.h5")
        result = mpirun(ranks, "run", campaign, "-o", out)
        self.assertExit(result, 0)
        with h5py.File(out, "r") as f:
            self.assertEqual(text_attr(f, "backend"), "cuda")
            self.assertTrue(all(u.startswith(b"GPU-") for u in f["ranks"][()]["uuid"]))
            for step in steps_in_order(f):
                self.assertEqual(text_attr(step, "status"), "ok", text_attr(step, "reason"))
                if text_attr(step, "benchmark") == "allreduce":
                    self.assertTrue(np.all(step["points"][()]["wrong_oop"] == 0))


class Version(Workdir):
    def test_revision_is_the_checkout_built(self):
        # The revision is looked up at build time, so --version and every results file name the
        # commit that was built, not the one CMake last configured.
        describe = subprocess.run(["git", "-C", SOURCE, "describe", "--always", "--abbrev=12"],
                                  capture_output=True, text=True)
        if describe.returncode != 0:
            self.skipTest("the source tree is not a git checkout")
        version = cli("--version")
        self.assertExit(version, 0)
        self.assertRegex(version.stdout.strip(), r"^\d+\.\d+\.\d+ \(" + re.escape(describe.stdout.strip()) + r"(-dirty)?\)$")
        out = self.path("v.h5")
        campaign = self.write("v.yaml", "campaign: v\nbenchmarks:\n  - {benchmark: gemm, params: {m: 8, n: 8, k: 8, iterations: 1, warmup: 0}}\n")
        self.assertExit(mpirun(1, "run", campaign, "-o", out, "-q"), 0)
        with h5py.File(out, "r") as f:
            self.assertIn(f"({text_attr(f, 'git_revision')})", version.stdout)


class Cli(Workdir):
    def test_list_and_plan(self):
        listing = cli("list")
        self.assertExit(listing, 0)
        for word in ("gemm", "allreduce", "busbw_oop", "tflops", "min_bytes", "fp64|fp32|tf32|bf16|fp16"):
            self.assertIn(word, listing.stdout)
        self.assertExit(cli("list", "nosuch"), 2)
        plan = cli("plan", os.path.join(SOURCE, "configs/local.yaml"), "--ranks", "2")
        self.assertExit(plan, 0)
        self.assertRegex(plan.stdout, r"campaign local on .*: \d+ steps, 2 rank\(s\), backend (cpu|cuda)")
        self.assertRegex(plan.stdout, r"estimated total: [\d.]+ (s|min)")
        ids = re.findall(r"\b(?:gemm|allreduce)-[0-9a-f]{16}\b", plan.stdout)
        self.assertGreater(len(ids), 2)
        again = cli("plan", os.path.join(SOURCE, "configs/local.yaml"), "--ranks", "2")
        self.assertEqual(ids, re.findall(r"\b(?:gemm|allreduce)-[0-9a-f]{16}\b", again.stdout))
        # A row shows the parameters that differ from the defaults (local.yaml's fp64 GEMM sets
        # dtype and timeout; m, n, k = 1024 are gemm's defaults), not all twenty of them.
        self.assertRegex(plan.stdout, r"(?m)^\s+1\s+gemm-[0-9a-f]{16}\s+0\s+\S+ s\s+dtype=fp64 timeout=120$")
        self.assertNotIn("check_samples=", plan.stdout)


if __name__ == "__main__":
    unittest.main()
