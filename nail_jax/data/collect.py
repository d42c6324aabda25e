"""Rolling out a policy into a demonstration :class:`nail_jax.data.datasets.Dataset`."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.data.datasets import Dataset
from nail_jax.envs.base import Env


def collect_dataset(
    env: Env,
    policy_fn: Callable[[jax.Array, jax.Array], jax.Array],
    num_episodes: int,
    episode_length: int,
    key: jax.Array,
    metadata: dict | None = None,
) -> Dataset:
    """Runs ``num_episodes`` episodes in parallel and returns them as a per-step dataset.

    Args:
      env: a :class:`nail_jax.envs.base.Env` (no episode wrappers).
      policy_fn: ``(obs [E, O], key) -> action [E, A]`` in ``[-1, 1]``.
      num_episodes: episodes, each from a fresh ``reset``.
      episode_length: time limit; an episode ends at its first ``done`` (``terminals``)
        or at the limit (``timeouts``).
      key: PRNG key.
      metadata: extra JSON-able metadata; ``episode_returns`` and ``expert_return`` (their
        mean, the return of the policy that was rolled out) are added, and, for envs that
        report an ``x_velocity`` metric (brax locomotion), ``episode_forward_velocities``
        (each episode's mean over its steps) and ``forward_velocity`` (their mean).
    """
    k_reset, k_act = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))
    step = jax.vmap(env.step)

    @jax.jit
    def rollout(state, key):
        def body(carry, k):
            state, alive = carry
            action = jnp.clip(policy_fn(state.obs, k), -1.0, 1.0)
            nxt = step(state, action)
            done = nxt.done > 0
            velocity = nxt.metrics.get("x_velocity", jnp.full(num_episodes, jnp.nan))
            out = (state.obs, action, nxt.reward, nxt.obs, done, alive, velocity)
            return (nxt, alive & ~done), out

        init = (state, jnp.ones(num_episodes, bool))
        _, out = jax.lax.scan(body, init, jax.random.split(key, episode_length))
        return out

    obs, action, reward, next_obs, done, alive, velocity = (
        np.asarray(x) for x in rollout(state, k_act))
    rows = {k: [] for k in ("observations", "actions", "rewards", "next_observations",
                            "terminals", "timeouts")}
    returns, velocities = [], []
    for e in range(num_episodes):
        valid = alive[:, e]
        n = int(valid.sum())
        terminal = np.zeros(n, bool)
        timeout = np.zeros(n, bool)
        if done[n - 1, e]:
            terminal[-1] = True
        else:
            timeout[-1] = True
        rows["observations"].append(obs[:n, e])
        rows["actions"].append(action[:n, e])
        rows["rewards"].append(reward[:n, e])
        rows["next_observations"].append(next_obs[:n, e])
        rows["terminals"].append(terminal)
        rows["timeouts"].append(timeout)
        returns.append(float(reward[:n, e].sum()))
        velocities.append(float(velocity[:n, e].mean()))
    arrays = {k: np.concatenate(v) for k, v in rows.items()}
    meta = dict(metadata or {})
    meta["episode_returns"] = returns
    meta.setdefault("expert_return", float(np.mean(returns)))
    if np.all(np.isfinite(velocities)):
        meta["episode_forward_velocities"] = velocities
        meta["forward_velocity"] = float(np.mean(velocities))
    return Dataset(
        observations=arrays["observations"].astype(np.float32),
        actions=arrays["actions"].astype(np.float32),
        next_observations=arrays["next_observations"].astype(np.float32),
        rewards=arrays["rewards"].astype(np.float32),
        terminals=arrays["terminals"],
        timeouts=arrays["timeouts"],
        metadata=meta,
    )
