# prepare_common.sh: what the datasets' prepare.sh scripts share (sourced, never run on its own).

# Exits 0 with a note when the output file exists and --force was not given.
skip_if_done() {  # skip_if_done OUT FORCE
  if [ -e "$1" ] && [ "$2" = 0 ]; then
    echo "prepare.sh: $1 exists; nothing to do (--force rebuilds it)"
    exit 0
  fi
}

# Sets $python to the interpreter that writes the HDF5 (PYTHON, default Debian's), or exits 1 when
# it cannot import h5py and numpy.
find_python() {
  python="${PYTHON:-/usr/bin/python3}"
  if ! "$python" -c 'import h5py, numpy' 2>/dev/null; then
    echo "prepare.sh: $python cannot import h5py and numpy; install python3-h5py or set PYTHON" >&2
    exit 1
  fi
}
