# bench_common.sh: what the benchmark scripts that compare with PyTorch share (sourced by
# bench_train.sh and bench_gpt.sh; never run on its own).
#
# PyTorch is a benchmark-only dependency: ensure_torch runs `scripts/setup.sh --bench`, which
# installs Debian's python3-torch and libopenblas0-openmp (the "bench" packages of its list) when
# missing. Debian's torch does its fp32 GEMMs in the system BLAS: `torch_env` prefixes a command
# with OpenBLAS's OpenMP build and its AVX-512 kernel named (OPENBLAS_CORETYPE=SkylakeX: OpenBLAS
# cannot identify this virtual CPU and would fall back to an SSE3 kernel, ~5x too slow). bf16
# autocast runs on oneDNN inside torch.
PY=/usr/bin/python3
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp

ensure_torch() { bash scripts/setup.sh --bench; }

torch_env() {
  OPENBLAS_CORETYPE=SkylakeX LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}

# On a shared machine, other processes' bursts distort a 2-core benchmark badly (threads wait at
# every barrier for a preempted sibling): wait_idle waits until the CPUs were >= 90 % idle for 2 s
# in a row, or IDLE_WAIT seconds (default 120; 0 = do not wait) have passed, and says when not.
IDLE_WAIT=${IDLE_WAIT:-120}
wait_idle() {
  [ "$IDLE_WAIT" -gt 0 ] || return 0
  local start=$SECONDS ok=0 u n s i w x y z t1 i1 t2 i2 idle
  while [ $((SECONDS - start)) -lt "$IDLE_WAIT" ]; do
    read -r _ u n s i w x y z _ < /proc/stat; t1=$((u + n + s + i + w + x + y + z)); i1=$i
    sleep 1
    read -r _ u n s i w x y z _ < /proc/stat; t2=$((u + n + s + i + w + x + y + z)); i2=$i
    idle=$((100 * (i2 - i1) / (t2 - t1 > 0 ? t2 - t1 : 1)))
    if [ "$idle" -ge 90 ]; then ok=$((ok + 1)); else ok=0; fi
    [ "$ok" -ge 2 ] && return 0
  done
  echo "$(basename "$0"): the machine stayed busy for ${IDLE_WAIT}s (${idle}% idle); measuring anyway" >&2
}

# Configures (CPU engine only) and builds benchmark targets into $BUILD_DIR (default build-cpu).
build_bench() {
  BUILD_DIR=${BUILD_DIR:-build-cpu}
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$BUILD_DIR" --target "$@" -j "${JOBS:-2}" >/dev/null
}
