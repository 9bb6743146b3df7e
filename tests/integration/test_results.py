"""Integration tests of results/: check --quarantine, compare, calibrate and report, run as the
real CLI on results files. Most files are written here with h5py, following
docs/results-schema.md, so that every value is known (a planted slow GPU, a 10 % drop); one test
reports on a real run under mpirun. The HTML report is loaded in headless Chromium.

Run through ctest, or by hand (from tests/integration):
    GPUACCEPT_BIN=build/default/bin/gpuaccept GPUACCEPT_SELFTEST_BIN=build/default/bin/gpuaccept-selftest \
    /usr/bin/python3 -m unittest -v test_results
"""

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
import xml.etree.ElementTree as ET

import h5py
import numpy as np

BIN = os.environ.get("GPUACCEPT_BIN", "gpuaccept")
SELFTEST = os.environ.get("GPUACCEPT_SELFTEST_BIN", "gpuaccept-selftest")
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
STR = h5py.string_dtype()
DAY = 86400.0


def env():
    e = dict(os.environ)
    if os.geteuid() == 0:
        e["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        e["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    e.setdefault("OMPI_MCA_btl", "self,vader")
    e.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    e.pop("NO_COLOR", None)
    return e


def read(path):
    with open(path) as f:
        return f.read()


def cli(*args, binary=BIN, timeout=120):
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env(), timeout=timeout)


# ---- writing results files as docs/results-schema.md describes them ------------------------------

def machine(nodes, gpus, device="NVIDIA H100 80GB HBM3", prefix="node"):
    """[(host, local_rank, device, uuid)] for rank 0..nodes*gpus-1."""
    return [(f"{prefix}{r // gpus:02d}", r % gpus, device, f"GPU-{prefix}-{r:05d}") for r in range(nodes * gpus)]


def rank_step(step_id, benchmark, params, metrics, repetition=0, status="ok", reason="", ranks=None):
    """metrics: {name: (unit, better, values)} per rank."""
    n = len(next(iter(metrics.values()))[2]) if metrics else 0
    return dict(id=step_id, benchmark=benchmark, params=params, repetition=repetition, status=status, reason=reason,
                ranks=list(range(n)) if ranks is None else ranks, per_rank=metrics, points=None)


def sweep_step(step_id, ranks, busbw, params=None, repetition=0):
    sizes = [1 << e for e in range(10, 24, 2)]
    points = {"bytes": ("B", "none", sizes, True),
              "busbw_oop": ("GB/s", "higher", [busbw] * len(sizes), False),
              "time_oop": ("us", "lower", [s / busbw / 1e3 for s in sizes], False)}
    return dict(id=step_id, benchmark="allreduce", params=params or {"dtype": "fp32"}, repetition=repetition,
                status="ok", reason="", ranks=list(range(ranks)), per_rank={"wrong": ("", "lower", [0] * ranks)},
                points=points)


STATUS = {"ok": 0, "incorrect": 1, "skipped": 2, "error": 3, "timeout": 4}


def table(group, name, columns):
    """columns: {name: (unit, better, values, integer)}; rows are the values' length."""
    names = list(columns)
    dtype = np.dtype([(n, "<i8" if columns[n][3] else "<f8") for n in names])
    rows = len(columns[names[0]][2]) if names else 0
    data = np.zeros(rows, dtype=dtype)
    for n in names:
        data[n] = columns[n][2]
    ds = group.create_dataset(name, data=data)
    ds.attrs.create("units", np.array([columns[n][0] for n in names], dtype=object), dtype=STR)
    ds.attrs.create("better", np.array([columns[n][1] for n in names], dtype=object), dtype=STR)


