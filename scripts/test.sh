#!/usr/bin/env bash
# test.sh: set up what is missing, build (the CUDA backend too where nvcc exists), run ctest.
# Exits non-zero on any failure. Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WERROR=OFF
[ "${CI:-}" = "true" ] && WERROR=ON
BUILD_DIR=${BUILD_DIR:-build} bash scripts/build.sh -DMPTRAIN_WERROR=$WERROR
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "$@"
