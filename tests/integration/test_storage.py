"""Integration tests of the storage suite (ior, mdtest, checkpoint): real runs under mpirun at
2 and 4 ranks, results read with h5py, and the target directory checked to be left clean.

Run through ctest, or by hand (from tests/integration), as test_cli.py says:
    GPUACCEPT_BIN=build/default/bin/gpuaccept GPUACCEPT_SOURCE_DIR=$PWD/../.. \
    /usr/bin/python3 -m unittest -v test_storage
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import h5py
import numpy as np

from test_cli import BIN, SOURCE, Workdir, cli, mpi_env, mpirun, steps_in_order, text_attr


class StorageWorkdir(Workdir):
    """A scratch directory plus a target directory for the benchmarks to work in."""

    def setUp(self):
        super().setUp()
        self.target = self.path("target")
        os.mkdir(self.target)

    def run_campaign(self, ranks, body, code=0, name="storage"):
        campaign = self.write(f"{name}.yaml", f"campaign: {name}\n" + body)
        out = self.path(f"{name}.h5")
        result = mpirun(ranks, "run", campaign, "--output", out)
        self.assertExit(result, code)
        return out, result

    def assertClean(self):
        self.assertEqual(os.listdir(self.target), [], "the benchmark must remove everything it created")


def by_benchmark(f, name):
    return [s for s in steps_in_order(f) if text_attr(s, "benchmark") == name]


def private_tmpfs_works(where):
    """Whether this process may give a child its own mount namespace with a tmpfs (root, and a
    container that allows unshare(CLONE_NEWNS) and mount)."""
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                        where], capture_output=True)
    return r.returncode == 0


class NodeLocalStorage(StorageWorkdir):
    """Node-local storage for real: every rank runs in its own mount namespace with a private
    64 MiB tmpfs mounted on the target directory, and GPUACCEPT_FAKE_RANKS_PER_NODE=1 makes each
    rank its own node. No rank sees rank 0's sub-directory, so each makes its own; the free-space
    need is this node's (one rank's), which fits in 64 MiB where the four ranks' sum would not."""

    def setUp(self):
        super().setUp()
        if not private_tmpfs_works(self.target):
            self.skipTest("needs root and mount namespaces (unshare -m) to give each rank a private tmpfs")

    def run_private(self, ranks, body, code):
        campaign = self.write("local.yaml", "campaign: local\n" + body)
        out = self.path("local.h5")
        left = self.path("left")
        os.mkdir(left)
        # Each rank: a private tmpfs on the target, the run, then what it left there.
        wrapper = ('mount -t tmpfs -o size=64m tmpfs "$0" || exit 99; "$@"; rc=$?; '
                   'ls -A "$0" > "' + left + '/rank.$OMPI_COMM_WORLD_RANK"; exit $rc')
        env = mpi_env()
        env["GPUACCEPT_FAKE_RANKS_PER_NODE"] = "1"
        cmd = ["mpirun", "--oversubscribe", "-x", "GPUACCEPT_FAKE_RANKS_PER_NODE", "-np", str(ranks),
               "unshare", "-m", "--propagation", "private", "sh", "-c", wrapper, self.target,
               BIN, "run", campaign, "--output", out]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        self.assertExit(result, code)
        leftovers = {}
        for name in os.listdir(left):
            with open(os.path.join(left, name)) as f:
                leftovers[name] = f.read()
        self.assertEqual(sorted(leftovers), [f"rank.{r}" for r in range(ranks)])
        self.assertEqual(set(leftovers.values()), {""}, "every rank's private directory is left empty")
        self.assertEqual(os.listdir(self.target), [], "nothing reached the shared directory underneath")
        return out, result

    def test_each_node_works_in_its_own_directory(self):
        mib = 1 << 20
        out, result = self.run_private(4, f"""\
defaults: {{dir: {self.target}, warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{transfer_size: 1M, block_size: 24M}}
  - benchmark: mdtest
    params: {{files: 20, write_bytes: 100, read_bytes: 100}}
  - benchmark: checkpoint
    params: {{total_bytes: 96M, chunk: 8M}}
""", 0)
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual([text_attr(s, "benchmark") for s in steps], ["ior", "mdtest", "checkpoint"])
            for step in steps:
                self.assertEqual(text_attr(step, "status"), "ok", text_attr(step, "reason"))
                per_rank = step["per_rank"][()]
                self.assertTrue(np.all(per_rank["node_local_dir"] == 1), text_attr(step, "benchmark"))
                self.assertTrue(np.all(per_rank["wrong_bytes" if "wrong_bytes" in per_rank.dtype.names
                                                else "wrong_files"] == 0))
            ior = steps[0]["per_rank"][()]
            # The need is this node's: one rank's 24 MiB, not the four ranks' 96 MiB.
            self.assertTrue(np.all(ior["space_needed"] == 24 * mib), ior["space_needed"])
            self.assertTrue(np.all(ior["checked_bytes"] == 24 * mib))
            ckpt = steps[2]["per_rank"][()]
            self.assertTrue(np.all(ckpt["space_needed"] == 24 * mib), ckpt["space_needed"])

    def test_a_node_without_room_fails_before_writing(self):
        _, result = self.run_private(2, f"""\
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, transfer_size: 1M, block_size: 80M, iterations: 1, warmup: 0}}
""", 3)
        self.assertRegex(result.stdout, r"has 64(\.0)? MiB free, the step needs .* \(80(\.0)? MiB of data from the ranks of this "
                                        r"node\); nothing was written")

    def test_reading_another_nodes_files_is_refused(self):
        _, result = self.run_private(2, f"""\
defaults: {{dir: {self.target}, warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{transfer_size: 1M, block_size: 2M, reorder: true, reorder_offset: 1}}
  - benchmark: mdtest
    params: {{files: 5, task_offset: 1}}
""", 3)
        self.assertRegex(result.stdout, r"reorder \(reads shifted by 1 ranks\) makes rank \d read what rank \d wrote on "
                                        r"another node, but .* is node-local storage")
        self.assertRegex(result.stdout, r"task_offset: 1 makes rank \d read what rank \d wrote on another node")

    def test_shared_directory_for_contrast(self):
        # The same four fake nodes on one shared directory: every rank sees rank 0's
        # sub-directory, and the need is all ranks' data.
        out, _ = self.run_campaign(4, f"""\
defaults: {{dir: {self.target}, warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{transfer_size: 1M, block_size: 2M}}
""")
        with h5py.File(out, "r") as f:
            per_rank = steps_in_order(f)[0]["per_rank"][()]
            self.assertTrue(np.all(per_rank["node_local_dir"] == 0))
            self.assertTrue(np.all(per_rank["space_needed"] == 4 * 2 * (1 << 20)))
        self.assertClean()


