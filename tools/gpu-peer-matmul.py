#!/usr/bin/env python3
"""Peer figures for gpuaccept's gemm and stream on the cuda backend, timed the same way as
gpuaccept (warm-up, then per-iteration CUDA events, median):
  - torch.matmul for fp64, fp32, tf32, bf16, fp16 (m = n = k);
  - torch._scaled_mm for fp8: E4M3 A (used transposed, as gpuaccept's "TN" layout) and B with
    per-tensor float32 scales, bf16 output, as cuBLASLt's fp8 path that gpuaccept calls;
  - torch._int_mm for int8 (int32 output);
  - a device-to-device copy of `--copy-bytes` (STREAM copy's peer: 2 x bytes moved).

    python3 tools/gpu-peer-matmul.py --sizes 4096 8192 --dtypes bf16 fp8 int8 --copy-bytes 2147483648
"""
import argparse
import statistics

import torch

DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "tf32": torch.float32,
          "bf16": torch.bfloat16, "fp16": torch.float16}
ALL = list(DTYPES) + ["fp8", "int8"]


def median_seconds(op, warmup, iterations):
    for _ in range(warmup):
        op()
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        op()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(times)


def gemm_op(n, name):
    if name == "fp8":
        # (n x k) row-major times (k x n) column-major: the layout _scaled_mm (and cuBLASLt) needs.
        a = (torch.rand(n, n, device="cuda") + 0.5).to(torch.float8_e4m3fn)
        b = (torch.rand(n, n, device="cuda") + 0.5).to(torch.float8_e4m3fn).t()
        scale_a = torch.tensor(2.0, device="cuda")
        scale_b = torch.tensor(0.25, device="cuda")
        return lambda: torch._scaled_mm(a, b, scale_a=scale_a, scale_b=scale_b, out_dtype=torch.bfloat16)
    if name == "int8":
        a = torch.randint(-32, 33, (n, n), device="cuda", dtype=torch.int8)
        b = torch.randint(-32, 33, (n, n), device="cuda", dtype=torch.int8).t().contiguous().t()
        return lambda: torch._int_mm(a, b)
    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    a = torch.rand(n, n, device="cuda", dtype=DTYPES[name]) + 0.5
    b = torch.rand(n, n, device="cuda", dtype=DTYPES[name]) + 0.5
    return lambda: torch.matmul(a, b)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192])
    parser.add_argument("--dtypes", nargs="+", default=ALL, choices=ALL)
    parser.add_argument("--copy-bytes", type=int, default=0, help="also time a device-to-device copy of this size")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    print(f"{'m=n=k':>8} {'dtype':>6} {'TFLOP/s':>10}")
    for n in args.sizes:
        for name in args.dtypes:
            try:
                seconds = median_seconds(gemm_op(n, name), args.warmup, args.iterations)
                print(f"{n:>8} {name:>6} {2 * n**3 / seconds / 1e12:>10.1f}")
            except (RuntimeError, AttributeError) as e:  # e.g. fp8 below compute capability 8.9
                print(f"{n:>8} {name:>6} {'n/a':>10}  ({str(e).splitlines()[0]})")
    if args.copy_bytes:
        src = torch.ones(args.copy_bytes // 8, device="cuda", dtype=torch.float64)
        dst = torch.empty_like(src)
        seconds = median_seconds(lambda: dst.copy_(src), args.warmup, args.iterations)
        print(f"copy {args.copy_bytes} B device-to-device: {2 * args.copy_bytes / seconds / 1e9:.1f} GB/s "
              f"(2 x bytes / median time, as STREAM copy counts)")


if __name__ == "__main__":
    main()
