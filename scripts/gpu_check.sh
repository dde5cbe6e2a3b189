#!/usr/bin/env bash
# gpu_check.sh: the one command for a session that is lent a GPU (an H200 with its CUDA driver).
# In order of what issue 12 asks first, each step under its own timeout and all of them inside an
# 8-minute budget (a step that finds the budget spent is skipped and says so):
#   env     nvidia-smi, compilers, the mode
#   build   bundle mode: unpack build-gpu-bundle/bundle.tar.xz (made here by scripts/gpu_bundle.sh
#           and carried to the device; its share/ holds the configs, datasets and scripts of the
#           same revision, and the runs below read those); build mode (no bundle): configure +
#           build build-gpu with -DMPTRAIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 (Ninja, -j16),
#           which needs the project's Debian -dev packages on the device; prebuilt mode
#           (GPU_CHECK_BIN=DIR): the binaries of an existing build tree, e.g. a CPU build here to
#           check this script itself (every GPU step then fails, and the summary says so)
#   parity  the CUDA parity suites (ctest -R cuda in build mode; the same two test binaries
#           otherwise): exit 77 means "no CUDA device", which here is a failure
#   bench   bench_backend_cuda: GEMM TFLOP/s per dtype via the backend vs raw cuBLASLt, and
#           elementwise/row-wise GB/s vs the device copy
#   mlp     mptrain on configs/mnist_mlp.yaml, 300 steps at batch 256, per policy (fp32, bf16,
#           fp16) on cuda and, as the reference measured in the same run, on the CPU (same seed,
#           data and steps, a metrics.csv row every 10 steps); per run steps/s, samples/s, model
#           TFLOP/s, MFU and peak memory (scripts/perf_row.py), and per policy the two loss curves'
#           largest relative difference against its tolerance (scripts/compare_curves.py)
#   gpt     mptrain on configs/charlm_gpt.yaml on cuda, 200 steps in bf16 and, when the budget
#           allows, fp32: steps/s, tokens/s, model TFLOP/s, MFU and peak memory
#           Model FLOPs per step: the GEMM flops bench_train_flops counts in one step of the spec
#           (forward and backward, attention included); MFU = those x steps/s over the peak of
#           the device's GEMM unit for the policy (scripts/gpu_peaks.py; "-" for a device not in
#           its table). Peak memory: summary.json peak_memory_bytes, the high-water mark of live
#           tensor bytes (not the CUDA context or cuBLAS workspace)
#   graph   the MNIST MLP in bf16 with train.cuda_graph off and on: identical loss curves, replays
#           counted, samples/s of both
#   debug   test_backend_cuda_parity again with MPTRAIN_CUDA_SYNC_CHECK=1 (a sync + check after
#           every launch, so a fault names its kernel; <= 60 s), then under compute-sanitizer
#           --tool memcheck on a filtered subset of small cases ($SANITIZE_CASES; <= 90 s),
#           skipped with a note when compute-sanitizer is absent
#   nccl    one rank with the NCCL communicator (MPTRAIN_DIST_FORCE=1; under mpirun -np 1 where
#           the device has it, else started directly) and dist.zero 1, 100 steps of the MLP
# Everything goes to $OUT (or ./gpu_check_out): env.log, build.log, parity.log, bench.log, mlp.log,
# gpt.log, graph.log, debug.log, nccl.log and summary.txt, which is written even when a step fails or times
# out (and when the script is killed by SIGTERM/SIGINT).
# Exit status: 0 when every step passed, 1 otherwise.
# Usage (device tool): run(command="bash scripts/gpu_check.sh", carry=["build-gpu-bundle"],
#                          timeout_s=560)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)  # absolute: bundle mode runs from the bundle's share/
# A reused $OUT (the default ./gpu_check_out) starts clean: the logs are appended to below.
rm -f "$OUT"/{env,build,parity,bench,mlp,gpt,graph,debug,nccl}.log "$OUT/summary.txt"
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-470}  # seconds for all steps; the 8-minute limit with a margin
DEADLINE=$((START + BUDGET))
BUNDLE=$ROOT/build-gpu-bundle/bundle.tar.xz
BIN=""      # where the binaries are
RUNENV=()   # prefix for running them (bundle mode: its libraries, for these binaries only)
SHARE=$ROOT # configs/, datasets/ and scripts/ the runs read (bundle mode: the bundle's share/)
MODE=build
[ -f "$BUNDLE" ] && [ "${GPU_CHECK_BUILD:-0}" != "1" ] && MODE=bundle
[ -n "${GPU_CHECK_BIN+set}" ] && MODE=prebuilt  # even when empty: never a surprise -j16 build
# GPU_CHECK_DEVICE=cpu: the runs meant for cuda go to the CPU instead, to check this script's own
# tables and curve comparison on a machine without a GPU (with GPU_CHECK_BIN=build and fewer
# steps and policies: GPU_CHECK_MLP_STEPS, GPU_CHECK_GPT_STEPS, GPU_CHECK_GPT_POLICIES="fp32").
GPU_DEV=${GPU_CHECK_DEVICE:-cuda}
DEVICE_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)

