#!/usr/bin/env bash
# gpu_check_scripts.sh: the Python helpers of scripts/gpu_check.sh, checked here because the GPU
# session that runs them for real is rare and short. Groups:
#   curves  scripts/compare_curves.py on the metrics.csv of two real CPU runs of the MNIST MLP:
#           identical runs -> 0; a perturbed copy -> the perturbation's relative size and the
#           tolerance verdict; an extra skipped-step row; missing, short and malformed files
#   perf    scripts/perf_row.py on a hand-made run directory (steady steps/s, tokens/s, model
#           TFLOP/s, MFU, peak memory) and scripts/gpu_peaks.py's table and its refusals
#   lint    bash -n (and shellcheck where installed) on gpu_check.sh and gpu_bundle.sh
#   nogpu   gpu_check.sh itself on this build tree (GPU_CHECK_BIN) without a GPU: it must fail
#           cleanly, every step in summary.txt, the flop counts and the tables' captions there
# Usage: gpu_check_scripts.sh MPTRAIN_BINARY SOURCE_DIR GROUP
set -u
# Absolute paths: the cases run in a scratch directory.
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$2" && pwd)
GROUP=$3
PY=python3
# shellcheck source=SCRIPTDIR/../e2e/expect.sh disable=SC1091
. "$SRC/tests/e2e/expect.sh"  # the pass/fail counters
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

# expect NAME EXIT_CODE FRAGMENT -- CMD...: any command's exit code and a fragment of its
# stdout+stderr, and no Python traceback (replaces expect.sh's mptrain-only expect).
expect() {
  local name=$1 want=$2 frag=$3
  shift 4
  "$@" >out.txt 2>&1
  local rc=$? before=$fails
  [ "$rc" -eq "$want" ] || fail "$name: exit code $rc, expected $want: $(head -c 600 out.txt)"
  grep -qF -- "$frag" out.txt || fail "$name: output lacks '$frag': $(head -c 600 out.txt)"
  grep -qF "Traceback" out.txt && fail "$name: a Python traceback: $(tail -c 600 out.txt)"
  [ "$fails" -eq "$before" ] && passes=$((passes + 1))
}
CMP=("$PY" "$SRC/scripts/compare_curves.py")

