#!/usr/bin/env bash
# setup.sh: install the Debian packages mptrain needs, as listed in scripts/packages.txt (the list
# scripts/check_setup.sh also reads, so the two cannot drift). Idempotent and quiet when all are
# present. Works as root or through sudo. The CUDA toolkit (nvcc, cuBLAS, NCCL) is optional and
# not installed here: when /usr/local/cuda/bin/nvcc exists the CUDA backend is built as well.
set -euo pipefail

LIST="$(dirname "$0")/packages.txt"
PKGS=()
OPTIONAL=()
while read -r name flag _; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ "$flag" = optional ]; then OPTIONAL+=("$name"); else PKGS+=("$name"); fi
done <"$LIST"
if [ "${1:-}" = --list ]; then  # what would be installed, one per line (optional ones marked)
  for p in "${PKGS[@]}"; do echo "$p"; done
  for p in "${OPTIONAL[@]}"; do echo "$p optional"; done
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