RESULTS=()   # "step|status|seconds|note"
add_result() { RESULTS+=("$1|$2|$3|$4"); }
remaining() { echo $((DEADLINE - $(date +%s))); }

# shellcheck disable=SC2317  # invoked by the EXIT trap
write_summary() {
  local s="$OUT/summary.txt"
  {
    echo "mptrain GPU check -- $(date -u '+%Y-%m-%d %H:%M:%S UTC') -- revision $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') -- mode: $MODE"
    echo "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi failed')"
    echo
    printf '%-8s %-8s %8s  %s\n' step status seconds note
    for r in "${RESULTS[@]}"; do
      IFS='|' read -r st status secs note <<<"$r"
      printf '%-8s %-8s %8s  %s\n' "$st" "$status" "$secs" "$note"
    done
    if [ -f "$OUT/parity.log" ]; then
      echo
      echo "== parity (full output in parity.log) =="
      grep -E 'test cases:|assertions:|MESSAGE|tests passed|tests failed|Skipped|SKIPPED|ERROR|FAILED' \
        "$OUT/parity.log" | cut -c1-200 | head -40 || true
    fi
    if [ -f "$OUT/bench.log" ]; then
      echo
      echo "== bench_backend_cuda =="
      grep -v '^\[bench\]' "$OUT/bench.log" || true
    fi
    if [ -f "$OUT/mlp_table.txt" ]; then
      echo
      echo "== MNIST MLP 784-1024-1024-10, batch $MLP_BATCH, $MLP_STEPS steps, $GPU_DEV and the CPU (details in mlp.log) =="
      cat "$OUT/mlp_table.txt"
    fi
    if [ -f "$OUT/mlp_curves.txt" ]; then
      echo
      echo "== MLP loss curves, $GPU_DEV vs cpu: metrics.csv every $MLP_LOG_EVERY steps (scripts/compare_curves.py) =="
      cat "$OUT/mlp_curves.txt"
    fi
    if [ -f "$OUT/gpt_table.txt" ]; then
      echo
      echo "== char-level GPT, configs/charlm_gpt.yaml (4 blocks, width 256, context 128), batch $GPT_BATCH, $GPT_STEPS steps on $GPU_DEV (details in gpt.log) =="
      cat "$OUT/gpt_table.txt"
    fi
    echo
    echo "total wall: $(( $(date +%s) - START )) s"
  } >"$s"
  rm -f "$OUT/mlp_table.txt" "$OUT/mlp_curves.txt" "$OUT/gpt_table.txt"
  cat "$s"
}
trap write_summary EXIT
trap 'exit 143' TERM INT  # killed from outside: still write the summary

# run_step NAME MAX_SECONDS LOG CMD...: runs CMD under a timeout (capped by the budget left),
# appending to LOG; returns CMD's status (124 on timeout), never exits the script.
run_step() {
  local name=$1 max=$2 log=$3
  shift 3
  local left
  left=$(remaining)
  local t=$max
  [ "$left" -lt "$t" ] && t=$left
  if [ "$t" -lt 5 ]; then
    echo "[$name] skipped: the time budget is spent" | tee -a "$log"
    return 124
  fi
  echo "[$name] $* (timeout ${t}s)" >>"$log"
  local rc=0
  timeout --kill-after=5 "$t" "$@" >>"$log" 2>&1 || rc=$?
  echo "[$name] exit $rc" >>"$log"
  return "$rc"
}

