"""Integration tests of the collectives: every operation under mpirun at 2 and 4 ranks on the
MPI backend, the scopes on a fake layout of 4 nodes x 2 ranks (8 processes), bisect naming a
planted slow node, and a rank that never enters its collective (the hang path).

Run through ctest, or by hand from tests/integration (see test_cli.py for the variables):
    /usr/bin/python3 -m unittest -v test_collectives
"""

import os
import tempfile
import textwrap
import unittest

import h5py
import numpy as np

from test_cli import BIN, SELFTEST, mpi_env, steps_in_order, text_attr

import subprocess

OPS = ["allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce", "gather", "scatter", "sendrecv"]
ROOTED = {"broadcast", "reduce", "gather", "scatter"}
REDUCING = {"allreduce", "reducescatter", "reduce"}
NCCL_TESTS = {"allreduce": "all_reduce_perf", "allgather": "all_gather_perf", "reducescatter": "reduce_scatter_perf",
              "alltoall": "alltoall_perf", "broadcast": "broadcast_perf", "reduce": "reduce_perf",
              "gather": "gather_perf", "scatter": "scatter_perf", "sendrecv": "sendrecv_perf"}


def busbw_factor(op, n):
    if op == "allreduce":
        return 2 * (n - 1) / n
    if op in ("broadcast", "reduce", "sendrecv"):
        return 1.0
    return (n - 1) / n


def mpirun(ranks, *args, binary=BIN, env=None, timeout=240):
    run_env = mpi_env()
    forward = []
    for name, value in (env or {}).items():
        run_env[name] = value
        forward += ["-x", name]
    cmd = ["mpirun", "--oversubscribe", *forward, "-np", str(ranks), binary, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=timeout)


class CollectiveCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpuaccept-coll-")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(textwrap.dedent(text))
        return self.path(name)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")


class EveryOperation(CollectiveCase):
    def run_every_op(self, ranks, variants):
        lines = ["campaign: every-op", "system: local", "benchmarks:"]
        expected = []
        for op in OPS:
            for params in variants:
                p = dict(params)
                if op in ROOTED:
                    p["root"] = ranks - 1
                if op not in REDUCING:
                    p.pop("op", None)
                fields = ", ".join(f"{k}: {v}" for k, v in p.items())
                lines.append(f"  - {{benchmark: {op}, params: {{iterations: 3, warmup: 1, {fields}}}}}")
                expected.append((op, p))
        out = self.path("every.h5")
        result = mpirun(ranks, "run", self.write("every.yaml", "\n".join(lines) + "\n"), "-o", out)
        self.assertExit(result, 0)
        for op in OPS:
            self.assertIn(f"# {op} ({NCCL_TESTS[op]}), scope world, {ranks} rank(s)", result.stdout)
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual(len(steps), len(expected))
            for step, (op, p) in zip(steps, expected):
                what = f"{op} {p}"
                self.assertEqual(text_attr(step, "benchmark"), op)
                self.assertEqual(text_attr(step, "status"), "ok", what)
                pts = step["points"][()]
                self.assertGreater(len(pts), 1, what)
                for phase in ("oop", "ip"):
                    self.assertTrue(np.all(pts[f"wrong_{phase}"] == 0), what)
                    self.assertTrue(np.all(pts[f"time_{phase}"] > 0), what)
                    self.assertTrue(np.all(np.isfinite(pts[f"time_p99_{phase}"])), what)
                    np.testing.assert_allclose(pts[f"busbw_{phase}"],
                                               pts[f"algbw_{phase}"] * busbw_factor(op, ranks), rtol=1e-12)
                    np.testing.assert_allclose(pts[f"algbw_{phase}"], pts["bytes"] / pts[f"time_{phase}"] / 1e3,
                                               rtol=1e-9)
                self.assertTrue(np.all(pts["group"] == 0) and np.all(pts["round"] == 0) and np.all(pts["nodes"] == 1))
                per_rank = step["per_rank"][()]
                self.assertEqual(list(per_rank["wrong"]), [0] * ranks, what)
                self.assertEqual(list(per_rank["ranks"]), [ranks] * ranks, what)
                samples = step["samples"]
                np.testing.assert_array_equal(samples["group_ranks"][()], [list(range(ranks))])
                self.assertEqual(samples["iteration_time_oop"].shape, (len(pts), 3))
                self.assertTrue(np.all(samples["iteration_time_ip"][()] > 0))
                # nccl-tests sizes: partitioned operations carry whole elements per rank.
                if op in ("allgather", "reducescatter", "alltoall", "gather", "scatter"):
                    elem = {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
                            "fp32": 4, "fp64": 8}[p["dtype"]]
                    np.testing.assert_array_equal(pts["bytes"], pts["count"] * ranks * elem)

    def test_two_ranks_every_op(self):
        self.run_every_op(2, [
            {"min_bytes": 8, "max_bytes": "64K", "factor": 8, "dtype": "int32", "op": "sum"},
            {"min_bytes": 8, "max_bytes": "4K", "factor": 16, "dtype": "fp64", "op": "min", "blocking": "false"},
        ])

    def test_four_ranks_every_op(self):
        self.run_every_op(4, [
            {"min_bytes": 16, "max_bytes": "16K", "factor": 32, "dtype": "uint8", "op": "max"},
            {"min_bytes": 64, "max_bytes": "8K", "factor": 16, "dtype": "int64", "op": "prod", "blocking": "false"},
            {"min_bytes": 64, "max_bytes": "1K", "step_bytes": 320, "dtype": "fp32", "op": "sum"},
        ])

    def test_not_applicable_on_the_mpi_backend(self):
        campaign = self.write("na.yaml", """\
            campaign: na
            system: local
            benchmarks:
              - {benchmark: allgather, params: {dtype: bf16}}
              - {benchmark: reduce, params: {op: avg}}
              - {benchmark: alltoall, params: {cuda_graph: true}}
            """)
        out = self.path("na.h5")
        result = mpirun(2, "run", campaign, "-o", out, "-q")
        self.assertExit(result, 0)
        with h5py.File(out, "r") as f:
            reasons = [(text_attr(s, "status"), text_attr(s, "reason")) for s in steps_in_order(f)]
        self.assertEqual([r[0] for r in reasons], ["skipped"] * 3)
        self.assertIn("MPI has no bf16 type", reasons[0][1])
        self.assertIn("MPI has no avg reduction", reasons[1][1])
        self.assertIn("CUDA graphs need the cuda backend", reasons[2][1])

    def test_root_outside_the_communicator_is_an_error(self):
        campaign = self.write("root.yaml", """\
            campaign: root
            system: local
            benchmarks:
              - {benchmark: gather, params: {root: 5, max_bytes: 1K}}
            """)
        result = mpirun(2, "run", campaign, "-o", self.path("root.h5"), "-q")
        self.assertExit(result, 3)
        self.assertIn("root 5 is not a rank of every communicator of scope world (the smallest has 2 rank(s))",
                      result.stdout + result.stderr)


