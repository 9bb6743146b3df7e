"""`gpuaccept simulate` for the per-GPU, per-node and application steps (stream, hostcopy, p2p,
burnin, train, external): laid out as a real run lays them out, figures from the model, faults
named exactly by `gpuaccept check`, and calibration from a real results file (docs/simulation.md)."""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import h5py
import numpy as np

from test_cli import mpi_env

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
SOURCE = os.environ.get("GPUACCEPT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def read(path):
    with open(path) as f:
        return f.read()


def phase1(nodes, gpus=None):
    """phase1-8500.yaml on `nodes` nodes (and `gpus` GPUs, NICs, rails, NVLink domain per node)."""
    text = read(os.path.join(SOURCE, "configs", "systems", "phase1-8500.yaml")).replace("value: 1063", f"value: {nodes}", 1)
    if gpus:
        text = re.sub(r"value: 8$", f"value: {gpus}", text, flags=re.M)
    return text


def steps_of(path):
    with h5py.File(path, "r") as f:
        out = []
        for step in sorted(f["steps"].values(), key=lambda s: int(s.attrs["index"])):
            out.append({
                "name": step.name, "benchmark": step.attrs["benchmark"], "status": step.attrs["status"],
                "reason": step.attrs.get("reason", ""),
                "per_rank": step["per_rank"][()] if "per_rank" in step else None,
                "per_rank_attrs": {a: list(step["per_rank"].attrs[a]) for a in ("units", "better")} if "per_rank" in step else None,
                "points": step["points"][()] if "points" in step else None,
                "samples": {k: v[()] for k, v in step["samples"].items()} if "samples" in step else {},
                "messages": [m.decode() if isinstance(m, bytes) else m for m in step["rank_messages"][()]]
                if "rank_messages" in step else [],
            })
        return out


def real_run(tmp, campaign="campaign.yaml", out="real.h5"):
    env = mpi_env()
    env["GPUACCEPT_FAKE_RANKS_PER_NODE"] = "2"
    return subprocess.run(["mpirun", "--oversubscribe", "-x", "GPUACCEPT_FAKE_RANKS_PER_NODE", "-np", "8", BIN, "run", "-q",
                           campaign, "--backend", "cpu", "-o", out], cwd=tmp, capture_output=True, text=True, env=env,
                          timeout=300)


# What a real run on this machine's cpu backend leaves empty that a GPU run (and so the
# simulation) fills, and what the simulation leaves empty that a real run fills.
TELEMETRY = {"power_mean", "power_max", "temperature_max", "sm_clock_mean", "sm_clock_min", "mem_clock_mean",
             "clock_event_reasons", "slowdown_fraction", "ecc_corrected", "ecc_uncorrected", "remapped_rows",
             "remap_pending"}
TELEMETRY_SERIES = {"power", "sm_clock", "mem_clock", "temperature", "clock_event_reasons"}
NOT_SIMULATED = {"loss_start", "loss_end", "grad_norm_start", "gemm_share", "output_bytes"}

LAYOUT_CAMPAIGN = textwrap.dedent("""\
    campaign: tiny-suites
    system: tiny.yaml
    benchmarks:
      - {benchmark: stream, params: {bytes: 1M, iterations: 3, warmup: 1}}
      - {benchmark: burnin, params: {duration: 1.0, interval: 0.25, m: 64, n: 64, k: 64, dtype: fp32,
                                     check_samples: 16, iterations: 3, warmup: 1}}
      - {benchmark: train, params: {preset: tiny, layers: 1, micro_batch: 2, iterations: 3, warmup: 1,
                                    loss_fraction: 1.0}}
      - {benchmark: external, params: {command: "echo 'tokens/s: 120'", tokens_per_s: 'tokens/s: ([0-9.]+)',
                                       simulate: "tokens_per_s=1.5e6 seconds=0.5", iterations: 2, warmup: 0}}
    """)


class SuitesLayoutAsARealRun(unittest.TestCase):
    """The steps a cpu backend can run (stream, burnin, train, external) under mpirun on 4 fake
    nodes of 2 ranks, and their simulation on a machine of 4 nodes x 2 GPUs: same columns, units,
    types, NaN pattern (but for the figures named above) and samples."""

    def test_cpu_steps_match_a_real_run(self):
        tmp = tempfile.mkdtemp(prefix="gpuaccept-simsuites-layout-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for name, text in (("tiny.yaml", phase1(4, 2)), ("campaign.yaml", LAYOUT_CAMPAIGN)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        sim = subprocess.run([BIN, "simulate", "campaign.yaml", "-o", "sim.h5"], cwd=tmp, capture_output=True, text=True)
        self.assertEqual(sim.returncode, 0, sim.stderr)
        real = real_run(tmp)
        self.assertEqual(real.returncode, 0, real.stdout + real.stderr)
        pairs = list(zip(steps_of(os.path.join(tmp, "sim.h5")), steps_of(os.path.join(tmp, "real.h5"))))
        self.assertEqual([a["benchmark"] for a, _ in pairs], ["stream", "burnin", "train", "external"])
        for a, b in pairs:
            self.assertEqual(a["name"], b["name"])  # same step ids: same parameters
            self.assertEqual(a["status"], "ok", a["reason"])
            self.assertEqual(b["status"], "ok", b["reason"])
            self.assertEqual(a["per_rank"].dtype, b["per_rank"].dtype, a["name"])
            self.assertEqual(a["per_rank_attrs"], b["per_rank_attrs"], a["name"])
            self.assertEqual(len(a["per_rank"]), len(b["per_rank"]))
            for c in a["per_rank"].dtype.names:
                if c in TELEMETRY:  # no NVML on the cpu backend: NaN in the real run, figures in the model
                    self.assertTrue(np.all(np.isnan(b["per_rank"][c])), c)
                    self.assertTrue(np.all(np.isfinite(a["per_rank"][c])), c)
                    continue
                if c in NOT_SIMULATED:  # the real run measures them, the simulation stores NaN
                    self.assertTrue(np.all(np.isnan(a["per_rank"][c])), c)
                    continue
                np.testing.assert_array_equal(np.isnan(a["per_rank"][c]), np.isnan(b["per_rank"][c]),
                                              err_msg=f"{a['name']} {c}")
            same = {"stream": ["rank", "status", "wrong"], "burnin": ["rank", "status", "wrong", "window"],
                    "train": ["rank", "status", "flops_per_token", "params", "buckets"],
                    "external": ["rank", "status", "exit_code"]}[a["benchmark"]]
            for c in same:  # figures that do not depend on the hardware: equal
                np.testing.assert_array_equal(a["per_rank"][c], b["per_rank"][c], err_msg=f"{a['name']} {c}")
            sa, sb = a["samples"], b["samples"]
            expected = set(sb)
            if a["benchmark"] == "burnin":
                expected |= TELEMETRY_SERIES
            if a["benchmark"] == "train":
                expected -= {"loss"}  # a simulated loss curve would be invented: not stored
            self.assertEqual(set(sa), expected, a["name"])
            for k in set(sa) & set(sb):
                self.assertEqual(sa[k].shape[0], sb[k].shape[0], f"{a['name']} {k}")
                if a["benchmark"] != "burnin" or k == "iteration_time":  # the real run's interval count varies
                    self.assertEqual(sa[k].shape, sb[k].shape, f"{a['name']} {k}")
            self.assertEqual(a["points"] is None or len(a["points"]) == 0, b["points"] is None or len(b["points"]) == 0)
        # External: the declared figure is stored, the command was not run.
        ext = pairs[3][0]["per_rank"]
        np.testing.assert_array_equal(ext["tokens_per_s"], 1.5e6)
        np.testing.assert_array_equal(ext["seconds"], 0.5)
        np.testing.assert_array_equal(pairs[3][1]["per_rank"]["tokens_per_s"], 120)


FAULT_CONTRACT = textwrap.dedent("""\
    contract: per-gpu
    criteria:
      - {id: stream-triad, benchmark: stream, metric: triad_gbps, outliers: {ratio: 0.95}}
      - {id: burnin-tflops, benchmark: burnin, metric: tflops, outliers: {ratio: 0.95}}
      - {id: burnin-steady, benchmark: burnin, metric: last_over_first, bound: {min: 0.97}}
      - {id: hostcopy-h2d, benchmark: hostcopy, metric: h2d_pinned_gbps, outliers: {ratio: 0.9}}
      - {id: p2p-write, benchmark: p2p, metric: ce_write_min_gbps, outliers: {ratio: 0.9}}
      - {id: train-tokens, benchmark: train, metric: tokens_per_s, bound: {min: 1}}
    """)

FAULT_CAMPAIGN = textwrap.dedent("""\
    campaign: per-gpu
    system: system.yaml
    contract: contract.yaml
    benchmarks:
      - {benchmark: stream, params: {bytes: 4G}}
      - {benchmark: hostcopy, params: {bytes: 1G}}
      - {benchmark: p2p, params: {bytes: 1G}}
      - {benchmark: burnin, params: {duration: 600, interval: 1, timeout: 900}}
      - {benchmark: train, params: {preset: gpt2-124m, micro_batch: 8}}
    """)

NODES = 40


class SimulatedSuites(unittest.TestCase):
    """40 nodes of phase 1 (320 H100s)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpuaccept-simsuites-")
        for name, text in (("system.yaml", phase1(NODES)), ("contract.yaml", FAULT_CONTRACT),
                           ("campaign.yaml", FAULT_CAMPAIGN)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def simulate(self, faults=None, out="r.h5", extra=()):
        args = [BIN, "simulate", "campaign.yaml", "-o", out, *extra]
        if faults:
            with open(os.path.join(self.dir, "faults.yaml"), "w") as f:
                f.write(faults)
            args += ["--faults", "faults.yaml"]
        sim = subprocess.run(args, cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(sim.returncode, 0, sim.stderr)
        return {s["benchmark"]: s for s in steps_of(os.path.join(self.dir, out))}

    def check(self, out="r.h5"):
        check = subprocess.run([BIN, "check", out, "--quarantine", "q.txt", "--max-evidence", "20"], cwd=self.dir,
                               capture_output=True, text=True)
        return check, read(os.path.join(self.dir, "q.txt")).split()

    def test_healthy_figures_from_the_model(self):
        steps = self.simulate()
        check, quarantine = self.check()
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(quarantine, [])
        for s in steps.values():
            self.assertEqual(s["status"], "ok", s["reason"])
        # stream: 3,350 GB/s HBM3 x 0.90; per-GPU spread 0.5 %.
        triad = steps["stream"]["per_rank"]["triad_gbps"]
        self.assertAlmostEqual(np.median(triad) / (3350 * 0.90), 1, delta=0.01)
        self.assertLess(np.std(triad) / np.mean(triad), 0.01)
        self.assertTrue(np.all(steps["stream"]["per_rank"]["triad_gbps_median"] <= triad))
        # hostcopy: PCIe Gen5 x16 (63 GB/s) x 0.83 pinned; both ways 2 x 63 x 0.75; pageable 0.4 x pinned.
        hc = steps["hostcopy"]["per_rank"]
        self.assertAlmostEqual(np.median(hc["h2d_pinned_gbps"]) / (63 * 0.83), 1, delta=0.02)
        self.assertAlmostEqual(np.median(hc["bidir_pinned_gbps"]) / (2 * 63 * 0.75), 1, delta=0.02)
        self.assertAlmostEqual(np.median(hc["h2d_pageable_gbps"]) / (63 * 0.83 * 0.4), 1, delta=0.02)
        self.assertEqual(steps["hostcopy"]["samples"]["copy_time"].shape, (6, 10))
        # p2p: NVLink 4 450 GB/s x 0.84 one way (380 GB/s measured, NVIDIA/nccl#1264); the points
        # hold every ordered pair of every node.
        points = steps["p2p"]["points"]
        self.assertEqual(len(points), NODES * 8 * 7)
        self.assertAlmostEqual(np.median(points["ce_write_gbps"]) / (450 * 0.84), 1, delta=0.01)
        self.assertEqual(steps["p2p"]["samples"]["ce_write_gbps"].shape, (NODES * 8, 8))
        np.testing.assert_array_equal(steps["p2p"]["per_rank"]["links"], 7)
        # burnin: GEMM at 989.4 x 0.75 TFLOP/s, steady; 600 one-second intervals stored as 600 points.
        bi = steps["burnin"]["per_rank"]
        self.assertAlmostEqual(np.median(bi["tflops"]) / (989.4 * 0.75), 1, delta=0.01)
        self.assertLess(np.max(np.abs(bi["last_over_first"] - 1)), 0.01)
        self.assertEqual(steps["burnin"]["samples"]["tflops"].shape, (NODES * 8, 600))
        np.testing.assert_array_equal(bi["sm_clock_min"], 1980)
        # train: GPT-2 124M, 8 x 1024 tokens per GPU per step; compute at 0.40 of the bf16 peak.
        tr = steps["train"]["per_rank"]
        fpt = tr["flops_per_token"][0]
        self.assertEqual(fpt, 72 * 12 * 768**2 + 12 * 12 * 1024 * 768 + 6 * 768 * 50257)
        compute = 8 * 1024 * fpt / (989.4e12 * 0.40)
        self.assertGreaterEqual(np.median(tr["step_time"]), compute * 0.98)
        self.assertLess(np.median(tr["step_time"]), compute * 1.5)
        np.testing.assert_allclose(tr["mfu"], tr["tflops"] / 989.4, rtol=1e-9)
        np.testing.assert_allclose(tr["tokens_per_s"], 8 * 1024 * NODES * 8 / tr["step_time"], rtol=1e-9)
        self.assertTrue(np.all((tr["comm_hidden"] > 0) & (tr["comm_hidden"] <= 1)))
        self.assertTrue(np.all(np.isnan(tr["loss_end"])))
        self.assertIn("loss", steps["train"]["messages"][0])

    def test_slow_gpu_and_throttling_node_named_exactly(self):
        steps = self.simulate(textwrap.dedent("""\
            faults:
              - {kind: slow_gpu, node: 12, gpu: 3, factor: 0.7}
              - {kind: throttling_node, node: 30, factor: 0.85}
            """))
        check, quarantine = self.check()
        out = check.stdout
        self.assertEqual(check.returncode, 1, out + check.stderr)
        self.assertEqual(quarantine, ["node00012", "node00030"])
        self.assertEqual(set(re.findall(r"node\d+", out)), {"node00012", "node00030"})
        # stream: the slow GPU only (a throttling node's clocks do not limit a memory-bound kernel);
        # burnin throughput: both; burnin steadiness: only the node that slows down over the run.
        self.assertRegex(out, r"stream-triad\s+1 outliers")
        self.assertRegex(out, r"burnin-tflops\s+9 outliers")
        self.assertRegex(out, r"burnin-steady\s.*FAIL")
        self.assertRegex(out, r"hostcopy-h2d\s+0 outliers .*PASS")
        self.assertRegex(out, r"p2p-write\s+0 outliers .*PASS")
        bi = steps["burnin"]["per_rank"]
        throttled = slice(30 * 8, 31 * 8)
        self.assertTrue(np.all(bi["last_over_first"][throttled] < 0.95))
        self.assertTrue(np.all(np.delete(bi["last_over_first"], np.r_[throttled]) > 0.99))
        self.assertAlmostEqual(bi["last_over_first"][12 * 8 + 3], 1, delta=0.01)  # slow from the start: steady
        clock = steps["burnin"]["samples"]["sm_clock"][30 * 8]
        self.assertTrue(np.all(np.diff(clock) <= 0) and clock[0] > 1900 and clock[-1] < 1980 * 0.86)
        self.assertTrue(np.all(bi["slowdown_fraction"][throttled] > 0.9))
        self.assertIn("sw_thermal_slowdown", steps["burnin"]["messages"][30 * 8])
        # train: synchronous data parallelism: every rank waits for the slowest GPU.
        healthy = self.simulate(out="healthy.h5")["train"]["per_rank"]["step_time"]
        slowed = steps["train"]["per_rank"]["step_time"]
        self.assertGreater(np.median(slowed) / np.median(healthy), 1.3)
        self.assertLess(np.std(slowed) / np.mean(slowed), 0.02)

    def test_loss_is_not_simulated_and_a_criterion_on_it_fails_loudly(self):
        with open(os.path.join(self.dir, "contract.yaml"), "w") as f:
            f.write("contract: loss\ncriteria:\n  - {id: loss-falls, benchmark: train, metric: loss_end, bound: {max: 5}}\n")
        self.simulate()
        check, _ = self.check()
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertRegex(check.stdout, r"loss-falls\s.*FAIL")
        self.assertIn("no value (NaN)", check.stdout)

    def test_external_step_needs_declared_figures(self):
        with open(os.path.join(self.dir, "campaign.yaml"), "w") as f:
            f.write(textwrap.dedent("""\
                campaign: ext
                system: system.yaml
                benchmarks:
                  - {benchmark: external, params: {command: "srun ./train.sh"}}
                  - {benchmark: external, params: {command: "srun ./a.sh", step_time: 'step ([0-9.]+)',
                                                   simulate: "tokens_per_s=2e6"}}
                  - {benchmark: external, params: {command: "srun ./b.sh", step_time: 'step ([0-9.]+)',
                                                   simulate: "step_time=0.8, seconds=1500"}}
                """))
        sim = subprocess.run([BIN, "simulate", "campaign.yaml", "-o", "r.h5"], cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(sim.returncode, 0, sim.stderr)
        steps = steps_of(os.path.join(self.dir, "r.h5"))
        self.assertEqual(steps[0]["status"], "skipped")
        self.assertIn("cannot be simulated: give the figures", steps[0]["reason"])
        self.assertEqual(steps[1]["status"], "skipped")
        self.assertIn("extracts step_time", steps[1]["reason"])
        self.assertEqual(steps[2]["status"], "ok")
        np.testing.assert_array_equal(steps[2]["per_rank"]["step_time"], 0.8)
        np.testing.assert_array_equal(steps[2]["per_rank"]["exit_code"], 0)
        with open(os.path.join(self.dir, "campaign.yaml"), "a") as f:
            f.write("  - {benchmark: external, params: {command: x, simulate: \"tokens=5\"}}\n")
        bad = subprocess.run([BIN, "simulate", "campaign.yaml", "-o", "bad.h5"], cwd=self.dir, capture_output=True,
                             text=True)
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("simulate: tokens is not a metric of the external benchmark", bad.stderr)


CALIBRATION_CAMPAIGN = textwrap.dedent("""\
    campaign: calibrate
    system: tiny.yaml
    benchmarks:
      - {benchmark: stream, params: {bytes: 4M, iterations: 5, warmup: 1}}
      - {benchmark: allreduce, params: {min_bytes: 4M, max_bytes: 4M, scope: node, iterations: 5, warmup: 1}}
      - {benchmark: ior, params: {dir: DIR, transfer_size: 1M, block_size: 8M, iterations: 2, warmup: 0}}
    """)


class Calibration(unittest.TestCase):
    """A real run on this machine's cpu backend (4 fake nodes of 2 ranks) calibrates the model of
    a machine of 2-GPU nodes: the simulation of the same campaign then reproduces the measured
    stream bandwidth (median within 5 %), node all-reduce busbw (5 %) and per-client storage
    bandwidth (5 %), and says what it calibrated from what. The simulated machine has 200 nodes:
    the per-GPU figures are drawn with the measured spread (tens of % on a shared 2-core machine),
    and the median of 400 draws lies within 2 % of the measured one where 8 would not."""

    def test_simulation_reproduces_a_measured_file(self):
        tmp = tempfile.mkdtemp(prefix="gpuaccept-simsuites-calibrate-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.mkdir(os.path.join(tmp, "io"))
        campaign = CALIBRATION_CAMPAIGN.replace("DIR", os.path.join(tmp, "io"))
        # A file system far faster than 200 clients of this machine (page cache, tens of GB/s each):
        # what is checked is the per-client figure, not the aggregate cap.
        big = phase1(200, 2).replace("aggregate_read_gbs: 2000", "aggregate_read_gbs: 2000000").replace(
            "aggregate_write_gbs: 1000", "aggregate_write_gbs: 1000000")
        for name, text in (("tiny.yaml", phase1(4, 2)), ("big.yaml", big), ("campaign.yaml", campaign),
                           ("big-campaign.yaml", campaign.replace("tiny.yaml", "big.yaml"))):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        real = real_run(tmp)
        self.assertEqual(real.returncode, 0, real.stdout + real.stderr)
        sim = subprocess.run([BIN, "simulate", "big-campaign.yaml", "--calibrate", "real.h5", "-o", "sim.h5"], cwd=tmp,
                             capture_output=True, text=True)
        self.assertEqual(sim.returncode, 0, sim.stderr)
        for line in ("stream triad_gbps:", "NVLink efficiency 0.82 ->", "storage per-client write bandwidth:",
                     "storage per-client read bandwidth:"):
            self.assertIn(line, sim.stdout)
        real_steps, sim_steps = steps_of(os.path.join(tmp, "real.h5")), steps_of(os.path.join(tmp, "sim.h5"))
        for s in real_steps + sim_steps:
            self.assertEqual(s["status"], "ok", s["reason"])
        (rs, ra, ri), (ss, sa, si) = real_steps, sim_steps
        self.assertEqual([s["name"] for s in real_steps], [s["name"] for s in sim_steps])
        for k in ("copy_gbps", "triad_gbps"):
            self.assertAlmostEqual(np.median(ss["per_rank"][k]) / np.median(rs["per_rank"][k]), 1, delta=0.05, msg=k)
        measured = np.median(ra["points"]["busbw_oop"])
        self.assertAlmostEqual(np.median(sa["points"]["busbw_oop"]) / measured, 1, delta=0.05)

        # Per client (node): the sum of its ranks' shares. The real run's 8 ranks share this
        # machine's one client (the fake nodes are the collectives' only); the simulated ranks
        # 2i and 2i+1 share node i's.
        with h5py.File(os.path.join(tmp, "real.h5"), "r") as f:
            self.assertEqual(len(set(f["ranks"]["host"])), 1)
        for column in ("write_bw_rank", "read_bw_rank"):
            measured = ri["per_rank"][column].sum()
            simulated = np.median(si["per_rank"][column].reshape(-1, 2).sum(axis=1))
            self.assertAlmostEqual(simulated / measured, 1, delta=0.05, msg=column)
        with h5py.File(os.path.join(tmp, "sim.h5"), "r") as f:  # provenance: what it was calibrated from
            self.assertIn("real.h5: ", f["provenance/versions"].attrs["calibration"])

    def test_hostcopy_and_p2p_from_a_stand_in_file(self):
        # No GPU here: a simulation of a machine with a slower host link and NVLink stands in for
        # the measured file (as test_simulate's GEMM calibration does).
        tmp = tempfile.mkdtemp(prefix="gpuaccept-simsuites-calibrate-gpu-")
        self.addCleanup(shutil.rmtree, tmp, True)
        slow = phase1(2).replace("host_link_gbs: 63", "host_link_gbs: 32").replace("nvlink_bandwidth_gbs: 450",
                                                                                   "nvlink_bandwidth_gbs: 300")
        campaign = "campaign: c\nsystem: {}\nbenchmarks:\n  - {{benchmark: hostcopy}}\n  - {{benchmark: p2p}}\n"
        for name, text in (("slow.yaml", slow), ("fast.yaml", phase1(2)), ("measured.yaml", campaign.format("slow.yaml")),
                           ("campaign.yaml", campaign.format("fast.yaml"))):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        for args in (["measured.yaml", "-o", "measured.h5", "--seed", "3"],
                     ["campaign.yaml", "--calibrate", "measured.h5", "-o", "sim.h5"]):
            sim = subprocess.run([BIN, "simulate", *args], cwd=tmp, capture_output=True, text=True)
            self.assertEqual(sim.returncode, 0, sim.stderr)
        self.assertIn("hostcopy h2d_pinned_gbps:", sim.stdout)
        self.assertIn("p2p ce_write_gbps per link:", sim.stdout)
        measured, simulated = steps_of(os.path.join(tmp, "measured.h5")), steps_of(os.path.join(tmp, "sim.h5"))
        self.assertAlmostEqual(np.median(simulated[0]["per_rank"]["h2d_pinned_gbps"]) / (32 * 0.83), 1, delta=0.03)
        self.assertAlmostEqual(np.median(simulated[0]["per_rank"]["h2d_pinned_gbps"]) /
                               np.median(measured[0]["per_rank"]["h2d_pinned_gbps"]), 1, delta=0.02)
        self.assertAlmostEqual(np.median(simulated[1]["points"]["ce_write_gbps"]) /
                               np.median(measured[1]["points"]["ce_write_gbps"]), 1, delta=0.01)


if __name__ == "__main__":
    unittest.main()
