#!/usr/bin/env bash
# test.sh: set up what is missing, build (the CUDA backend too where nvcc exists), check that
# setup.sh's package list covers everything the build and the scripts use (check_setup.sh: what
# works here only because a package happened to be installed already fails the run), run ctest.
# Exits non-zero on any failure. Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WERROR=OFF
[ "${CI:-}" = "true" ] && WERROR=ON
export BUILD_DIR=${BUILD_DIR:-build}
bash scripts/build.sh -DMPTRAIN_WERROR=$WERROR
bash scripts/check_setup.sh --build-dir "$BUILD_DIR"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
