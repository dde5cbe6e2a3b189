#!/usr/bin/env bash
# mnist_cnn.sh MPTRAIN: configs/mnist_cnn.yaml on the shipped MNIST through the real binary.
# The flat [784] pixels are viewed as the model's [1, 28, 28] input; --dry-run lists the conv,
# pooling and group_norm layers, and its memory estimate is within 15 % of the peak a short run
# measures (fp32 and bf16); a few steps train (the loss falls) in each policy.
set -u
MPTRAIN=$1
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/mptrain_e2e_cnn_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
common=(--config "$SRC_DIR/configs/mnist_cnn.yaml" --set "data.file=$SRC_DIR/datasets/mnist/mnist.h5"
        --set threads=1 --set data.batch_size=32)

out=$("$MPTRAIN" "${common[@]}" --dry-run 2>&1) || fail "dry run exit $?: $out"
for frag in "model: input [1, 28, 28]" "conv2d      fp32   [16, 28, 28]" "group_norm" \
            "max_pool2d  fp32   [16, 14, 14]" "linear      fp32   [10]"; do
  grep -qF -- "$frag" <<<"$out" || fail "dry run lacks '$frag': $out"
done

for policy in fp32 bf16 fp16; do
  est=$("$MPTRAIN" "${common[@]}" --set precision.policy=$policy --dry-run 2>&1 |
        awk '$1 == "total" && $3 == "MiB" { print $2 }')
  run=(--set precision.policy=$policy --set train.steps=12 --set train.log_every=4
       --set train.eval_every=0 --set train.checkpoint_every=0 --set "output.dir=runs/$policy")
  out=$("$MPTRAIN" "${common[@]}" "${run[@]}" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || ! grep -qF "done: 12 steps" <<<"$out"; then
    fail "$policy: 12 steps exit $rc: $(tail -5 <<<"$out")"
    continue
  fi
  peak=$(grep -o '"peak_memory_bytes": *[0-9]*' "runs/$policy/summary.json" | grep -o '[0-9]*$')
  # |estimate - peak| <= 15 % of peak
  awk -v e="$est" -v p="$peak" 'BEGIN { e *= 1048576; d = e - p; if (d < 0) d = -d; exit !(p > 0 && d <= 0.15 * p) }' ||
    fail "$policy: dry-run estimate $est MiB is not within 15 % of the measured peak $peak bytes"
  # The loss at step 12 is below the loss at step 4 (metrics.csv: step,epoch,loss,...).
  awk -F, 'NR > 1 { l[$1] = $3 } END { exit !(l[12] < l[4]) }' "runs/$policy/metrics.csv" ||
    fail "$policy: loss did not fall: $(cat runs/$policy/metrics.csv)"
done

[ "$fails" -eq 0 ] && echo "mnist_cnn e2e: all checks passed"
exit $((fails > 0))
