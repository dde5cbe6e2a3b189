#!/usr/bin/python3
"""plot_runs.py: loss curves of mptrain runs, one line per run.

  plot_runs.py SWEEP_DIR                    the runs of a sweep (the `point` column of
                                            SWEEP_DIR/sweep.csv), plots written into SWEEP_DIR
  plot_runs.py RUN_DIR [RUN_DIR...] --out DIR
                                            any run directories (each with metrics.csv), e.g.
                                            runs/mnist_mlp_fp32 runs/mnist_mlp_bf16 --out cmp

Writes three PNGs:
  loss.png        training loss vs step (metrics.csv `loss`), log y when the losses span > 20x
  val.png         validation loss and accuracy vs step (eval.csv), accuracy only for classifiers
  loss_scale.png  loss scale vs step for the runs that use one (a scale other than 1 anywhere),
                  skipped steps (non-finite gradients) marked with x
A run without metrics.csv rows (a point that failed before its first logged step, or never ran)
is listed and left out. Non-finite losses are left out of the curves.

`mptrain sweep` runs this script itself when /usr/bin/python3 (or $MPTRAIN_PYTHON) has matplotlib,
and links the PNGs from report.md. Example, from the repository root:

  mptrain sweep --config configs/mnist_mlp.yaml --set train.epochs=2 \
      --grid precision.policy=fp32,fp16,bf16 --out runs/precision
  # runs/precision/<point>/ (one run directory per point), sweep.csv, report.md,
  # loss.png, val.png, loss_scale.png
  /usr/bin/python3 scripts/plot_runs.py runs/precision            # redraw the sweep's plots
  /usr/bin/python3 scripts/plot_runs.py runs/a runs/b --out cmp   # compare any runs by hand

Needs only matplotlib (no numpy). Exit codes: 0 ok, 2 usage or unreadable input, 3 matplotlib
cannot be imported.
"""

import argparse
import csv
import math
import os
import sys