def write_results(path, ranks, steps, campaign="synthetic", system="testbed", phase="", start=1.75e9,
                  contract_yaml="", backend="cuda"):
    with h5py.File(path, "w") as f:
        for key, value in (("gpuaccept_schema", "1.0"), ("tool_version", "test"), ("git_revision", "test"),
                           ("campaign", campaign), ("system", system), ("phase", phase), ("backend", backend),
                           ("start_time_iso", "2025-06-15T00:00:00Z"), ("command_line", "written by test_results.py")):
            f.attrs[key] = value
        f.attrs["start_time"] = float(start)
        f.attrs["end_time"] = float(start + 3600)
        f.attrs["rank_count"] = np.int32(len(ranks))
        for name, text in (("campaign_yaml", ""), ("contract_yaml", contract_yaml)):
            ds = f.create_dataset(f"config/{name}", data=text, dtype=STR)
            ds.attrs["path"] = "contract.yaml" if name == "contract_yaml" and text else ""
        f.create_group("provenance/versions").attrs["hdf5"] = "test"
        f.create_group("provenance/environment")
        rdt = np.dtype([("rank", "<i4"), ("host", STR), ("local_rank", "<i4"), ("device", STR), ("uuid", STR)])
        f.create_dataset("ranks", data=np.array([(i, h, l, d, u) for i, (h, l, d, u) in enumerate(ranks)], dtype=rdt))
        f.create_group("steps")
        for index, s in enumerate(steps):
            g = f.create_group(f"steps/{s['id']}")
            p = g.create_group("params")
            for k, v in s["params"].items():
                p.attrs[k] = np.int64(v) if isinstance(v, int) else v
            g.create_dataset("ranks", data=np.array(s["ranks"], dtype="<i4"))
            n = len(s["ranks"])
            cols = {"rank": ("", "none", s["ranks"], True),
                    "status": ("", "none", [0 if s["status"] == "ok" else STATUS[s["status"]]] * n, True)}
            for name, (unit, better, values) in (s["per_rank"] or {}).items():
                cols[name] = (unit, better, values, False)
            if n or s["per_rank"]:
                table(g, "per_rank", cols)
            if s["points"]:
                table(g, "points", s["points"])
            g.create_group("samples", track_order=True)
            for key, value in (("benchmark", s["benchmark"]), ("backend", backend), ("status", s["status"]),
                               ("reason", s["reason"])):
                g.attrs[key] = value
            g.attrs["repetition"] = np.int32(s["repetition"])
            g.attrs["status_code"] = np.int32(STATUS[s["status"]])
            g.attrs["start_time"] = float(start + index)
            g.attrs["end_time"] = float(start + index + 0.5)
            g.attrs["ranks_in_step"] = np.int32(n)
            g.attrs["index"] = np.int64(index)
    return path


class Workdir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpuaccept-results-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(textwrap.dedent(text))
        return self.path(name)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code,
                         f"exit {result.returncode}, expected {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")


# 4 nodes x 2 GPUs; node03's two GPUs and node01's second GPU are slow.
ACCEPTANCE_CONTRACT = """\
contract: acceptance
criteria:
  - id: every-gpu
    benchmark: gemm
    select: {dtype: bf16}
    metric: tflops
    bound: {min: 700}
  - id: node-total
    benchmark: gemm
    select: {dtype: bf16}
    metric: tflops
    scope: node
    reduce: sum
    bound: {min: 1500}
  - id: machine-median
    benchmark: gemm
    select: {dtype: bf16}
    metric: tflops
    scope: step
    reduce: median
    bound: {min: 900}
"""


def acceptance_file(path, slow=((3, 650), (6, 600), (7, 610))):
    values = [800.0] * 8
    for rank, value in slow:
        values[rank] = value
    steps = [rank_step("gemm-0000000000000001", "gemm", {"dtype": "bf16", "m": 8192},
                       {"tflops": ("TFLOP/s", "higher", values)})]
    return write_results(path, machine(4, 2), steps)