class IorBandwidth(StorageWorkdir):
    def test_file_per_process_and_shared_two_ranks(self):
        out, result = self.run_campaign(2, f"""\
defaults: {{warmup: 0, iterations: 2}}
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, layout: [file_per_process, segmented], transfer_size: 256K, block_size: 1M, segments: 2}}
""")
        self.assertRegex(result.stdout, r"\[1/2\] ior .* OK  write_bw")
        self.assertRegex(result.stdout, r"access +bw\(MiB/s\)")
        with h5py.File(out, "r") as f:
            for step in steps_in_order(f):
                self.assertEqual(text_attr(step, "status"), "ok")
                per_rank = step["per_rank"][()]
                self.assertEqual(list(per_rank["rank"]), [0, 1])
                self.assertTrue(np.all(per_rank["write_bytes"] == 2 << 20))
                self.assertTrue(np.all(per_rank["read_bytes"] == 2 << 20))
                self.assertTrue(np.all(per_rank["checked_bytes"] == 2 * (2 << 20)))  # every byte, both iterations
                self.assertTrue(np.all(per_rank["wrong_bytes"] == 0))
                self.assertTrue(np.all(per_rank["write_bw"] > 0) and np.all(per_rank["read_bw"] > 0))
                pts = step["points"][()]
                self.assertEqual(list(pts["iteration"]), [0, 1])
                self.assertTrue(np.all(pts["write_bytes"] == 2 * (2 << 20)))
                # Aggregate bandwidth = all ranks' bytes / (last end - first start); ranks agree on it.
                np.testing.assert_allclose(pts["write_bw"], pts["write_bytes"] / pts["write_time"] / 1e9, rtol=1e-9)
                np.testing.assert_allclose(pts["read_bw"], pts["read_bytes"] / pts["read_time"] / 1e9, rtol=1e-9)
                np.testing.assert_allclose(per_rank["write_bw"], np.median(pts["write_bw"]), rtol=1e-12)
                # A rank's own bandwidth is at least the aggregate's share of it.
                self.assertTrue(np.all(per_rank["write_bw_rank"] >= per_rank["write_bw"] / 2 * (1 - 1e-9)))
                self.assertEqual(step["samples/iteration_time"].shape, (2, 2))
        self.assertClean()
        # The documented reader (h5py only, no gpuaccept code) accepts the file's layout.
        check = subprocess.run([sys.executable, os.path.join(SOURCE, "tests/integration/read_results.py"),
                                "--check-local", out], capture_output=True, text=True)
        self.assertExit(check, 0)

    def test_every_layout_four_ranks_with_reordered_reads(self):
        out, _ = self.run_campaign(4, f"""\
defaults: {{warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, layout: [file_per_process, segmented, strided], order: [sequential, random],
             transfer_size: 64K, block_size: 256K, segments: 3, reorder: true, reorder_offset: 1, invalidate: true}}
""")
        with h5py.File(out, "r") as f:
            steps = steps_in_order(f)
            self.assertEqual(len(steps), 6)
            for step in steps:
                self.assertEqual(text_attr(step, "status"), "ok", text_attr(step, "reason"))
                per_rank = step["per_rank"][()]
                self.assertEqual(len(per_rank), 4)
                self.assertTrue(np.all(per_rank["write_bytes"] == 3 * 256 * 1024))
                self.assertTrue(np.all(per_rank["checked_bytes"] == 3 * 256 * 1024))
                self.assertTrue(np.all(per_rank["wrong_bytes"] == 0))
                self.assertEqual(int(step["points"][()]["write_bytes"][0]), 4 * 3 * 256 * 1024)
        self.assertClean()

    def test_mpiio_independent_and_collective(self):
        for ranks in (2, 4):
            with self.subTest(ranks=ranks):
                out, result = self.run_campaign(ranks, f"""\
defaults: {{warmup: 1, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, api: mpiio, collective: [false, true], layout: [segmented, strided],
             transfer_size: 128K, block_size: 512K}}
""", name=f"mpiio{ranks}")
                self.assertIn("mpiio collective", result.stdout)
                with h5py.File(out, "r") as f:
                    steps = steps_in_order(f)
                    self.assertEqual(len(steps), 4)
                    for step in steps:
                        self.assertEqual(text_attr(step, "status"), "ok", text_attr(step, "reason"))
                        per_rank = step["per_rank"][()]
                        self.assertTrue(np.all(per_rank["read_bytes"] == 512 * 1024))
                        self.assertTrue(np.all(per_rank["wrong_bytes"] == 0))
                self.assertClean()

    def test_stonewall_reports_the_bytes_moved(self):
        out, _ = self.run_campaign(2, f"""\
defaults: {{warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, transfer_size: 64K, block_size: 64M, stonewall: 0.000001}}
""")
        with h5py.File(out, "r") as f:
            (step,) = steps_in_order(f)
            self.assertEqual(text_attr(step, "status"), "ok")
            pts = step["points"][()]
            # Every rank stops after its first transfer; wear-out brings all to the fastest's count.
            self.assertEqual(int(pts["stonewall_transfers"][0]), 1)
            self.assertEqual(int(pts["write_bytes"][0]), 2 * 64 * 1024)
            per_rank = step["per_rank"][()]
            self.assertTrue(np.all(per_rank["write_bytes"] == 64 * 1024))
            self.assertTrue(np.all(per_rank["read_bytes"] == 64 * 1024))
        self.assertClean()


