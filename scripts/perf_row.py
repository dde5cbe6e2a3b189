#!/usr/bin/python3
"""perf_row.py: one row of scripts/gpu_check.sh's speed tables from a finished run directory:
steps/s, samples/s, tokens/s, achieved model TFLOP/s, the device's peak (scripts/gpu_peaks.py),
MFU, peak tensor memory, final loss and validation loss. Plain Python 3, no packages.

  perf_row.py --header
  perf_row.py --run DIR --label "bf16 cuda" --policy bf16 --batch 32 [--tokens-per-sample 128]
              [--flop-per-step F] [--device-name "NVIDIA H200"] [--tf32]

Speeds are the steady state: the metrics.csv rows after the first (whose window holds the
first step's cuBLAS heuristics, allocations and warm-up), each row's samples/s weighted by its
steps; with a single row, summary.json's whole-run samples_per_s. Both count time inside
training steps only (data upload and the loss read-back included, evaluation not).
Model FLOPs per step: --flop-per-step, the GEMM flops bench_train_flops counted for the spec;
MFU = flops per step x steps/s / the peak of the GEMM unit the policy uses; "-" where either is
unknown. Exit status: 0, or 3 when the run directory lacks a readable summary.json/metrics.csv.
"""
import argparse
import csv
import json
import math
import os
import sys

from gpu_peaks import peak_tflops

COLUMNS = ("run", "steps/s", "samples/s", "tokens/s", "TFLOP/s", "peak", "MFU", "peak MiB", "loss",
           "val loss")
FMT = "{:<12} {:>9} {:>10} {:>10} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9}"


def steady_samples_per_s(metrics_path, fallback):
    """Samples/s over the rows after the first, weighting each row by its steps."""
    try:
        with open(metrics_path, newline="") as f:
            rows = [(int(r["step"]), float(r["samples_per_s"])) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError, TypeError):
        return fallback
    steps = seconds = 0.0
    for (prev, _), (step, sps) in zip(rows, rows[1:]):
        if sps > 0:
            steps += step - prev
            seconds += (step - prev) / sps
    return steps / seconds if seconds > 0 else fallback


def num(x, fmt):
    return fmt.format(x) if x is not None and math.isfinite(x) else "-"


def row(args):
    summary_path = os.path.join(args.run, "summary.json")
    try:
        with open(summary_path) as f:
            s = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"perf_row.py: {summary_path}: cannot read it ({e}); did the run fail?")
    sps = steady_samples_per_s(os.path.join(args.run, "metrics.csv"), s.get("samples_per_s", 0.0))
    samples_per_step = args.batch  # per sample: the run's sequences or images
    steps_per_s = sps / samples_per_step if sps > 0 else None
    tokens_per_s = sps * args.tokens_per_sample if args.tokens_per_sample > 0 else None
    achieved = args.flop_per_step * steps_per_s / 1e12 if args.flop_per_step and steps_per_s else None
    peak = peak_tflops(args.device_name, args.policy, args.tf32) if args.device_name else None
    mfu = achieved / peak[1] if achieved is not None and peak else None
    mem = s.get("peak_memory_bytes")
    return FMT.format(args.label, num(steps_per_s, "{:.1f}"), num(sps, "{:.0f}"),
                      num(tokens_per_s, "{:.0f}"), num(achieved, "{:.2f}"),
                      num(peak[1] if peak else None, "{:g}"),
                      num(mfu * 100 if mfu is not None else None, "{:.1f}%"),
                      num(mem / 2**20 if isinstance(mem, (int, float)) else None, "{:.0f}"),
                      num(s.get("final_train_loss"), "{:.4f}"), num(s.get("best_val_loss"), "{:.4f}"))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--header", action="store_true", help="print the column names and stop")
    p.add_argument("--run")
    p.add_argument("--label", default="")
    p.add_argument("--policy", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--batch", type=int)
    p.add_argument("--tokens-per-sample", type=int, default=0)
    p.add_argument("--flop-per-step", type=float, default=0.0)
    p.add_argument("--device-name", default="")
    p.add_argument("--tf32", action="store_true", help="the fp32 run allowed TF32 tensor cores")
    args = p.parse_args(argv)
    if args.header:
        print(FMT.format(*COLUMNS))
        return 0
    if not args.run or not args.policy or not args.batch or args.batch < 1:
        p.error("--run, --policy and a positive --batch are required (or --header)")
    try:
        print(row(args))
    except SystemExit as e:
        sys.stderr.write(f"{e}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
