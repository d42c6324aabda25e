"""Writes the bundled demonstrations whose expert is a scripted controller.

    python experiments/make_scripted_demos.py                    # both datasets
    python experiments/make_scripted_demos.py inverted_pendulum  # one of them

- ``point_mass`` (:class:`nail_jax.envs.toy.PointMass`, 16 episodes of 30 steps): the expert moves
  straight to the goal, ``a = clip(-3 x, -0.95, 0.95)`` on each axis.
- ``inverted_pendulum`` (brax, ``spring`` backend, 10 episodes of 1,000 steps): a linear
  state-feedback controller on ``obs = (x, theta, x_dot, theta_dot)``,
  ``a = clip(0.3 x + 3 theta + 0.03 theta_dot, -1, 1)``. Its gains are the best of a grid of
  5,040 (each axis 5-7 values around 0) by mean return over 32 episodes; it balances the pole
  for all 1,000 steps from every start.

Each dataset's metadata holds the uniform random policy's return on the same starts.
"""

import pathlib
import sys

import jax
import jax.numpy as jnp

from nail_jax.data.collect import collect_dataset
from nail_jax.data.datasets import save_dataset
from nail_jax.envs.registry import make_env

DATA = pathlib.Path(__file__).resolve().parents[1] / "nail_jax" / "data" / "bundled"


def point_mass_expert(obs, key):
    del key
    return jnp.clip(-3.0 * obs[:, :2], -0.95, 0.95)


PENDULUM_GAINS = jnp.array([0.3, 3.0, 0.0, 0.03])


def pendulum_expert(obs, key):
    del key
    return jnp.clip(obs @ PENDULUM_GAINS, -1.0, 1.0)[:, None]


# name: (env backend, expert, episodes, episode length, how the expert works)
TASKS = {
    "point_mass": ("jax", point_mass_expert, 16, 30, "scripted expert"),
    "inverted_pendulum": ("spring", pendulum_expert, 10, 1000,
                          "scripted expert: a = clip(0.3 x + 3 theta + 0.03 theta_dot, -1, 1)"),
}


def write(name: str) -> None:
    backend, expert, episodes, length, how = TASKS[name]
    env = make_env(name, "spring" if backend == "jax" else backend)  # toy envs ignore it
    action_size = env.action_size
    data = collect_dataset(env, expert, episodes, length, jax.random.PRNGKey(0), metadata={
        "env": name, "backend": backend, "episode_length": length,
        "made_by": f"python experiments/make_scripted_demos.py ({how})",
    })
    random = collect_dataset(env, lambda obs, key: jax.random.uniform(
        key, (obs.shape[0], action_size), minval=-1.0, maxval=1.0), episodes, length,
        jax.random.PRNGKey(1))
    data.metadata["random_return"] = random.metadata["expert_return"]
    data.metadata["random_episode_returns"] = random.metadata["episode_returns"]
    out = DATA / f"{name}.npz"
    save_dataset(out, data)
    print(f"wrote {out}: {data.num_steps} steps, {data.num_episodes} episodes, "
          f"mean return {data.metadata['expert_return']:.3f} "
          f"(random {data.metadata['random_return']:.3f})")


def main(argv: list[str]) -> None:
    names = argv or list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        sys.exit(f"make_scripted_demos: unknown dataset {unknown[0]!r}; choose from "
                 f"{', '.join(TASKS)}")
    for name in names:
        write(name)


if __name__ == "__main__":
    main(sys.argv[1:])
