#!/usr/bin/env bash
# gpu_check.sh: the one command for a session that is lent a GPU (an H200 with its CUDA driver).
# In order, each step under its own timeout and all of them inside an 8-minute budget:
#   env     nvidia-smi, compilers, the mode
#   build   bundle mode: unpack build-gpu-bundle/bundle.tar.xz (made here by scripts/gpu_bundle.sh
#           and carried to the device); build mode (no bundle): configure + build build-gpu with
#           -DMPTRAIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 (Ninja, -j16), which needs the
#           project's Debian -dev packages on the device
#   parity  the CUDA parity suites (ctest -R cuda in build mode; the same two test binaries in
#           bundle mode): exit 77 means "no CUDA device", which here is a failure
#   debug   test_backend_cuda_parity again with MPTRAIN_CUDA_SYNC_CHECK=1 (a sync + check after
#           every launch, so a fault names its kernel; <= 60 s), then under compute-sanitizer
#           --tool memcheck on a filtered subset of small cases ($SANITIZE_CASES; <= 90 s),
#           skipped with a note when compute-sanitizer is absent
#   bench   bench_backend_cuda: GEMM TFLOP/s per dtype via the backend vs raw cuBLASLt, and
#           elementwise/row-wise GB/s vs the device copy
#   mlp     mptrain on configs/mnist_mlp.yaml, 300 steps at batch 256, per policy (fp32, bf16,
#           fp16) on cuda and, as the reference measured in the same run, on the CPU
#   nccl    where mpirun exists on the device: one rank with the NCCL communicator
#           (MPTRAIN_DIST_FORCE=1) and dist.zero 1, 100 steps of the MLP
# Everything goes to $OUT (or ./gpu_check_out): env.log, build.log, parity.log, debug.log, bench.log,
# mlp.log and summary.txt, which is written even when a step fails or times out.
# Exit status: 0 when every step passed, 1 otherwise.
# Usage (device tool): run(command="bash scripts/gpu_check.sh", carry=["build-gpu-bundle"],
#                          timeout_s=560)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-470}  # seconds for all steps; the 8-minute limit with a margin
DEADLINE=$((START + BUDGET))
BUNDLE=$ROOT/build-gpu-bundle/bundle.tar.xz
BIN=""      # where the binaries are
RUNENV=()   # prefix for running them (bundle mode: its libraries, for these binaries only)
MODE=build
[ -f "$BUNDLE" ] && [ "${GPU_CHECK_BUILD:-0}" != "1" ] && MODE=bundle

RESULTS=()   # "step|status|seconds|note"
add_result() { RESULTS+=("$1|$2|$3|$4"); }
remaining() { echo $((DEADLINE - $(date +%s))); }

# shellcheck disable=SC2317  # invoked by the EXIT trap
write_summary() {
  local s="$OUT/summary.txt"
  {
    echo "mptrain GPU check -- $(date -u '+%Y-%m-%d %H:%M:%S UTC') -- revision $(git rev-parse --short HEAD 2>/dev/null || echo '?') -- mode: $MODE"
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
      echo "== MNIST MLP 784-1024-1024-10, batch 256, 300 steps (details in mlp.log) =="
      cat "$OUT/mlp_table.txt"
    fi
    echo
    echo "total wall: $(( $(date +%s) - START )) s"
  } >"$s"
  rm -f "$OUT/mlp_table.txt"
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
else
  export PATH="/usr/local/cuda/bin:$PATH"
  if run_step configure 90 "$OUT/build.log" cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DMPTRAIN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DMPTRAIN_WERROR=ON &&
     run_step build 300 "$OUT/build.log" cmake --build build-gpu -j 16 --target mptrain \
       test_backend_cuda_parity test_optim_cuda_parity bench_backend_cuda; then
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
    build:mptrain) echo "$BIN/app/mptrain" ;;
    build:bench_*) echo "$BIN/bench/$1" ;;
    build:*) echo "$BIN/tests/$1" ;;
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
    [ "$rc" = 0 ] || { all=1; notes+=("ctest exit $rc"); }
  else
    for t in test_backend_cuda_parity test_optim_cuda_parity; do
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