# ---- env ------------------------------------------------------------------------------------------
t0=$(date +%s)
{
  echo "mode: $MODE"
  nvidia-smi || echo "nvidia-smi failed"
  echo
  (command -v nvcc && nvcc --version) || ls /usr/local/cuda/bin/nvcc || echo "no nvcc on PATH"
  (command -v cmake && cmake --version | head -1) || echo "no cmake"
  (command -v ninja && ninja --version) || echo "no ninja"
  (command -v g++ && g++ --version | head -1) || echo "no g++"
  nproc
  free -g || true
} >"$OUT/env.log" 2>&1
add_result env ok $(( $(date +%s) - t0 )) "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'no GPU seen')"

# cuBLAS for the bundled binaries: the device's CUDA install (or PyTorch's wheel).
find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
           /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublasLt.so.13" ] && { echo "$d"; return; }
  done
  d=$(ldconfig -p 2>/dev/null | awk '/libcublasLt\.so\.13/ {print $NF; exit}')
  [ -n "$d" ] && { dirname "$d"; return; }
  d=$(find /usr /opt -name 'libcublasLt.so.13' -print -quit 2>/dev/null || true)
  [ -n "$d" ] && dirname "$d"
}

# ---- build ----------------------------------------------------------------------------------------
t0=$(date +%s)
build_ok=0
if [ "$MODE" = bundle ]; then
  rm -rf /tmp/mptrain_bundle && mkdir -p /tmp/mptrain_bundle
  if run_step build 120 "$OUT/build.log" tar -C /tmp/mptrain_bundle -xJf "$BUNDLE"; then
    BIN=/tmp/mptrain_bundle/bin
    cublas_dir=$(find_cublas || true)
    echo "cuBLAS from: ${cublas_dir:-NOT FOUND}" >>"$OUT/build.log"
    cat /tmp/mptrain_bundle/REVISION >>"$OUT/build.log" 2>/dev/null || true
    # The runs read the configs, datasets and scripts packed with the binaries (same revision),
    # so the rest of the script runs in share/; a bundle from before share/ existed falls back
    # to the tree's.
    if [ -d /tmp/mptrain_bundle/share ]; then SHARE=/tmp/mptrain_bundle/share
    else echo "bundle has no share/: configs, datasets and scripts from the tree" >>"$OUT/build.log"; fi
    cd "$SHARE"
    RUNENV=(env "LD_LIBRARY_PATH=/tmp/mptrain_bundle/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    if "${RUNENV[@]}" ldd "$BIN/test_backend_cuda_parity" | grep "not found" >>"$OUT/build.log"; then
      add_result build FAIL $(( $(date +%s) - t0 )) "bundle unpacked but libraries are missing (build.log)"
    else
      build_ok=1
      add_result build ok $(( $(date +%s) - t0 )) "bundle $(head -1 /tmp/mptrain_bundle/REVISION 2>/dev/null)"
    fi
  else
    add_result build FAIL $(( $(date +%s) - t0 )) "could not unpack $BUNDLE"
  fi
elif [ "$MODE" = prebuilt ]; then
  BIN=$(cd "$GPU_CHECK_BIN" 2>/dev/null && pwd) || BIN=""
  if [ -n "$BIN" ] && [ -x "$BIN/app/mptrain" ]; then
    build_ok=1
    add_result build ok $(( $(date +%s) - t0 )) "prebuilt: $GPU_CHECK_BIN"
  else
    add_result build FAIL $(( $(date +%s) - t0 )) "GPU_CHECK_BIN=$GPU_CHECK_BIN: no app/mptrain in it (a build tree)"
  fi
else
  export PATH="/usr/local/cuda/bin:$PATH"
  if run_step configure 90 "$OUT/build.log" cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DMPTRAIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DMPTRAIN_WERROR=ON &&
     run_step build 300 "$OUT/build.log" cmake --build build-gpu -j 16 --target mptrain \
       test_backend_cuda_parity test_optim_cuda_parity test_train_cuda_graph bench_backend_cuda \
       bench_train_flops; then
    build_ok=1
    BIN=$ROOT/build-gpu
    add_result build ok $(( $(date +%s) - t0 )) "built build-gpu on the device"
  else
    add_result build FAIL $(( $(date +%s) - t0 )) "configure/build failed (build.log; missing -dev packages? use scripts/gpu_bundle.sh)"
  fi
fi
bin_of() {  # path of a binary in either layout
  case "$MODE:$1" in
    bundle:*) echo "$BIN/$1" ;;
    *:mptrain) echo "$BIN/app/mptrain" ;;
    *:bench_*) echo "$BIN/bench/$1" ;;
    *) echo "$BIN/tests/$1" ;;
  esac
}

