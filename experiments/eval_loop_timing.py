"""Times the evaluator, which stops once every episode has ended, against its fixed-length
loop of all ``episode_length`` steps (``stop_early=False``, the evaluator before that
change), vmapped over seeds.

    python experiments/eval_loop_timing.py --env hopper --backend generalized   # falls early
    python experiments/eval_loop_timing.py --env halfcheetah --weight-scale 0.1  # never ends

The policy is ``tanh(obs @ W)`` with a random ``W`` (an untrained policy); both loops must
give the same returns, and the script checks that they do.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.envs.episodes import make_episode_runner
from nail_jax.envs.registry import make_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--backend", default="generalized")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--weight-scale", type=float, default=1.0)
    args = parser.parse_args()
    env = make_env(args.env, args.backend)
    w = args.weight_scale * jax.random.normal(jax.random.PRNGKey(0),
                                              (env.observation_size, env.action_size))

    def policy(obs, _):
        return jnp.tanh(obs @ w)

    keys = jax.random.split(jax.random.PRNGKey(1), args.seeds)
    returns = {}
    for name, stop_early in (("fixed length", False), ("stops early", True)):
        evaluate = make_episode_runner(env, args.episodes, args.episode_length, absorbing=False,
                                       stop_early=stop_early)
        run = jax.jit(jax.vmap(lambda k, evaluate=evaluate: evaluate(policy, k).returns))
        returns[name] = np.asarray(jax.block_until_ready(run(keys)))
        times = []
        for _ in range(3):
            t = time.time()
            jax.block_until_ready(run(keys))
            times.append(time.time() - t)
        print(f"{name:>12}: {statistics.median(times):.3f} s (median of 3), "
              f"mean return {returns[name].mean():.2f}")
    np.testing.assert_array_equal(*returns.values())
    print("returns identical")


if __name__ == "__main__":
    main()
