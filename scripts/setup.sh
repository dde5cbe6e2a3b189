#!/usr/bin/env bash
# setup.sh: install the Debian packages mptrain needs, as listed below (the one list: `setup.sh
# --list` prints it for scripts/check_setup.sh, so the two cannot drift); `setup.sh --bench` also
# installs the benchmarks' PyTorch reference. Idempotent and quiet when all are present. Works as root or through sudo. The CUDA toolkit (nvcc, cuBLAS, NCCL) is optional and
# not installed here: when /usr/local/cuda/bin/nvcc exists the CUDA backend is built as well.
set -euo pipefail

package_list() {
  cat <<'LIST'
# The Debian 12 packages mptrain needs: the one list that this script installs
# (apt-get install --no-install-recommends) and scripts/check_setup.sh checks the build against.
# One package per line; "optional" after a name: setup.sh tries to install it but carries on
# without it, and check_setup.sh does not count it. Everything else a file of the build or of the
# scripts comes from must be a Depends/Pre-Depends (not a Recommends) of a package listed here,
# or Essential in Debian.
build-essential
cmake
ninja-build
pkg-config
libcli11-dev
libyaml-cpp-dev
libspdlog-dev
libhdf5-dev
doctest-dev
libopenmpi-dev
openmpi-bin
libdnnl-dev
# Debian's dnnl-config.cmake calls find_dependency(OpenCL) (libdnnl-dev is built with the OpenCL
# GPU runtime), but OpenCL's development files are only a Recommends of libdnnl-dev.
ocl-icd-opencl-dev
python3
python3-h5py
python3-numpy
python3-matplotlib
# The King James Bible text that datasets/kjv/prepare.sh turns into kjv.h5 (`bible` prints it).
bible-kjv
# clang builds the libFuzzer target (scripts/fuzz_spec.sh); the normal build does not need it.
clang optional
# ccache speeds up scripts/gpu_bundle.sh's rebuilds when present; no build or test needs it.
ccache optional
# The PyTorch reference of scripts/bench_train.sh (bench_torch_mlp.py, bench_torch_gpt.py).
# Debian's torch does its fp32 GEMMs in the system BLAS; OpenBLAS's OpenMP build gives it AVX-512
# kernels (scripts/bench_common.sh points it there).
python3-torch bench
libopenblas0-openmp bench
LIST
}

case "${1:-}" in
  ''|--bench|--list) ;;
  *) echo "setup.sh: unknown argument '$1' (expected nothing, --bench or --list)" >&2; exit 2 ;;
esac
PKGS=()
OPTIONAL=()
while read -r name flag _; do
  case "$name" in ''|'#'*) continue ;; esac
  case "$flag" in
    optional) OPTIONAL+=("$name") ;;
    bench) [ "${1:-}" = --bench ] && PKGS+=("$name") ;;
    *) PKGS+=("$name") ;;
  esac
done < <(package_list)
if [ "${1:-}" = --list ]; then  # the list as written above, comments included
  package_list
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup.sh: missing packages (${missing[*]}) and not root; rerun as root or install sudo" >&2
    exit 1
  fi
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for p in "${OPTIONAL[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || true
done
echo "setup.sh: done"
