"""Integration tests of the train benchmark: real training runs under mpirun, results read with
h5py.

Data parallelism: 1, 2 and 4 ranks over the same global batch (and one rank with gradient
accumulation) must give the same loss after one optimizer step, within float rounding; a
two-rank run must learn; a loss that does not fall, a bad token file and a bad shape fail clearly.

Run through ctest, or by hand (from tests/integration), as test_cli.py says:
    GPUACCEPT_BIN=build/no-cuda/bin/gpuaccept GPUACCEPT_SOURCE_DIR=$PWD/../.. \
    /usr/bin/python3 -m unittest -v test_train
"""

import math
import unittest

import h5py
import numpy as np

from test_cli import Workdir, mpirun, steps_in_order, text_attr, visible_gpus

TINY = "preset: tiny, layers: 1, channels: 32, heads: 2, seq_len: 16, vocab: 64"


def rows_of(path):
    with h5py.File(path, "r") as f:
        step = steps_in_order(f)[0]
        samples = {k: step["samples"][k][()] for k in step["samples"]}
        messages = [m.decode() if isinstance(m, bytes) else str(m) for m in step["rank_messages"][()]] \
            if "rank_messages" in step else []
        return text_attr(step, "status"), step["per_rank"][()], samples, messages


class TrainWorkdir(Workdir):
    def train(self, ranks, params, code=0, name="train", backend="cpu"):
        campaign = self.write(f"{name}.yaml", f"""\
campaign: {name}
backend: {backend}
benchmarks:
  - benchmark: train
    params: {{{params}}}
""")
        out = self.path(f"{name}.h5")
        result = mpirun(ranks, "run", campaign, "--output", out)
        self.assertExit(result, code)
        return out, result