case $GROUP in
curves)
  # Two identical CPU runs (same seed, data and steps): the determinism compare_curves relies on.
  for r in a b; do
    (cd "$SRC" && "$BIN" --config configs/mnist_mlp.yaml --device cpu --set train.steps=30 \
       --set data.batch_size=64 --set train.log_every=10 --set train.checkpoint_every=0 \
       --out "$TMP/$r" -q) >"run_$r.txt" 2>&1 || fail "run $r: $(tail -c 600 "run_$r.txt")"
  done
  A=a/metrics.csv
  expect identical 0 "fp32: max rel diff 0.000e+00 at step 10" -- "${CMP[@]}" --policy fp32 "$A" b/metrics.csv
  grep -qF "over 3 rows" out.txt || fail "identical: not 3 rows: $(cat out.txt)"
  grep -qF ": PASS" out.txt || fail "identical: not PASS: $(cat out.txt)"

  # The loss of step 20's row times 1.05: relative difference 0.05 / 1.05 = 4.762e-02, inside the
  # first 30 steps, so over fp32's 1e-3 there (FAIL) but inside a 0.1 tolerance when given one.
  scale_row() {  # scale_row STEP FACTOR < metrics.csv: that row's loss times FACTOR
    awk -F, -v OFS=, -v s="$1" -v f="$2" 'NR > 1 && $1 == s {$3 = sprintf("%.17g", $3 * f)} {print}'
  }
  scale_row 20 1.05 <"$A" >p.csv
  expect perturbed 1 "max rel diff 4.762e-02 at step 20" -- "${CMP[@]}" --policy fp32 --labels x,y p.csv "$A"
  grep -qF "first 30 steps 4.762e-02 at step 20, tol 0.001: FAIL" out.txt || fail "perturbed verdict: $(cat out.txt)"
  expect perturbed_loose 0 ": PASS" -- "${CMP[@]}" --policy bf16 --tol 0.1 --early-tol 0.1 p.csv "$A"
  # 5e-4 at step 30: inside fp32's early tolerance (1e-3), outside an early tolerance of 1e-4.
  scale_row 30 1.0005 <"$A" >q.csv
  expect small 0 "max rel diff 4.998e-04 at step 30" -- "${CMP[@]}" --policy fp32 q.csv "$A"
  expect small_tight 1 ": FAIL" -- "${CMP[@]}" --policy fp32 --early-tol 1e-4 q.csv "$A"
  # A step past the first 30 counts in the whole curve only: 10 % at step 30 with --early-steps 20.
  scale_row 30 1.1 <"$A" >r.csv
  expect late 0 "first 20 steps 0.000e+00" -- "${CMP[@]}" --policy fp32 --early-steps 20 r.csv "$A"
  grep -qF "max rel diff 9.091e-02 at step 30" out.txt || fail "late: $(cat out.txt)"

  # A skipped step writes an extra row: step 20's window split at 15 into two rows whose
  # step-weighted mean is the original loss, so the curves still agree at steps 10, 20, 30.
  awk -F, -v OFS=, 'NR > 1 && $1 == 20 {
      l = $3; r = $0; $1 = 15; $3 = sprintf("%.17g", l * 1.1); $7 = 1; print
      $0 = r; $3 = sprintf("%.17g", l * 0.9); print; next } {print}' "$A" >s.csv
  expect skipped_row 0 "over 3 rows" -- "${CMP[@]}" --policy fp32 s.csv "$A"
  grep -qE "max rel diff [0-9.]+e-(1[0-9]|0[7-9])|max rel diff 0.000e\+00" out.txt ||
    fail "skipped_row: the split window did not merge back: $(cat out.txt)"
  grep -qF "skipped steps a 1, b 0" out.txt || fail "skipped_row: skip count: $(cat out.txt)"

  # Bad input: exit 3 and a message naming the file and what to do.
  expect missing 3 "nope.csv: cannot read it" -- "${CMP[@]}" --policy fp32 nope.csv "$A"
  head -n 3 "$A" >short.csv
  expect short 3 "short.csv: its last row is at step 20 but $A goes on to step 30; one run stopped early" \
    -- "${CMP[@]}" --policy fp32 "$A" short.csv
  head -n 1 "$A" >header.csv
  expect header_only 3 "header.csv: a header but no rows" -- "${CMP[@]}" --policy fp32 header.csv "$A"
  : >empty.csv
  expect empty 3 "empty.csv: empty file" -- "${CMP[@]}" --policy fp32 empty.csv "$A"
  sed '1s/loss/lost/' "$A" >noloss.csv
  expect no_loss_column 3 "noloss.csv: line 1: no 'loss' column" -- "${CMP[@]}" --policy fp32 noloss.csv "$A"
  sed '3s/^20,0,[^,]*/20,0,abc/' "$A" >text.csv
  expect bad_number 3 "text.csv: line 3: expected an integer step and a number loss" \
    -- "${CMP[@]}" --policy fp32 text.csv "$A"
  awk 'NR != 3' "$A" >gap.csv; sed -n 3p "$A" >>gap.csv
  expect out_of_order 3 "gap.csv: line 4: step 20 does not follow step 30" -- "${CMP[@]}" --policy fp32 gap.csv "$A"
  # A non-finite loss (a diverged run) is no match, not an error.
  sed '3s/^20,0,[^,]*/20,0,nan/' "$A" >nan.csv
  expect nan_loss 1 "max rel diff inf at step 20" -- "${CMP[@]}" --policy fp32 nan.csv "$A"
  # Usage: exit 2.
  expect no_policy 2 "--policy" -- "${CMP[@]}" "$A" "$A"
  expect bad_policy 2 "invalid choice: 'fp64'" -- "${CMP[@]}" --policy fp64 "$A" "$A"
  expect bad_labels 2 "--labels: expected two" -- "${CMP[@]}" --policy fp32 --labels one "$A" "$A"
  ;;