class Quarantine(Workdir):
    def test_check_quarantine_names_failing_hosts(self):
        results = acceptance_file(self.path("run.h5"))
        contract = self.write("contract.yaml", ACCEPTANCE_CONTRACT)
        drain = self.path("drain.txt")
        result = cli("check", results, "--contract", contract, "--quarantine", drain)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"every-gpu\s+600 TFLOP/s\s+>= 700\s+FAIL")
        self.assertRegex(result.stdout, r"worst: rank 6\s+host node03\s+gpu 0\s+GPU-node-00006\s+600 TFLOP/s \(-14\.3%\)")
        self.assertRegex(result.stdout, r"node-total\s+1210 TFLOP/s\s+>= 1500\s+FAIL")
        self.assertRegex(result.stdout, r"host node03\s+\(2 ranks\)\s+1210 TFLOP/s")
        self.assertRegex(result.stdout, r"machine-median\s+800 TFLOP/s\s+>= 900\s+FAIL")
        self.assertIn("quarantine: 2 hosts written to", result.stdout)
        self.assertEqual(read(drain), "node01\nnode03\n")  # sorted, once each, ready for scontrol

    def test_waivers_active_and_expired(self):
        results = acceptance_file(self.path("run.h5"), slow=((6, 600), (7, 610)))
        contract = self.write("contract.yaml", ACCEPTANCE_CONTRACT.replace("bound: {min: 900}", "bound: {min: 700}") + textwrap.dedent("""\
            waivers:
              - {criterion: every-gpu, hosts: [node03], reason: "RMA 4711", expires: 2025-07-01}
              - {criterion: node-total, hosts: [node03], reason: "RMA 4711", expires: 2025-07-01}
            """))
        drain = self.path("drain.txt")
        active = cli("check", results, "--contract", contract, "--as-of", "2025-06-30", "--quarantine", drain)
        self.assertExit(active, 0)
        self.assertRegex(active.stdout, r"every-gpu\s+600 TFLOP/s\s+>= 700\s+WAIVED")
        self.assertIn("waiver: waived on node03 until 2025-07-01: RMA 4711", active.stdout)
        self.assertRegex(active.stdout, r"600 TFLOP/s \(-14\.3%\) waived")  # shown, never hidden
        self.assertIn("verdict: PASS (1 of 3 criteria passed; 2 waived)", active.stdout)
        self.assertEqual(read(drain), "")
        expired = cli("check", results, "--contract", contract, "--as-of", "2025-07-02", "--quarantine", drain)
        self.assertExit(expired, 1)
        self.assertIn("expired on 2025-07-01 and no longer applies", expired.stdout)
        self.assertEqual(read(drain), "node03\n")
        bad = cli("check", results, "--contract", contract, "--as-of", "yesterday")
        self.assertExit(bad, 2)
        self.assertIn("--as-of: expected a date as YYYY-MM-DD", bad.stderr)


def nightly_series(workdir, nights=7, noise=(0.0, 0.004, -0.003, 0.005, -0.005, 0.002, -0.001)):
    os.makedirs(workdir, exist_ok=True)
    paths = []
    for d in range(nights):
        gemm = [800.0 * (1 + noise[d % len(noise)])] * 8
        steps = [rank_step("gemm-0000000000000001", "gemm", {"dtype": "bf16"}, {"tflops": ("TFLOP/s", "higher", gemm)}),
                 sweep_step("allreduce-0000000000000002", 8, 400.0 * (1 - noise[d % len(noise)]))]
        paths.append(write_results(os.path.join(workdir, f"nightly-2025-06-{10 + d:02d}.h5"), machine(2, 4), steps,
                                   campaign="nightly", start=1.75e9 + d * DAY))
    return paths


def tonight(path, gemm_tflops, busbw=400.0, day=7):
    steps = [rank_step("gemm-0000000000000001", "gemm", {"dtype": "bf16"}, {"tflops": ("TFLOP/s", "higher", [gemm_tflops] * 8)}),
             sweep_step("allreduce-0000000000000002", 8, busbw)]
    return write_results(path, machine(2, 4), steps, campaign="nightly", start=1.75e9 + day * DAY)


