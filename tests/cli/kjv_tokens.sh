#!/usr/bin/env bash
# kjv_tokens.sh: datasets/kjv/prepare.sh on a small generated text (not the bible package), and the
# command-line errors of token data (data.format: tokens) and `mptrain sample`, through the real
# binary: exit codes and message fragments.
# Usage: kjv_tokens.sh MPTRAIN_BINARY SOURCE_DIR
set -u
BIN=$1
SRC=$2
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# expect NAME EXIT_CODE FRAGMENT -- ARGS...: exit code, fragment on stderr (stdout for 0), no crash.
expect() {
  local name=$1 want=$2 frag=$3
  shift 4
  "$BIN" "$@" > out.txt 2> err.txt
  local rc=$? where=err.txt
  [ "$want" -eq 0 ] && where=out.txt
  [ "$rc" -eq "$want" ] || fail "$name: exit code $rc, expected $want ($(head -c 400 err.txt))"
  grep -qE 'terminate called|Segmentation|Aborted|core dumped' err.txt && fail "$name: crash"
  grep -qF -- "$frag" "$where" || fail "$name: message lacks '$frag': $(head -c 600 "$where")"
}

# ---- prepare.sh on a generated text: vocabulary, 95/5 split at a line boundary, provenance -------
$PY - <<'PYEOF'
lines = [f"Ge1:{i} And the word {i % 7} was with {'ABC'[i % 3]}; selah \u00e9.\n" for i in range(1, 201)]
open("fake.txt", "w", encoding="utf-8").write("".join(lines))
PYEOF
"$SRC/datasets/kjv/prepare.sh" --text fake.txt --out fake.h5 > prep.txt 2>&1 || fail "prepare.sh: $(cat prep.txt)"
grep -qF "wrote fake.h5: vocab" prep.txt || fail "prepare.sh output: $(cat prep.txt)"
$PY - <<'PYEOF' || fail "fake.h5 content"
import hashlib, h5py, numpy as np
raw = open("fake.txt", "rb").read()
text = raw.decode("utf-8")
with h5py.File("fake.h5", "r") as f:
    vocab = f["vocab"][:]
    tr, va = f["train/tokens"][:], f["val/tokens"][:]
    a = dict(f.attrs)
assert vocab.dtype == np.int32 and list(vocab) == sorted({ord(c) for c in text}), vocab
assert tr.dtype == np.uint8 and va.dtype == np.uint8
back = "".join(chr(vocab[i]) for i in np.concatenate([tr, va]))
assert back == text, "tokens do not decode to the text"
cut = len(tr)
assert text[cut - 1] == "\n" and 0.94 < cut / len(text) < 0.96, cut / len(text)
assert a["sha256"] == hashlib.sha256(raw).hexdigest()
assert a["vocab_size"] == len(vocab) and a["train_tokens"] == cut and a["val_tokens"] == len(va)
assert a["text_chars"] == len(text) and a["text_bytes"] == len(raw)
assert "by position" in a["split"]
PYEOF
cp fake.h5 first.h5
"$SRC/datasets/kjv/prepare.sh" --text fake.txt --out fake.h5 > prep2.txt 2>&1
grep -qF "exists; nothing to do" prep2.txt || fail "prepare.sh without --force: $(cat prep2.txt)"
"$SRC/datasets/kjv/prepare.sh" --force --text fake.txt --out fake.h5 > /dev/null 2>&1
cmp -s fake.h5 first.h5 || fail "prepare.sh is not byte-reproducible"
printf 'x' > short.txt
"$SRC/datasets/kjv/prepare.sh" --text short.txt --out short.h5 > short.out 2>&1 && fail "prepare.sh accepted a 1-character text"
grep -qF "too short to split" short.out || fail "short text message: $(cat short.out)"
"$SRC/datasets/kjv/prepare.sh" --bogus > bogus.out 2>&1
[ $? -eq 2 ] || fail "prepare.sh --bogus: expected exit 2"

# ---- token data in a run spec ---------------------------------------------------------------------
$PY - <<'PYEOF'
import h5py, numpy as np
with h5py.File("bad.h5", "w") as f:
    f["vocab"] = np.arange(65, 70, dtype=np.int32)          # 5 tokens
    f["train/tokens"] = np.array([0, 1, 2, 3, 4] * 20, dtype=np.uint8)
    f["val/tokens"] = np.array([0, 1, 7, 2], dtype=np.uint8)  # 7 >= 5
PYEOF
tok() {  # tok NAME CONTEXT [extra yaml lines]: a token spec on fake.h5
  printf 'data: {file: %s, format: tokens, context: %s, batch_size: 4, train: {x: /train/tokens}, val: {x: %s, y: ""}}\nmodel:\n  layers: [relu]\n%s' \
    "${DATA:-fake.h5}" "$2" "${VAL:-/val/tokens}" "${3:-}" > "$1.yaml"
}
tok ok 16
expect "token model without an lm_head" 2 "needs cross_entropy over a model that outputs [16, " -- --config ok.yaml --dry-run --device cpu
VAL=/val/nope tok missing 16
expect "missing stream" 3 "/val/nope" -- --config missing.yaml --dry-run --device cpu
DATA=bad.h5 tok badtok 4
expect "token >= vocab" 3 "token 7 at position 2 is out of range: expected 0..4" -- --config badtok.yaml --dry-run --device cpu
DATA=bad.h5 VAL='""' tok long 100
expect "context >= stream" 3 "data.context 100 needs windows of 101 tokens, but the training stream holds 100" -- --config long.yaml --dry-run --device cpu
tok shape 16 "  input_shape: [8]
"
expect "input_shape != [T]" 2 "model.input_shape: expected [16]" -- --config shape.yaml --dry-run --device cpu
tok noctx 0
expect "no context" 2 "data.context: expected the window length" -- --config noctx.yaml --dry-run --device cpu

