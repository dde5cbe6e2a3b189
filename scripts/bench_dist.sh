#!/usr/bin/env bash
# bench_dist.sh: data-parallel throughput of the quickstart MLP on this machine: 1 process x 1
# thread, 1 process x 2 threads, and 2 ranks x 1 thread through scripts/launch.sh, at the same
# global batch (256; 128 per rank with 2 ranks), the same steps and data. samples/s is the
# trainer's own figure (summary.json: samples over the time inside training steps, all ranks'
# samples counted). ROUNDS alternating rounds; the medians are compared. A benchmark, never a test.
# The comm column is the gradient collectives' wall time per step on rank 0 (summary.json
# comm_s_per_step: the all-reduce for dist.zero: 0; reduce-scatter + all-gather of the updated
# weights for dist.zero: 1), packing into the bucket included.
# Usage: scripts/bench_dist.sh [steps] [rounds]     (defaults 150 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-150}
ROUNDS=${2:-3}
BIN=${MPTRAIN:-build/app/mptrain}
[ -x "$BIN" ] || { echo "bench_dist.sh: $BIN not built (scripts/build.sh)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench_dist.sh: no mpirun (scripts/setup.sh installs it)" >&2; exit 2; }
OUT=$(mktemp -d /tmp/mptrain_bench_dist_XXXXXX)
trap 'rm -rf "$OUT"' EXIT
COMMON=(--config configs/mnist_mlp.yaml --set train.steps="$STEPS" --set train.eval_every=0
        --set train.checkpoint_every=0 --set train.log_every=50 -q)
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/summary.json" "$2"; }
sps() { field "$1" samples_per_s; }
comm() { field "$1" comm_s_per_step; }
declare -A runs comms
for r in $(seq 1 "$ROUNDS"); do
  OMP_NUM_THREADS=1 "$BIN" "${COMMON[@]}" --threads 1 --set data.batch_size=256 --out "$OUT/a$r" >/dev/null
  runs[1x1]+="$(sps "$OUT/a$r") "
  "$BIN" "${COMMON[@]}" --threads 2 --set data.batch_size=256 --out "$OUT/b$r" >/dev/null
  runs[1x2]+="$(sps "$OUT/b$r") "
  scripts/launch.sh --nproc-per-node 2 -- "${COMMON[@]}" --set data.batch_size=128 --out "$OUT/c$r" >/dev/null 2>&1
  runs[2x1]+="$(sps "$OUT/c$r") "
  comms[2x1]+="$(comm "$OUT/c$r") "
  scripts/launch.sh --nproc-per-node 2 -- "${COMMON[@]}" --set data.batch_size=128 --set dist.zero=1 \
    --out "$OUT/z$r" >/dev/null 2>&1
  runs[2x1z]+="$(sps "$OUT/z$r") "
  comms[2x1z]+="$(comm "$OUT/z$r") "
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m11=$(median <<<"${runs[1x1]}"); m12=$(median <<<"${runs[1x2]}"); m21=$(median <<<"${runs[2x1]}")
m21z=$(median <<<"${runs[2x1z]}")
c21=$(median <<<"${comms[2x1]}"); c21z=$(median <<<"${comms[2x1z]}")
echo "MLP 784-1024-1024-10, fp32, global batch 256, $STEPS steps, $ROUNDS rounds; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
printf '%-30s %12s %16s %16s\n' "configuration" "samples/s" "vs 1 x 1 thread" "comm ms/step"
printf '%-30s %12.0f %15.2fx %16s\n' "1 process x 1 thread" "$m11" 1 -
printf '%-30s %12.0f %15.2fx %16s\n' "1 process x 2 threads" "$m12" "$(awk -v a="$m12" -v b="$m11" 'BEGIN {print a / b}')" -
printf '%-30s %12.0f %15.2fx %16.2f\n' "2 ranks x 1 thread, zero 0" "$m21" "$(awk -v a="$m21" -v b="$m11" 'BEGIN {print a / b}')" "$(awk -v c="$c21" 'BEGIN {print c * 1000}')"
printf '%-30s %12.0f %15.2fx %16.2f\n' "2 ranks x 1 thread, zero 1" "$m21z" "$(awk -v a="$m21z" -v b="$m11" 'BEGIN {print a / b}')" "$(awk -v c="$c21z" 'BEGIN {print c * 1000}')"
echo "(per-round samples/s: 1x1 ${runs[1x1]}| 1x2 ${runs[1x2]}| 2x1 zero 0 ${runs[2x1]}| 2x1 zero 1 ${runs[2x1z]})"
