"""Integration tests of the external benchmark: small shell commands under mpirun, results read
with h5py: figures extracted, output stored, failure, no match and time-out fail the step.

Run through ctest, or by hand (from tests/integration), as test_cli.py says:
    GPUACCEPT_BIN=build/no-cuda/bin/gpuaccept /usr/bin/python3 -m unittest -v test_external
"""

import os
import time
import unittest

import h5py
import numpy as np

from test_cli import Workdir, cli, mpirun, steps_in_order, text_attr


def step_of(path):
    with h5py.File(path, "r") as f:
        step = steps_in_order(f)[0]
        output = step["output"][0].decode() if "output" in step else None
        messages = [m.decode() for m in step["rank_messages"][()]] if "rank_messages" in step else []
        return text_attr(step, "status"), text_attr(step, "reason"), step["per_rank"][()], output, messages, step.name


def yaml_quote(text):
    return "'" + text.replace("'", "''") + "'"


class External(Workdir):
    def run_external(self, ranks, code, params, name="ext"):
        lines = "".join(f"      {k}: {yaml_quote(v) if isinstance(v, str) else v}\n" for k, v in params.items())
        campaign = self.write(f"{name}.yaml", f"campaign: {name}\nbackend: cpu\nbenchmarks:\n"
                                              f"  - benchmark: external\n    params:\n{lines}")
        out = self.path(f"{name}.h5")
        result = mpirun(ranks, "run", campaign, "--output", out)
        self.assertExit(result, code)
        return out, result

    def test_match_on_the_first_rank_with_output_stored(self):
        marker = self.path("ran")
        command = (f"echo $GPUACCEPT_RANK >> {marker}; echo \"site $SITE_NAME\"; "
                   "for s in 1 2 3 4 5; do echo \"step $s | loss $((10 - s)).5 | tokens/s: ${s}000\"; done")
        out, result = self.run_external(2, 0, {
            "command": command, "env": "SITE_NAME=hpc1 OTHER=x", "time_limit": 20, "reduce": "median",
            "tokens_per_s": r"tokens/s: ([0-9.]+)", "loss": r"loss ([0-9.]+)"})
        with open(marker) as f:
            self.assertEqual(f.read(), "0\n")  # once, on the step's first rank
        status, _, rows, output, _, step_name = step_of(out)
        self.assertEqual(status, "ok")
        np.testing.assert_array_equal(rows["tokens_per_s"], [3000, 3000])  # the median of 1000..5000
        np.testing.assert_array_equal(rows["loss"], [7.5, 7.5])
        np.testing.assert_array_equal(rows["exit_code"], [0, 0])
        self.assertTrue(np.all(np.isnan(rows["step_time"])))  # not asked for
        self.assertTrue(output.startswith("site hpc1\nstep 1 | loss 9.5 | tokens/s: 1000\n"), output)
        self.assertEqual(rows["output_bytes"][0], len(output))
        shown = cli("show", out, "--step", step_name.split("/")[-1])
        self.assertExit(shown, 0)
        self.assertIn("step 5 | loss 5.5 | tokens/s: 5000", shown.stdout)

    def test_every_rank_runs_it(self):
        marker = self.path("ran")
        out, _ = self.run_external(2, 0, {"command": f"echo $GPUACCEPT_RANK/$GPUACCEPT_RANKS >> {marker}; echo value=4$GPUACCEPT_RANK",
                                          "where": "every", "time_limit": 20, "value": r"value=(\d+)"})
        with open(marker) as f:
            self.assertEqual(sorted(f.read().split()), ["0/2", "1/2"])
        np.testing.assert_array_equal(step_of(out)[2]["value"], [40, 41])

    def test_no_match_fails(self):
        out, result = self.run_external(1, 3, {"command": "echo 'throughput unknown'; echo 'tokens/s: n/a'",
                                               "time_limit": 20, "tokens_per_s": r"tokens/s: (\S+)"})
        status, reason, rows, output, _, _ = step_of(out)
        self.assertEqual(status, "error")
        self.assertIn("no line of the command's output matched tokens_per_s ('tokens/s: (\\S+)' captured 'n/a', not a number)", reason)
        self.assertTrue(np.isnan(rows["tokens_per_s"][0]))
        self.assertIn("throughput unknown", output)  # the evidence is kept

    def test_failure_fails_with_its_last_output(self):
        out, result = self.run_external(1, 3, {"command": "echo starting; echo 'CUDA error: out of memory' >&2; exit 4",
                                               "time_limit": 20})
        status, reason, rows, _, _, _ = step_of(out)
        self.assertEqual(status, "error")
        self.assertIn("the command exited with status 4; last output: starting\nCUDA error: out of memory", reason)
        self.assertEqual(rows["exit_code"][0], 4)

    def test_timeout_kills_it(self):
        start = time.monotonic()
        out, result = self.run_external(1, 3, {"command": "echo waiting; sleep 30", "time_limit": 1})
        self.assertLess(time.monotonic() - start, 20)
        status, reason, rows, output, _, _ = step_of(out)
        self.assertEqual(status, "timeout")
        self.assertIn("ran past its time limit of 1 s and was killed; last output: waiting", reason)
        self.assertEqual(output, "waiting\n")
        self.assertGreaterEqual(rows["seconds"][0], 1.0)

    def test_bad_parameters(self):
        for params, message in [
            ({"command": "true", "tokens_per_s": "tokens/s: [0-9]+"}, "has no capture group"),
            ({"command": "true", "loss": "loss ([0-9"}, "is not a regular expression"),
            ({"command": "true", "time_limit": 700}, "must be shorter than the step's timeout (600 s)"),
            ({"command": "true", "env": "A=1 B"}, "env: 'B' is not NAME=value"),
            ({"command": ""}, "command is empty"),
        ]:
            campaign = self.write("bad.yaml", "campaign: bad\nbackend: cpu\nbenchmarks:\n  - benchmark: external\n    params:\n"
                                  + "".join(f"      {k}: {yaml_quote(v) if isinstance(v, str) else v}\n" for k, v in params.items()))
            result = mpirun(1, "run", campaign, "--output", self.path("bad.h5"))
            self.assertExit(result, 2)
            self.assertIn(message, result.stderr)
            self.assertFalse(os.path.exists(self.path("bad.h5")))


if __name__ == "__main__":
    unittest.main()
