#!/usr/bin/env bash
# update_reference.sh: regenerate the key and layer tables of configs/REFERENCE.md from the code.
# Replaces the block between the BEGIN/END GENERATED markers with `mptrain --print-reference`
# (appends it when the markers are missing); the prose around the block is kept.
# Usage: scripts/update_reference.sh [MPTRAIN_BINARY]   (default: ${BUILD_DIR:-build}/app/mptrain)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${BUILD_DIR:-build}/app/mptrain}
REF=configs/REFERENCE.md
gen=$(mktemp)
out=$(mktemp)
trap 'rm -f "$gen" "$out"' EXIT
"$BIN" --print-reference > "$gen"
if grep -q '<!-- BEGIN GENERATED' "$REF"; then
  awk -v gen="$gen" '
    /<!-- BEGIN GENERATED/ { while ((getline line < gen) > 0) print line; skip = 1; next }
    /<!-- END GENERATED -->/ { skip = 0; next }
    !skip { print }' "$REF" > "$out"
else
  cat "$REF" "$gen" > "$out"
fi
if cmp -s "$out" "$REF"; then
  echo "update_reference.sh: $REF is up to date"
else
  cp "$out" "$REF"
  echo "update_reference.sh: updated $REF"
fi
