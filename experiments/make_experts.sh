#!/usr/bin/env bash
# Reproduces every bundled demonstration dataset in nail_jax/data from scratch.
# Experts are SAC on the environment reward (`nail-jax expert`, the trainer's rl mode);
# datasets are deterministic-policy rollouts of the expert's seed 0.
# Wall times on the 2-core CPU machine are in the README's "Bundled demonstrations" table.
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES=10

python experiments/make_point_mass_demos.py

nail-jax expert --env halfcheetah --steps 1000000 --out runs/expert-halfcheetah --no-progress
nail-jax collect --expert runs/expert-halfcheetah --episodes "$EPISODES" \
  --out nail_jax/data/halfcheetah.npz

# epochs of 10,240 as when the bundled hopper expert was trained (the hopper preset has
# 2,560 now); that expert also predates SAC's absorbing-state fix (commit d3c0cc8)
nail-jax expert --env hopper --steps 500000 --set epoch_steps=10240 --out runs/expert-hopper \
  --no-progress
nail-jax collect --expert runs/expert-hopper --episodes "$EPISODES" \
  --out nail_jax/data/hopper.npz
