#!/usr/bin/env bash
# layering_test.sh CMAKE BUILD_DIR: the allowed includes compile, the upward one does not.
set -u
CMAKE=$1
BUILD=$2
fails=0
if "$CMAKE" --build "$BUILD" --target layering_ok_probe > ok.log 2>&1; then
  echo "ok   nn sees core, kernels, backend and nn"
else
  echo "FAIL nn's allowed includes do not compile:"; tail -n 20 ok.log; fails=$((fails + 1))
fi
if "$CMAKE" --build "$BUILD" --target layering_upward_probe > up.log 2>&1; then
  echo "FAIL nn could include train/trainer.h"; fails=$((fails + 1))
elif grep -q 'train/trainer.h: No such file' up.log; then
  echo "ok   nn cannot include train/trainer.h"
else
  echo "FAIL the upward probe failed for another reason:"; tail -n 20 up.log; fails=$((fails + 1))
fi
rm -f ok.log up.log
echo "$(( 2 - fails )) passed, $fails failed"
[ "$fails" -eq 0 ]