# ---- parity ---------------------------------------------------------------------------------------
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  notes=()
  all=0
  if [ "$MODE" = build ]; then
    rc=0
    (cd build-gpu && run_step parity 180 "$OUT/parity.log" ctest -R cuda --output-on-failure -V) || rc=$?
    if grep -q "(Skipped)" "$OUT/parity.log"; then notes+=("SKIPPED: no CUDA device seen by the tests"); all=1; fi
    if grep -q "No tests were found" "$OUT/parity.log"; then notes+=("no cuda tests in build-gpu"); all=1; fi
    [ "$rc" = 0 ] || { all=1; notes+=("ctest exit $rc"); }
  else
    for t in test_backend_cuda_parity test_optim_cuda_parity test_train_cuda_graph; do
      rc=0
      run_step parity 120 "$OUT/parity.log" "${RUNENV[@]}" "$(bin_of $t)" || rc=$?
      case $rc in
        0) notes+=("$t passed") ;;
        77) notes+=("$t SKIPPED (no CUDA device)"); all=1 ;;
        124) notes+=("$t TIMED OUT"); all=1 ;;
        *) notes+=("$t FAILED (exit $rc)"); all=1 ;;
      esac
    done
  fi
  status=PASS
  [ "$all" = 0 ] || status=FAIL
  add_result parity "$status" $(( $(date +%s) - t0 )) "$(IFS=';'; echo "${notes[*]:-}")"
else
  add_result parity SKIP 0 "no binaries"
fi

# ---- bench ----------------------------------------------------------------------------------------
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  rc=0
  run_step bench 100 "$OUT/bench.log" "${RUNENV[@]}" "$(bin_of bench_backend_cuda)" 8192 || rc=$?
  # Without a device the bench says "nothing to measure" and exits 0: no numbers is a failure here.
  if [ "$rc" = 0 ] && grep -q "nothing to measure" "$OUT/bench.log"; then
    add_result bench FAIL $(( $(date +%s) - t0 )) "no CUDA device: nothing measured (bench.log)"
  elif [ "$rc" = 0 ]; then add_result bench ok $(( $(date +%s) - t0 )) "bench.log"
  else add_result bench FAIL $(( $(date +%s) - t0 )) "exit $rc (bench.log)"; fi
else
  add_result bench SKIP 0 "no binaries"
fi

