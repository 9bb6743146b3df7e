"""Integration tests of the kernel benchmarks burnin, hostcopy and p2p: real runs under mpirun,
results read with h5py.

On the cpu backend (everywhere): burnin's series and windows at 2 ranks, its silent-data-
corruption vote with a planted fault at 3 ranks, its parameter checks, and hostcopy and p2p
recorded as not applicable with their reasons. Where a GPU is visible: the three on the cuda
backend.

Run through ctest, or by hand (from tests/integration), as test_cli.py says:
    GPUACCEPT_BIN=build/default/bin/gpuaccept GPUACCEPT_SOURCE_DIR=$PWD/../.. \
    /usr/bin/python3 -m unittest -v test_kernels
"""

import math
import unittest

import h5py
import numpy as np

from test_cli import Workdir, cli, mpirun, steps_in_order, text_attr, visible_gpus


class KernelWorkdir(Workdir):
    def run_campaign(self, ranks, body, code=0, name="kernels", extra=()):
        campaign = self.write(f"{name}.yaml", f"campaign: {name}\n" + body)
        out = self.path(f"{name}.h5")
        result = mpirun(ranks, "run", campaign, "--output", out, *extra)
        self.assertExit(result, code)
        return out, result


def rank_messages(step):
    if "rank_messages" not in step:
        return None
    return [m.decode() if isinstance(m, bytes) else str(m) for m in step["rank_messages"][()]]


class BurninCpu(KernelWorkdir):
    def test_two_ranks_series_windows_and_absent_telemetry(self):
        out, result = self.run_campaign(2, """\
backend: cpu
benchmarks:
  - benchmark: burnin
    params: {duration: 2, interval: 0.2, m: 128, n: 96, k: 64, dtype: fp64, warmup: 1, iterations: 3}
""")
        self.assertRegex(result.stdout, r"\[1/1\] burnin .* OK  tflops min [\d.e-]+ median")
        # Telemetry is absent on the cpu backend: said once, not per rank or per interval.
        self.assertEqual(result.stdout.count("telemetry: absent"), 1, result.stdout)
        self.assertRegex(result.stdout, r"fp64 128x96x64, openblas dgemm")
        with h5py.File(out, "r") as f:
            step = steps_in_order(f)[0]
            self.assertEqual(text_attr(step, "status"), "ok")
            rows = step["per_rank"][()]
            self.assertEqual(list(rows["rank"]), [0, 1])
            self.assertTrue(np.all(rows["wrong"] == 0))
            self.assertTrue(np.all(rows["sdc_mismatch"] == 0))
            self.assertTrue(np.all(rows["checked"] == 256))
            np.testing.assert_allclose(rows["window"], 2 / 3)  # min(60 s, duration / 3)
            np.testing.assert_allclose(rows["last_over_first"], rows["tflops_last"] / rows["tflops_first"], rtol=1e-12)
            for name in ("power_mean", "temperature_max", "sm_clock_min", "clock_event_reasons", "ecc_uncorrected"):
                self.assertTrue(np.all(np.isnan(rows[name])), name)
            samples = step["samples"]
            # Telemetry series are only stored where some rank had NVML.
            self.assertEqual(sorted(samples.keys()), ["interval_end", "iteration_time", "tflops"])
            self.assertEqual(samples["iteration_time"].shape, (2, 3))  # the calibration GEMMs
            tflops, ends = samples["tflops"][()], samples["interval_end"][()]
            self.assertEqual(tflops.shape, ends.shape)
            self.assertEqual(tflops.shape[0], 2)
            for r in range(2):
                measured = ~np.isnan(tflops[r])
                self.assertEqual(int(measured.sum()), int(rows["intervals"][r]))
                self.assertGreaterEqual(int(measured.sum()), 5)  # 2 s at 0.2 s: about 10
                row_ends = ends[r][measured]
                self.assertTrue(np.all(np.diff(row_ends) > 0))
                self.assertGreaterEqual(row_ends[-1], 2.0)  # nothing is queued after the duration
                np.testing.assert_allclose(rows["tflops_min_interval"][r], np.nanmin(tflops[r]), rtol=1e-12)
                # The mean is a ratio of sums over the intervals: between the slowest and the fastest.
                self.assertGreaterEqual(rows["tflops"][r], np.nanmin(tflops[r]) * (1 - 1e-12))
                self.assertLessEqual(rows["tflops"][r], np.nanmax(tflops[r]) * (1 + 1e-12))
                # Every interval but the last spans at least `interval` seconds.
                self.assertTrue(np.all(np.diff(np.concatenate([[0.0], row_ends]))[:-1] >= 0.2 - 1e-9))
                self.assertTrue(rows["gemms"][r] > 0)

    def test_series_points_are_capped(self):
        out, _ = self.run_campaign(1, """\
backend: cpu
benchmarks:
  - benchmark: burnin
    params: {duration: 1.5, interval: 0.05, m: 64, n: 64, k: 64, dtype: fp64, max_series_points: 10,
             warmup: 0, iterations: 2}
""")
        with h5py.File(out, "r") as f:
            step = steps_in_order(f)[0]
            rows = step["per_rank"][()]
            intervals = int(rows["intervals"][0])
            self.assertGreater(intervals, 10)
            bucket = math.ceil(intervals / 10)
            tflops = step["samples/tflops"][()]
            self.assertEqual(tflops.shape, (1, math.ceil(intervals / bucket)))
            self.assertLessEqual(tflops.shape[1], 10)
            self.assertFalse(np.any(np.isnan(tflops)))

    def test_silent_data_corruption_is_named(self):
        out, result = self.run_campaign(3, """\
backend: cpu
benchmarks:
  - benchmark: burnin
    params: {duration: 0.5, interval: 0.25, m: 64, n: 64, k: 64, dtype: fp64, inject_fault_rank: [-1, 1],
             warmup: 0, iterations: 1}
""", code=1)
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
            self.assertRegex(text_attr(faulty, "reason"),
                             r"^rank 1 \(host .*differs from .* 2 of 3 ranks .*of load: silent data corruption")

    def test_parameter_checks(self):
        for body, pattern in (
            ("params: {duration: 1, interval: 2}", r"burnin: interval \(2 s\) is longer than duration \(1 s\)"),
            ("params: {duration: 600, timeout: 600}", r"burnin: timeout \(600 s\) must leave room for the duration"),
        ):
            with self.subTest(body=body):
                campaign = self.write("bad.yaml", f"campaign: bad\nbenchmarks:\n  - benchmark: burnin\n    {body}\n")
                result = mpirun(2, "run", campaign, "--output", self.path("bad.h5"))
                self.assertExit(result, 2)
                self.assertRegex(result.stderr, pattern)