FAKE = {"GPUACCEPT_FAKE_RANKS_PER_NODE": "2"}


class Scopes(CollectiveCase):
    def test_node_rail_pairs_scaling_on_four_fake_nodes(self):
        campaign = self.write("scopes.yaml", """\
            campaign: scopes
            system: local
            benchmarks:
              - {benchmark: allreduce, params: {min_bytes: 1K, max_bytes: 8K, factor: 8, iterations: 2, warmup: 1, scope: node}}
              - {benchmark: allgather, params: {min_bytes: 1K, max_bytes: 8K, factor: 8, iterations: 2, warmup: 1, scope: rail}}
              - {benchmark: alltoall, params: {min_bytes: 1K, max_bytes: 8K, factor: 8, iterations: 2, warmup: 1, scope: pairs, pair_rounds: 3}}
              - {benchmark: broadcast, params: {min_bytes: 1K, max_bytes: 8K, factor: 8, iterations: 2, warmup: 1, scope: scaling, root: 1}}
              - {benchmark: allreduce, params: {min_bytes: 1K, max_bytes: 1K, iterations: 2, warmup: 1, scope: node, domain: 4}}
            """)
        out = self.path("scopes.h5")
        result = mpirun(8, "run", campaign, "-o", out, env=FAKE)
        self.assertExit(result, 0)
        self.assertIn("# group 2 (round 0): host-2, 2 ranks", result.stdout)
        self.assertIn("# group 1 (round 0): rail 1, 4 ranks", result.stdout)
        self.assertRegex(result.stdout, r"# group \d \(round 2\): host-\d<->host-\d, 4 ranks")
        self.assertIn("# group 1 (round 1): 4 nodes, 8 ranks", result.stdout)
        with h5py.File(out, "r") as f:
            self.assertEqual(text_attr(f["provenance/environment"], "GPUACCEPT_FAKE_RANKS_PER_NODE"), "2")
            node, rail, pairs, scaling, domain = steps_in_order(f)
            for step in (node, rail, pairs, scaling, domain):
                self.assertEqual(text_attr(step, "status"), "ok")
                pts = step["points"][()]
                self.assertTrue(np.all(pts["wrong_oop"] == 0) and np.all(pts["wrong_ip"] == 0))
                rows = step["samples/group_ranks"][()]
                self.assertEqual(step["samples/iteration_time_oop"].shape[0], len(pts))
                # Every group has rows for each of its sizes, in group order.
                self.assertEqual(sorted(set(pts["group"])), list(range(len(rows))))
            np.testing.assert_array_equal(node["samples/group_ranks"][()], [[0, 1], [2, 3], [4, 5], [6, 7]])
            self.assertEqual(list(node["per_rank"][()]["group"]), [0, 0, 1, 1, 2, 2, 3, 3])
            self.assertEqual(list(node["per_rank"][()]["ranks"]), [2] * 8)
            self.assertTrue(np.all(node["points"][()]["nodes"] == 1))
            np.testing.assert_array_equal(rail["samples/group_ranks"][()], [[0, 2, 4, 6], [1, 3, 5, 7]])
            self.assertTrue(np.all(rail["points"][()]["nodes"] == 4))
            np.testing.assert_array_equal(domain["samples/group_ranks"][()], [[0, 1, 2, 3], [4, 5, 6, 7]])

            # Pairs: 3 rounds of 2 disjoint node pairs; every pair of the 4 nodes exactly once.
            rows = pairs["samples/group_ranks"][()].astype(int)
            pts = pairs["points"][()]
            self.assertEqual(rows.shape, (6, 4))
            seen = set()
            for g, members in enumerate(rows):
                nodes = tuple(sorted({r // 2 for r in members}))
                self.assertEqual(len(nodes), 2)
                seen.add(nodes)
                self.assertEqual(set(pts["round"][pts["group"] == g]), {g // 2})
            self.assertEqual(len(seen), 6)
            for rnd in range(3):
                members = rows[[g for g in range(6) if g // 2 == rnd]].ravel()
                self.assertEqual(sorted(members), list(range(8)))
            self.assertTrue(np.all(pts["nodes"] == 2))

            # Scaling: 2 nodes then 4; broadcast busbw = algbw.
            pts = scaling["points"][()]
            self.assertEqual(sorted(set(zip(pts["group"], pts["nodes"]))), [(0, 2), (1, 4)])
            np.testing.assert_array_equal(scaling["samples/group_ranks"][()], [[0, 1, 2, 3, -1, -1, -1, -1],
                                                                               list(range(8))])

    def test_bisect_names_the_slow_node(self):
        campaign = self.write("bisect.yaml", """\
            campaign: bisect
            system: local
            benchmarks:
              - {benchmark: allreduce, params: {min_bytes: 1M, max_bytes: 1M, iterations: 4, warmup: 1, scope: bisect, in_place: false, min_busbw: 0.03}}
            """)
        # The planted node costs 100 ms per operation (busbw ~0.01 GB/s at 1 MiB); a healthy
        # group of 8 processes on a loaded 2-core machine loses a few scheduler quanta per
        # operation (~10 ms, busbw ~0.1): the explicit bound sits 3x from each side.
        out = self.path("bisect.h5")
        result = mpirun(8, "run", campaign, "-o", out,
                        env=dict(FAKE, GPUACCEPT_FAKE_SLOW_HOST="host-2", GPUACCEPT_FAKE_SLOW_DELAY_MS="100"))
        self.assertExit(result, 0)
        self.assertIn("# bisect: suspected: host-2\n", result.stdout)
        with h5py.File(out, "r") as f:
            step = steps_in_order(f)[0]
            self.assertEqual(list(step["per_rank"][()]["suspect"]), [0, 0, 0, 0, 1, 1, 0, 0])
            rows = step["samples/group_ranks"][()]
            self.assertEqual(list(rows[0]), list(range(8)))  # the world first
            self.assertGreater(len(rows), 3)                 # then pairs, then rechecks


class Hang(CollectiveCase):
    def test_rank_that_never_enters_is_named(self):
        campaign = self.write("hang.yaml", """\
            campaign: hang
            system: local
            benchmarks:
              - {benchmark: selftest, params: {mode: ok}}
              - {benchmark: allgather, params: {min_bytes: 8, max_bytes: 1K, factor: 8, iterations: 2, warmup: 1, timeout: 2}}
              - {benchmark: alltoall, params: {min_bytes: 8, max_bytes: 1K}}
            """)
        out = self.path("hang.h5")
        result = mpirun(4, "run", campaign, "-o", out, binary=SELFTEST, env={"GPUACCEPT_TEST_HANG_RANK": "2"},
                        timeout=120)
        self.assertExit(result, 3)
        self.assertIn("TIMEOUT after 2 s", result.stdout)
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual([text_attr(s, "benchmark") for s in steps], ["selftest", "allgather"])
            self.assertEqual(text_attr(steps[0], "status"), "ok")  # what was stored before stays
            self.assertEqual(text_attr(steps[1], "status"), "timeout")
            self.assertRegex(text_attr(steps[1], "reason"),
                             r"ran past its timeout of 2 s; rank\(s\) 2 \([^)]+\) had not entered phase 1 of the collective")


if __name__ == "__main__":
    unittest.main()