# ---- model runs: shared helpers ------------------------------------------------------------------
# cap_by END MAX: MAX seconds, or fewer when a step's own deadline END comes first.
cap_by() {
  local left=$(($1 - $(date +%s)))
  [ "$left" -lt "$2" ] && echo "$left" || echo "$2"
}
# count_flops LOG CONFIG BATCH: bench_train_flops' `key value` lines for the spec at BATCH (one
# step on the CPU backend; the count holds for any device) appended to LOG; prints the GEMM flops
# per step, or nothing when the count failed.
count_flops() {
  local f="$OUT/.flops.txt"
  rm -f "$f"
  run_step "flops $2" 60 "$f" "${RUNENV[@]}" "$(bin_of bench_train_flops)" --config "$2" \
    --set data.batch_size="$3" || true
  cat "$f" >>"$1" 2>/dev/null || true
  awk '$1 == "gemm_flop_per_step" {print $2}' "$f" 2>/dev/null || true
  rm -f "$f"
}
# perf_row DEVICE ARGS...: one row of a speed table (scripts/perf_row.py) for a run on DEVICE
# (cuda: MFU against the GPU's peak; cpu: none), or a note why there is none.
perf_row() {
  local name=$DEVICE_NAME
  [ "$1" = cpu ] && name=""
  shift
  python3 "$SHARE/scripts/perf_row.py" "$@" --device-name "$name" 2>&1 ||
    echo "($*: no row; is python3 there?)"
}
why_exit() {  # what a run's exit status means (mptrain's codes, timeout's)
  case $1 in
    2) echo ", usage/config: no CUDA GPU?" ;;
    3) echo ", data error" ;;
    4) echo ", numerical failure" ;;
    124 | 137) echo ", out of time (the step's limit or the budget)" ;;
  esac
}
giga() {  # N flops as "12.3 G", or "not counted (see the log)" when empty
  if [ -n "$1" ]; then awk -v f="$1" 'BEGIN {printf "%.2f G", f / 1e9}'; else echo "not counted (see the log)"; fi
}
peak_note() {  # the device's peaks, for the tables' captions
  local bf fp
  bf=$(python3 "$SHARE/scripts/gpu_peaks.py" "$DEVICE_NAME" bf16 2>/dev/null || true)
  fp=$(python3 "$SHARE/scripts/gpu_peaks.py" "$DEVICE_NAME" fp32 2>/dev/null || true)
  if [ -n "$bf" ] && [ "$bf" != unknown ]; then
    echo "device peak (dense, scripts/gpu_peaks.py): bf16/fp16 $bf, fp32 $fp TFLOP/s (fp32 runs without TF32)"
  else
    echo "device peak: unknown for '${DEVICE_NAME:-no device}' (scripts/gpu_peaks.py): MFU not computed"
  fi
}

# ---- mlp: the MNIST MLP per policy on cuda and the CPU, speeds and loss curves ----------------------
MLP_STEPS=${GPU_CHECK_MLP_STEPS:-300}
MLP_BATCH=256
MLP_LOG_EVERY=10   # a curve point every 10 steps (each the mean loss of those steps)
MLP_MAX_S=180      # the whole step; each run <= 60 s
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  mlp_end=$((t0 + MLP_MAX_S))
  runs_dir=$(mktemp -d)
  mlp_fail=0
  notes=()
  mlp_flop=$(count_flops "$OUT/mlp.log" configs/mnist_mlp.yaml "$MLP_BATCH")
  {
    echo "model GEMM flops per step: $(giga "$mlp_flop") (bench_train_flops); $(peak_note)"
    perf_row - --header
  } >"$OUT/mlp_table.txt"
  : >"$OUT/mlp_curves.txt"
  for policy in fp32 bf16 fp16; do
    for role in dev ref; do  # the device under test, then the CPU reference
      device=$GPU_DEV
      [ "$role" = ref ] && device=cpu
      dir="$runs_dir/${policy}_$role"
      if [ "$role" = ref ] && [ ! -f "$runs_dir/${policy}_dev/summary.json" ]; then
        printf '%-12s not run: the %s run failed, so there is no curve to compare\n' "$policy cpu" "$GPU_DEV" >>"$OUT/mlp_table.txt"
        continue
      fi
      rc=0
      run_step "mlp $policy $device" "$(cap_by "$mlp_end" 60)" "$OUT/mlp.log" "${RUNENV[@]}" "$(bin_of mptrain)" \
        --config configs/mnist_mlp.yaml --device "$device" --set train.steps="$MLP_STEPS" \
        --set data.batch_size=$MLP_BATCH --set train.log_every=$MLP_LOG_EVERY \
        --set precision.policy="$policy" --set train.checkpoint_every=0 --out "$dir" -q || rc=$?
      [ -f "$dir/summary.json" ] && cat "$dir/summary.json" >>"$OUT/mlp.log"
      if [ "$rc" != 0 ]; then
        mlp_fail=1
        rm -f "$dir/summary.json"
        printf '%-12s failed: exit %s%s (mlp.log)\n' "$policy $device" "$rc" "$(why_exit "$rc")" >>"$OUT/mlp_table.txt"
        continue
      fi
      perf_row "$device" --run "$dir" --label "$policy $device" --policy "$policy" --batch $MLP_BATCH \
        --flop-per-step "${mlp_flop:-0}" >>"$OUT/mlp_table.txt"
    done
    if [ -f "$runs_dir/${policy}_dev/summary.json" ] && [ -f "$runs_dir/${policy}_ref/summary.json" ]; then
      rc=0
      python3 "$SHARE/scripts/compare_curves.py" --policy "$policy" --labels "$GPU_DEV,cpu" \
        "$runs_dir/${policy}_dev/metrics.csv" "$runs_dir/${policy}_ref/metrics.csv" \
        >>"$OUT/mlp_curves.txt" 2>&1 || rc=$?
      case $rc in
        0) ;;
        1) mlp_fail=1; notes+=("$policy curves apart") ;;
        *) mlp_fail=1; notes+=("$policy curves not compared (exit $rc)") ;;
      esac
      for d in dev ref; do
        { echo "[mlp $policy $d] metrics.csv"; cat "$runs_dir/${policy}_$d/metrics.csv"; } >>"$OUT/mlp.log"
      done
    else
      echo "$policy: no curve comparison (a run failed or was not run)" >>"$OUT/mlp_curves.txt"
      notes+=("$policy not compared")
    fi
  done
  rm -rf "$runs_dir"
  if [ "$mlp_fail" = 0 ]; then add_result mlp ok $(( $(date +%s) - t0 )) "speeds and curves below"
  else add_result mlp FAIL $(( $(date +%s) - t0 )) "$(IFS=';'; echo "${notes[*]:-a run failed}") (mlp.log)"; fi