class GemmCpu(KernelWorkdir):
    def test_transposes_batches_shapes_and_not_applicable_dtypes(self):
        out, result = self.run_campaign(2, """\
backend: cpu
benchmarks:
  - benchmark: gemm
    params: {m: 48, n: 40, k: 36, batch: 3, ta: [n, t], tb: t, dtype: fp32, check_samples: 64, iterations: 2}
  - benchmark: gemm
    params: {dtype: [fp8, int8], m: 64, n: 64, k: 64}
  - benchmark: gemm
    params: {shape: square-1024, m: 64, n: 48, k: 32, dtype: fp32, check_samples: 16, warmup: 0, iterations: 1}
""")
        self.assertRegex(result.stdout, r"fp32 m=48 n=40 k=36 ta=n tb=t batch=3: openblas sgemm nt, 3 GEMMs in a loop, \d+ thread")
        # The named shape overrides m, n and k (stored as given, unused), and the log says what ran.
        self.assertIn("fp32 m=1024 n=1024 k=1024 ta=n tb=n batch=1: openblas sgemm nn", result.stdout)
        self.assertRegex(result.stdout, r"fp8 GEMM is not applicable on this backend")
        self.assertIn("verdict: PASS", result.stdout)
        with h5py.File(out, "r") as f:
            nt, tt, fp8, int8, square = steps_in_order(f)
            for step in (nt, tt):
                self.assertEqual(text_attr(step, "status"), "ok")
                rows = step["per_rank"][()]
                self.assertEqual(list(rows["wrong"]), [0, 0])
                self.assertEqual(list(rows["checked"]), [64, 64])
                self.assertEqual(list(rows["sdc_mismatch"]), [0, 0])
                self.assertTrue(np.all(rows["tflops"] > 0))
                # No system description: the ratio to peak is absent (NaN), never guessed.
                self.assertTrue(np.all(np.isnan(rows["ratio_to_peak"])))
                self.assertEqual(list(rows["workspace_bytes"]), [0, 0])
            for step, dtype in ((fp8, "fp8"), (int8, "int8")):
                self.assertEqual(text_attr(step, "status"), "skipped")
                self.assertIn(f"{dtype} GEMM is not applicable on this backend", text_attr(step, "reason"))
            # The named shape is a parameter of the step (a contract selects it) and sets m = n = k = 1024:
            # the median time and TFLOP/s agree only with 2 * 1024^3 FLOPs.
            self.assertEqual(text_attr(square, "status"), "ok")
            self.assertEqual(text_attr(square["params"], "shape"), "square-1024")
            rows = square["per_rank"][()]
            np.testing.assert_allclose(rows["tflops"], 2 * 1024**3 / rows["time_median"] / 1e12, rtol=1e-9)


