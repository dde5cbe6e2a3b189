#!/usr/bin/env bash
# quickstart.sh: from a fresh clone, set up, build, prepare MNIST and train configs/mnist_mlp.yaml
# (on the GPU where one is present and the CUDA backend is built, else on the CPU).
# Extra arguments go to mptrain, e.g. scripts/quickstart.sh --set precision.policy=bf16
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh >/dev/null
if [ ! -f datasets/mnist/mnist.h5 ]; then
  bash datasets/mnist/prepare.sh
fi
./build/app/mptrain --config configs/mnist_mlp.yaml "$@"
echo "quickstart: results in runs/mnist_mlp/ (metrics.csv, eval.csv, summary.json, checkpoints/)"