else
  add_result mlp SKIP 0 "no binaries"
fi

# ---- gpt: the char-level GPT on cuda, tokens/s and MFU --------------------------------------------
GPT_STEPS=${GPU_CHECK_GPT_STEPS:-200}
GPT_BATCH=32       # configs/charlm_gpt.yaml's data.batch_size
GPT_MAX_S=150      # the whole step: bf16 <= 75 s, then fp32 when >= 60 s are left
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  gpt_end=$((t0 + GPT_MAX_S))
  gpt_fail=0
  gpt_done=0  # runs that finished
  notes=()
  gpt_flop=$(count_flops "$OUT/gpt.log" configs/charlm_gpt.yaml "$GPT_BATCH")
  six=$(awk '$1 == "six_params_tokens" {printf "%.1f", $2 / 1e9}' "$OUT/gpt.log" 2>/dev/null || true)
  gpt_tps=$(awk '$1 == "tokens_per_sample" {print $2}' "$OUT/gpt.log" 2>/dev/null || true)
  {
    echo "model GEMM flops per step: $(giga "$gpt_flop") (bench_train_flops; 6 x params x tokens: ${six:-?} G); $(peak_note)"
    perf_row - --header
  } >"$OUT/gpt_table.txt"
  runs_dir=$(mktemp -d)
  for policy in ${GPU_CHECK_GPT_POLICIES:-bf16 fp32}; do
    cap=$(cap_by "$gpt_end" 75)
    if [ "$policy" = fp32 ] && [ "$cap" -lt 60 ]; then
      printf '%-12s not run: %s s left of the step'"'"'s %s s\n' "$policy $GPU_DEV" "$cap" "$GPT_MAX_S" >>"$OUT/gpt_table.txt"
      continue
    fi
    dir="$runs_dir/$policy"
    rc=0
    run_step "gpt $policy" "$cap" "$OUT/gpt.log" "${RUNENV[@]}" "$(bin_of mptrain)" \
      --config configs/charlm_gpt.yaml --device "$GPU_DEV" --set precision.policy="$policy" \
      --set train.steps="$GPT_STEPS" --set train.log_every=20 --set train.eval_every="$GPT_STEPS" \
      --set train.checkpoint_every=0 --out "$dir" -q || rc=$?
    [ -f "$dir/summary.json" ] && cat "$dir/summary.json" "$dir/metrics.csv" >>"$OUT/gpt.log"
    if [ "$rc" != 0 ]; then
      [ "$policy" = bf16 ] && gpt_fail=1
      notes+=("$policy exit $rc")
      printf '%-12s failed: exit %s%s (gpt.log)\n' "$policy $GPU_DEV" "$rc" "$(why_exit "$rc")" >>"$OUT/gpt_table.txt"
      continue
    fi
    gpt_done=$((gpt_done + 1))
    perf_row "$GPU_DEV" --run "$dir" --label "$policy $GPU_DEV" --policy "$policy" --batch $GPT_BATCH \
      --tokens-per-sample "${gpt_tps:-128}" --flop-per-step "${gpt_flop:-0}" >>"$OUT/gpt_table.txt"
  done
  [ "$gpt_done" -gt 0 ] || gpt_fail=1
  rm -rf "$runs_dir"
  if [ "$gpt_fail" = 0 ]; then add_result gpt ok $(( $(date +%s) - t0 )) "tokens/s and MFU below$(IFS=';'; [ ${#notes[@]} -gt 0 ] && echo "; ${notes[*]}")"
  else add_result gpt FAIL $(( $(date +%s) - t0 )) "$(IFS=';'; echo "${notes[*]}") (gpt.log)"; fi