# ---- bench ----------------------------------------------------------------------------------------
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  rc=0
  run_step bench 100 "$OUT/bench.log" "${RUNENV[@]}" "$(bin_of bench_backend_cuda)" 8192 || rc=$?
  if [ "$rc" = 0 ]; then add_result bench ok $(( $(date +%s) - t0 )) "bench.log"
  else add_result bench FAIL $(( $(date +%s) - t0 )) "exit $rc (bench.log)"; fi
else
  add_result bench SKIP 0 "no binaries"
fi

# ---- mlp ------------------------------------------------------------------------------------------
t0=$(date +%s)
if [ "$build_ok" = 1 ]; then
  runs_dir=$(mktemp -d)
  mlp_fail=0
  printf '%-7s %-6s %8s %10s %9s %11s %s\n' policy device exit steps/s loss val_acc note >"$OUT/mlp_table.txt"
  for policy in fp32 bf16 fp16; do
    for device in cuda cpu; do
      dir="$runs_dir/${policy}_$device"
      rc=0
      run_step "mlp $policy $device" 60 "$OUT/mlp.log" "${RUNENV[@]}" "$(bin_of mptrain)" --config configs/mnist_mlp.yaml \
        --device "$device" --set train.steps=300 --set data.batch_size=256 \
        --set precision.policy="$policy" --set train.checkpoint_every=0 --out "$dir" -q || rc=$?
      [ -f "$dir/summary.json" ] && cat "$dir/summary.json" >>"$OUT/mlp.log"
      if [ "$rc" != 0 ]; then
        [ "$device" = cuda ] && mlp_fail=1
        printf '%-7s %-6s %8s %10s %9s %11s %s\n' "$policy" "$device" "$rc" - - - "failed (mlp.log)" >>"$OUT/mlp_table.txt"
        continue
      fi
      python3 - "$dir/summary.json" "$policy" "$device" >>"$OUT/mlp_table.txt" 2>>"$OUT/mlp.log" <<'EOF' || true
import json, sys
s = json.load(open(sys.argv[1]))
sps = s.get("samples_per_s", 0) / 256.0
acc = s.get("final_val_accuracy")
print(f"{sys.argv[2]:<7} {sys.argv[3]:<6} {0:>8} {sps:>10.1f} {s.get('final_train_loss', float('nan')):>9.4f} "
      f"{acc if acc is not None else float('nan'):>11.4f} wall {s.get('wall_s', 0):.1f}s, peak {s.get('peak_memory_bytes', 0) / 2**20:.0f} MiB")
EOF
    done
  done
  rm -rf "$runs_dir"
  if [ "$mlp_fail" = 0 ]; then add_result mlp ok $(( $(date +%s) - t0 )) "steps/s per policy below"
  else add_result mlp FAIL $(( $(date +%s) - t0 )) "a cuda run failed (mlp.log)"; fi
else
  add_result mlp SKIP 0 "no binaries"
fi

# ---- nccl: the NCCL communicator with one rank ---------------------------------------------------
# mpirun -np 1 with MPTRAIN_DIST_FORCE=1 gives the one rank the NCCL communicator (not the single-
# process one), and dist.zero 1 makes every step run its collectives: reduce-scatter of the
# gradients, all-gather of the masters, the found_inf MAX and the norm's sum.
t0=$(date +%s)
if [ "$build_ok" = 1 ] && command -v mpirun >/dev/null 2>&1; then
  dir=$(mktemp -d)
  rc=0
  run_step nccl 60 "$OUT/nccl.log" mpirun --allow-run-as-root -np 1 -x MPTRAIN_DIST_FORCE=1 \
    "${RUNENV[@]}" "$(bin_of mptrain)" --config configs/mnist_mlp.yaml --device cuda \
    --set train.steps=100 --set dist.zero=1 --set train.checkpoint_every=0 --out "$dir" || rc=$?
  if [ "$rc" = 0 ] && grep -q "nccl" "$OUT/nccl.log"; then
    add_result nccl ok $(( $(date +%s) - t0 )) "1 rank through NCCL, dist.zero 1, 100 steps"
  else
    add_result nccl FAIL $(( $(date +%s) - t0 )) "exit $rc or no NCCL communicator (nccl.log)"
  fi
  rm -rf "$dir"
else
  add_result nccl n/a 0 "no mpirun on the device (or no binaries): NCCL not exercised"
fi

for r in "${RESULTS[@]}"; do
  case $r in *"|FAIL|"* | *"|SKIP|"*) exit 1 ;; esac
done
exit 0
