#!/usr/bin/env bash
# train_mpi.sh HAVE_MPI MPTRAIN MAKE_SYNTHETIC GROUP: data-parallel training through the real
# mptrain binary under `mpirun -np 2` on synthetic data (see CMakeLists.txt for the groups).
# Parameters are compared with h5py (python3-h5py, in scripts/setup.sh): per tensor,
# |a - b| / |a| over the whole tensor (L2 norms).
set -uo pipefail
have_mpi=$1 mptrain=$2 synth=$3 group=$4
if [ "$have_mpi" != 1 ] || ! command -v mpirun >/dev/null; then
  echo "SKIPPED: this build has no MPI or mpirun is not installed (openmpi-bin)"
  exit 77
fi
PY=${MPTRAIN_PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import h5py, numpy" 2>/dev/null; then
  echo "SKIPPED: no h5py/numpy for $PY (python3-h5py, python3-numpy)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/checks.sh"
tmp=$(mktemp -d /tmp/mptrain_dist_${group}_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# 1300 samples: two ranks get 650 each, so an epoch ends in a short batch on both (650 = 10 x 64
# + 10); with a third rank the shards differ by one sample and padding comes into play.
"$synth" classification data.h5 1300 256 12 4 5 >/dev/null || exit 1
cat > run.yaml <<'YAML'
name: dp
seed: 3
device: cpu
threads: 1
data: {file: data.h5, batch_size: 128, drop_last: false}
model:
  layers:
    - linear: {out: 32}
    - relu
    - linear: {out: 4}
optimizer: {type: adamw, lr: 0.01}
train: {steps: 20, log_every: 1, eval_every: 10, checkpoint_every: 10}
YAML

one() { run "$1" 0 "$mptrain" -q --config run.yaml "${@:2}"; }
two() { run "$1" 0 "${mpi[@]}" -np 2 "$mptrain" -q --config run.yaml --set data.batch_size=64 "${@:2}"; }
# the same with the info log (rank 0's), for checks on it
one_log() { run "$1" 0 "$mptrain" --config run.yaml "${@:2}"; }
two_log() { run "$1" 0 "${mpi[@]}" -np 2 "$mptrain" --config run.yaml --set data.batch_size=64 "${@:2}"; }
# close NAME A.h5 B.h5 MAX_REL [MIN_REL]: every /params tensor within MAX_REL (and, given
# MIN_REL, at least one differing by more: the setting under test had an effect)
close() {
  local res
  res=$("$PY" - "$2" "$3" "$4" "${5:-0}" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
hi, lo = float(sys.argv[3]), float(sys.argv[4])
worst = 0.0
for k in a["params"]:
    x = a["params"][k][()].astype(np.float64)
    y = b["params"][k][()].astype(np.float64)
    worst = max(worst, np.linalg.norm(x - y) / np.linalg.norm(x))
ok = worst <= hi and (lo == 0 or worst > lo)
print(("ok" if ok else "BAD") + " worst relative difference %.3g (allowed %g, above %g)" % (worst, hi, lo))
PYEOF
)
  echo "  $1: $res"
  [[ "$res" == ok* ]] || fail "$1: $res"
}
# same NAME A.h5 B.h5: /params and /optimizer bit for bit
same() {
  local res
  res=$("$PY" - "$2" "$3" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = []
def walk(name, obj):
    if isinstance(obj, h5py.Dataset) and name.startswith(("params/", "optimizer/", "scaler/")):
        if name not in b or a[name][()].tobytes() != b[name][()].tobytes(): bad.append(name)
a.visititems(walk)
print("ok" if not bad else "BAD differ: " + ", ".join(bad[:5]))
PYEOF
)
  echo "  $1: $res"
  [[ "$res" == ok* ]] || fail "$1: $res"
}
ck=checkpoints/step_00000020.h5

case "$group" in
  equivalence)
    # 2 ranks x 64 == 1 rank x 128: same samples per step, gradients summed over ranks.
    one "1 rank x 128" --out r1
    two "2 ranks x 64" --out r2
    has "rank 0 reports the whole job" "done: 20 steps \(0 skipped\)"
    close "fp32: 2 x 64 vs 1 x 128" r1/$ck r2/$ck 1e-6
    grep -q '"world_size": 2' r2/summary.json || fail "summary.json lacks world_size 2"
    [ "$(wc -l < r2/metrics.csv)" = 21 ] || fail "metrics.csv should have 20 rows (one writer)"
    # bf16 all-reduce: rounded twice per step (each rank's gradient, the sum); lossy but close
    two "2 ranks x 64, bf16 all-reduce" --set precision.allreduce_dtype=bf16 --out r2b
    close "bf16 all-reduce: within 1e-2, but not fp32's result" r1/$ck r2b/$ck 1e-2 1e-6
    # the same under a bf16 policy (loss scale none), sgd
    one "1 rank x 128, bf16 policy, sgd" --set precision.policy=bf16 --set optimizer.type=sgd \
      --set optimizer.lr=0.1 --out p1
    two "2 ranks x 64, bf16 policy, sgd" --set precision.policy=bf16 --set optimizer.type=sgd \
      --set optimizer.lr=0.1 --out p2
    close "bf16 policy: 2 x 64 vs 1 x 128" p1/$ck p2/$ck 1e-6
    # 3 ranks of 43 (129 a step): shards of 434 and 433 samples, padding dropped from the last
    # batch; one epoch of 1300 samples as one process with batch 129 sees it.
    one "1 rank x 129, one epoch" --set data.batch_size=129 --set train.steps=0 --out e1
    run "3 ranks x 43, one epoch" 0 "${mpi[@]}" -np 3 "$mptrain" -q --config run.yaml \
      --set data.batch_size=43 --set train.steps=0 --out e3
    e1ck=$(cat e1/checkpoints/latest) e3ck=$(cat e3/checkpoints/latest)
    [ "$e1ck" = "$e3ck" ] || fail "one epoch: 1 rank ended at $e1ck, 3 ranks at $e3ck"
    close "3 x 43 vs 1 x 129 over an epoch with a padded last batch" e1/checkpoints/$e1ck \
      e3/checkpoints/$e3ck 1e-6
    grep -q "^11,.*" e3/eval.csv && [ "$(tail -1 e1/eval.csv | cut -d, -f3)" = \
      "$(tail -1 e3/eval.csv | cut -d, -f3)" ] || fail "val accuracy of 3 ranks != 1 rank"
    ;;
  overflow)
    # A non-finite gradient on rank 1 only: found_inf is MAXed, so every rank skips step 5 and
    # the dynamic scale backs off once (65536 -> 32768); the run still equals one process that
    # skipped step 5.
    # fp32 with a dynamic scale: the comparison with one process stays at fp32 roundoff (an fp16
    # policy would turn the GEMMs' order differences into flipped fp16 roundings).
    set_ovf=(--set precision.loss_scale.mode=dynamic --set "debug.inject_nonfinite_grad_steps=[5]")
    one "1 rank, overflow at step 5" "${set_ovf[@]}" --out o1
    two "2 ranks, overflow at step 5 on rank 1 only" "${set_ovf[@]}" --set debug.inject_rank=1 --out o2
    has "one step skipped" "done: 20 steps \(1 skipped\)"
    row() { sed -n "$(($2 + 1))p" "$1/metrics.csv" | cut -d, -f5,7; }  # loss_scale,skipped
    [ "$(row o2 4)" = "65536,0" ] || fail "step 4: want scale 65536 applied, got $(row o2 4)"
    [ "$(row o2 5)" = "65536,1" ] || fail "step 5 (rank 0's metrics): want skipped, got $(row o2 5)"
    [ "$(row o2 6)" = "32768,0" ] || fail "step 6: want scale 32768 (one back-off), got $(row o2 6)"
    [ "$(row o2 20)" = "32768,0" ] || fail "step 20: want scale 32768, got $(row o2 20)"
    close "2 ranks with rank 1's overflow vs 1 rank's" o1/$ck o2/$ck 1e-6
    ;;
  kill)
    # SIGKILL one rank mid-training: mpirun ends the job, non-zero, naming the rank, in < 60 s.
    "${mpi[@]}" -np 2 "$mptrain" -q --config run.yaml --set data.batch_size=64 \
      --set train.steps=10000000 --set train.checkpoint_every=0 --out k >k.log 2>&1 &
    job=$!
    victim=""
    for _ in $(seq 100); do  # rank 1's pid, once it trains (rank 0 wrote metrics)
      for c in $(pgrep -P "$job"); do
        tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$c
      done
      [ -n "$victim" ] && [ -s k/metrics.csv ] && break
      sleep 0.1
    done
    if [ -z "$victim" ]; then
      fail "rank 1 did not start"; kill "$job"
    else
      t0=$SECONDS
      kill -9 "$victim"
      while kill -0 "$job" 2>/dev/null && [ $((SECONDS - t0)) -lt 90 ]; do sleep 0.2; done
      kill -9 "$job" 2>/dev/null  # still running after 90 s: a hang (the check below fails)
      wait "$job"
      rc=$? secs=$((SECONDS - t0))
      out=$(cat k.log)
      echo "killed rank 1: exit $rc after ${secs}s"
      [ "$rc" != 0 ] || fail "the job exited 0 after a rank was killed"
      [ "$secs" -lt 60 ] || fail "the job took ${secs}s to end after a rank was killed"
      has "mpirun names the rank" "process rank 1 .*exited on signal 9"
    fi
    ;;
  resume)
    # A 2-rank run resumed from its step-10 checkpoint with 2 ranks ends bit-exact.
    two "2 ranks, 20 steps" --out a
    two "2 ranks, resumed at step 10" --resume a/checkpoints/step_00000010.h5 --out b
    same "resumed == uninterrupted" a/$ck b/$ck
    cmp -s <(sed -n 12,21p a/metrics.csv | cut -d, -f1-7) <(sed -n 2,11p b/metrics.csv | cut -d, -f1-7) ||
      fail "metrics of steps 11-20 differ between the resumed and the uninterrupted run"
    # Another world size continues where each sample is still seen once per epoch (the
    # zero_resume group); where it cannot, every rank refuses with exit 2: step 10 of 2 x 64 is
    # 1280 samples into the epoch, not a whole number of 3 x 64 batches.
    run "3 ranks cannot continue a 2-rank epoch" 2 "${mpi[@]}" -np 3 "$mptrain" -q --config run.yaml \
      --set data.batch_size=64 --resume a/checkpoints/step_00000010.h5 --out c
    # Every rank refuses, but the first to abort may end the others before they print: any rank's
    # message will do.
    has "names both global batches" "rank [0-2]: error: resume: .*1280 samples into it \(2 ranks x data.batch_size 64 = 128 per batch\); this run takes 192 per batch \(3 ranks x 64\)"
    [ ! -e c/metrics.csv ] || fail "a refused resume wrote metrics"
    # Ranks that disagree on the spec end together with exit 2.
    run "ranks with different specs" 2 "${mpi[@]}" -np 1 "$mptrain" -q --config run.yaml --out f : \
      -np 1 "$mptrain" -q --config run.yaml --set optimizer.lr=0.02 --out f
    # Every rank finds the mismatch; whichever aborts first may end the other before it prints.
    has "names the mismatch" "rank [01]: error: the 2 ranks of this job do not train the same run: the resolved spec of rank 1 differs"
    [ ! -e f/metrics.csv ] || fail "a refused job wrote metrics"
    ;;
  zero)
    # dist.zero: 1 (optimizer state sharded) gives the bits of dist.zero: 0; 2 x 64 == 1 x 128.
    # The 548 parameters split at element 274, inside the first weight (a straddling parameter);
    # MPTRAIN_DIST_BUCKET_ELEMENTS=300 makes two buckets, each sharded on its own.
    one "1 rank x 128" --out r1
    two "2 ranks x 64, zero 0" --out z0
    two_log "2 ranks x 64, zero 1" --set dist.zero=1 --out z1
    has "the log says the state is sharded" "optimizer state: 4384 bytes on 2 ranks, sharded \(per rank: 2192, 2192\)"
    grep -q '"optimizer_state_bytes": 2192' z1/summary.json || fail "summary.json: rank 0 should hold 2192 bytes (half of AdamW's 2 x 548 x 4)"
    grep -qE '"comm_s_per_step": [0-9.e-]+' z1/summary.json || fail "summary.json lacks comm_s_per_step"
    same "zero 1 == zero 0, bit for bit (parameters and optimizer state)" z0/$ck z1/$ck
    close "fp32: 2 x 64 zero 1 vs 1 x 128" r1/$ck z1/$ck 1e-6
    MPTRAIN_DIST_BUCKET_ELEMENTS=300 two_log "2 ranks, zero 1, two buckets" --set dist.zero=1 --out zb
    has "two buckets" "\(2 buckets\)"
    same "two buckets: zero 1 == zero 0" z0/$ck zb/$ck
    # train.cuda_graph (recorded host calls on the CPU engine): the micro-batches replay between
    # the ranks' collectives, which stay outside the graphs: the same bits.
    two "2 ranks x 64, zero 1, train.cuda_graph" --set dist.zero=1 --set train.cuda_graph=true --out zg
    same "graphs: zero 1 == zero 0" z0/$ck zg/$ck
    grep -qE '"graph_replays": [1-9]' zg/summary.json || fail "zero 1 with graphs: no replays ($(grep graph_ zg/summary.json | tr -d '\n'))"
    # Clipping needs the global norm (each rank sums the squares of its shard only).
    two "2 ranks, zero 0, clipped" --set optimizer.grad_clip_norm=0.05 --out c0
    two "2 ranks, zero 1, clipped" --set optimizer.grad_clip_norm=0.05 --set dist.zero=1 --out c1
    close "clipped: zero 1 vs zero 0" c0/$ck c1/$ck 1e-6
    close "clipping had an effect" z0/$ck c0/$ck 1 1e-3
    # bf16 policy (fp32 masters, bf16 working weights: zero 1 all-gathers the working copies and
    # gathers the masters only for checkpoints), sgd
    set_bf=(--set precision.policy=bf16 --set optimizer.type=sgd --set optimizer.momentum=0.9
            --set optimizer.lr=0.1)
    one "1 rank x 128, bf16 policy, sgd" "${set_bf[@]}" --out p1
    two "2 ranks x 64, bf16 policy, sgd, zero 1" "${set_bf[@]}" --set dist.zero=1 --out p2
    close "bf16 policy: 2 x 64 zero 1 vs 1 x 128" p1/$ck p2/$ck 1e-6
    two "2 ranks x 64, bf16 policy, sgd, zero 0" "${set_bf[@]}" --out p0
    same "bf16 policy: zero 1 == zero 0 (masters in the checkpoint gathered)" p0/$ck p2/$ck
    # The step-10 checkpoint's masters were gathered mid-run: resuming it continues bit for bit.
    two "2 ranks, bf16 policy, zero 1, resume step 10" "${set_bf[@]}" --set dist.zero=1 \
      --resume p2/checkpoints/step_00000010.h5 --out p3
    same "bf16 policy, zero 1: resumed == uninterrupted" p2/$ck p3/$ck
    # bf16 all-reduce payload: reduce-scattered in bf16, lossy as with zero 0
    two "2 ranks x 64, bf16 payload, zero 1" --set precision.allreduce_dtype=bf16 --set dist.zero=1 --out b1
    close "bf16 payload: within 1e-2, but not fp32's result" r1/$ck b1/$ck 1e-2 1e-6
    # An overflow on rank 1 only: every rank skips step 5, the scale backs off once.
    set_ovf=(--set precision.loss_scale.mode=dynamic --set "debug.inject_nonfinite_grad_steps=[5]")
    one "1 rank, overflow at step 5" "${set_ovf[@]}" --out o1
    two "2 ranks, zero 1, overflow at step 5 on rank 1 only" "${set_ovf[@]}" --set debug.inject_rank=1 \
      --set dist.zero=1 --out o2
    has "one step skipped" "done: 20 steps \(1 skipped\)"
    row() { sed -n "$(($2 + 1))p" "$1/metrics.csv" | cut -d, -f5,7; }  # loss_scale,skipped
    [ "$(row o2 5)" = "65536,1" ] || fail "step 5: want skipped, got $(row o2 5)"
    [ "$(row o2 6)" = "32768,0" ] || fail "step 6: want scale 32768 (one back-off), got $(row o2 6)"
    close "2 ranks zero 1 with rank 1's overflow vs 1 rank's" o1/$ck o2/$ck 1e-6
    # Pure bf16 (master_weights: none): each rank's piece of a parameter draws its stochastic
    # rounding from the whole parameter's stream at the piece's first element (Rounding::first),
    # so zero 1 rounds exactly as zero 0 does. The weights straddle the ranks (548 elements split
    # at 274, inside layers.0.weight), so a piece-relative index would differ here.
    set_pure=(--set precision.policy=bf16 --set precision.master_weights=none)
    two "2 ranks, pure bf16, zero 0" "${set_pure[@]}" --out q0
    two "2 ranks, pure bf16, zero 1" "${set_pure[@]}" --set dist.zero=1 --out q1
    same "pure bf16: zero 1 == zero 0 (the same rounding draws)" q0/$ck q1/$ck
    # Masters of two dtypes (a layer kept in fp32 under pure bf16) cannot share the buckets.
    run "mixed master dtypes refused" 2 "$mptrain" -q --config run.yaml --set dist.zero=1 \
      "${set_pure[@]}" --set 'model.layers=[{linear: {out: 32, precision: fp32}}, relu, {linear: {out: 4}}]' --out mx
    has "names both parameters and dtypes" "dist.zero: 1 needs every parameter's master weights in one dtype, but layers.2.weight keeps bf16 and layers.0.weight fp32"
    # MPTRAIN_DIST_FORCE=1: one rank under mpirun gets the MPI communicator instead of the
    # single-process one (scripts/gpu_check.sh uses this to exercise NCCL on one GPU); with zero 1
    # its collectives run every step and give the single-process bits.
    one "1 process, zero 1" --set dist.zero=1 --out s1
    run "1 rank forced onto MPI, zero 1" 0 "${mpi[@]}" -np 1 -x MPTRAIN_DIST_FORCE=1 "$mptrain" \
      --config run.yaml --set dist.zero=1 --out f1
    has "the one rank uses MPI" "mpi \(.*\): rank 0 of 1"
    same "forced MPI, one rank == one process" s1/$ck f1/$ck
    # Started without any launcher: a singleton MPI world (the CPU engine; the CUDA engine gets a
    # one-rank NCCL communicator without MPI instead, as on a GPU machine without Open MPI).
    MPTRAIN_DIST_FORCE=1 run "forced without a launcher, zero 1" 0 "$mptrain" --config run.yaml \
      --set dist.zero=1 --out g1
    has "a singleton MPI world" "mpi \(.*\): rank 0 of 1"
    same "forced singleton == one process" s1/$ck g1/$ck
    ;;
  zero_resume)
    # Checkpoints hold the whole state whatever wrote them, so any world size and dist.zero
    # setting resumes; the data cursor carries over when the global batch stays 128.
    two "2 ranks x 64, zero 1, 20 steps" --set dist.zero=1 --out a
    "$PY" -c "import h5py,sys; f=h5py.File('a/$ck','r'); sys.exit(0 if f.attrs['state_layout_version']==2 else 1)" ||
      fail "the checkpoint lacks state_layout_version 2"
    two "2 ranks, zero 0, resume a zero-1 checkpoint" --resume a/checkpoints/step_00000010.h5 --out b
    same "2 zero 1 -> 2 zero 0: bit-exact" a/$ck b/$ck
    one_log "1 rank x 128 resumes the 2-rank zero-1 checkpoint" --resume a/checkpoints/step_00000010.h5 --out c
    has "says it changed world size" "checkpoint written by 2 ranks, continuing with 1 at batch 10 of epoch 0"
    close "2 -> 1 rank: steps 11-20 as 1 x 128 vs 2 x 64" a/$ck c/$ck 1e-6
    one "1 rank x 128, zero 1, 10 steps" --set dist.zero=1 --set train.steps=10 --out d
    two "2 ranks x 64, zero 1, resume the 1-rank checkpoint" --set dist.zero=1 \
      --resume d/checkpoints/step_00000010.h5 --out e
    one "1 rank x 128, 20 steps" --out r1
    close "1 -> 2 ranks vs 1 rank uninterrupted" r1/$ck e/$ck 1e-6
    # Same data.batch_size, other world size: step 10 of 2 x 64 is 1280 samples into epoch 0 =
    # batch 20 of 1 x 64, the short last batch (1300 = 20 x 64 + 20); 10 steps later the cursor
    # is at batch 9 of epoch 1 (batch 10 of epoch 0 if it had not been mapped).
    run "1 rank x 64 resumes 2 x 64" 0 "$mptrain" -q --config run.yaml --set data.batch_size=64 \
      --resume a/checkpoints/step_00000010.h5 --out f
    cursor=$("$PY" -c "import h5py; f=h5py.File('f/$ck','r'); print(f.attrs['epoch'], f.attrs['batch_in_epoch'])")
    [ "$cursor" = "1 9" ] || fail "1 x 64 after 2 x 64: cursor at step 20 should be epoch 1 batch 9, got $cursor"
    ;;
  signal)
    # Ctrl-C (SIGINT) or SIGTERM to scripts/launch.sh while 2 zero-1 ranks train: mpirun passes
    # it on, every rank stops after the same step, rank 0 writes its checkpoint (the state
    # gathered from both ranks), the job exits non-zero within 60 s, and the checkpoint resumes.
    launch=$here/../../scripts/launch.sh
    for sig in INT TERM; do
      set -m  # job control: a background job keeps SIGINT (a script's & jobs would ignore it)
      MPTRAIN="$mptrain" "$launch" --nproc-per-node 2 -- -q --config run.yaml \
        --set data.batch_size=64 --set dist.zero=1 --set train.steps=10000000 \
        --set train.checkpoint_every=0 --out "s$sig" >"s$sig.log" 2>&1 &
      job=$!
      set +m
      for _ in $(seq 300); do [ -s "s$sig/metrics.csv" ] && break; sleep 0.1; done
      t0=$SECONDS
      kill "-$sig" "$job"
      while kill -0 "$job" 2>/dev/null && [ $((SECONDS - t0)) -lt 90 ]; do sleep 0.2; done
      kill -9 "$job" 2>/dev/null
      wait "$job"
      rc=$? secs=$((SECONDS - t0))
      echo "SIG$sig to launch.sh: exit $rc after ${secs}s"
      [ "$rc" != 0 ] || fail "SIG$sig: the job exited 0"
      [ "$secs" -lt 60 ] || fail "SIG$sig: the job took ${secs}s to stop"
      grep -q "stop requested by signal" "s$sig.log" || fail "SIG$sig: rank 0 did not announce the stop"
      grep -q "launch.sh: stopped by SIG$sig" "s$sig.log" || fail "SIG$sig: launch.sh did not report the signal"
      latest=$(cat "s$sig/checkpoints/latest" 2>/dev/null)
      if [ -z "$latest" ]; then
        fail "SIG$sig: no checkpoint after the stop"; cat "s$sig.log"; continue
      fi
      at=$((10#$(sed 's/step_\([0-9]*\).h5/\1/' <<<"$latest")))
      [ "$at" = "$(($(wc -l <"s$sig/metrics.csv") - 1))" ] ||
        fail "SIG$sig: checkpoint at step $at, metrics.csv has $(($(wc -l <"s$sig/metrics.csv") - 1)) rows"
      run "SIG$sig: resume with 2 ranks" 0 "${mpi[@]}" -np 2 "$mptrain" -q --config run.yaml \
        --set data.batch_size=64 --set dist.zero=1 --set train.steps=$((at + 3)) \
        --set train.checkpoint_every=0 --resume auto --out "s$sig"
      has "SIG$sig: continued to step $((at + 3))" "done: $((at + 3)) steps"
    done
    ;;
  *) echo "unknown group $group"; exit 2 ;;
esac
[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
