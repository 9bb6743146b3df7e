"""`gpuaccept slurm` against a real one-node Slurm started here.

The set-up starts munged, slurmctld and slurmd itself (the Debian packages do not start them in
a container) with a slurm.conf under a temporary folder: select/cons_tres, proctrack/linuxproc,
task/none, no accounting, MailProg=/bin/true. It submits the generated script with sbatch, waits
for the job, reads the results file with h5py, and stops the daemons it started by their pids.
Skipped with the reason when slurm-wlm or munge is not installed (tools/setup installs them).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import unittest

import h5py

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
ARTIFACTS = os.environ.get("GPUACCEPT_TEST_ARTIFACTS", tempfile.gettempdir())

# A name with spaces and both kinds of quotes: every place it reaches must be quoted.
TRICKY_NAME = """it's a "quoted" run"""


def read(path, **kwargs):
    with open(path, **kwargs) as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_paths():
    found = {name: shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
             for name in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sacct")}
    return found


def slurm_missing_reason():
    paths = daemon_paths()
    missing = [n for n in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch") if not paths[n]]
    if missing:
        return f"slurm-wlm/munge not installed (no {', '.join(missing)}); run tools/setup"
    if os.geteuid() != 0:
        return "starting slurmd needs root (it launches jobs as other users)"
    return None


class LocalSlurm:
    """munged + slurmctld + slurmd for this one host, all state under `root`."""

    def __init__(self, root):
        self.root = root
        self.paths = daemon_paths()
        self.pids = []
        self.env = dict(os.environ)

    def _wait_for(self, predicate, what, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        logs = ""
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            p = os.path.join(self.root, name)
            if os.path.exists(p):
                logs += f"\n--- {name}\n" + read(p, errors="replace")[-3000:]
        raise AssertionError(f"{what} did not happen within {seconds} s{logs}")

    def _pid_from(self, pidfile):
        self._wait_for(lambda: os.path.exists(pidfile) and read(pidfile).strip(), f"{pidfile} written")
        pid = int(read(pidfile).strip())
        self.pids.append(pid)
        return pid

    def start(self):
        r = self.root
        for d in ("state", "spool", "munge"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        os.chmod(os.path.join(r, "munge"), 0o700)
        key = os.path.join(r, "munge", "munge.key")
        subprocess.run([self.paths["mungekey"], "--create", f"--keyfile={key}"], check=True, capture_output=True)
        os.chmod(key, 0o600)
        sock = os.path.join(r, "munge", "munge.socket")
        subprocess.run([self.paths["munged"], "--force", f"--key-file={key}", f"--socket={sock}",
                        f"--pid-file={r}/munged.pid", f"--log-file={r}/munged.log",
                        f"--seed-file={r}/munge/munged.seed"], check=True, capture_output=True)
        self._pid_from(f"{r}/munged.pid")

        host = socket.gethostname().split(".")[0]
        cpus = os.cpu_count() or 1
        conf = textwrap.dedent(f"""\
            ClusterName=gpuaccept-test
            SlurmctldHost={host}(127.0.0.1)
            SlurmctldPort={free_port()}
            SlurmdPort={free_port()}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            AuthInfo=socket={sock}
            CredType=cred/munge
            StateSaveLocation={r}/state
            SlurmdSpoolDir={r}/spool
            SlurmctldPidFile={r}/slurmctld.pid
            SlurmdPidFile={r}/slurmd.pid
            SlurmctldLogFile={r}/slurmctld.log
            SlurmdLogFile={r}/slurmd.log
            SchedulerType=sched/backfill
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            MailProg=/bin/true
            ReturnToService=2
            MpiDefault=none
            NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
            PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
            """)
        self.conf = os.path.join(r, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.env["SLURM_CONF"] = self.conf
        self.env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        self.env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        self.env["OMPI_MCA_btl"] = "self,vader"
        for var in [v for v in self.env if v.startswith("SLURM_") and v != "SLURM_CONF"]:
            del self.env[var]
        subprocess.run([self.paths["slurmctld"], "-f", self.conf, "-i"], check=True, env=self.env, capture_output=True)
        self._pid_from(f"{r}/slurmctld.pid")
        subprocess.run([self.paths["slurmd"], "-f", self.conf], check=True, env=self.env, capture_output=True)
        self._pid_from(f"{r}/slurmd.pid")

        def node_idle():
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed")
        self._wait_for(node_idle, "the node becoming idle")

    def stop(self):
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for pid in self.pids:
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@unittest.skipIf(slurm_missing_reason(), slurm_missing_reason() or "")
class Slurm(unittest.TestCase):
    def test_sbatch_runs_a_campaign_with_a_tricky_name(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        root = tempfile.mkdtemp(prefix="slurm ", dir=ARTIFACTS)  # a space in every path of the job
        # slurm.conf cannot hold paths with spaces, and a socket path must stay short: /tmp.
        cluster_root = tempfile.mkdtemp(prefix="gpuaccept-slurm-")
        cluster = LocalSlurm(cluster_root)
        try:
            cluster.start()
            work = os.path.join(root, "a campaign's folder")
            os.makedirs(work)
            campaign = os.path.join(work, "c.yaml")
            with open(campaign, "w") as f:
                f.write(textwrap.dedent(f"""\
                    campaign: '{TRICKY_NAME.replace("'", "''")}'
                    output_dir: results "here"
                    backend: cpu
                    benchmarks:
                      - benchmark: allreduce
                        params: {{min_bytes: 1K, max_bytes: 16K, iterations: 3, warmup: 1}}
                    """))
            script = os.path.join(work, "job.sbatch")
            out = subprocess.run([BIN, "slurm", campaign, "-o", script, "-N", "1", "--tasks-per-node", "2",
                                  "-t", "5", "--env", "GPUACCEPT_TEST_VALUE=a 'b' \"c\" $HOME",
                                  "--run-arg", "--quiet"],
                                 cwd=work, capture_output=True, text=True, env=cluster.env)
            self.assertEqual(out.returncode, 0, out.stderr)
            text = read(script)
            self.assertIn("srun --mpi=pmix --nodes=1 --ntasks-per-node=2", text)
            self.assertIn("#SBATCH --nodes=1\n", text)
            # The value reaches the job unchanged (no expansion of $HOME, quotes kept).
            self.assertIn("export GPUACCEPT_TEST_VALUE='a '\\''b'\\'' \"c\" $HOME'\n", text)
            sub = subprocess.run(["sbatch", "--parsable", script], cwd=work, capture_output=True, text=True,
                                 env=cluster.env)
            self.assertEqual(sub.returncode, 0, sub.stderr)
            job = sub.stdout.strip().split(";")[0]

            def finished():
                q = subprocess.run(["squeue", "-h", "-j", job], env=cluster.env, capture_output=True, text=True)
                return q.returncode == 0 and q.stdout.strip() == ""
            cluster._wait_for(finished, f"job {job} finishing", seconds=180)
            results_dir = os.path.join(work, 'results "here"')
            log = os.path.join(results_dir, f"slurm-{job}.out")
            self.assertTrue(os.path.exists(log), os.listdir(work))
            log_text = read(log)
            self.assertIn("gpuaccept: exit status 0", log_text, log_text)
            h5 = os.path.join(results_dir, f"{TRICKY_NAME}-{job}.h5")
            self.assertTrue(os.path.exists(h5), os.listdir(results_dir))
            with h5py.File(h5, "r") as f:
                self.assertEqual(f.attrs["campaign"], TRICKY_NAME)
                self.assertEqual(int(f.attrs["rank_count"]), 2)
                self.assertGreater(float(f.attrs["end_time"]), 0)
                steps = list(f["steps"])
                self.assertEqual(len(steps), 1)
                step = f["steps"][steps[0]]
                self.assertEqual(step.attrs["status"], "ok")
                env = f["provenance/environment"].attrs
                self.assertEqual(env["SLURM_JOB_ID"], job)
                self.assertEqual(env.get("GPUACCEPT_TEST_VALUE", "a 'b' \"c\" $HOME"), "a 'b' \"c\" $HOME")
        finally:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(cluster_root, ignore_errors=True)


class SlurmScript(unittest.TestCase):
    """What needs no Slurm: the script parses in bash and gives the values back unchanged."""

    def test_quoting_round_trips_through_bash(self):
        root = tempfile.mkdtemp(prefix="slurm script ")
        try:
            campaign = os.path.join(root, "c.yaml")
            with open(campaign, "w") as f:
                f.write(f"campaign: '{TRICKY_NAME.replace(chr(39), chr(39) * 2)}'\noutput_dir: o u t\n"
                        "benchmarks:\n  - benchmark: allreduce\n")
            out = subprocess.run([BIN, "slurm", campaign, "--env", "V=x'y\"z $(id)", "--results", "r e s.h5"],
                                 cwd=root, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            script = out.stdout
            # Run the script's assignments (everything before srun) and print the values back.
            head = script.split("\necho ")[0].replace("exec >", ": ")
            probe = head + '\nprintf "%s\\n" "$campaign" "$results" "$V"\n'
            res = subprocess.run(["bash", "-c", probe], cwd=root, capture_output=True, text=True,
                                 env={"PATH": os.environ["PATH"], "SLURM_JOB_ID": "42"})
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.splitlines(),
                             [campaign, os.path.join(os.path.realpath(root), "r e s.h5"), "x'y\"z $(id)"])
            bad = subprocess.run([BIN, "slurm", campaign, "--env", "1X=y"], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 2)
            self.assertIn("--env: '1X' is not a variable name", bad.stderr)
            bad = subprocess.run([BIN, "slurm", campaign, "-t", "soon"], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 2)
            self.assertIn("--time: expected minutes or [D-]HH:MM:SS", bad.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
