#!/usr/bin/env bash
# Reproduces every bundled demonstration dataset in nail_jax/data/bundled from scratch.
# Experts are SAC on the environment reward (`nail-jax expert`, the trainer's rl mode);
# datasets are deterministic-policy rollouts of the expert's seed 0.
# Wall times on the 2-core CPU machine are in docs/guide.md (Demonstrations, the bundled datasets table).
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES=10

python experiments/make_point_mass_demos.py

# inverted_pendulum (the default preset's task) on its own backend, generalized: the preset's
# rl table (16 envs, entropy held at -3, 41,984 env steps; about 1.5 min on the 2-core CPU).
nail-jax expert --preset inverted_pendulum --out runs/expert-inverted_pendulum --no-progress
nail-jax collect --expert runs/expert-inverted_pendulum --episodes "$EPISODES" \
  --out nail_jax/data/bundled/inverted_pendulum.npz

nail-jax expert --env halfcheetah --steps 1000000 --out runs/expert-halfcheetah --no-progress
nail-jax collect --expert runs/expert-halfcheetah --episodes "$EPISODES" \
  --out nail_jax/data/bundled/halfcheetah.npz

# hopper on the generalized backend (the hopper preset's), with brax's hopper discount 0.997
# and epochs of 10,240: the hopper preset's settings for rl, spelled out.
nail-jax expert --env hopper --backend generalized --steps 1000000 --set sac.discount=0.997 \
  --set epoch_steps=10240 --out runs/expert-hopper-gen --no-progress
nail-jax collect --expert runs/expert-hopper-gen --episodes "$EPISODES" \
  --out nail_jax/data/bundled/hopper.npz

# hopper_spring: the hopper dataset until the generalized expert, an expert that lunges and
# falls after ~144 steps (spring backend). Epochs of 10,240 as when it was trained (the
# hopper_spring preset has 2,560); that expert also predates SAC's absorbing-state fix
# (commit d3c0cc8). It was written as nail_jax/data/hopper.npz and renamed since.
nail-jax expert --preset hopper_spring --steps 500000 --set epoch_steps=10240 \
  --out runs/expert-hopper --no-progress
nail-jax collect --expert runs/expert-hopper --episodes "$EPISODES" \
  --out nail_jax/data/bundled/hopper_spring.npz
