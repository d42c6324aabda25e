#!/usr/bin/env bash
# Remakes the bundled expert policies (nail_jax/data/bundled/experts) and demonstration
# datasets (nail_jax/data/bundled) from scratch. Experts are SAC on the environment reward
# (`nail-jax expert`, the trainer's rl mode, with each preset's rl table); `nail-jax export`
# writes a run's policy as a small expert file; datasets are that file's deterministic
# rollouts (`nail-jax collect --expert NAME` records the file's SHA-256).
#
# Usage: experiments/make_experts.sh [TASK ...]   (default: all; a trained run is reused)
#
# Measured wall times and returns: docs/guide.md (Demonstrations). The halfcheetah, hopper
# and inverted_pendulum datasets in the package were made by earlier trainings of these
# commands whose runs were not kept; their bundled experts are retrainings (listed as
# "retrained" by `nail-jax demos list`), so remaking those datasets gives similar, not equal,
# data. walker2d and ant: dataset and expert as this script makes them.
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES=10
BUNDLED=nail_jax/data/bundled

make_task() {  # NAME, then the `nail-jax expert` arguments
  local name=$1
  shift
  if [[ ! -f "runs/expert-$name/summary.json" ]]; then
    if [[ -d "runs/expert-$name/checkpoints" ]]; then
      nail-jax expert --resume "runs/expert-$name" --no-progress
    else
      nail-jax expert "$@" --out "runs/expert-$name" --no-progress
    fi
  fi
  nail-jax export "runs/expert-$name" --out "$BUNDLED/experts/$name.npz"
  nail-jax collect --expert "$name" --episodes "$EPISODES" --out "$BUNDLED/$name.npz"
}

TASKS=("$@")
wanted() { [[ ${#TASKS[@]} -eq 0 || " ${TASKS[*]} " == *" $1 "* ]]; }

if wanted point_mass; then
  python experiments/make_point_mass_demos.py  # a scripted expert, no policy file
fi
# inverted_pendulum (the default preset's task) on its own backend, generalized: the preset's
# rl table (16 envs, entropy held at -3, 41,984 env steps; about 1.5 min on the 2-core CPU).
if wanted inverted_pendulum; then
  make_task inverted_pendulum --preset inverted_pendulum
fi
# halfcheetah on spring, 1M env steps (brax's SAC settings for it).
if wanted halfcheetah; then
  make_task halfcheetah --env halfcheetah --steps 1000000
fi
# hopper on generalized with brax's hopper discount 0.997 and epochs of 10,240: the hopper
# preset's rl table, spelled out as when the bundled dataset was made.
if wanted hopper; then
  make_task hopper --env hopper --backend generalized --steps 1000000 \
    --set sac.discount=0.997 --set epoch_steps=10240
fi
# walker2d on generalized: the walker2d preset's rl table (the hopper expert's settings),
# 3M env steps.
if wanted walker2d; then
  make_task walker2d --env walker2d --steps 3000000
fi
# ant on spring: the ant preset's rl table (halfcheetah's settings), 3M env steps.
if wanted ant; then
  make_task ant --env ant --steps 3000000
fi

# hopper_spring: the hopper dataset until the generalized expert, an expert that lunges and
# falls after ~144 steps (spring backend); no policy is bundled for it. Epochs of 10,240 as
# when it was trained (the hopper_spring preset has 2,560); that expert also predates SAC's
# absorbing-state fix (commit d3c0cc8).
if wanted hopper_spring; then
  nail-jax expert --preset hopper_spring --steps 500000 --set epoch_steps=10240 \
    --out runs/expert-hopper_spring --no-progress
  nail-jax collect --expert runs/expert-hopper_spring --episodes "$EPISODES" \
    --out "$BUNDLED/hopper_spring.npz"
fi
