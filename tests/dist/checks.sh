# checks.sh: sourced by dist_mpi.sh and train_mpi.sh: the mpirun environment for 2-3 ranks on a
# small machine and the assertion helpers. Failures are counted in $fails.
# Root needs the two OMPI_ALLOW_* variables; 3 ranks on 2 cores need --oversubscribe; idle
# OpenMP threads must sleep when ranks share cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
mpi=(mpirun --oversubscribe --bind-to none)
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# run NAME WANT CMD...: WANT is an exit code or "nonzero"; keeps the output in $out, the exit code
# in $rc and the time in $secs (a command still running after 100 s is ended: exit 124)
run() {
  local name=$1 want=$2
  shift 2
  local t0=$SECONDS
  out=$(timeout 100 "$@" 2>&1)
  rc=$? secs=$((SECONDS - t0))
  if { [ "$want" = nonzero ] && [ "$rc" = 0 ]; } || { [ "$want" != nonzero ] && [ "$rc" != "$want" ]; }; then
    fail "$name: exit $rc, expected $want; output:"
    echo "$out"
  else
    echo "ok: $name (exit $rc, ${secs}s)"
  fi
}
has() {  # has NAME PATTERN: the last output matches the grep -E pattern
  grep -qE -- "$2" <<<"$out" || { fail "$1: output lacks /$2/; output:"; echo "$out"; }
}
quick() {  # the job ended within 60 s (and not by the 100 s guard of run)
  if [ "$secs" -ge 60 ] || [ "$rc" = 124 ]; then
    fail "$1: took ${secs}s (exit $rc); a failed rank must end the job within 60 s"
  fi
}
