#!/usr/bin/env bash
# bench_train.sh: training-step throughput in mptrain against PyTorch on the same model, batch,
# optimizer and thread count, measured in this one run. MODEL=mlp (default): the quickstart MLP
# (784-1024-1024-10, batch 256, AdamW; bench_train_mlp, fp32/bf16/fp16, against
# scripts/bench_torch_mlp.py). MODEL=gpt: configs/charlm_gpt.yaml (the char-level GPT, batch 32 x
# context 128, AdamW, clip 1; bench_train_spec against scripts/bench_torch_gpt.py with the
# config's sizes). PyTorch runs fp32 and bf16 autocast. The two programs alternate ROUNDS times so
# load from other processes falls on both; the medians over rounds are compared, and also the
# 10th percentiles.
#
# Usage: [MODEL=gpt] scripts/bench_train.sh [threads] [rounds]    (defaults 2 and 3)
# Waits for an idle machine before each program, installs the PyTorch reference when missing and
# builds bench_train_mlp into $BUILD_DIR (default build-cpu): scripts/bench_common.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-cpu}
THREADS=${1:-2}
ROUNDS=${2:-3}
. scripts/bench_common.sh
ensure_torch
MODEL=${MODEL:-mlp}
case "$MODEL" in
  mlp) build_bench bench_train_mlp
       mp_bench() { "$BUILD_DIR/bench/bench_train_mlp" --threads "$THREADS" --csv "$1"; }
       pt_bench() { torch_env "$PY" scripts/bench_torch_mlp.py --threads "$THREADS" --csv "$1"; } ;;
  gpt) build_bench bench_train_spec
       # The PyTorch model's sizes are the config's (bench_torch_gpt.py's defaults match it).
       mp_bench() { "$BUILD_DIR/bench/bench_train_spec" --config configs/charlm_gpt.yaml \
                      --threads "$THREADS" --csv "$1"; }
       pt_bench() { torch_env "$PY" scripts/bench_torch_gpt.py --threads "$THREADS" --batch 32 \
                      --context 128 --vocab 73 --dim 256 --heads 4 --layers 4 --csv "$1"; } ;;
  *) echo "bench_train.sh: MODEL must be mlp or gpt" >&2; exit 2 ;;
esac

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=$THREADS
for r in $(seq 1 "$ROUNDS"); do
  wait_idle
  echo "== round $r/$ROUNDS: mptrain" >&2
  mp_bench "$TMP/mp_$r.csv" > "$TMP/mp_$r.txt"
  wait_idle
  echo "== round $r/$ROUNDS: PyTorch" >&2
  pt_bench "$TMP/pt_$r.csv" > "$TMP/pt_$r.txt"
done

"$PY" - "$TMP" "$ROUNDS" <<'EOF'
import csv, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def rows(path):
    with open(path) as f:
        return {r["dtype"]: r for r in csv.DictReader(f)}
mp = [rows(f"{tmp}/mp_{r}.csv") for r in range(1, rounds + 1)]
pt = [rows(f"{tmp}/pt_{r}.csv") for r in range(1, rounds + 1)]
# the full tables of the median round (by mptrain's bf16 step, else its first dtype)
key = "bf16" if "bf16" in mp[0] else next(iter(mp[0]))
best_r = sorted(range(rounds), key=lambda i: float(mp[i][key]["step_s"]))[rounds // 2]
print(open(f"{tmp}/mp_{best_r + 1}.txt").read().rstrip())
print()
print(open(f"{tmp}/pt_{best_r + 1}.txt").read().rstrip())
loads = [float(m[key][c]) for m in mp for c in ("load_start", "load_end")]
loads += [float(p[d][c]) for p in pt for d in p for c in ("load_start", "load_end")]
print(f"\nmptrain vs PyTorch, steps/s measured in this run ({rounds} alternating rounds of each; load "
      f"average {min(loads):.2f}..{max(loads):.2f}). 'median': median over rounds of each round's "
      f"median step; 'p10': the same with each round's 10th-percentile step (between load bursts)")
print(f"{'dtype':6} {'mptrain':>9} {'PyTorch':>9} {'ratio':>7} {'mp p10':>9} {'PT p10':>9} {'ratio':>7}   "
      f"per-round median ratios")
med = lambda v: sorted(v)[len(v) // 2]
for dt in mp[0]:
    m = med([1 / float(x[dt]["step_s"]) for x in mp])
    mq = med([1 / float(x[dt]["step_p10_s"]) for x in mp])
    if dt in pt[0]:
        p = med([1 / float(x[dt]["step_s"]) for x in pt])
        pq = med([1 / float(x[dt]["step_p10_s"]) for x in pt])
        per = " ".join(f"{float(pt[i][dt]['step_s']) / float(mp[i][dt]['step_s']):.2f}x"
                       for i in range(rounds))
        print(f"{dt:6} {m:9.2f} {p:9.2f} {m / p:6.2f}x {mq:9.2f} {pq:9.2f} {mq / pq:6.2f}x   {per}")
    else:
        print(f"{dt:6} {m:9.2f} {'-':>9} {'-':>7} {mq:9.2f} {'-':>9} {'-':>7}   "
              f"(no PyTorch CPU autocast for {dt})")
EOF
