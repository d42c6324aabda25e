"""Does terminating pay? The discriminator's reward for live states against the absorbing state.

    python experiments/absorbing_check.py runs/hopper_seed4/nail [more run dirs] [--seed-index I]

For each run (seed index I, default 0; its latest checkpoint) this prints, over the most
recent 10,240 policy transitions in the replay buffer: the share of absorbing transitions
(against the demonstrations' share), the discriminator's mean ``log r`` on live policy states and on
the demonstrations, and ``log r`` of the absorbing state (action zeroed, as the trainer
feeds it). With the AIL/NAIL reward ``-log r``, a live step costs ``log r(s, a)`` and each
step in the absorbing state ``log r(s_abs)``; when the second is the smaller cost, ending
the episode early pays (README, hopper study).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.absorbing import absorbing_state, live_weight, zero_absorbing_action
from nail_jax.learners.discriminator import make_discriminator
from nail_jax.running.run_dir import restore_run

RECENT = 10_240


def check(run_dir: pathlib.Path, seed_index: int = 0) -> str:
    run = restore_run(run_dir, seed_index)
    config, expert, epoch = run.config, run.pairs, run.epoch
    if not config.absorbing or config.algo == "rl":
        return f"{run_dir}: not an imitation run with absorbing states"
    state = jax.tree.map(lambda x: x[seed_index], run.state)
    obs_size, action_size = expert.obs.shape[1], expert.action.shape[1]
    disc = make_discriminator(obs_size, action_size, config.disc)

    def log_r(obs, action):  # the absorbing state's action is zeroed, as in training
        return np.asarray(disc.log_ratio(state.disc, obs, zero_absorbing_action(obs, action)))

    replay = state.replay
    capacity = replay.data.obs.shape[0]
    idx = (int(replay.position) - 1 - np.arange(min(RECENT, int(replay.size)))) % capacity
    obs, action = replay.data.obs[idx], replay.data.action[idx]
    policy_abs = np.asarray(live_weight(obs) < 0.5)
    expert_abs = np.asarray(live_weight(expert.obs) < 0.5)
    policy_lr = log_r(obs, action)
    expert_lr = log_r(expert.obs, expert.action)
    absorbing_lr = float(log_r(absorbing_state(obs_size - 1)[None], jnp.zeros((1, action_size)))[0])
    alive = float(policy_lr[~policy_abs].mean())
    return (f"{run_dir} (seed {seed_index}, epoch {epoch}): absorbing share "
            f"{policy_abs.mean():.4f} ({int(policy_abs.sum())} of the last {len(idx)} policy "
            f"transitions; demonstrations {expert_abs.mean():.4f}); mean log r "
            f"on live policy states {alive:.2f}, on demonstrations "
            f"{float(expert_lr[~expert_abs].mean()):.2f}; log r of the absorbing state "
            f"{absorbing_lr:.2f}; terminating pays: {absorbing_lr < alive}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--seed-index", type=int, default=0, help="which seed of each run")
    args = parser.parse_args()
    for name in args.runs:
        print(check(pathlib.Path(name), args.seed_index), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
