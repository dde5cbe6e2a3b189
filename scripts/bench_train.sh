#!/usr/bin/env bash
# bench_train.sh: training-step throughput of the quickstart MLP (784-1024-1024-10, batch 256,
# AdamW) in mptrain (bench_train_mlp: fp32, bf16, fp16 mixed precision) against PyTorch on the
# same model, batch, optimizer and thread count (scripts/bench_torch_mlp.py: fp32 and bf16
# autocast), measured in this one run. The two programs alternate ROUNDS times so load from other
# processes falls on both; the medians over rounds are compared, and also the 10th percentiles.
#
# Usage: scripts/bench_train.sh [threads] [rounds]    (defaults 2 and 3)
# On a shared machine, other processes' bursts distort a 2-core benchmark badly (threads wait at
# every barrier for a preempted sibling); before each program the script waits up to IDLE_WAIT
# seconds (default 120; 0 = do not wait) for the CPUs to be >= 90 % idle, and says when they were not.
# Builds bench_train_mlp into $BUILD_DIR (default build-cpu). PyTorch is a benchmark-only
# dependency (not in scripts/setup.sh): Debian's python3-torch is installed with apt-get when
# /usr/bin/python3 cannot import torch. Debian's torch does its fp32 GEMMs in the system BLAS, so
# libopenblas0-openmp is installed too and the reference runs with OpenBLAS's AVX-512 kernel named
# (OPENBLAS_CORETYPE=SkylakeX: OpenBLAS cannot identify this virtual CPU and would fall back to an
# SSE3 kernel, which would make the reference ~5x too slow). bf16 autocast runs on oneDNN inside torch.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-cpu}
THREADS=${1:-2}
ROUNDS=${2:-3}
PY=/usr/bin/python3
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! "$PY" -c 'import torch' 2>/dev/null || [ ! -e "$OPENBLAS_DIR/libblas.so.3" ]; then
  echo "bench_train.sh: installing the PyTorch reference (python3-torch, libopenblas0-openmp)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-torch libopenblas0-openmp >/dev/null
fi

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" --target bench_train_mlp -j "${JOBS:-2}" >/dev/null

IDLE_WAIT=${IDLE_WAIT:-120}
# Waits until the CPUs were >= 90 % idle for 2 s in a row, or IDLE_WAIT seconds have passed.
wait_idle() {
  [ "$IDLE_WAIT" -gt 0 ] || return 0
  local start=$SECONDS ok=0 u n s i w x y z t1 i1 t2 i2 idle
  while [ $((SECONDS - start)) -lt "$IDLE_WAIT" ]; do
    read -r _ u n s i w x y z _ < /proc/stat; t1=$((u + n + s + i + w + x + y + z)); i1=$i
    sleep 1
    read -r _ u n s i w x y z _ < /proc/stat; t2=$((u + n + s + i + w + x + y + z)); i2=$i
    idle=$((100 * (i2 - i1) / (t2 - t1 > 0 ? t2 - t1 : 1)))
    if [ "$idle" -ge 90 ]; then ok=$((ok + 1)); else ok=0; fi
    [ "$ok" -ge 2 ] && return 0
  done
  echo "bench_train.sh: the machine stayed busy for ${IDLE_WAIT}s (${idle}% idle); measuring anyway" >&2
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=$THREADS
for r in $(seq 1 "$ROUNDS"); do
  wait_idle
  echo "== round $r/$ROUNDS: mptrain" >&2
  "$BUILD_DIR/bench/bench_train_mlp" --threads "$THREADS" --csv "$TMP/mp_$r.csv" > "$TMP/mp_$r.txt"
  wait_idle
  echo "== round $r/$ROUNDS: PyTorch" >&2
  OPENBLAS_CORETYPE=SkylakeX LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$PY" scripts/bench_torch_mlp.py --threads "$THREADS" --csv "$TMP/pt_$r.csv" > "$TMP/pt_$r.txt"
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
        print(f"{dt:6} {m:9.1f} {p:9.1f} {m / p:6.2f}x {mq:9.1f} {pq:9.1f} {mq / pq:6.2f}x   {per}")
    else:
        print(f"{dt:6} {m:9.1f} {'-':>9} {'-':>7} {mq:9.1f} {'-':>9} {'-':>7}   "
              f"(no PyTorch CPU autocast for {dt})")
EOF