class Compare(Workdir):
    def test_nightly_regression_exit_code(self):
        nightly = self.path("results")
        nightly_series(nightly)
        pattern = os.path.join(nightly, "nightly-*.h5")
        # A planted 10 % drop in GEMM, everything else within its noise.
        dropped = tonight(os.path.join(nightly, "nightly-2025-06-17.h5"), 720.0)
        result = cli("compare", "--baseline", pattern, dropped)
        self.assertExit(result, 1)
        self.assertIn("baseline: 7 runs", result.stdout)  # tonight's own file, matched by the pattern, is left out
        self.assertRegex(result.stdout, r"gemm tflops\s+800 TFLOP/s\s+[\d.]+\s+7\s+720 TFLOP/s\s+-10\.0%\s+5\.0%\s+REGRESSION")
        self.assertIn("trend of the flagged metrics", result.stdout)
        self.assertRegex(result.stdout, r"gemm tflops\s+800\s+803\.2\s+797\.6\s+804\s+796\s+801\.6\s+799\.2\s+720")
        self.assertIn("verdict: REGRESSION", result.stdout)
        self.assertNotIn("busbw_oop", result.stdout.split("trend")[0])
        # Noise within the baseline's spread: exit 0, nothing flagged.
        quiet = cli("compare", "--baseline", pattern, tonight(self.path("quiet.h5"), 801.0))
        self.assertExit(quiet, 0)
        self.assertIn("0 regressions", quiet.stdout)
        self.assertIn("verdict: no regression", quiet.stdout)
        everything = cli("compare", "--baseline", pattern, self.path("quiet.h5"), "--all")
        self.assertRegex(everything.stdout, r"allreduce busbw_oop @ bytes=1024\s+400 GB/s")
        only = cli("compare", "--baseline", pattern, dropped, "--metric", "busbw_oop")
        self.assertExit(only, 0)

    def test_calibrate_then_compare_with_tolerances(self):
        nightly = self.path("results")
        nightly_series(nightly)
        tolerances = self.path("tolerances.yaml")
        result = cli("calibrate", os.path.join(nightly, "*.h5"), "-o", tolerances)
        self.assertExit(result, 0)
        self.assertIn("from 7 runs written to", result.stdout)
        text = read(tolerances)
        self.assertIn("# Proposed by gpuaccept calibrate from 7 runs", text)
        self.assertRegex(text, r"\{benchmark: gemm, metric: tflops, relative: 0\.01, p95_cv: 0\.00\d+, keys: 1, runs: 7\}")
        self.assertRegex(text, r"metric: busbw_oop, bytes: \{min: 0, max: 65536\}, relative: ")
        self.assertRegex(text, r"metric: busbw_oop, bytes: \{min: 1048576, max: 67108864\}, relative: ")
        # With a 1 % tolerance (from calibration) a 3 % drop is a regression; with the default 5 % it is not.
        drop = tonight(self.path("t.h5"), 776.0)
        self.assertExit(cli("compare", "--baseline", os.path.join(nightly, "*.h5"), drop), 0)
        self.assertExit(cli("compare", "--baseline", os.path.join(nightly, "*.h5"), drop, "--tolerances", tolerances), 1)
        few = cli("calibrate", os.path.join(nightly, "nightly-2025-06-1[01].h5"))
        self.assertExit(few, 2)
        self.assertIn("calibrate needs at least 3 runs", few.stderr)

    def test_phase_comparison(self):
        gemm = lambda n, v: rank_step("gemm-0000000000000001", "gemm", {"dtype": "bf16"}, {"tflops": ("TFLOP/s", "higher", [v] * n)})
        p1 = write_results(self.path("phase1.h5"), machine(2, 4), [gemm(8, 800.0), sweep_step("allreduce-1", 8, 400.0)],
                           system="alpha", phase="1")
        p2 = write_results(self.path("phase2.h5"), machine(8, 4, device="NVIDIA H200"),
                           [gemm(32, 950.0), sweep_step("allreduce-1", 32, 360.0)], system="alpha", phase="2")
        result = cli("compare", p1, p2)
        self.assertExit(result, 0)
        self.assertIn("8 ranks on 2 nodes (8x NVIDIA H100 80GB HBM3)", result.stdout)
        self.assertIn("32 ranks on 8 nodes (32x NVIDIA H200)", result.stdout)
        self.assertIn("note: the device models differ", result.stdout)
        self.assertRegex(result.stdout, r"gemm tflops\s+800 TFLOP/s\s+950 TFLOP/s\s+150\s+\+18\.8%\s+3200\s+3800\s+8\s+32\s+1\.188")
        self.assertRegex(result.stdout, r"allreduce busbw_oop @ bytes=1048576\s+400 GB/s\s+360 GB/s\s+-40\s+-10\.0%.*0\.900")

    def test_bad_input(self):
        self.assertExit(cli("compare", self.path("a.h5")), 2)
        missing = cli("compare", "--baseline", self.path("none-*.h5"), self.path("a.h5"))
        self.assertExit(missing, 2)
        for sub in ("compare", "calibrate", "report"):
            with self.subTest(sub=sub):
                self.assertExit(cli(sub, "--help"), 0)


