#!/usr/bin/python3
"""bench_torch_mlp.py: the PyTorch reference for bench_train_mlp (scripts/bench_train.sh runs both).

The same model and step as bench/train_mlp.cpp: MLP 784-1024-1024-10 (flatten, linear, relu,
linear, relu, linear), cross-entropy, AdamW (lr 2e-3, weight decay 0.05, PyTorch defaults
otherwise), gradient clipping at global norm 1, batch 256 of synthetic in-memory inputs, on
`--threads` threads. fp32, and bf16 as torch.autocast("cpu", dtype=torch.bfloat16) (fp32
parameters, bf16 GEMMs: the usual PyTorch mixed precision on CPU). fp16 autocast is not supported
on CPU by this PyTorch, so there is no fp16 row.

Timing as in the C++ benchmark: warm-up steps, then passes of rounds of about --round-s seconds
per measurement, alternating dtypes and measurements; every call is timed and medians are
reported (the step also at its 10th percentile). Prints a table; --csv FILE writes
dtype,step_s,step_p10_s,fwd_s,fwdbwd_s rows. Benchmark only (Debian's python3-torch), never a test.
"""
import argparse
import sys

from torch_bench_timing import Timed, measure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-s", type=float, default=0.4)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--csv", default="")
    a = ap.parse_args()

    import torch  # imported after argparse so --help works without torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B = 256
    x = torch.rand(B, 784)
    y = torch.tensor([(i * 7 + 3) % 10 for i in range(B)], dtype=torch.long)

    class Run:
        pass

    runs = []
    for dt in a.dtypes.split(","):
        if dt not in ("fp32", "bf16"):
            print(f"bench_torch_mlp: skipping {dt} (no CPU autocast for it here)", file=sys.stderr)
            continue
        r = Run()
        r.dt = dt
        r.model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 1024), torch.nn.ReLU(),
            torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))
        r.opt = torch.optim.AdamW(r.model.parameters(), lr=2e-3, weight_decay=0.05)
        r.lossf = torch.nn.CrossEntropyLoss()
        r.ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if dt == "bf16" else None

        def ctx(r=r):
            return r.ac() if r.ac else torch.autocast("cpu", enabled=False)

        def fwd(r=r, ctx=ctx):
            with torch.no_grad(), ctx():
                r.model(x)

        def fwdbwd(r=r, ctx=ctx):
            r.opt.zero_grad(set_to_none=True)
            with ctx():
                loss = r.lossf(r.model(x), y)
            loss.backward()

        def step(r=r, ctx=ctx):
            r.opt.zero_grad(set_to_none=True)
            with ctx():
                loss = r.lossf(r.model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(r.model.parameters(), 1.0)
            r.opt.step()

        r.timed = {"step": Timed(step, 20), "fwd": Timed(fwd, 5), "fwdbwd": Timed(fwdbwd, 5)}
        runs.append(r)

    load0, load1 = measure(runs, a.rounds, a.round_s)
    print(f"bench_torch_mlp: PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"MKLDNN {torch.backends.mkldnn.is_available()}; load average (1 min) {load0:.2f} at start, "
          f"{load1:.2f} at end; {a.rounds} passes; medians of all timed calls")
    print(f"{'dtype':6} {'fwd ms':>8} {'fwd+bwd':>9} {'step ms':>8} {'steps/s':>9} {'samples/s':>10}")
    rows = []
    for r in runs:
        med = {k: t.median() for k, t in r.timed.items()}
        p10 = r.timed["step"].p10()
        print(f"{r.dt:6} {med['fwd'] * 1e3:8.3f} {med['fwdbwd'] * 1e3:9.3f} {med['step'] * 1e3:8.3f} "
              f"{1 / med['step']:9.1f} {B / med['step']:10.0f}")
        rows.append((r.dt, med["step"], p10, med["fwd"], med["fwdbwd"]))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("dtype,step_s,step_p10_s,fwd_s,fwdbwd_s,load_start,load_end\n")
            for dt, s, p, fw, fb in rows:
                f.write(f"{dt},{s:.9g},{p:.9g},{fw:.9g},{fb:.9g},{load0:.2f},{load1:.2f}\n")


if __name__ == "__main__":
    main()