class DataParallel(TrainWorkdir):
    def test_same_loss_after_one_step_at_1_2_4_ranks(self):
        # A small bucket, so that the gradients travel in several all-reduces.
        common = f"{TINY}, warmup: 0, iterations: 2, loss_fraction: 1, bucket_bytes: 16K"
        runs = {
            "1x4": (1, "micro_batch: 4"),
            "1x2x2": (1, "micro_batch: 2, grad_accum: 2"),
            "2x2": (2, "micro_batch: 2"),
            "4x1": (4, "micro_batch: 1"),
        }
        loss, norm = {}, {}
        for name, (ranks, batch) in runs.items():
            out, _ = self.train(ranks, f"{common}, {batch}", name=f"dp{name}")
            status, rows, samples, _ = rows_of(out)
            self.assertEqual(status, "ok", name)
            self.assertEqual(list(rows["rank"]), list(range(ranks)))
            # Every rank reports the same global loss.
            self.assertTrue(np.all(rows["loss_end"] == rows["loss_end"][0]), name)
            self.assertEqual(samples["loss"].shape, (1, 2))
            np.testing.assert_allclose(samples["loss"][0], [rows["loss_start"][0], rows["loss_end"][0]], rtol=1e-12)
            if ranks > 1:
                self.assertGreater(int(rows["buckets"][0]), 1, name)
                self.assertTrue(np.all(rows["comm_time"] > 0), name)
            else:
                self.assertEqual(int(rows["buckets"][0]), 0)
            loss[name] = (rows["loss_start"][0], rows["loss_end"][0])
            norm[name] = rows["grad_norm_start"][0]
        start, end = loss["1x4"]
        # The step did something: equality below is not trivially true.
        self.assertLess(end, start - 1e-3)
        for name, (s, e) in loss.items():
            self.assertAlmostEqual(s, start, delta=2e-6 * start, msg=name)
            self.assertAlmostEqual(e, end, delta=2e-6 * end, msg=name)
            # AdamW would hide a gradient off by a factor (its update does not depend on the
            # gradient's scale): the gradient's norm shows it.
            self.assertAlmostEqual(norm[name], norm["1x4"], delta=1e-5 * norm["1x4"], msg=name)

    def test_two_ranks_learn_and_report_consistent_figures(self):
        out, result = self.train(2, f"{TINY}, micro_batch: 4, warmup: 2, iterations: 40, loss_fraction: 0.6")
        self.assertRegex(result.stdout, r"\[1/1\] train .* OK  tokens_per_s")
        self.assertRegex(result.stdout, r"loss [\d.]+ -> [\d.]+ in 42 steps; MFU: no system description")
        status, rows, samples, _ = rows_of(out)
        self.assertEqual(status, "ok")
        L, C, S, V = 1, 32, 16, 64
        flops = 72 * L * C * C + 12 * L * S * C + 6 * C * V
        np.testing.assert_array_equal(rows["flops_per_token"], flops)
        tokens_per_step = 2 * 4 * S
        np.testing.assert_allclose(rows["tokens_per_s"], tokens_per_step / rows["step_time"], rtol=1e-12)
        np.testing.assert_allclose(rows["tokens_per_s_per_device"], rows["tokens_per_s"] / 2, rtol=1e-12)
        np.testing.assert_allclose(rows["tflops"], flops * rows["tokens_per_s_per_device"] / 1e12, rtol=1e-12)
        self.assertTrue(np.all(np.isnan(rows["mfu"])))  # no system description: not guessed
        self.assertTrue(np.all(rows["comm_hidden"] == 0))  # blocking MPI hides nothing
        self.assertTrue(np.all((rows["gemm_share"] > 0) & (rows["gemm_share"] < 1)))
        self.assertTrue(np.all(rows["step_time_p99"] >= rows["step_time"]))
        self.assertEqual(samples["iteration_time"].shape, (2, 40))  # the timed steps of each rank
        loss = samples["loss"][0]
        self.assertEqual(loss.shape, (42,))
        self.assertAlmostEqual(loss[0], math.log(V), delta=0.3)
        self.assertLess(loss[-1], 0.6 * loss[0])
        self.assertEqual(int(rows["params"][0]), V * C + S * C + 12 * C * C + 13 * C + 2 * C)

    def test_loss_that_does_not_fall_is_incorrect(self):
        out, result = self.train(2, f"{TINY}, lr: 1e-9, warmup: 0, iterations: 3, loss_fraction: 0.5", code=1)
        status, rows, _, messages = rows_of(out)
        self.assertEqual(status, "incorrect")
        self.assertRegex(messages[0], r"the loss fell from [\d.]+ to [\d.]+ in 3 steps, not below 0.5 of its start")


class GpuTrain(TrainWorkdir):
    """The cuda backend through the suite: where no GPU is visible these skip with the reason."""

    def setUp(self):
        self.gpus = visible_gpus()
        if self.gpus == 0:
            self.skipTest("no GPU visible: the train benchmark's cuda backend is tested where one is")
        super().setUp()

    def test_one_gpu_learns_and_reports_consistent_figures(self):
        out, result = self.train(1, "preset: tiny, micro_batch: 4, warmup: 2, iterations: 58, lr_warmup: 4, "
                                 "loss_fraction: 0.5", backend="cuda", name="gpu1")
        self.assertRegex(result.stdout, r"MFU: no system description")
        status, rows, samples, messages = rows_of(out)
        self.assertEqual(status, "ok", messages)
        L, C, S, V = 2, 64, 32, 128
        np.testing.assert_array_equal(rows["flops_per_token"], 72 * L * C * C + 12 * L * S * C + 6 * C * V)
        np.testing.assert_allclose(rows["tokens_per_s"], 4 * S / rows["step_time"], rtol=1e-12)
        self.assertTrue(np.all(np.isnan(rows["mfu"])))  # no system description: not guessed
        self.assertTrue(np.all(np.isnan(rows["comm_hidden"])))  # one rank: nothing to hide
        self.assertEqual(int(rows["buckets"][0]), 0)
        self.assertTrue(np.all((rows["gemm_share"] > 0) & (rows["gemm_share"] < 1)))
        loss = samples["loss"][0]
        self.assertAlmostEqual(loss[0], math.log(V), delta=0.3)
        self.assertLess(loss[-1], 0.5 * loss[0])

    def test_two_gpus_overlap_and_equal_one_gpu_on_the_global_batch(self):
        if self.gpus < 2:
            self.skipTest(f"{self.gpus} GPU visible: the data-parallel case needs 2")
        common = f"{TINY}, warmup: 1, iterations: 3, loss_fraction: 1, bucket_bytes: 16K"
        one, _ = self.train(1, f"{common}, micro_batch: 4", backend="cuda", name="gpu1x4")
        two, _ = self.train(2, f"{common}, micro_batch: 2", backend="cuda", name="gpu2x2")
        _, rows1, samples1, _ = rows_of(one)
        status, rows2, samples2, messages = rows_of(two)
        self.assertEqual(status, "ok", messages)  # includes: the replicas' parameters are bit-identical
        self.assertGreater(int(rows2["buckets"][0]), 1)
        self.assertTrue(np.all(rows2["comm_time"] > 0))
        self.assertTrue(np.all((rows2["comm_hidden"] >= 0) & (rows2["comm_hidden"] <= 1)))
        # bf16 compute on different batch splits: equal within bf16 rounding, not bit for bit.
        np.testing.assert_allclose(samples2["loss"][0], samples1["loss"][0], rtol=2e-2)
        np.testing.assert_allclose(rows2["grad_norm_start"][0], rows1["grad_norm_start"][0], rtol=3e-2)