class Reports(Workdir):
    def report(self, *args, code=1):
        results = acceptance_file(self.path("run.h5"))
        contract = self.write("contract.yaml", ACCEPTANCE_CONTRACT)
        result = cli("report", results, "--contract", contract, *args)
        self.assertExit(result, code)
        return result

    def test_junit_parses_back(self):
        junit = self.path("run.xml")
        self.report("--junit", junit, "-q")
        root = ET.parse(junit).getroot()
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual((root.get("tests"), root.get("failures"), root.get("errors")), ("4", "3", "0"))
        contract_suite, steps_suite = root.findall("testsuite")
        self.assertEqual(contract_suite.get("name"), "gpuaccept.synthetic.contract")
        cases = {c.get("name"): c for c in contract_suite.findall("testcase")}
        self.assertEqual(list(cases), ["every-gpu", "node-total", "machine-median"])
        failure = cases["every-gpu"].find("failure")
        self.assertEqual(failure.get("message"), "tflops: measured 600 TFLOP/s, bound >= 700")
        self.assertIn("rank 6  host node03  gpu 0  GPU-node-00006  600 TFLOP/s (-14.3%)", failure.text)
        self.assertIn("hosts to drain (2): node01, node03", failure.text)
        props = {p.get("name"): p.get("value") for p in contract_suite.find("properties")}
        self.assertEqual(props["contract"], "acceptance")
        self.assertEqual(len(steps_suite.findall("testcase")), 1)

    def test_markdown_json_csv(self):
        md, js, cs = self.path("r.md"), self.path("r.json"), self.path("r.csv")
        result = self.report("--markdown", md, "--json", js, "--csv", cs, "--step", "gemm-0000000000000001")
        self.assertRegex(result.stdout, r"every-gpu .*FAIL")  # the terminal table too
        self.assertIn("Markdown report written to", result.stdout)
        text = read(md)
        self.assertIn("**Verdict: FAIL**", text)
        self.assertIn("| every-gpu | 600 TFLOP/s | &gt;= 700 | **FAIL** |", text)
        doc = json.loads(read(js))
        self.assertEqual(len(doc["steps"]), 1)
        self.assertEqual(doc["verdict"]["quarantine"], ["node01", "node03"])
        tflops = [c for c in doc["steps"][0]["per_rank"]["columns"] if c["name"] == "tflops"][0]
        self.assertEqual(tflops["values"][6], 600.0)
        with open(cs, newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 8)
        self.assertEqual((rows[6]["host"], rows[6]["gpu"], rows[6]["uuid"], float(rows[6]["tflops"])),
                         ("node03", "0", "GPU-node-00006", 600.0))
        self.assertExit(cli("report", self.path("run.h5"), "--csv", cs), 2)  # a CSV needs --step

    def test_report_of_a_real_run(self):
        campaign = self.write("c.yaml", """\
            campaign: real
            defaults: {warmup: 0, iterations: 3}
            benchmarks:
              - benchmark: selftest
                params: {mode: ok}
              - benchmark: allreduce
                params: {min_bytes: 8, max_bytes: 4K, factor: 8}
            """)
        out = self.path("real.h5")
        run = subprocess.run(["mpirun", "--oversubscribe", "-np", "2", SELFTEST, "run", campaign, "-o", out, "-q"],
                             capture_output=True, text=True, env=env(), timeout=240)
        self.assertExit(run, 0)
        html, junit = self.path("real.html"), self.path("real.xml")
        result = cli("report", out, "--html", html, "--junit", junit, binary=SELFTEST)
        self.assertExit(result, 0)
        page = read(html)
        self.assertIn("Bus bandwidth against message size", page)
        self.assertIn("selftest", page)
        root = ET.parse(junit).getroot()
        self.assertEqual(root.get("failures"), "0")
        self.assertEqual(len(root.findall("testsuite/testcase")), 2)


