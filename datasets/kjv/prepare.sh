#!/usr/bin/env bash
# prepare.sh: create datasets/kjv/kjv.h5 (skipped when it exists; --force rebuilds it) from the King
# James Bible as Debian's bible-kjv package prints it (`bible -f "Gen1:1-Rev22:21"`).
#   datasets/kjv/prepare.sh               the whole KJV (scripts/setup.sh installs bible-kjv)
#   datasets/kjv/prepare.sh --force       overwrite an existing kjv.h5
#   datasets/kjv/prepare.sh --text FILE   any other UTF-8 text instead of the bible (--out to place it)
# Needs /usr/bin/python3 with numpy and h5py (or PYTHON=...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/kjv.h5"
force=0
text=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --text) text="${2:?--text needs a file}"; shift ;;
    --out) out="${2:?--out needs a file}"; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "prepare.sh: unknown argument '$1' (expected --force, --text FILE or --out FILE)" >&2; exit 2 ;;
  esac
  shift
done

. "$here/../prepare_common.sh"
skip_if_done "$out" "$force"
find_python

if [ -n "$text" ]; then
  exec "$python" "$here/prepare.py" --text "$text" --out "$out"
fi

if ! command -v bible >/dev/null; then
  echo "prepare.sh: the bible command (Debian package bible-kjv) is not installed; run scripts/setup.sh as root" >&2
  exit 1
fi
version="$(dpkg-query -W -f='${Version}' bible-kjv 2>/dev/null || echo unknown)"
command='bible -f "Gen1:1-Rev22:21"'
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bible -f "Gen1:1-Rev22:21" > "$tmp/kjv.txt"
"$python" "$here/prepare.py" --text "$tmp/kjv.txt" --out "$out" --package bible-kjv \
  --package-version "$version" --command "$command" \
  --license "public domain (the KJV text, 1611; see /usr/share/doc/bible-kjv/copyright)"
