#!/usr/bin/env bash
# install.sh BUILD_DIR MAKE_SYNTHETIC: `cmake --install` puts the binary, plot_runs.py and the
# configs under a prefix; the installed binary, and a copy of the binary outside the source tree
# (as an out-of-tree build has it), both find plot_runs.py and draw a sweep's PNGs from any working
# directory. Also: -q/-v are accepted by every subcommand, before or after its name.
set -u
BUILD=$1
SYNTH=$2
WORK=$(mktemp -d /tmp/mptrain_install_XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
unset MPTRAIN_PLOT_SCRIPT MPTRAIN_PYTHON
fails=0
passes=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
run() {  # run DESCRIPTION WANT_CODE COMMAND...: output in out.txt
  local what=$1 want=$2
  shift 2
  "$@" > out.txt 2>&1
  local rc=$?
  if [ "$rc" -eq "$want" ]; then passes=$((passes + 1)); else
    echo "FAIL: $what: exit $rc, expected $want"; sed 's/^/    /' out.txt | tail -n 8; fails=$((fails + 1))
  fi
}

cmake --install "$BUILD" --prefix "$WORK/prefix" > install.log 2>&1 || { cat install.log; exit 1; }
P=$WORK/prefix
check "installed binary" test -x "$P/bin/mptrain"
check "installed plot script" test -f "$P/share/mptrain/plot_runs.py"
check "installed configs" test -f "$P/share/mptrain/configs/mnist_mlp.yaml" -a -f "$P/share/mptrain/configs/REFERENCE.md"
mkdir -p elsewhere/app
cp "$BUILD/app/mptrain" elsewhere/app/mptrain  # a build folder outside the source tree

"$SYNTH" classification data.h5 256 64 12 4 5 || exit 1
cat > run.yaml <<YAML
name: inst
seed: 1
device: cpu
threads: 1
data: {file: data.h5, batch_size: 32}
model:
  layers: [{linear: {out: 16}}, relu, {linear: {out: 4}}]
optimizer: {type: adamw, lr: 0.01}
train: {steps: 6, log_every: 2, eval_every: 3}
YAML

have_mpl=0
/usr/bin/python3 -c "import matplotlib" 2>/dev/null && have_mpl=1
for bin in "$P/bin/mptrain" "$WORK/elsewhere/app/mptrain"; do
  out=runs/$(basename "$(dirname "$(dirname "$bin")")")
  run "sweep with $bin, -q after the options" 0 "$bin" sweep --config run.yaml --out "$out" --grid seed=1,2 -q
  check "$bin: -q keeps the per-step log lines away" bash -c '! grep -q "step " out.txt'
  if [ $have_mpl -eq 1 ]; then
    for png in loss val loss_scale; do check "$bin: $png.png drawn" test -s "$out/$png.png"; done
  else
    echo "SKIPPED: PNG checks (/usr/bin/python3 has no matplotlib)"
    check "$bin: report says why there are no plots" grep -qF "No plots:" "$out/report.md"
    check "$bin: plot script was found" bash -c '! grep -qF "was not found" "$1"' _ "$out/report.md"
  fi
done

B=$P/bin/mptrain
run "-q before the subcommand" 0 "$B" -q sweep --config run.yaml --out runs/q2 --grid seed=3
run "-v after eval" 0 "$B" eval --config run.yaml \
  --checkpoint "$(ls runs/q2/seed-3/checkpoints/step_*.h5 | tail -n 1)" -v
check "eval printed its result" grep -q "^val_loss: " out.txt
run "-q after inspect" 0 "$B" inspect data.h5 -q
run "-q and -v together" 2 "$B" sweep --config run.yaml --grid seed=1 -q -v
run "a training option after a subcommand is still refused" 2 "$B" sweep --config run.yaml --grid seed=1 --resume auto
check "... naming it" grep -qF -- "--resume is an option of training" out.txt
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
