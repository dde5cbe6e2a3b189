#!/usr/bin/env bash
# check_setup_test.sh SOURCE_DIR BUILD_DIR MPTRAIN GROUP: runs scripts/check_setup.sh against this
# build with the real and with doctored package lists (see CMakeLists.txt); asserts exit codes and
# message fragments. Needs no network and changes nothing outside a temp dir.
set -uo pipefail
src=$1 build=$2 mptrain=$3 group=$4
check="$src/scripts/check_setup.sh"
list=$(mktemp)  # the real list, as setup.sh prints it
bash "$src/scripts/setup.sh" --list >"$list"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$list"' EXIT
fails=0

# run NAME EXPECTED_RC ARGS...: runs the check, keeps its output in $out
run() {
  local name=$1 want=$2
  shift 2
  out=$(bash "$check" "$@" 2>&1)
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $name: exit $rc, expected $want; output:"
    echo "$out"
    fails=$((fails + 1))
  else
    echo "ok: $name (exit $rc)"
  fi
}
# has NAME FRAGMENT: the last run's output contains FRAGMENT (a grep -E pattern)
has() {
  if ! grep -qE -- "$2" <<<"$out"; then
    echo "FAIL: $1: output lacks /$2/; output:"
    echo "$out"
    fails=$((fails + 1))
  fi
}
without() { grep -vxE "$(printf '%s|' "$@" | sed 's/|$//')" "$list"; }

case "$group" in
  real)
    run "the real list" 0 --build-dir "$build"
    has "real: says ok" "^check_setup: ok: every file comes from a listed package"
    has "real: counted the build's files" "checked [0-9]+ files: [1-9][0-9]* paths in CMakeCache.txt"
    has "real: ran ldd on the binaries" "[1-9][0-9]* shared libraries of [1-9][0-9]* executables"
    has "real: resolved the scripts' modules" "/usr/bin/python3 and [1-9][0-9]* Python modules"
    ;;
  missing)
    without libhdf5-dev >"$tmp/no_hdf5.txt"
    run "list without libhdf5-dev" 1 --build-dir "$build" --packages "$tmp/no_hdf5.txt"
    has "no hdf5: names the package" "FAIL: package libhdf5-dev is needed"
    has "no hdf5: names a file and its use" "/usr/lib/[^ ]*/hdf5/serial/libhdf5.so  \(CMakeCache.txt HDF5_C_LIBRARY_hdf5\)"
    has "no hdf5: says the fix" "fix: add libhdf5-dev to $tmp/no_hdf5.txt"

    # Issue 8: OpenCL's dev files came only as a Recommends of libdnnl-dev.
    without ocl-icd-opencl-dev >"$tmp/no_ocl.txt"
    run "list without ocl-icd-opencl-dev" 1 --build-dir "$build" --packages "$tmp/no_ocl.txt"
    has "no ocl: names the package" "FAIL: package ocl-icd-opencl-dev is needed"
    has "no ocl: names the file" "libOpenCL.so  \(CMakeCache.txt (CUDA_)?OpenCL_LIBRARY\)"
    has "no ocl: explains the Recommends" "libdnnl-dev Recommends ocl-icd-opencl-dev: Recommends and Suggests do not count"
    ;;
  fake)
    # A source tree with a script that runs python3 from PATH with numpy, and one whose
    # shebang is `env python3` while it imports h5py; a package list without python3-h5py and with
    # a package that is not installed; a build dir whose cache names a file no package owns and a
    # CUDA compiler (optional: not a failure), with a copy of mptrain for ldd.
    mkdir -p "$tmp/src/scripts" "$tmp/src/datasets/x" "$tmp/build/app" "$tmp/elsewhere" "$tmp/cuda/bin"
    printf '#!/usr/bin/env bash\npython3 -c "import numpy; print(numpy.ones(2))"\n' >"$tmp/src/scripts/bad.sh"
    printf '#!/usr/bin/env python3\nimport sys\nimport h5py\n' >"$tmp/src/datasets/x/make.py"
    printf '#!/usr/bin/python3\nimport json\nimport matplotlib.pyplot as plt\n' >"$tmp/src/scripts/fine.py"
    # `env python3` importing only the standard library and a module next to it: fine
    printf '#!/usr/bin/env python3\nimport json\nimport fine_helper\n' >"$tmp/src/scripts/sib.py"
    printf 'import os\n' >"$tmp/src/scripts/fine_helper.py"
    { without python3-h5py; echo mptrain-no-such-package; } >"$tmp/list.txt"
    : >"$tmp/elsewhere/libfoo.so"
    : >"$tmp/cuda/bin/nvcc"
    { cat "$build/CMakeCache.txt"
      echo "FOO_LIBRARY:FILEPATH=$tmp/elsewhere/libfoo.so"
      echo "CMAKE_CUDA_COMPILER:FILEPATH=$tmp/cuda/bin/nvcc"; } >"$tmp/build/CMakeCache.txt"
    cp "$mptrain" "$tmp/build/app/mptrain"
    run "fake tree, build and list" 1 --source-dir "$tmp/src" --build-dir "$tmp/build" --packages "$tmp/list.txt"
    [ -n "${VERBOSE:-}" ] && echo "$out"
    has "fake: a listed package that is not installed" "mptrain-no-such-package is in $tmp/list.txt but not installed here: run scripts/setup.sh"
    has "fake: h5py's package" "FAIL: package python3-h5py-serial is needed"
    has "fake: h5py's file" "/usr/lib/python3/dist-packages/h5py/__init__.py  \(Python module h5py, imported by datasets/x/make.py\)"
    has "fake: h5py's parent package" "or one that Depends on it: python3-h5py"
    has "fake: python3 from PATH with numpy" "scripts/bad.sh:2 runs python3 from PATH .* but imports numpy"
    has "fake: env python3 with h5py" "datasets/x/make.py runs python3 from PATH .* but imports h5py"
    has "fake: a file no package owns" "$tmp/elsewhere/libfoo.so \(CMakeCache.txt FOO_LIBRARY\) is not from a Debian package"
    has "fake: ldd of the copied binary" "shared libraries of 1 executables"
    has "fake: CUDA is optional" "not checked: [0-9]+ CUDA toolkit/NVIDIA files"  # more in a CUDA build
    if grep -q "nvcc.*not from a Debian package\|scripts/fine.py runs python3\|scripts/sib.py runs python3" <<<"$out"; then
      echo "FAIL: fake: flagged the CUDA compiler, a script that calls /usr/bin/python3, or one that imports only a sibling module"
      fails=$((fails + 1))
    fi
    ;;
  *) echo "check_setup_test.sh: unknown group '$group' (real, missing, fake)"; exit 2 ;;
esac
[ "$fails" = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks of group $group passed"