class TokenFile(TrainWorkdir):
    def write_tokens(self, name, tokens, magic=20240520):
        header = np.zeros(256, dtype=np.int32)
        header[0], header[1], header[2] = magic, 1, len(tokens)
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(header.tobytes())
            f.write(np.asarray(tokens, dtype=np.uint16).tobytes())
        return path

    def test_llm_c_token_file_is_learned(self):
        # A repeating pattern of period 7 over tokens 0..40: learnable from the previous token.
        path = self.write_tokens("tokens.bin", [(5 * i) % 7 * 6 for i in range(4000)])
        out, result = self.train(2, f"{TINY}, token_file: {path}, micro_batch: 4, warmup: 0, iterations: 30, loss_fraction: 0.5")
        status, rows, _, _ = rows_of(out)
        self.assertEqual(status, "ok")
        self.assertIn("tokens.bin data", result.stdout)

    def test_bad_token_files(self):
        path = self.write_tokens("big.bin", [1, 2, 100] * 50)  # 100 >= vocab 64
        out, result = self.train(1, f"{TINY}, token_file: {path}, warmup: 0, iterations: 2", code=3, name="big")
        status, _, _, messages = rows_of(out)
        self.assertEqual(status, "error")
        self.assertIn("token 100 at position 2 is outside the model's vocabulary of 64", messages[0])
        path = self.write_tokens("magic.bin", [1, 2, 3] * 50, magic=1234)
        out, result = self.train(1, f"{TINY}, token_file: {path}, warmup: 0, iterations: 2", code=3, name="magic")
        self.assertIn("not an llm.c token file", rows_of(out)[3][0])

    def test_bad_parameters(self):
        campaign = self.write("shape.yaml", "campaign: shape\nbackend: cpu\nbenchmarks:\n"
                              "  - benchmark: train\n    params: {preset: tiny, channels: 30, heads: 4}\n")
        result = mpirun(1, "run", campaign, "--output", self.path("shape.h5"))
        self.assertExit(result, 2)
        self.assertIn("channels (30) must be divisible by heads (4)", result.stderr)
        campaign = self.write("file.yaml", "campaign: file\nbackend: cpu\nbenchmarks:\n"
                              "  - benchmark: train\n    params: {token_file: /no/such/file.bin}\n")
        result = mpirun(1, "run", campaign, "--output", self.path("file.h5"))
        self.assertExit(result, 2)
        self.assertIn("token_file /no/such/file.bin is not a file", result.stderr)


if __name__ == "__main__":
    unittest.main()
