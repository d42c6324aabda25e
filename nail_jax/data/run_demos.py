"""A run's demonstrations on the device: the expert pairs the discriminator and BC sample.

Names, one per concept: *demos* is what the user names (``config.demos``, ``--demos``: a
file or a bundled dataset, fingerprinted by sha256 in the run); :class:`ExpertPairs` are its
``(s, a, s')`` rows on the device, the discriminator's expert class; :class:`RunDemos` is
what :func:`load_run_demos` makes of the file for one run (the pairs and the expert return
that normalises the score).
"""

from __future__ import annotations

import dataclasses
import warnings

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.data import demonstrations as demos_lib
from nail_jax.data.datasets import DemoError, episode_returns, load_dataset
from nail_jax.envs.registry import has_backends


@flax.struct.dataclass
class ExpertPairs:
    """Demonstration ``(s, a)`` pairs on device, the discriminator's expert class:
    ``obs [M, O']``, ``action [M, A]``, the states that followed ``next_obs [M, O']`` (for a
    state-only discriminator, :func:`nail_jax.data.demonstrations.expert_next_observations`)
    and their sampling probabilities ``prob [M]`` (see
    :func:`nail_jax.data.demonstrations.expert_weights`)."""

    obs: jax.Array
    action: jax.Array
    next_obs: jax.Array
    prob: jax.Array


RECORD_KEYS = ("expert_return", "demo_episodes", "expert_return_file")


@dataclasses.dataclass(frozen=True)
class RunDemos:
    """The demos of one run.

    Attributes:
      pairs: the expert pairs trained on.
      expert_return: the mean return of the episodes trained on (the first
        ``num_episodes`` of the file): the expert end of the normalised score.
      num_episodes: how many episodes are trained on.
      file_expert_return: the file's own expert return: its metadata's ``expert_return``,
        else the mean over all its episodes (recorded beside ``expert_return``).
    """

    pairs: ExpertPairs
    expert_return: float
    num_episodes: int
    file_expert_return: float

    def describe(self) -> dict:
        """What a run records of its expert returns (``config.json``, ``summary.json``)."""
        return dict(zip(RECORD_KEYS, (self.expert_return, self.num_episodes,
                                      self.file_expert_return), strict=True))


def load_run_demos(config, obs_size: int, action_size: int) -> RunDemos:
    """Loads ``config.demos`` (a TrainConfig's), checks it fits the env, selects and
    subsamples episodes. The expert return is that of the episodes selected
    (:attr:`RunDemos.expert_return`), the file's is kept beside it.

    Raises ``DemoError`` with the file name when the sizes do not match the env. Warns
    when the file's metadata names another env or backend (of a suite with backends): the
    sizes then match but the dynamics differ.
    """
    path = demos_lib.resolve(config.demos)
    data = load_dataset(path)
    if data.obs_size != obs_size or data.action_size != action_size:
        raise DemoError(
            f"{path}: demonstrations have observation size {data.obs_size} and action size "
            f"{data.action_size}, but env {config.env!r} has {obs_size} and {action_size}; "
            "use demonstrations recorded in this env (`nail-jax demos list`)")
    made_in = (data.metadata.get("env", config.env), data.metadata.get("backend", config.backend))
    if has_backends(config.env) and made_in != (config.env, config.backend):
        warnings.warn(
            f"{path}: demonstrations recorded in {made_in[0]!r} on backend {made_in[1]!r}, "
            f"but this run trains {config.env!r} on backend {config.backend!r}; the "
            f"dynamics differ. Pass --env {made_in[0]} --backend {made_in[1]} to train where "
            "they were recorded, or demonstrations recorded in this env and backend.",
            UserWarning, stacklevel=2)
    returns = episode_returns(data)
    meta_returns = data.metadata.get("episode_returns")
    if meta_returns is not None and len(meta_returns) == len(returns):
        returns = np.asarray(meta_returns, np.float64)
    file_expert_return = float(data.metadata.get("expert_return", np.mean(returns)))
    data = demos_lib.select_episodes(data, config.demo_trajectories)
    # the score's expert end: the episodes trained on, not the file (select_episodes keeps
    # their returns, stored or summed, in the metadata)
    expert_return = float(np.mean(np.asarray(data.metadata["episode_returns"], np.float64)))
    data = demos_lib.subsample(data, config.demo_subsample, rng=0)
    obs, action = demos_lib.expert_pairs(data, config.absorbing)
    next_obs = demos_lib.expert_next_observations(data, config.absorbing)
    weights = demos_lib.expert_weights(data, config.absorbing)
    pairs = ExpertPairs(jnp.asarray(obs), jnp.asarray(action), jnp.asarray(next_obs),
                        jnp.asarray(weights / weights.sum()))
    return RunDemos(pairs, expert_return, config.demo_trajectories, file_expert_return)


def sample_expert_pairs(pairs: ExpertPairs, key: jax.Array, batch_size: int,
                        weighted: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``batch_size`` expert rows ``(obs [B, O'], action [B, A], next_obs [B, O'])``, drawn
    with replacement: by ``pairs.prob`` when ``weighted`` (inverse-CDF sampling), else
    uniformly (cheaper; right when all weights are equal)."""
    if weighted:
        idx = jax.random.choice(key, pairs.obs.shape[0], (batch_size,), p=pairs.prob)
    else:
        idx = jax.random.randint(key, (batch_size,), 0, pairs.obs.shape[0])
    return pairs.obs[idx], pairs.action[idx], pairs.next_obs[idx]
