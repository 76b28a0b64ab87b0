#!/usr/bin/env bash
# Every sweep of results/README.md, on the MNIST sample and on Fashion-MNIST.
#   bash experiments/run_sweeps.sh [SHARED_DATA] [RUNS_DIR]
# Model directories go to RUNS_DIR (default /tmp/keras_vae_sweeps); tables, plots and
# HParams logs to results/sweeps/EXPERIMENT_DATASET/.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data}
runs=${2:-/tmp/keras_vae_sweeps}
for experiment in latent_size beta likelihood latent_2d; do
  python experiments/sweep.py --experiment=$experiment --dataset=idx:$data/mnist-sample \
    --epochs=50 --eval_k=1000 --eval_examples=1000 \
    --out=results/sweeps/${experiment}_mnist_sample --runs_dir=$runs/${experiment}_mnist_sample
  python experiments/sweep.py --experiment=$experiment --dataset=idx:$data/fashion_mnist \
    --epochs=10 --eval_k=1000 --eval_examples=1000 \
    --out=results/sweeps/${experiment}_fashion_mnist --runs_dir=$runs/${experiment}_fashion_mnist
done