class MdtestMetadata(StorageWorkdir):
    def test_shared_and_unique_directories_with_a_tree(self):
        for ranks in (2, 4):
            with self.subTest(ranks=ranks):
                out, result = self.run_campaign(ranks, f"""\
defaults: {{warmup: 0, iterations: 2}}
benchmarks:
  - benchmark: mdtest
    params: {{dir: {self.target}, files: 60, unique_dir: [false, true], depth: [0, 2], branch: 2,
             write_bytes: 3901, read_bytes: 3901, task_offset: 1}}
""", name=f"md{ranks}")
                self.assertIn("File creation", result.stdout)
                with h5py.File(out, "r") as f:
                    steps = steps_in_order(f)
                    self.assertEqual(len(steps), 4)
                    for step in steps:
                        self.assertEqual(text_attr(step, "status"), "ok", text_attr(step, "reason"))
                        per_rank = step["per_rank"][()]
                        self.assertEqual(len(per_rank), ranks)
                        for phase in ("create", "stat", "read", "remove", "tree_create", "tree_remove"):
                            self.assertTrue(np.all(per_rank[f"{phase}_rate"] > 0), phase)
                        self.assertTrue(np.all(per_rank["files"] == 60))
                        self.assertTrue(np.all(per_rank["checked_files"] == 2 * 60))
                        self.assertTrue(np.all(per_rank["wrong_files"] == 0))
                        pts = step["points"][()]
                        self.assertEqual(list(pts["iteration"]), [0, 1])
                        np.testing.assert_allclose(per_rank["create_rate"], np.median(pts["create_rate"]), rtol=1e-12)
                        units = dict(zip(step["points"].dtype.names, step["points"].attrs["units"]))
                        self.assertEqual(units["stat_rate"], "ops/s")
                self.assertClean()