class NotApplicableOnCpu(KernelWorkdir):
    def test_hostcopy_and_p2p_are_skipped_with_a_reason(self):
        out, result = self.run_campaign(2, """\
backend: cpu
benchmarks:
  - benchmark: hostcopy
    params: {bytes: 1M}
  - benchmark: p2p
    params: {bytes: 1M}
""")
        self.assertRegex(result.stdout, r"\[1/2\] hostcopy .* SKIPPED: not applicable on the cpu backend")
        self.assertRegex(result.stdout, r"\[2/2\] p2p .* SKIPPED: not applicable on the cpu backend")
        self.assertIn("verdict: PASS", result.stdout)
        with h5py.File(out, "r") as f:
            hostcopy, p2p = steps_in_order(f)
            for step, what in ((hostcopy, "host-device copies need a GPU"), (p2p, "GPU-to-GPU copies need GPUs")):
                self.assertEqual(text_attr(step, "status"), "skipped")
                self.assertIn(what, text_attr(step, "reason"))

    def test_listed_with_parameters_and_metrics(self):
        listing = cli("list")
        self.assertExit(listing, 0)
        for word in ("burnin", "hostcopy", "p2p", "max_series_points", "last_over_first", "slowdown_fraction",
                     "h2d_pinned_gbps", "bidir_pageable_gbps", "ce_write_min_gbps", "latency_max_us", "slow_factor"):
            self.assertIn(word, listing.stdout)
        # Every parameter with its type, default and unit.
        gemm = cli("list", "gemm").stdout
        self.assertRegex(gemm, r"\n    m +integer = 1024 elements +\[1 \.\. ")
        self.assertRegex(gemm, r"\n    dtype +string = fp32 +\[fp64\|fp32\|tf32\|bf16\|fp16\|fp8\|int8\]")
        self.assertRegex(gemm, r"\n    timeout +number = 600 s +\[")
        self.assertRegex(gemm, r"\n    ratio_to_peak ")
        stream = cli("list", "stream").stdout
        self.assertRegex(stream, r"\n    bytes +size = 268435456 B \(256 MiB\)")
        burnin = cli("list", "burnin").stdout
        self.assertRegex(burnin, r"\n    duration +number = 60 s ")


class GpuKernels(KernelWorkdir):
    def setUp(self):
        super().setUp()
        self.gpus = visible_gpus()
        if self.gpus == 0:
            self.skipTest("no GPU visible: burnin, hostcopy and p2p on the cuda backend are tested where one is")

    def test_cuda_burnin_hostcopy_p2p(self):
        out, result = self.run_campaign(1, """\
backend: cuda
benchmarks:
  - benchmark: burnin
    params: {duration: 6, interval: 0.5, m: 4096, n: 4096, k: 4096, dtype: bf16}
  - benchmark: hostcopy
    params: {bytes: 64M, iterations: 5}
  - benchmark: p2p
    params: {bytes: 64M, iterations: 3, latency_hops: 2000}
""")
        with h5py.File(out, "r") as f:
            burnin, hostcopy, p2p = steps_in_order(f)
            self.assertEqual(text_attr(burnin, "status"), "ok", text_attr(burnin, "reason"))
            rows = burnin["per_rank"][()]
            self.assertTrue(np.all(rows["tflops"] > 1))
            self.assertTrue(np.all(rows["wrong"] == 0))
            if "telemetry: NVML" in result.stdout:
                self.assertTrue(np.all(rows["power_mean"] > 0))
                self.assertTrue(np.all(rows["sm_clock_mean"] > 0))
                self.assertIn("power", burnin["samples"])
            self.assertEqual(text_attr(hostcopy, "status"), "ok", text_attr(hostcopy, "reason"))
            rows = hostcopy["per_rank"][()]
            self.assertTrue(np.all(rows["wrong"] == 0))
            for name in ("h2d_pinned_gbps", "d2h_pinned_gbps", "bidir_pinned_gbps", "h2d_pageable_gbps"):
                self.assertTrue(np.all(rows[name] > 0.1), name)
            self.assertEqual(hostcopy["samples/copy_time"].shape, (6, 5))
            if self.gpus < 2:
                self.assertEqual(text_attr(p2p, "status"), "skipped")
                self.assertIn("sees 1 GPU", text_attr(p2p, "reason"))
            else:
                self.assertEqual(text_attr(p2p, "status"), "ok", text_attr(p2p, "reason"))
                pts = p2p["points"][()]
                self.assertEqual(len(pts), self.gpus * (self.gpus - 1))
                self.assertTrue(np.all(pts["wrong"] == 0))
                self.assertEqual(p2p["samples/ce_write_gbps"].shape, (self.gpus, self.gpus))


if __name__ == "__main__":
    unittest.main()
