#!/usr/bin/env python3
"""Peer figures for gpuaccept's gemm on the cuda backend: torch.matmul on the same shapes,
timed the same way (warm-up, then per-iteration CUDA events, median), printed as TFLOP/s.

    python3 tools/gpu-peer-matmul.py --sizes 4096 8192 --dtypes bf16 fp16
"""
import argparse
import statistics

import torch

DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "tf32": torch.float32,
          "bf16": torch.bfloat16, "fp16": torch.float16}


def measure(n, name, warmup, iterations):
    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    a = torch.rand(n, n, device="cuda", dtype=DTYPES[name]) + 0.5
    b = torch.rand(n, n, device="cuda", dtype=DTYPES[name]) + 0.5
    for _ in range(warmup):
        torch.matmul(a, b)
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.matmul(a, b)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return 2 * n**3 / statistics.median(times) / 1e12


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192])
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    print(f"{'m=n=k':>8} {'dtype':>6} {'TFLOP/s':>10}")
    for n in args.sizes:
        for name in args.dtypes:
            print(f"{n:>8} {name:>6} {measure(n, name, args.warmup, args.iterations):>10.1f}")


if __name__ == "__main__":
    main()