class CheckpointRestore(StorageWorkdir):
    def test_file_per_rank_and_shared_then_restore(self):
        for ranks in (2, 4):
            with self.subTest(ranks=ranks):
                self.check_checkpoints(ranks)

    def check_checkpoints(self, ranks):
        out, result = self.run_campaign(ranks, f"""\
defaults: {{warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: checkpoint
    params: {{dir: {self.target}, total_bytes: 6000000, chunk: 1M, layout: [file_per_rank, shared]}}
  - benchmark: checkpoint
    params: {{dir: {self.target}, total_bytes: 6000000, chunk: 1M, layout: shared, api: mpiio}}
  - benchmark: checkpoint
    params: {{dir: {self.target}, total_bytes: 6000000, source: device}}
""", name=f"ckpt{ranks}")
        self.assertRegex(result.stdout, r"SKIPPED: source: device checkpoints from GPU memory")
        with h5py.File(out, "r") as f:
            steps = by_benchmark(f, "checkpoint")
            self.assertEqual([text_attr(s, "status") for s in steps], ["ok", "ok", "ok", "skipped"])
            self.assertRegex(text_attr(steps[3], "reason"), r"(cuda backend|no CUDA backend)")
            shard = -(-6000000 // ranks // 4096) * 4096  # total / ranks rounded up to 4 KiB
            for step in steps[:3]:
                per_rank = step["per_rank"][()]
                self.assertEqual(len(per_rank), ranks)
                self.assertTrue(np.all(per_rank["shard_bytes"] == shard))
                self.assertTrue(np.all(per_rank["checkpoint_bytes"] == ranks * shard))
                self.assertTrue(np.all(per_rank["checked_bytes"] == shard))
                self.assertTrue(np.all(per_rank["wrong_bytes"] == 0))
                # MLPerf Storage: checkpoint time is the slowest rank's; bandwidth = bytes / that time.
                np.testing.assert_allclose(per_rank["checkpoint_time"], per_rank["checkpoint_time_rank"].max(), rtol=1e-12)
                np.testing.assert_allclose(per_rank["restore_time"], per_rank["restore_time_rank"].max(), rtol=1e-12)
                np.testing.assert_allclose(per_rank["checkpoint_bw"],
                                           per_rank["checkpoint_bytes"] / per_rank["checkpoint_time"] / 1e9, rtol=1e-9)
                np.testing.assert_allclose(per_rank["restore_bw"],
                                           per_rank["checkpoint_bytes"] / per_rank["restore_time"] / 1e9, rtol=1e-9)
        self.assertClean()

    def test_presets_are_checked_for_space_before_writing(self):
        # 18 TB does not fit here: a clear error, exit 3, and nothing written.
        out, result = self.run_campaign(2, f"""\
benchmarks:
  - benchmark: checkpoint
    params: {{dir: {self.target}, preset: llama3-1t, iterations: 1, warmup: 0}}
""", code=3)
        self.assertRegex(result.stdout, r"ERROR: rank \d \(host .*\): the file system of .* free, the step needs .*"
                                        r"nothing was written")
        with h5py.File(out, "r") as f:
            (step,) = steps_in_order(f)
            self.assertEqual(text_attr(step, "status"), "error")
        self.assertClean()


class SafetyChecks(StorageWorkdir):
    def test_missing_directory(self):
        missing = os.path.join(self.target, "absent")
        out, result = self.run_campaign(2, f"""\
benchmarks:
  - benchmark: ior
    params: {{dir: {missing}, iterations: 1, warmup: 0}}
""", code=3)
        self.assertIn(f"the target directory {missing} does not exist", result.stdout)
        with h5py.File(out, "r") as f:
            (step,) = steps_in_order(f)
            self.assertEqual(text_attr(step, "status"), "error")
            self.assertIn("does not exist", text_attr(step, "reason"))
            self.assertEqual(list(step["per_rank"][()]["status"]), [3, 3])
        self.assertFalse(os.path.exists(missing))
        self.assertClean()

    def test_unwritable_directory(self):
        locked = os.path.join(self.target, "locked")
        os.mkdir(locked)
        if os.geteuid() == 0:
            # Root ignores permission bits; an immutable directory stops it.
            if subprocess.run(["chattr", "+i", locked], capture_output=True).returncode != 0:
                self.skipTest("cannot make a directory unwritable for root here (chattr +i failed)")
        else:
            os.chmod(locked, 0o555)
        try:
            _, result = self.run_campaign(2, f"""\
benchmarks:
  - benchmark: mdtest
    params: {{dir: {locked}, files: 10, iterations: 1, warmup: 0}}
""", code=3)
        finally:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", locked], check=True)
            else:
                os.chmod(locked, 0o755)
        self.assertRegex(result.stdout, rf"ERROR: rank 0 .*the target directory {re.escape(locked)} is not writable")
        self.assertEqual(os.listdir(locked), [])

    def test_too_small_target(self):
        _, result = self.run_campaign(2, f"""\
benchmarks:
  - benchmark: ior
    params: {{dir: {self.target}, block_size: 100T, transfer_size: 1M, iterations: 1, warmup: 0}}
""", code=3)
        self.assertRegex(result.stdout, r"the file system of .* has .* free, the step needs .*nothing was written")
        self.assertClean()

    def test_parameter_errors_before_anything_runs(self):
        cases = [
            ("nodir.yaml", "  - benchmark: ior\n", r"parameter dir is required"),
            ("multiple.yaml", f"  - benchmark: ior\n    params: {{dir: {self.target}, transfer_size: 3K, block_size: 8K}}\n",
             r"block_size \(8192\) must be a multiple of transfer_size \(3072\), as in IOR"),
            ("direct.yaml", f"  - benchmark: ior\n    params: {{dir: {self.target}, api: mpiio, layout: segmented, direct: true}}\n",
             r"direct \(O_DIRECT\) is for api: posix"),
            ("collective.yaml", f"  - benchmark: ior\n    params: {{dir: {self.target}, collective: true}}\n",
             r"collective I/O needs api: mpiio"),
            ("readbytes.yaml", f"  - benchmark: mdtest\n    params: {{dir: {self.target}, read_bytes: 10, write_bytes: 5}}\n",
             r"read_bytes \(10\) is larger than write_bytes \(5\)"),
            ("preset.yaml", f"  - benchmark: checkpoint\n    params: {{dir: {self.target}, preset: llama3-2t}}\n",
             r"parameter 'preset': expected one of: custom, llama3-8b, llama3-70b, llama3-405b, llama3-1t"),
        ]
        for name, entry, pattern in cases:
            with self.subTest(name=name):
                path = self.write(name, "campaign: bad\nbenchmarks:\n" + entry)
                result = mpirun(2, "run", path, "-o", self.path(name + ".h5"))
                self.assertExit(result, 2)
                self.assertRegex(result.stderr, pattern)
                self.assertFalse(os.path.exists(self.path(name + ".h5")))
        self.assertClean()


class Interrupts(StorageWorkdir):
    """A run stopped from outside (Ctrl-C on mpirun, or the batch system's SIGTERM to the
    ranks) leaves nothing in the target directory."""

    CAMPAIGN = """\
defaults: {{warmup: 0, iterations: 1}}
benchmarks:
  - benchmark: ior
    params: {{dir: {target}, transfer_size: 4K, block_size: 512M, stonewall: 60, fsync: false}}
"""

    def start_and_wait_for_files(self):
        campaign = self.write("long.yaml", "campaign: long\n" + self.CAMPAIGN.format(target=self.target))
        cmd = ["mpirun", "--oversubscribe", "-np", "2", BIN, "run", campaign, "-o", self.path("long.h5")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=mpi_env(),
                                start_new_session=True)
        deadline = time.monotonic() + 60
        files = []
        while time.monotonic() < deadline and len(files) < 2:
            files = glob.glob(os.path.join(self.target, "gpuaccept-ior-*", "ior.*"))
            time.sleep(0.1)
        self.assertEqual(len(files), 2, "the run should be writing its two files by now")
        time.sleep(0.3)
        return proc

    def wait_clean(self, proc):
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 10
        while os.listdir(self.target) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertClean()

    def test_ctrl_c_on_mpirun(self):
        proc = self.start_and_wait_for_files()
        os.kill(proc.pid, signal.SIGINT)
        self.wait_clean(proc)

    def test_sigterm_to_the_ranks(self):
        proc = self.start_and_wait_for_files()
        ranks = [int(p) for p in os.listdir("/proc") if p.isdigit() and self.is_rank(int(p))]
        self.assertEqual(len(ranks), 2)
        for pid in ranks:
            os.kill(pid, signal.SIGTERM)
        self.wait_clean(proc)

    def test_timeout_without_mpirun(self):
        # The watchdog ends the process with _Exit (no destructors); it removes the scratch
        # directories first. Without mpirun nobody else would.
        campaign = self.write("slow.yaml", "campaign: slow\n" + self.CAMPAIGN.format(target=self.target).replace(
            "fsync: false}", "fsync: false, direct: true, timeout: 2}"))
        result = cli("run", campaign, "-o", self.path("slow.h5"), timeout=120)
        self.assertExit(result, 3)
        self.assertIn("TIMEOUT after 2 s", result.stdout)
        self.assertClean()

    def is_rank(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            return False
        return len(cmdline) > 1 and cmdline[0].decode(errors="replace") == BIN and \
            any(arg.decode(errors="replace") == self.path("long.yaml") for arg in cmdline)


if __name__ == "__main__":
    unittest.main()
