#!/usr/bin/env bash
# tune_precision.sh MPTRAIN MAKE_SYNTHETIC: `mptrain tune-precision` on a model whose ONE layer
# overflows fp16: a first layernorm `norm` fed raw inputs of magnitude ~1e5 (data.input_scale),
# everything after it benign. fp16 alone cannot even hold the inputs (the norm's input cast is
# inf), fp32 trains fine. The tool must keep exactly `norm` in fp32, the run with the spec it
# writes must match fp32's loss curve within tolerance, and the unaided fp16 run must fail
# (exit 4). Then the usage errors (exit 2).
set -u
MPTRAIN=$1
SYNTH=$2
WORK=$(mktemp -d /tmp/mptrain_tune_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$SYNTH" classification data.h5 1024 256 12 4 5 >/dev/null || exit 1

cat > run.yaml <<YAML
name: tune
seed: 1
device: cpu
threads: 1
data: {file: data.h5, batch_size: 32, input_scale: 100000}
model:
  layers:
    - layernorm: {name: norm}
    - linear: {out: 32}
    - relu
    - linear: {out: 32}
    - relu
    - linear: {out: 4}
optimizer: {type: adamw, lr: 0.01}
train: {steps: 30, log_every: 1, eval_every: 0, checkpoint_every: 0}
YAML

fails=0
passes=0
expect() {  # expect CODE FRAGMENT -- ARGS...
  local code=$1 frag=$2
  shift 3
  local out rc
  out=$("$MPTRAIN" "$@" 2>&1)
  rc=$?
  last_out=$out
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$frag" <<<"$out"; then
    echo "FAIL: mptrain $* -> exit $rc (want $code), output lacks: $frag"
    echo "$out" | tail -n 25 | sed 's/^/    /'
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

expect 0 "recommended: fp16" -- tune-precision --config run.yaml --candidates fp16 --steps 30 --write tuned.yaml
report=$last_out
echo "$report" | sed -n '/^candidate/,$p' | head -12 | sed 's/^/    /'
check "fp16 keeps exactly [norm] in fp32" grep -qF "fp32 layers [norm] -> passes" <<<"$report"
# The per-layer table: norm fp32 (its fp16 input overflowed first), the five others fp16.
table=$(sed -n '/^candidate fp16/,/^$/p' <<<"$report")
check "table row: norm fp32, the first overflow" \
  grep -qE "^  norm +fp32 .*its input, cast to fp16, overflowed first" <<<"$table"
check "table: one fp32 layer" test "$(grep -cE '^  [a-z0-9.]+ +fp32 ' <<<"$table")" -eq 1
check "table: five fp16 layers" test "$(grep -cE '^  [a-z0-9.]+ +fp16 ' <<<"$table")" -eq 5
check "printed section: fp32_layers [norm]" grep -qx "  fp32_layers: \[norm\]" <<<"$report"
check "written spec: policy fp16" grep -qx "  policy: fp16" tuned.yaml
check "written spec: fp32_layers [norm]" grep -qx "  fp32_layers: \[norm\]" tuned.yaml
check "written spec: dynamic scaling" grep -qx "    mode: dynamic" tuned.yaml
init=$(awk '$1 == "init:" { print $2 }' tuned.yaml)
check "written spec: init a power of two in [1, 2^24] ($init)" \
  python3 -c "import math,sys; v=float(sys.argv[1]); sys.exit(not (1 <= v <= 2**24 and math.log2(v).is_integer()))" "$init"
check "written spec: the rest of the spec kept" grep -qx "  input_scale: 1e+05" tuned.yaml
check "no probe left in the temp folder" test -z "$(ls -d "${TMPDIR:-/tmp}"/mptrain_tune_?????? 2>/dev/null | grep -v "$WORK")"

# The written spec's run against fp32's, and the unaided fp16 run.
expect 0 "done: 30 steps (0 skipped)" -- --config run.yaml --out runs/fp32
expect 0 "done: 30 steps (0 skipped)" -- --config tuned.yaml --out runs/tuned
expect 4 "all 30 optimizer steps of this run were skipped" -- --config run.yaml --out runs/fp16 --set precision.policy=fp16
dev() {  # mean relative loss deviation of run $1 from fp32 (floor: a tenth of the first loss)
  python3 - "$1" <<'PY'
import csv, math, sys
def losses(d):
    return [float(r["loss"]) for r in csv.DictReader(open(f"runs/{d}/metrics.csv"))]
ref, got = losses("fp32"), losses(sys.argv[1])
if len(got) < len(ref) or any(not math.isfinite(x) for x in got):
    print("inf"); sys.exit()
floor = 0.1 * abs(ref[0])
print(sum(abs(g - r) / max(abs(r), floor) for g, r in zip(got, ref)) / len(ref))
PY
}
tuned_dev=$(dev tuned)
echo "    tuned fp16 vs fp32: mean relative loss deviation $tuned_dev"
check "tuned run within 0.03 of fp32 ($tuned_dev)" python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= 0.03)" "$tuned_dev"
check "unaided fp16: every one of its 30 steps skipped (nan gradients), the model never updated" \
  test "$(awk -F, 'NR > 1 && $7 == 1' runs/fp16/metrics.csv | wc -l)" -eq 30

# bf16 (default candidates): bf16's range holds 1e5, so it needs no fp32 layer.
expect 0 "candidate bf16: 1 probe, fp32 layers [] -> passes" -- tune-precision --config run.yaml --steps 10

# Usage errors: exit 2 before any probe runs.
expect 2 'unknown candidate "fp8"' -- tune-precision --config run.yaml --candidates fp8
expect 2 "fp32 is the reference" -- tune-precision --config run.yaml --candidates fp32,fp16
expect 2 "--steps 0: a probe needs at least 1 step" -- tune-precision --config run.yaml --steps 0
expect 2 "the folder missing does not exist" -- tune-precision --config run.yaml --write missing/out.yaml
expect 2 "is a directory" -- tune-precision --config run.yaml --write runs
mkdir ro && chmod 555 ro
if [ "$(id -u)" -ne 0 ]; then  # root writes anywhere
  expect 2 "is not writable" -- tune-precision --config run.yaml --write ro/out.yaml
fi
expect 2 "--config" -- tune-precision --steps 5
check "no spec written on errors" test ! -e missing/out.yaml -a ! -e ro/out.yaml

echo "tune_precision: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
