#!/usr/bin/env bash
# gpu_bundle.sh: prepare the GPU check on a machine WITHOUT a GPU (any dev machine here), so that
# a session lent a GPU spends its minutes running, not building or missing packages.
# Builds the binaries scripts/gpu_check.sh runs (mptrain, the two CUDA parity tests and
# bench_backend_cuda) for sm_90 (H100/H200) into build-gpu/, and packs them with every shared
# library they need beyond glibc, libstdc++ and the CUDA driver/cuBLAS (oneDNN, HDF5, yaml-cpp,
# spdlog, cudart, ...) into build-gpu-bundle/bundle.tar.xz (git-ignored as build*/, ~20 MB).
# gpu_check.sh uses the bundle when it is there (pass `carry: ["build-gpu-bundle"]` to the device
# run) and otherwise builds on the device, which needs the same Debian -dev packages as here.
# Usage: scripts/gpu_bundle.sh        (JOBS=N to limit parallel compile jobs)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-gpu
DEST=build-gpu-bundle
TARGETS=(mptrain test_backend_cuda_parity test_optim_cuda_parity bench_backend_cuda)

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMPTRAIN_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DMPTRAIN_WERROR=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
bins=("$BUILD/app/mptrain" "$BUILD/tests/test_backend_cuda_parity"
      "$BUILD/tests/test_optim_cuda_parity" "$BUILD/bench/bench_backend_cuda")
cp "${bins[@]}" "$stage/bin/"
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
echo "gpu_bundle.sh: $DEST/bundle.tar.xz ($(du -h "$DEST/bundle.tar.xz" | cut -f1)): $(ls "$stage/bin" | tr '\n' ' ')"
echo "gpu_bundle.sh: libraries: $(ls "$stage/lib" | tr '\n' ' ')"
