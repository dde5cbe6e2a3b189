#!/usr/bin/env bash
# bench_cpu.sh: build and run the CPU backend benchmark (GEMM GFLOP/s vs raw oneDNN, elementwise
# GB/s vs copy). Usage: scripts/bench_cpu.sh [threads]   (default 2; 0 = OMP_NUM_THREADS or all
# cores). Builds into $BUILD_DIR (default build-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-cpu}
THREADS=${1:-2}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" --target bench_backend_cpu -j "${JOBS:-2}"
if [ "$THREADS" != 0 ]; then export OMP_NUM_THREADS=$THREADS; fi
exec "$BUILD_DIR/bench/bench_backend_cpu" "$THREADS"