else
  add_result gpt SKIP 0 "no binaries"
fi

# ---- graph: train.cuda_graph on vs off, the MNIST MLP in bf16 -----------------------------------------
# The same run twice on the device: its loss curve must be identical (a graph replays the recorded
# launches with the recorded arguments: same bits), and the replays must have happened
# (summary.json graph_replays); samples/s of both, so the launch savings show.
GRAPH_STEPS=${GPU_CHECK_GRAPH_STEPS:-300}
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  runs_dir=$(mktemp -d)
  graph_fail=0
  notes=()
  for g in false true; do
    rc=0
    run_step "graph $g" 40 "$OUT/graph.log" "${RUNENV[@]}" "$(bin_of mptrain)" \
      --config configs/mnist_mlp.yaml --device "$GPU_DEV" --set precision.policy=bf16 \
      --set train.steps="$GRAPH_STEPS" --set train.log_every=10 --set train.checkpoint_every=0 \
      --set train.cuda_graph=$g --out "$runs_dir/$g" -q || rc=$?
    [ -f "$runs_dir/$g/summary.json" ] && cat "$runs_dir/$g/summary.json" >>"$OUT/graph.log"
    if [ "$rc" != 0 ]; then graph_fail=1; notes+=("cuda_graph=$g exit $rc$(why_exit "$rc")"); fi
  done
  if [ "$graph_fail" = 0 ]; then
    # metrics.csv: step,epoch,train_loss,lr,loss_scale,grad_norm,skipped,samples_per_s,...
    if cmp -s <(cut -d, -f1-7 "$runs_dir/false/metrics.csv") <(cut -d, -f1-7 "$runs_dir/true/metrics.csv"); then
      notes+=("loss curves identical")
    else
      graph_fail=1
      notes+=("loss curves DIFFER")
      diff <(cut -d, -f1-7 "$runs_dir/false/metrics.csv") <(cut -d, -f1-7 "$runs_dir/true/metrics.csv") >>"$OUT/graph.log" || true
    fi
    sps() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))[sys.argv[2]], 1))' "$1" "$2"; }
    off=$(sps "$runs_dir/false/summary.json" samples_per_s)
    on=$(sps "$runs_dir/true/summary.json" samples_per_s)
    replays=$(sps "$runs_dir/true/summary.json" graph_replays)
    notes+=("samples/s eager $off, graphs $on; $replays micro-batches replayed")
    awk -v r="$replays" 'BEGIN {exit !(r > 0)}' || { graph_fail=1; notes+=("NO replays"); }
  fi
  rm -rf "$runs_dir"
  status=PASS
  [ "$graph_fail" = 0 ] || status=FAIL
  add_result graph "$status" $(( $(date +%s) - t0 )) "$(IFS=';'; echo "${notes[*]}") (graph.log)"
