"""torch_bench_timing.py: the timing loop the PyTorch reference benchmarks share (bench_torch_mlp.py,
bench_torch_gpt.py), the same method as the C++ benchmarks (bench/bench_timing.h): each measured
function is warmed up and calibrated to about `round_s` seconds per round, then `rounds` passes
alternate every run and measurement so load bursts from other processes fall on all of them; every
call is timed and medians (and 10th percentiles) are reported.
"""
import os
import statistics
import time


class Timed:
    """One measured function: calls per round, and the seconds of every timed call."""

    def __init__(self, f, warmup):
        self.f, self.warmup, self.reps, self.times = f, warmup, 3, []

    def calibrate(self, round_s):
        for _ in range(self.warmup):
            self.f()
        t0 = time.perf_counter()
        self.f()
        self.f()
        self.reps = max(3, int(round_s / max((time.perf_counter() - t0) / 2, 1e-7)))

    def round(self, round_s):
        t0 = t = time.perf_counter()
        for _ in range(self.reps):
            self.f()
            t1 = time.perf_counter()
            self.times.append(t1 - t)
            t = t1
            if t - t0 > 3 * round_s:  # a burst of outside load must not stretch the run
                break

    def median(self):
        return statistics.median(self.times)

    def p10(self):
        s = sorted(self.times)
        return s[int(0.1 * (len(s) - 1))]


def measure(runs, rounds, round_s):
    """runs: objects with a dict `timed` of name -> Timed. Returns the load averages (start, end)."""
    for r in runs:
        for t in r.timed.values():
            t.calibrate(round_s)
    load0 = os.getloadavg()[0]
    for _ in range(rounds):
        for r in runs:
            for t in r.timed.values():
                t.round(round_s)
    return load0, os.getloadavg()[0]