EVIL = "<script>document.body.setAttribute('data-pwned','1')</script>"


@unittest.skipUnless(CHROMIUM, "chromium is not installed (Debian package 'chromium'; tools/setup installs it)")
class Browser(Workdir):
    def chromium(self, *args, url):
        cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={self.path('profile')}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def test_html_report_in_headless_chromium(self):
        # A host, a benchmark parameter and the campaign carry a script; none may run.
        ranks = machine(4, 2)
        ranks[5] = ("node02" + EVIL, 1, "NVIDIA H100 <img src=x onerror=alert(1)>", "GPU-5")
        values = [800.0] * 8
        values[5] = 500.0
        steps = [rank_step("gemm-0000000000000001", "gemm", {"dtype": "bf16", "note": EVIL}, {"tflops": ("TFLOP/s", "higher", values)}),
                 sweep_step("allreduce-0000000000000002", 8, 300.0)]
        results = write_results(self.path("evil.h5"), ranks, steps, campaign="campaign" + EVIL)
        bus = "  - {id: bus, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, bound: {min: 360}}\n"
        contract = self.write("contract.yaml", ACCEPTANCE_CONTRACT + bus)
        html = self.path("report.html")
        self.assertExit(cli("report", results, "--contract", contract, "--html", html, "-q"), 1)
        page = read(html)
        self.assertNotIn("<script", page)
        self.assertIn("node02&lt;script&gt;", page)

        # Positive control: this Chromium does run an inline script, so its absence below means something.
        control = self.write("control.html", "<!DOCTYPE html><html><body><p>x</p><script>"
                                             "document.body.setAttribute('data-pwned','1')</script></body></html>")
        dom = self.chromium("--dump-dom", url="file://" + control)
        self.assertIn('data-pwned="1"', dom.stdout, dom.stderr)

        dom = self.chromium("--dump-dom", "--virtual-time-budget=2000", url="file://" + html)
        self.assertEqual(dom.returncode, 0, dom.stderr)
        self.assertIn("<svg", dom.stdout)
        self.assertNotIn('data-pwned="1"', dom.stdout)       # the script never ran
        self.assertIn("<body>", dom.stdout)                   # the body was not touched
        self.assertNotIn("<script", dom.stdout)              # and is no element of the page
        self.assertNotIn("<img", dom.stdout)
        self.assertIn("node02&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;", dom.stdout)  # shown as text
        self.assertRegex(dom.stdout, r'id="verdict-banner">FAIL<')

        shot = self.path("report.png")
        taken = self.chromium(f"--screenshot={shot}", "--window-size=1200,2400", "--hide-scrollbars", url="file://" + html)
        self.assertEqual(taken.returncode, 0, taken.stderr)
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        self.assertEqual((width, height), (1200, 2400))
        self.assertGreater(len(png), 50_000)  # a rendered page with plots, not a blank one
        keep = os.environ.get("GPUACCEPT_TEST_ARTIFACTS")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(shot, os.path.join(keep, "report-screenshot.png"))
            shutil.copy(html, os.path.join(keep, "report.html"))


if __name__ == "__main__":
    unittest.main()
