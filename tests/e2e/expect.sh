# expect.sh: the assertions of the e2e scripts (sourced; MPTRAIN names the binary). Each case
# counts into passes/fails; a failing case prints what it ran and the output's tail. A script
# ends with: echo "$passes passed, $fails failed"; [ "$fails" -eq 0 ]
fails=0
passes=0
# expect CODE FRAGMENT -- ARGS...: run mptrain, check exit code and that the output has FRAGMENT.
expect() {
  local code=$1 frag=$2
  shift 3
  local out rc
  out=$("$MPTRAIN" "$@" 2>&1)
  rc=$?
  last_out=$out  # for checks after the call
  if [ "$rc" -ne "$code" ] || ! grep -qF -- "$frag" <<<"$out"; then
    echo "FAIL: mptrain $* -> exit $rc (want $code), output lacks/has: $frag"
    echo "$out" | tail -n 15 | sed 's/^/    /'
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