def read_csv(path):
    """Rows of a CSV file as dicts; [] when the file is missing."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class Run:
    def __init__(self, directory, label):
        self.dir = directory
        self.label = label
        self.metrics = read_csv(os.path.join(directory, "metrics.csv"))
        self.eval = read_csv(os.path.join(directory, "eval.csv"))

    def series(self, rows, column):
        """(steps, values) with non-finite values left out."""
        xs, ys = [], []
        for r in rows:
            x, y = num(r.get("step")), num(r.get(column))
            if math.isfinite(x) and math.isfinite(y):
                xs.append(x)
                ys.append(y)
        return xs, ys


def sweep_runs(sweep_dir):
    """The runs of a sweep directory, labelled by their grid values, from sweep.csv."""
    rows = read_csv(os.path.join(sweep_dir, "sweep.csv"))
    if not rows:
        print("plot_runs.py: %s has no sweep.csv rows; give run directories and --out instead"
              % sweep_dir, file=sys.stderr)
        sys.exit(2)
    fields = list(rows[0].keys())
    keys = fields[: fields.index("status")] if "status" in fields else []
    runs = []
    for r in rows:
        label = ", ".join("%s=%s" % (k, r[k]) for k in keys) or r["point"]
        runs.append(Run(os.path.join(sweep_dir, r["point"]), label))
    return runs


def plain_runs(dirs):
    """Run directories given by hand, labelled by their folder names (or paths when those clash)."""
    names = [os.path.basename(os.path.normpath(d)) for d in dirs]
    clash = len(set(names)) != len(names)
    return [Run(d, os.path.normpath(d) if clash else n) for d, n in zip(dirs, names)]


def log_scale_sensible(values):
    return bool(values) and min(values) > 0 and max(values) / min(values) > 20


STYLES = ("-", "--", ":", "-.")  # overlapping curves (fp32 vs bf16) stay visible


def style(i):
    """Line style and colour of run i, the same in every plot."""
    return {"linestyle": STYLES[i % len(STYLES)], "color": "C%d" % (i % 10)}


def note(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)


def plot_loss(plt, runs, out):
    fig, ax = plt.subplots(figsize=(8, 5))
    everything = []
    for i, run in enumerate(runs):
        xs, ys = run.series(run.metrics, "loss")
        if xs:
            ax.plot(xs, ys, label=run.label, **style(i))
            everything += ys
    if everything:
        if log_scale_sensible(everything):
            ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        note(ax, "no run logged a finite training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training loss")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_val(plt, runs, out):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 5))
    losses, accs = [], []
    for i, run in enumerate(runs):
        xs, ys = run.series(run.eval, "val_loss")
        if xs:
            ax_loss.plot(xs, ys, marker=".", label=run.label, **style(i))
            losses += ys
        xs, ys = run.series(run.eval, "val_accuracy")
        if xs:
            ax_acc.plot(xs, ys, marker=".", label=run.label, **style(i))
            accs += ys
    if losses:
        if log_scale_sensible(losses):
            ax_loss.set_yscale("log")
        ax_loss.legend(fontsize="small")
    else:
        note(ax_loss, "no validation loss (no data.val split or no evaluation)")
    if accs:
        ax_acc.legend(fontsize="small")
    else:
        note(ax_acc, "no validation accuracy (regression or no data.val split)")
    for ax, name in ((ax_loss, "validation loss"), (ax_acc, "validation accuracy")):
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_loss_scale(plt, runs, out):
    fig, ax = plt.subplots(figsize=(8, 5))
    used = 0
    for i, run in enumerate(runs):
        xs, ys = run.series(run.metrics, "loss_scale")
        if not xs or all(y == 1 for y in ys):
            continue  # no loss scaling in this run
        used += 1
        (line,) = ax.plot(xs, ys, label=run.label, drawstyle="steps-post", **style(i))
        skipped = [(num(r["step"]), num(r["loss_scale"])) for r in run.metrics
                   if r.get("skipped") in ("1", "true")]
        if skipped:
            ax.plot([s for s, _ in skipped], [v for _, v in skipped], "x", color=line.get_color(),
                    markersize=8, label="%s: skipped step (%d)" % (run.label, len(skipped)))
    if used:
        ax.set_yscale("log", base=2)
        ax.legend(fontsize="small")
    else:
        note(ax, "no run uses loss scaling (the scale is 1 throughout)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss scale")
    ax.set_title("loss scale (x = step skipped for non-finite gradients)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(
        description="Plot loss curves of mptrain runs (a sweep directory, or run directories "
                    "with --out).")
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="a sweep directory (with sweep.csv), or run directories (with metrics.csv)")
    p.add_argument("--out", help="where to write the PNGs (default: the sweep directory)")
    a = p.parse_args()

    if len(a.dirs) == 1 and os.path.isfile(os.path.join(a.dirs[0], "sweep.csv")) and \
            not os.path.isfile(os.path.join(a.dirs[0], "metrics.csv")):
        runs = sweep_runs(a.dirs[0])
        out = a.out or a.dirs[0]
    else:
        if not a.out:
            p.error("give --out DIR for run directories (only a sweep directory plots into itself)")
        missing = [d for d in a.dirs if not os.path.isdir(d)]
        if missing:
            p.error("not a directory: " + ", ".join(missing))
        runs = plain_runs(a.dirs)
        out = a.out

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print("plot_runs.py: matplotlib is not available for %s (%s); install it (e.g. apt-get "
              "install python3-matplotlib) or run this script with a Python that has it"
              % (sys.executable, e), file=sys.stderr)
        return 3

    for run in runs:
        if not run.metrics:
            print("plot_runs.py: %s: no metrics.csv rows; left out" % run.dir, file=sys.stderr)
    os.makedirs(out, exist_ok=True)
    for name, draw in (("loss.png", plot_loss), ("val.png", plot_val),
                       ("loss_scale.png", plot_loss_scale)):
        path = os.path.join(out, name)
        tmp = os.path.join(out, ".%s.tmp.%d.png" % (name[:-4], os.getpid()))
        draw(plt, runs, tmp)
        os.replace(tmp, path)  # a reader never sees half a PNG
        print("plot_runs.py: wrote " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
