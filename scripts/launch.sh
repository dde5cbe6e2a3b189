#!/usr/bin/env bash
# launch.sh: start a data-parallel job, torchrun-style, through Open MPI's mpirun.
#   scripts/launch.sh --nproc-per-node N [--nnodes M --hostfile FILE] [--dry-run] -- [mptrain args]
# Starts N x M ranks of $MPTRAIN (default: build/app/mptrain of this checkout), N per node, each
# bound to its share of the node's cores (nproc / N; all cores unbound with --oversubscribe when
# N exceeds them) with OMP_NUM_THREADS set to that share. It prints the mpirun line it runs, and
# forwards PATH, LD_LIBRARY_PATH and every MPTRAIN_*, OMP_*, NCCL_*, CUDA_*, ONEDNN_*, DNNL_*
# variable to every rank (mpirun's local ranks inherit the whole environment anyway; -x is what
# reaches other nodes). Extra mpirun options: MPIRUN_EXTRA_ARGS (split on spaces).
# A rank that fails or is killed ends the whole job: mpirun stops the others and names the rank;
# this script then exits with mpirun's (non-zero) code. Exit 2: bad arguments, no mpirun, no binary.
# Equivalents (README "Multi-process"): torchrun --nproc-per-node N, srun --mpi=pmix -n N.
set -euo pipefail

usage() {
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
}
die() {
  echo "launch.sh: $*" >&2
  usage
  exit 2
}
positive() {  # positive NAME VALUE: VALUE is an integer >= 1
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1: expected a positive integer, got '$2'"
}

nproc_per_node="" nnodes=1 hostfile="" dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc-per-node|--nproc_per_node) [ $# -ge 2 ] || die "$1 needs a value"; nproc_per_node=$2; shift 2 ;;
    --nproc-per-node=*|--nproc_per_node=*) nproc_per_node=${1#*=}; shift ;;
    --nnodes) [ $# -ge 2 ] || die "$1 needs a value"; nnodes=$2; shift 2 ;;
    --nnodes=*) nnodes=${1#*=}; shift ;;
    --hostfile) [ $# -ge 2 ] || die "$1 needs a value"; hostfile=$2; shift 2 ;;
    --hostfile=*) hostfile=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (the program's own arguments go after --)" ;;
  esac
done
[ -n "$nproc_per_node" ] || die "--nproc-per-node is required"
positive --nproc-per-node "$nproc_per_node"
positive --nnodes "$nnodes"
if [ "$nnodes" -gt 1 ] && [ -z "$hostfile" ]; then
  die "--nnodes $nnodes needs --hostfile FILE (one line per node: 'host slots=$nproc_per_node')"
fi
if [ -n "$hostfile" ] && [ ! -r "$hostfile" ]; then
  die "--hostfile $hostfile: no such readable file"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
prog=${MPTRAIN:-$repo/build/app/mptrain}
[ -x "$prog" ] || die "$prog: not an executable; build it (scripts/build.sh) or set MPTRAIN"
mpirun=$(command -v mpirun) || die "mpirun not found: install openmpi-bin (scripts/setup.sh)"

# Each rank's share of this node's cores (the nodes of a hostfile are assumed alike).
cores=$(nproc)
threads=$((cores / nproc_per_node))
cmd=("$mpirun" -np $((nproc_per_node * nnodes)))
if [ "$threads" -ge 1 ]; then
  cmd+=(--map-by "ppr:$nproc_per_node:node:PE=$threads" --bind-to core)
else  # more ranks than cores: share them all, and let idle OpenMP threads sleep
  threads=1
  cmd+=(--map-by "ppr:$nproc_per_node:node" --bind-to none --oversubscribe -x OMP_WAIT_POLICY=passive)
fi
[ -z "$hostfile" ] || cmd+=(--hostfile "$hostfile")
[ "$(id -u)" != 0 ] || cmd+=(--allow-run-as-root)
cmd+=(-x "OMP_NUM_THREADS=$threads")
while IFS= read -r name; do
  case "$name" in OMP_NUM_THREADS|OMP_WAIT_POLICY) continue ;; esac
  cmd+=(-x "$name")
done < <(compgen -e | grep -E '^(PATH|LD_LIBRARY_PATH|(MPTRAIN|OMP|NCCL|CUDA|ONEDNN|DNNL)_[A-Za-z0-9_]*)$' | sort)
# shellcheck disable=SC2206  # word splitting of the extra options is the point
[ -z "${MPIRUN_EXTRA_ARGS:-}" ] || cmd+=(${MPIRUN_EXTRA_ARGS})
cmd+=("$prog" "$@")

echo "launch.sh: $(printf '%q ' "${cmd[@]}" | sed 's/ $//')" >&2
[ "$dry_run" = 0 ] || exit 0

# mpirun runs in the background so that a SIGTERM/SIGINT sent to this script reaches it (it
# passes them on to the ranks: mptrain saves a checkpoint and exits 143/130).
"${cmd[@]}" &
pid=$!
sig=""
trap 'sig=TERM; kill -TERM "$pid" 2>/dev/null || true' TERM
trap 'sig=INT; kill -INT "$pid" 2>/dev/null || true' INT
rc=0
wait "$pid" || rc=$?
while kill -0 "$pid" 2>/dev/null; do  # wait returns early when a trapped signal arrives
  wait "$pid" || rc=$?
done
if [ -n "$sig" ]; then
  echo "launch.sh: stopped by SIG$sig (passed on to mpirun); mpirun exited with code $rc" >&2
elif [ "$rc" != 0 ]; then
  echo "launch.sh: the job failed: mpirun exited with code $rc (its message above names the rank)" >&2
fi
exit "$rc"