# ---- mptrain sample ---------------------------------------------------------------------------------
expect "sample in --help" 0 "sample" -- --help
expect "sample needs --prompt" 2 "--prompt" -- sample --config ok.yaml --checkpoint c.h5
expect "unknown prompt characters" 2 "characters not in the vocabulary of" -- sample --config ok.yaml --checkpoint c.h5 --prompt "And Zoe#" --tokens 5
grep -qF "'Z', '#'" err.txt || fail "unknown characters not listed: $(cat err.txt)"
printf 'data: {file: fake.h5}\nmodel:\n  layers: [relu]\n' > samples.yaml
expect "sample on samples data" 2 "mptrain sample needs a token model" -- sample --config samples.yaml --checkpoint c.h5 --prompt "And"
expect "sample, missing checkpoint" 3 "nope.h5" -- sample --config ok.yaml --checkpoint nope.h5 --prompt "And"
expect "sample, negative top-k" 2 "--top-k" -- sample --config ok.yaml --checkpoint c.h5 --prompt "And" --top-k -1
# A tiny GPT trained on fake.h5 (the generated verses), then sampled: the output starts with the
# prompt and has --tokens more characters; a fixed --seed prints the same text twice, another seed
# other text; --temperature 0 equals --top-k 1 (greedy); and greedy decoding has learnt the text's
# most regular phrase ("And the word ... was with").
V=$($PY -c "import h5py; print(len(h5py.File('fake.h5', 'r')['vocab']))")
cat > lm.yaml <<YEOF
seed: 3
data: {file: fake.h5, format: tokens, context: 24, batch_size: 16, train: {x: /train/tokens}, val: {x: /val/tokens}}
model:
  layers:
    - embedding: {vocab: $V, dim: 48}
    - positional_embedding
    - transformer_block: {heads: 2}
    - layernorm
    - lm_head: {vocab: $V, tie: true}
  loss: cross_entropy
optimizer: {lr: 5.0e-3, grad_clip_norm: 1.0}
train: {steps: 250, log_every: 50, eval_every: 250}
output: {dir: lm_run}
YEOF
"$BIN" --config lm.yaml --device cpu --threads 1 > lm_train.txt 2>&1 || fail "training the tiny GPT: $(tail -5 lm_train.txt)"
CK=$(ls lm_run/checkpoints/step_*.h5 2>/dev/null | tail -1)
$PY - "$V" <<'PYEOF' || fail "tiny GPT val_loss: $(cat lm_run/eval.csv)"
import csv, math, sys
rows = list(csv.DictReader(open("lm_run/eval.csv")))
loss = float(rows[-1]["val_loss"])
assert loss < 0.35 * math.log(int(sys.argv[1])), (loss, math.log(int(sys.argv[1])))
PYEOF
# mptrain eval on the language model: the training run's last val_loss, in bits per token too,
# over the counted tokens of the validation windows.
"$BIN" eval --config lm.yaml --device cpu --checkpoint "$CK" > lm_eval.txt 2>&1 || fail "eval: $(tail -3 lm_eval.txt)"
$PY - <<'PYEOF' || fail "eval of the tiny GPT: $(cat lm_eval.txt)"
import csv, math, re
out = dict(re.findall(r"^(\w+): (\S+)", open("lm_eval.txt").read(), re.M))
last = float(list(csv.DictReader(open("lm_run/eval.csv")))[-1]["val_loss"])
assert abs(float(out["val_loss"]) - last) <= 1e-6 * max(1.0, last), (out["val_loss"], last)
assert abs(float(out["val_bits_per_token"]) - float(out["val_loss"]) / math.log(2)) < 1e-4, out
assert int(out["tokens"]) > 0 and int(out["tokens"]) % 24 == 0, out  # whole windows of context 24
PYEOF
smp() { "$BIN" sample --config lm.yaml --device cpu --checkpoint "$CK" --prompt "$1" --tokens 40 "${@:2}"; }
a=$(smp "Ge1:5 And the" --seed 7 --temperature 0.8) || fail "sample: exit $?"
b=$(smp "Ge1:5 And the" --seed 7 --temperature 0.8)
c=$(smp "Ge1:5 And the" --seed 8 --temperature 0.8)
[ "$a" = "$b" ] || fail "same seed, different text: '$a' vs '$b'"
[ "$a" != "$c" ] || fail "seeds 7 and 8 gave the same text: '$a'"
case "$a" in "Ge1:5 And the"*) ;; *) fail "output does not start with the prompt: '$a'" ;; esac
n=$($PY -c 'import sys; print(len(sys.argv[1]))' "$a")  # characters, whatever the shell's locale
[ "$n" -eq $((13 + 40)) ] || fail "expected 13 + 40 characters, got $n: '$a'"
g0=$(smp "Ge1:5 And the" --temperature 0)
g1=$(smp "Ge1:5 And the" --top-k 1 --seed 99)
[ "$g0" = "$g1" ] || fail "temperature 0 '$g0' != top-k 1 '$g1'"
case "$g0" in "Ge1:5 And the word "?" was with"*) ;; *) fail "greedy text did not learn the phrase: '$g0'" ;; esac

[ "$failed" -eq 0 ] && echo "kjv_tokens: all passed" || { echo "kjv_tokens: $failed failed"; exit 1; }