perf)
  # A run directory by hand: rows every 10 steps, the first (warm-up) slower; steady 2000
  # samples/s at batch 100 -> 20 steps/s; 4.947 TFLOP per step -> 98.94 TFLOP/s = 10.0 % of the
  # H200's dense bf16 989.4; 128 tokens per sample -> 256000 tokens/s; 3 MiB peak.
  mkdir run
  printf 'step,epoch,loss,lr,loss_scale,grad_norm,skipped,samples_per_s,time_s\n' >run/metrics.csv
  printf '%s,0,1.0,0.1,1,1,0,%s,1\n' 10 500 20 2000 30 2000 >>run/metrics.csv
  printf '{"final_train_loss": 0.5, "best_val_loss": 0.625, "samples_per_s": 1200,\n "peak_memory_bytes": 3145728}\n' >run/summary.json
  P=("$PY" "$SRC/scripts/perf_row.py")
  expect header 0 "run            steps/s  samples/s   tokens/s  TFLOP/s    peak     MFU  peak MiB" -- "${P[@]}" --header
  expect h200_bf16 0 "bf16 cuda         20.0       2000     256000    98.94   989.4   10.0%         3    0.5000    0.6250" \
    -- "${P[@]}" --run run --label "bf16 cuda" --policy bf16 --batch 100 --tokens-per-sample 128 \
       --flop-per-step 4.947e12 --device-name "NVIDIA H200"
  # fp32 without TF32: the plain FP32 peak (66.9); with it, the TF32 peak (494.7): 98.94/494.7 = 20 %.
  expect h100_tf32 0 "   494.7   20.0%" -- "${P[@]}" --run run --label x --policy fp32 --tf32 --batch 100 \
    --flop-per-step 4.947e12 --device-name "NVIDIA H100 80GB HBM3"
  # Unknown device or no flop count: '-' for what cannot be known, the rest still there.
  expect unknown_device 0 "x                 20.0       2000          -    98.94       -       -         3" \
    -- "${P[@]}" --run run --label x --policy fp16 --batch 100 --flop-per-step 4.947e12 --device-name "Tesla T4"
  expect no_flops 0 "x                 20.0       2000          -        -   989.4       -         3" \
    -- "${P[@]}" --run run --label x --policy bf16 --batch 100 --device-name "NVIDIA H200"
  # One metrics row only: summary.json's whole-run samples/s (1200 -> 12 steps/s).
  head -n 2 run/metrics.csv >run/m1 && mv run/m1 run/metrics.csv
  expect one_row 0 "x                 12.0       1200" -- "${P[@]}" --run run --label x --policy bf16 --batch 100
  expect no_run 3 "nothere/summary.json: cannot read it" -- "${P[@]}" --run nothere --policy bf16 --batch 1
  expect no_batch 2 "a positive --batch" -- "${P[@]}" --run run --policy bf16

  G=("$PY" "$SRC/scripts/gpu_peaks.py")
  expect h200 0 "989.4" -- "${G[@]}" "NVIDIA H200" bf16
  expect h200_fp32 0 "66.9" -- "${G[@]}" "NVIDIA H200" fp32
  expect h100_fp16 0 "989.4" -- "${G[@]}" "NVIDIA H100 80GB HBM3" fp16
  expect a100_tf32 0 "156" -- "${G[@]}" "NVIDIA A100-SXM4-80GB" fp32 --tf32
  expect a100_pcie 0 "19.5" -- "${G[@]}" "NVIDIA A100-PCIE-40GB" fp32
  # Lower-clocked parts are not guessed from the SXM rows.
  expect h100_pcie 1 "unknown" -- "${G[@]}" "NVIDIA H100 PCIe" bf16
  expect h200_nvl 1 "unknown" -- "${G[@]}" "NVIDIA H200 NVL" bf16
  expect other 1 "unknown" -- "${G[@]}" "Tesla T4" fp16
  expect usage 2 "usage: gpu_peaks.py" -- "${G[@]}" "NVIDIA H200"
  ;;

lint)
  for s in gpu_check.sh gpu_bundle.sh; do
    bash -n "$SRC/scripts/$s" || fail "bash -n $s"
    if command -v shellcheck >/dev/null 2>&1; then
      shellcheck "$SRC/scripts/$s" || fail "shellcheck $s"
    fi
  done
  ;;

nogpu)
  if nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: this machine has a GPU (this group checks the no-GPU path)"
    exit 77
  fi
  build=$(cd "$(dirname "$BIN")/.." && pwd)
  OUT="$TMP/out" GPU_CHECK_BIN="$build" bash "$SRC/scripts/gpu_check.sh" >stdout.txt 2>&1
  rc=$?
  [ "$rc" -eq 1 ] || fail "nogpu: exit $rc, expected 1: $(tail -c 800 stdout.txt)"
  sum="$TMP/out/summary.txt"
  [ -f "$sum" ] || fail "nogpu: no summary.txt"
  for step in env build parity bench mlp gpt graph debug nccl; do
    grep -qE "^$step +[A-Za-z/]+ +[0-9]+ " "$sum" || fail "nogpu: no '$step' row in summary.txt"
  done
  grep -qE "^build +ok .*prebuilt" "$sum" || fail "nogpu: build row: $(grep '^build' "$sum")"
  grep -qE "^bench +FAIL +[0-9]+ +no CUDA device" "$sum" || fail "nogpu: bench row: $(grep '^bench' "$sum")"
  grep -qE "^mlp +FAIL" "$sum" || fail "nogpu: mlp did not fail: $(grep '^mlp' "$sum")"
  grep -qE "^gpt +FAIL" "$sum" || fail "nogpu: gpt did not fail: $(grep '^gpt' "$sum")"
  grep -qE "^graph +FAIL .*cuda_graph=false exit 2" "$sum" ||
    fail "nogpu: graph did not fail as expected: $(grep '^graph' "$sum")"
  for frag in "model GEMM flops per step: 2.45 G" "model GEMM flops per step: 84.21 G" \
              "MFU not computed" "fp32 cuda    failed: exit 2, usage/config: no CUDA GPU?" \
              "fp32 cpu     not run: the cuda run failed" "fp32: no curve comparison" \
              "bf16 cuda    failed: exit 2" "total wall:"; do
    grep -qF -- "$frag" "$sum" || fail "nogpu: summary.txt lacks '$frag'"
  done
  grep -qE "unbound variable|syntax error|command not found" stdout.txt &&
    fail "nogpu: shell errors: $(grep -E 'unbound|syntax|not found' stdout.txt | head -5)"
  ;;

*)
  echo "usage: gpu_check_scripts.sh MPTRAIN SOURCE_DIR {curves|perf|lint|nogpu}" >&2
  exit 2
  ;;
esac

echo "gpu_check_scripts $GROUP: $passes cases passed, $fails checks failed"
[ "$fails" -eq 0 ]
