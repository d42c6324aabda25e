"""Writes the bundled ``point_mass`` demonstrations from a scripted expert.

    python experiments/make_point_mass_demos.py   # -> nail_jax/data/bundled/point_mass.npz

The expert moves straight to the goal: ``a = clip(-3 x, -0.95, 0.95)`` on each axis.
"""

import pathlib

import jax
import jax.numpy as jnp

from nail_jax.data.collect import collect_dataset
from nail_jax.data.datasets import save_dataset
from nail_jax.envs.toy import PointMass

OUT = (pathlib.Path(__file__).resolve().parents[1] / "nail_jax" / "data" / "bundled"
       / "point_mass.npz")
EPISODES, LENGTH = 16, 30


def expert(obs, key):
    del key
    x = obs[:, :2]
    return jnp.clip(-3.0 * x, -0.95, 0.95)


def main():
    env = PointMass()
    data = collect_dataset(env, expert, EPISODES, LENGTH, jax.random.PRNGKey(0), metadata={
        "env": "point_mass", "backend": "jax", "episode_length": LENGTH,
        "made_by": "python experiments/make_point_mass_demos.py (scripted expert)",
    })
    random = collect_dataset(env, lambda obs, key: jax.random.uniform(
        key, (obs.shape[0], 2), minval=-1.0, maxval=1.0), EPISODES, LENGTH,
        jax.random.PRNGKey(1))
    data.metadata["random_return"] = random.metadata["expert_return"]
    data.metadata["random_episode_returns"] = random.metadata["episode_returns"]
    save_dataset(OUT, data)
    print(f"wrote {OUT}: {data.num_steps} steps, {data.num_episodes} episodes, "
          f"mean return {data.metadata['expert_return']:.3f}")


if __name__ == "__main__":
    main()
