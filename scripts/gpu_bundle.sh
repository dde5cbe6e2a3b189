#!/usr/bin/env bash
# gpu_bundle.sh: prepare the GPU check on a machine WITHOUT a GPU (any dev machine here), so that
# a session lent a GPU spends its minutes running, not building or missing packages.
# Builds the binaries scripts/gpu_check.sh runs (mptrain, the two CUDA parity tests,
# bench_backend_cuda and bench_train_flops) for sm_90 (H100/H200) into build-gpu/, and packs them
# with every shared library they need beyond glibc, libstdc++ and the CUDA driver/cuBLAS (oneDNN,
# HDF5, yaml-cpp, spdlog, cudart, ...) into build-gpu-bundle/bundle.tar.xz (git-ignored as build*/,
# ~25 MB). Its share/ holds what the check's runs read, from this same tree: configs/, the MNIST
# and KJV datasets (datasets/*/*.h5) and the check's Python scripts (compare_curves.py,
# perf_row.py, gpu_peaks.py), so the configs match the binaries' spec schema wherever it runs.
# gpu_check.sh uses the bundle when it is there (pass `carry: ["build-gpu-bundle"]` to the device
# run) and otherwise builds on the device, which needs the same Debian -dev packages as here.
# Usage: scripts/gpu_bundle.sh        (JOBS=N to limit parallel compile jobs)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-gpu
DEST=build-gpu-bundle
TARGETS=(mptrain test_backend_cuda_parity test_optim_cuda_parity test_train_cuda_graph bench_backend_cuda
         bench_train_flops)
# What the runs read (relative to the tree), packed under share/.
SHARED=(configs datasets/mnist/mnist.h5 datasets/kjv/kjv.h5 scripts/compare_curves.py
        scripts/perf_row.py scripts/gpu_peaks.py)
for f in "${SHARED[@]}"; do
  if ! [ -e "$f" ]; then
    echo "gpu_bundle.sh: $f is missing; the GPU check's runs need it (datasets: run the dataset's" \
      "prepare.sh, e.g. datasets/kjv/prepare.sh)" >&2
    exit 3
  fi
done
launcher=()  # ccache, where there is one: a rebuild after a small change takes seconds
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMPTRAIN_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DMPTRAIN_WERROR=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
  "${launcher[@]}" >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
bins=("$BUILD/app/mptrain" "$BUILD/tests/test_backend_cuda_parity"
      "$BUILD/tests/test_optim_cuda_parity" "$BUILD/tests/test_train_cuda_graph"
      "$BUILD/bench/bench_backend_cuda"
      "$BUILD/bench/bench_train_flops")
cp "${bins[@]}" "$stage/bin/"
mkdir -p "$stage/share"
cp -R --parents "${SHARED[@]}" "$stage/share/"
# Libraries the device image may lack. Not bundled: glibc's own libraries (they must match the
# device's libc exactly) and libstdc++/libgcc (the device's are as new or newer), the driver
# (libcuda) and cuBLAS (600 MB; the device's CUDA 13 install has it, gpu_check.sh finds it).
# gpu_check.sh puts the bundle on LD_LIBRARY_PATH for these binaries only, never for the shell.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libresolv|libutil|libanl|libnsl|libnss_|libBrokenLocale|libstdc\+\+|libgcc_s|libcuda\.so|libcublas)'
for b in "${bins[@]}"; do
  ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    if ! [[ $name =~ $skip ]]; then cp -L "$path" "$stage/lib/$name"; fi
  done
  if ldd "$b" | grep -q "not found"; then
    echo "gpu_bundle.sh: $b has unresolved libraries:" >&2
    ldd "$b" | grep "not found" >&2
    exit 1
  fi
done
git rev-parse --short HEAD >"$stage/REVISION" 2>/dev/null || echo unknown >"$stage/REVISION"
git status --short >>"$stage/REVISION" 2>/dev/null || true
mkdir -p "$DEST"
tar -C "$stage" -cJf "$DEST/bundle.tar.xz.tmp" .
mv "$DEST/bundle.tar.xz.tmp" "$DEST/bundle.tar.xz"
echo "gpu_bundle.sh: $DEST/bundle.tar.xz ($(du -h "$DEST/bundle.tar.xz" | cut -f1)): $(cd "$stage/bin" && echo *)"
echo "gpu_bundle.sh: libraries: $(cd "$stage/lib" && echo *)"
echo "gpu_bundle.sh: share: ${SHARED[*]}"
