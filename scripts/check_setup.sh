#!/usr/bin/env bash
# check_setup.sh: check that every Debian package a file of the build or of the scripts comes from
# is in the package list of scripts/setup.sh (what it installs) or a Depends/Pre-Depends of one there,
# so the README's commands work on a fresh Debian 12 machine. Run after a build; test.sh does.
#   scripts/check_setup.sh [--build-dir DIR] [--packages FILE] [-v]    (BUILD_DIR=DIR works too)
# Exit 0 when covered, 1 naming each missing package and the files that need it.
# The rules (what counts, what is out of scope, e.g. CUDA): scripts/check_setup.py --help.
set -euo pipefail
py=/usr/bin/python3  # Debian's: the Python whose packages are checked
if [ ! -x "$py" ]; then
  echo "check_setup.sh: $py not found; run scripts/setup.sh (it installs python3)" >&2
  exit 1
fi
exec "$py" "$(dirname "$0")/check_setup.py" "$@"