else
  add_result graph SKIP 0 "no binaries"
fi

# ---- debug: sync check, compute-sanitizer ----------------------------------------------------------
# Small cases only: memcheck slows kernels down by 10-100x. doctest -tc: comma-separated wildcards.
SANITIZE_CASES='*scale*,*layernorm*,*softmax*,*mse and argmax*,*gemm edge cases*'
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  notes=()
  dbg_fail=0
  parity_bin=$(bin_of test_backend_cuda_parity)
  rc=0
  run_step sync-check 60 "$OUT/debug.log" "${RUNENV[@]}" env MPTRAIN_CUDA_SYNC_CHECK=1 "$parity_bin" || rc=$?
  case $rc in
    0) notes+=("sync-check passed") ;;
    *) notes+=("sync-check exit $rc"); dbg_fail=1 ;;
  esac
  sanitizer=$(command -v compute-sanitizer || true)
  [ -z "$sanitizer" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && sanitizer=/usr/local/cuda/bin/compute-sanitizer
  if [ -n "$sanitizer" ]; then
    rc=0
    run_step memcheck 90 "$OUT/debug.log" "${RUNENV[@]}" "$sanitizer" --tool memcheck --error-exitcode 99 \
      "$parity_bin" -tc="$SANITIZE_CASES" || rc=$?
    case $rc in
      0) notes+=("memcheck clean") ;;
      99) notes+=("memcheck found errors (debug.log)"); dbg_fail=1 ;;
      *) notes+=("memcheck exit $rc"); dbg_fail=1 ;;
    esac
  else
    echo "[memcheck] skipped: compute-sanitizer not found (PATH, /usr/local/cuda/bin)" >>"$OUT/debug.log"
    notes+=("memcheck SKIPPED: no compute-sanitizer")
  fi
  status=PASS
  [ "$dbg_fail" = 0 ] || status=FAIL
  add_result debug "$status" $(( $(date +%s) - t0 )) "$(IFS=';'; echo "${notes[*]}")"
else
  add_result debug SKIP 0 "no binaries"
fi

# ---- nccl: the NCCL communicator with one rank ---------------------------------------------------
# MPTRAIN_DIST_FORCE=1 gives the one rank the NCCL communicator (not the single-process one): under
# mpirun -np 1 where the device has Open MPI, else started directly (a one-rank NCCL communicator
# that needs no MPI). dist.zero 1 makes every step run its collectives: reduce-scatter of the
# gradients, all-gather of the weights, the found_inf MAX and the norm's sum.
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  dir=$(mktemp -d)
  rc=0
  launcher=(env MPTRAIN_DIST_FORCE=1)
  how="started directly"
  if command -v mpirun >/dev/null 2>&1; then
    launcher=(mpirun --allow-run-as-root -np 1 -x MPTRAIN_DIST_FORCE=1)
    how="mpirun -np 1"
  fi
  run_step nccl 60 "$OUT/nccl.log" "${launcher[@]}" \
    "${RUNENV[@]}" "$(bin_of mptrain)" --config configs/mnist_mlp.yaml --device cuda \
    --set train.steps=100 --set dist.zero=1 --set train.checkpoint_every=0 --out "$dir" || rc=$?
  if [ "$rc" = 0 ] && grep -qi "nccl.*rank 0 of 1" "$OUT/nccl.log"; then
    add_result nccl ok $(( $(date +%s) - t0 )) "1 rank through NCCL ($how), dist.zero 1, 100 steps"
  else
    add_result nccl FAIL $(( $(date +%s) - t0 )) "exit $rc or no NCCL communicator ($how; nccl.log)"
  fi
  rm -rf "$dir"
else
  add_result nccl SKIP 0 "no binaries"
fi

for r in "${RESULTS[@]}"; do
  case $r in *"|FAIL|"* | *"|SKIP|"*) exit 1 ;; esac
done
exit 0
