"""How close a hopper policy comes to the torso-angle limit, at start-up and later.

    python experiments/hopper_lean.py RUN_DIR [more run dirs] [--episodes 8]

Brax's hopper ends an episode when the torso angle leaves (-0.2, 0.2) rad (or the torso
drops below 0.7). For every seed of each run (its latest checkpoint) this rolls out the
deterministic policy from ``--episodes`` fresh starts and prints the largest |angle| of the
live steps in the first 100 steps and after them, and how many episodes lasted the full
``episode_length``. It found that the start-up is the tight part of a gait (README, the
hopper NAIL seed that lost its start-up).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.running.run_dir import restore_run

START_UP = 100


def max_lean(policy, env, episode_length: int, num_episodes: int, key: jax.Array):
    """``(angle [T, N], alive [N])``: |torso angle| after each step of ``N`` episodes of the
    deterministic ``policy`` (0 once an episode has ended), and which lasted all ``T``."""

    def body(carry, _):
        state, alive = carry
        nxt = jax.vmap(env.step)(state, policy(state.obs))
        angle = jnp.where(alive > 0, jnp.abs(nxt.obs[:, 1]), 0.0)  # obs[1]: torso angle
        return (nxt, alive * (1.0 - (nxt.done > 0))), angle

    start = jax.vmap(env.reset)(jax.random.split(key, num_episodes))
    (_, alive), angle = jax.lax.scan(body, (start, jnp.ones(num_episodes)), None,
                                     episode_length)
    return angle, alive


def lean(run_dir: pathlib.Path, num_episodes: int) -> list[str]:
    run = restore_run(run_dir)  # every seed's state, read once
    config = run.config
    if config.env != "hopper":
        return [f"{run_dir}: not a hopper run ({config.env})"]
    lines = []
    for seed_index in range(run.state.env_steps.shape[0]):
        angle, alive = map(np.asarray, jax.jit(
            max_lean, static_argnums=(0, 1, 2, 3))(run.policy(seed_index), run.trainer.env,
                                                   config.episode_length, num_episodes,
                                                   jax.random.PRNGKey(0)))
        lines.append(f"{run_dir} seed {seed_index}: max |angle| {angle[:START_UP].max():.3f} "
                     f"in the first {START_UP} steps, {angle[START_UP:].max():.3f} after; "
                     f"{int(alive.sum())} of {num_episodes} episodes last "
                     f"{config.episode_length} steps")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (hopper)")
    parser.add_argument("--episodes", type=int, default=8, help="fresh starts per seed")
    args = parser.parse_args()
    for name in args.runs:
        for line in lean(pathlib.Path(name), args.episodes):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
