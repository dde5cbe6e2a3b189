#!/usr/bin/env bash
# bench_dist.sh: data-parallel throughput on this machine: 1 process x 1 thread, 1 process x 2
# threads, and 2 ranks x 1 thread through scripts/launch.sh (dist.zero 0 and 1), at the same
# global batch, the same steps and data, for the quickstart MLP (configs/mnist_mlp.yaml, global
# batch 256) and the char-GPT (configs/charlm_gpt.yaml, global batch 32 windows of 128 tokens).
# samples/s is the trainer's own figure (summary.json: samples over the time inside training
# steps, all ranks' samples counted). ROUNDS alternating rounds; the medians are compared.
# The "2 processes, no communication" row is the ceiling data parallelism can reach here: two
# independent 1-thread processes at the per-rank batch, one per core, run at the same time (their
# samples/s summed): what two ranks would do if the collectives cost nothing. On a small machine
# the two cores share caches, memory bandwidth and clock, so this is below 2x.
# A benchmark, never a test.
# The comm column is the gradient collectives' wall time per step on rank 0 (summary.json
# comm_s_per_step: the in-place all-reduce for dist.zero: 0; reduce-scatter + all-gather of the
# updated masters for dist.zero: 1), including any wait for the slower rank.
# Usage: scripts/bench_dist.sh [mlp-steps] [rounds] [gpt-steps]   (defaults 150, 3, 12)
#        MODELS="mlp gpt" (default) selects the models.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-150}
ROUNDS=${2:-3}
GPT_STEPS=${3:-12}
MODELS=${MODELS:-mlp gpt}
BIN=${MPTRAIN:-build/app/mptrain}
[ -x "$BIN" ] || { echo "bench_dist.sh: $BIN not built (scripts/build.sh)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench_dist.sh: no mpirun (scripts/setup.sh installs it)" >&2; exit 2; }
OUT=$(mktemp -d /tmp/mptrain_bench_dist_XXXXXX)
trap 'rm -rf "$OUT"' EXIT
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/summary.json" "$2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }
ms() { awk -v c="$1" 'BEGIN {print c * 1000}'; }

# bench_model NAME CONFIG GLOBAL_BATCH STEPS
bench_model() {
  local name=$1 config=$2 batch=$3 steps=$4 half=$(( $3 / 2 ))
  local common=(--config "$config" --set train.steps="$steps" --set train.eval_every=0
                --set train.checkpoint_every=0 --set train.log_every=50 -q)
  local -A runs comms
  local r
  for r in $(seq 1 "$ROUNDS"); do
    OMP_NUM_THREADS=1 "$BIN" "${common[@]}" --threads 1 --set data.batch_size="$batch" --out "$OUT/$name-a$r" >/dev/null
    runs[1x1]+="$(field "$OUT/$name-a$r" samples_per_s) "
    "$BIN" "${common[@]}" --threads 2 --set data.batch_size="$batch" --out "$OUT/$name-b$r" >/dev/null
    runs[1x2]+="$(field "$OUT/$name-b$r" samples_per_s) "
    scripts/launch.sh --nproc-per-node 2 -- "${common[@]}" --set data.batch_size="$half" \
      --out "$OUT/$name-c$r" >/dev/null 2>&1
    runs[2x1]+="$(field "$OUT/$name-c$r" samples_per_s) "
    comms[2x1]+="$(field "$OUT/$name-c$r" comm_s_per_step) "
    scripts/launch.sh --nproc-per-node 2 -- "${common[@]}" --set data.batch_size="$half" \
      --set dist.zero=1 --out "$OUT/$name-z$r" >/dev/null 2>&1
    runs[2x1z]+="$(field "$OUT/$name-z$r" samples_per_s) "
    OMP_NUM_THREADS=1 taskset -c 0 "$BIN" "${common[@]}" --threads 1 --set data.batch_size="$half" \
      --out "$OUT/$name-i$r" >/dev/null &
    OMP_NUM_THREADS=1 taskset -c 1 "$BIN" "${common[@]}" --threads 1 --set data.batch_size="$half" \
      --out "$OUT/$name-j$r" >/dev/null
    wait
    runs[ind]+="$(awk -v a="$(field "$OUT/$name-i$r" samples_per_s)" -v b="$(field "$OUT/$name-j$r" samples_per_s)" 'BEGIN {print a + b}') "
    comms[2x1z]+="$(field "$OUT/$name-z$r" comm_s_per_step) "
  done
  local m11 m12 m21 m21z c21 c21z mind
  m11=$(median <<<"${runs[1x1]}"); m12=$(median <<<"${runs[1x2]}"); m21=$(median <<<"${runs[2x1]}")
  m21z=$(median <<<"${runs[2x1z]}"); c21=$(median <<<"${comms[2x1]}"); c21z=$(median <<<"${comms[2x1z]}")
  mind=$(median <<<"${runs[ind]}")
  echo
  echo "$name ($config), fp32, global batch $batch, $steps steps, $ROUNDS rounds"
  printf '%-30s %12s %16s %16s\n' "configuration" "samples/s" "vs 1 x 1 thread" "comm ms/step"
  printf '%-30s %12.1f %15.2fx %16s\n' "1 process x 1 thread" "$m11" 1 -
  printf '%-30s %12.1f %15.2fx %16s\n' "1 process x 2 threads" "$m12" "$(ratio "$m12" "$m11")" -
  printf '%-30s %12.1f %15.2fx %16.2f\n' "2 ranks x 1 thread, zero 0" "$m21" "$(ratio "$m21" "$m11")" "$(ms "$c21")"
  printf '%-30s %12.1f %15.2fx %16.2f\n' "2 ranks x 1 thread, zero 1" "$m21z" "$(ratio "$m21z" "$m11")" "$(ms "$c21z")"
  printf '%-30s %12.1f %15.2fx %16s\n' "2 processes, no communication" "$mind" "$(ratio "$mind" "$m11")" "(ceiling)"
  echo "(per-round samples/s: 1x1 ${runs[1x1]}| 1x2 ${runs[1x2]}| 2x1 zero 0 ${runs[2x1]}| 2x1 zero 1 ${runs[2x1z]}| 2 independent ${runs[ind]})"
}

echo "data-parallel throughput; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
for m in $MODELS; do
  case $m in
    mlp) bench_model mlp configs/mnist_mlp.yaml 256 "$STEPS" ;;
    gpt) bench_model gpt configs/charlm_gpt.yaml 32 "$GPT_STEPS" ;;
    *) echo "bench_dist.sh: unknown model '$m' in MODELS (mlp, gpt)" >&2; exit 2 ;;
  esac
done
