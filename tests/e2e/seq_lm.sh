#!/usr/bin/env bash
# seq_lm.sh MPTRAIN: a tiny token model (embedding -> positional_embedding -> layernorm -> lm_head
# tied) on a synthetic pre-windowed token set (make_tokens.py: next token = a fixed function of the
# current one) trains in fp32, bf16 and fp16 to a validation loss far below the uniform log(16) =
# 2.77 nats/token; the tied table is stored once; bad token data and tie mistakes end with the
# documented exit codes and messages. Needs Python with h5py and numpy (MPTRAIN_PYTHON).
set -u
MPTRAIN=$1
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
PY=${MPTRAIN_PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import h5py, numpy" 2>/dev/null; then
  echo "SKIPPED: $PY has no h5py/numpy"
  exit 0
fi
WORK=$(mktemp -d /tmp/mptrain_e2e_seq_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$PY" "$SRC_DIR/tests/e2e/make_tokens.py" tok.h5 16 12 512 64 3 || exit 1

cat > lm.yaml <<YAML
name: lm
seed: 1
device: cpu
threads: 1
data: {file: tok.h5, batch_size: 32, train: {x: /train/x, y: /train/y}, val: {x: /val/x, y: /val/y}}
model:
  input_shape: [12]
  ignore_index: -100
  layers:
    - embedding: {vocab: 16, dim: 32}
    - positional_embedding
    - layernorm
    - lm_head: {vocab: 16, tie: true}
  loss: cross_entropy
optimizer: {type: adamw, lr: 0.02}
train: {steps: 150, log_every: 50, eval_every: 75}
output: {dir: "runs/{name}_{precision.policy}"}
YAML

source "$SRC_DIR/tests/e2e/expect.sh"  # expect, check, the pass/fail counts
last_val_loss() { tail -n 1 "$1/eval.csv" | cut -d, -f2; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

for p in fp32 bf16 fp16; do
  expect 0 "bits/token" -- --config lm.yaml --set precision.policy=$p
  v=$(last_val_loss runs/lm_$p)
  echo "$p: final val_loss $v nats/token (uniform: 2.77)"
  check "$p val_loss $v < 0.3 nats/token" below "$v" 0.3
  check "$p eval.csv keeps the contract's columns" grep -qx "step,val_loss,val_accuracy" runs/lm_$p/eval.csv
done
check "fp16 accuracy is 1 on the deterministic pattern" grep -q "^150,.*,1$" runs/lm_fp16/eval.csv
# 16*32 tied table + 12*32 positions + 2*32 layernorm: the head adds no weight of its own
expect 0 "model: 960 parameters" -- --config lm.yaml --out runs/count --set train.steps=1
ck=runs/lm_fp32/checkpoints/step_00000150.h5
check "the tied table is stored once" "$PY" -c "
import h5py, sys
p = sorted(h5py.File('$ck', 'r')['params'].keys())
sys.exit(0 if p == ['layers.0.weight', 'layers.1.weight', 'layers.2.bias', 'layers.2.weight'] else 1)"
expect 0 "val_accuracy" -- eval --config lm.yaml --checkpoint "$ck"

# Bad data: a token id outside the vocabulary, labels shaped unlike x, a label out of range.
"$PY" - <<'PY'
import h5py, shutil
for name, fix in [("badid.h5", lambda f: f["/val/x"].__setitem__((3, 5), 16.0)),
                  ("badlabel.h5", lambda f: f["/train/y"].__setitem__((2, 7), 20)),
                  ("badtrain.h5", lambda f: f["/train/x"].__setitem__((slice(None), 5), 16.0))]:
    shutil.copy("tok.h5", name)
    with h5py.File(name, "r+") as f:
        fix(f)
shutil.copy("tok.h5", "badshape.h5")
with h5py.File("badshape.h5", "r+") as f:
    y = f["/val/y"][()]
    del f["/val/y"]
    f["/val/y"] = y[:, :-1]
PY
expect 3 "layer layers.0 (embedding, vocab 16): token id 16 at sample 3, position 5 of the batch is not an integer in [0, 16)" -- \
  --config lm.yaml --out runs/badid --set data.file=badid.h5
# In training the id check is deferred to the step's one read-back (no read per embedding op): the
# same error, raised before the first update (every sample has the bad id at position 5, so the
# batch's first bad index is sample 0 whatever the shuffle).
expect 3 "layer layers.0 (embedding, vocab 16): token id 16 at sample 0, position 5 of the batch is not an integer in [0, 16)" -- \
  --config lm.yaml --out runs/badtrain --set data.file=badtrain.h5
expect 3 "label 20 at sample 2, position 7 is out of range" -- --config lm.yaml --out runs/badlabel --set data.file=badlabel.h5
expect 3 "dataset /val/y: expected 12 integer labels per sample (one per position of the model's [12, 16] output: shape [N, 12]), found shape [64, 11]" -- \
  --config lm.yaml --out runs/badshape --set data.file=badshape.h5
# Tie mistakes are config errors (exit 2) at the head's line: a head wider than the table, no
# embedding of the name tie_to gives.
sed 's/    - layernorm/    - linear: {out: 24}/' lm.yaml > dim.yaml
expect 2 "dim.yaml:13:7: lm_head: tie: true needs a [vocab, dim] table of [16, 24], but embedding layers.0 has [16, 32]" -- \
  --config dim.yaml
sed 's/tie: true}/tie: true, tie_to: emb}/' lm.yaml > noemb.yaml
expect 2 "noemb.yaml:13:7: lm_head: tie: true needs the embedding named \"emb\" before it" -- --config noemb.yaml
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
