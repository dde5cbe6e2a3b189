#!/usr/bin/env bash
# e2e.sh MPTRAIN MAKE_SYNTHETIC GROUP: end-to-end runs of the CLI on synthetic data. Each case
# asserts the exit code and a fragment of the output; a failing case prints both.
set -u
MPTRAIN=$1
SYNTH=$2
GROUP=$3
WORK=$(mktemp -d /tmp/mptrain_e2e_${GROUP}_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$SYNTH" classification data.h5 1024 256 12 4 5 || exit 1

cat > run.yaml <<YAML
name: e2e
seed: 1
device: cpu
threads: 1
data: {file: data.h5, batch_size: 32}
model:
  layers:
    - linear: {out: 32}
    - relu
    - linear: {out: 4}
optimizer: {type: adamw, lr: 0.01}
train: {steps: 30, log_every: 5, eval_every: 15, checkpoint_every: 10}
output: {dir: "runs/{name}_{precision.policy}"}
YAML

fails=0
passes=0
# expect CODE FRAGMENT -- ARGS...: run mptrain, check exit code and that the output has FRAGMENT.
expect() {
  local code=$1 frag=$2
  shift 3
  local out rc
  out=$("$MPTRAIN" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$frag" <<<"$out"; then
    echo "FAIL: mptrain $* -> exit $rc (want $code), output lacks/has: $frag"
    echo "$out" | tail -n 15 | sed 's/^/    /'
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

case "$GROUP" in
run)
  expect 0 "done: 30 steps" -- --config run.yaml
  check "run dir from placeholders" test -f runs/e2e_fp32/summary.json
  check "metrics header" grep -qx "step,epoch,loss,lr,loss_scale,grad_norm,skipped,samples_per_s,time_s" runs/e2e_fp32/metrics.csv
  check "7 metrics rows (5..30)" test "$(wc -l < runs/e2e_fp32/metrics.csv)" -eq 7
  check "latest names step 30" grep -q "step_00000030.h5" runs/e2e_fp32/checkpoints/latest
  check "summary has the contract's keys" bash -c 'for k in final_train_loss best_val_loss final_val_accuracy steps skipped_steps samples_per_s peak_memory_bytes wall_s policy device world_size; do grep -q "\"$k\"" runs/e2e_fp32/summary.json || exit 1; done'
  expect 0 "val_accuracy" -- eval --config run.yaml --checkpoint runs/e2e_fp32/checkpoints/step_00000030.h5
  expect 0 "format_version" -- inspect runs/e2e_fp32/checkpoints/step_00000030.h5
  expect 0 "/train/x" -- inspect data.h5
  expect 0 "done: 30 steps" -- --config run.yaml --set precision.policy=bf16
  expect 0 "done: 30 steps" -- --config run.yaml --set precision.policy=fp16
  check "fp16 uses the dynamic scaler" grep -q ",65536," runs/e2e_fp16/metrics.csv
  expect 0 "done: 30 steps" -- --config run.yaml --out runs/tele --set precision.policy=fp16 --set precision.telemetry_every=10 -v
  check "telemetry.csv written" test "$(head -1 runs/tele/telemetry.csv)" = "step,param,numel,underflow_frac,max_abs,max_abs_over_dtype_max"
  check "telemetry rows for steps 10, 20, 30 x (4 params + 3 activations)" test "$(wc -l < runs/tele/telemetry.csv)" -eq 22
  check "activation rows" grep -q "^10,layers.1.out," runs/tele/telemetry.csv
  ;;
signals)
  for sig in INT TERM; do
    want=130; [ $sig = TERM ] && want=143
    "$MPTRAIN" --config run.yaml --out "runs/sig_$sig" --set train.steps=1000000 --set train.log_every=1 \
      --set train.checkpoint_every=0 >"sig_$sig.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
      [ -f "runs/sig_$sig/metrics.csv" ] && [ "$(wc -l < "runs/sig_$sig/metrics.csv")" -gt 3 ] && break
      sleep 0.1
    done
    kill -s $sig $pid
    wait $pid
    rc=$?
    check "SIG$sig exits $want (got $rc)" test $rc -eq $want
    check "SIG$sig wrote a checkpoint" test -f "runs/sig_$sig/checkpoints/latest"
    check "SIG$sig message" grep -q "stop requested" "sig_$sig.log"
  done
  # The interrupted run resumes from its checkpoint.
  step=$(sed 's/.*step_0*\([0-9]*\)\.h5.*/\1/' runs/sig_INT/checkpoints/latest)
  expect 0 "resumed from" -- --config run.yaml --out runs/sig_INT --resume auto --set train.steps=$((step + 5)) --set train.log_every=1
  ;;
data_errors)
  expect 3 "data file not found" -- --config run.yaml --set data.file=missing.h5
  echo "not hdf5" > bad.h5
  expect 3 "not an HDF5 file" -- --config run.yaml --set data.file=bad.h5
  expect 3 "/train/x" -- --config run.yaml --set data.train.x=/nope/x
  expect 3 "[12]" -- --config run.yaml --set model.input_shape=[7]
  expect 3 "label" -- --config run.yaml --set model.layers.2.linear.out=3
  expect 3 "batch" -- --config run.yaml --set data.batch_size=5000
  ;;
resume_errors)
  expect 0 "done" -- --config run.yaml --out runs/a
  expect 2 "layers.0.weight" -- --config run.yaml --out runs/b --set model.layers.0.linear.out=16 --resume runs/a/checkpoints/step_00000030.h5
  head -c 2000 runs/a/checkpoints/step_00000030.h5 > trunc.h5
  expect 3 "trunc.h5" -- --config run.yaml --out runs/c --resume trunc.h5
  expect 2 "no such checkpoint" -- --config run.yaml --out runs/c --resume nothere.h5
  # --resume auto skips a corrupt newest checkpoint and takes the previous one.
  cp runs/a/checkpoints/step_00000030.h5 keep30.h5
  head -c 3000 keep30.h5 > runs/a/checkpoints/step_00000030.h5
  expect 0 "resumed from" -- --config run.yaml --out runs/a --resume auto
  ;;
divergence)
  expect 4 "consecutive" -- --config run.yaml --out runs/div --set optimizer.lr=1e30 \
    --set optimizer.type=sgd --set precision.loss_scale.max_consecutive_skips=3
  expect 4 "consecutive" -- --config run.yaml --out runs/inj --set precision.policy=fp16 \
    --set precision.loss_scale.max_consecutive_skips=2 --set "debug.inject_nonfinite_grad_steps=[3,4,5]"
  ;;
*)
  echo "unknown group $GROUP"
  exit 2
  ;;
esac
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
