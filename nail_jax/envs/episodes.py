"""Fresh episodes of a policy, the uniform random policy, and the normalised score.

:func:`make_episode_runner` rolls any policy out in fresh episodes of any
:class:`nail_jax.envs.base.Env`. What it measures is the *evaluation* of the trainer (the
deterministic policy at an epoch's end, ``eval_return``) and of ``nail-jax eval``
(:func:`nail_jax.running.evaluation.evaluate_run`), and ``R_random`` of the score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nail_jax.absorbing import augment_obs
from nail_jax.envs.base import Env


class Episodes(NamedTuple):
    """What :func:`make_episode_runner` measures of each of ``E`` episodes."""

    returns: jax.Array  # [E] undiscounted returns
    lengths: jax.Array  # [E] int32 steps taken: up to its first ``done``, else the time limit


def make_episode_runner(env: Env, num_episodes: int, episode_length: int, absorbing: bool,
                        stop_early: bool = True):
    """``run_episodes(policy_fn, key) -> Episodes`` (``returns``, ``lengths``, each
    ``[num_episodes]``).

    ``policy_fn(obs [E, O'], key) -> action [E, A]``, with ``O'`` including the absorbing
    flag (always 0 here). Each episode starts from a fresh ``reset`` and ends at its first
    ``done`` (that step counted in its length) or after ``episode_length`` steps: a length
    below ``episode_length`` is an episode the env ended (a fall, in the locomotion tasks).
    With ``stop_early`` the loop stops once every episode has ended (under ``vmap``, every
    episode of every batch member); without it, it runs all ``episode_length`` steps (a
    ``scan``, which reverse-mode autodiff can go through). The episodes are the same: step
    ``t`` acts on the same key either way.

    An episode's steps after its end add exactly 0, whatever the env returns there (even
    ``nan``); a non-finite reward of a live step makes that episode's return non-finite,
    and the driver stops the run on it (the environment diverged; see
    :mod:`nail_jax.running.safety`).
    """
    v_reset = jax.vmap(env.reset)
    v_step = jax.vmap(env.step)

    def run_episodes(policy_fn, key: jax.Array) -> Episodes:
        k_reset, k_act = jax.random.split(key)
        state = v_reset(jax.random.split(k_reset, num_episodes))
        keys = jax.random.split(k_act, episode_length)

        def running(carry):
            t, _, alive, _, _ = carry
            return (t < episode_length) & jnp.any(alive)

        def body(carry):
            t, state, alive, ret, length = carry
            action = policy_fn(augment_obs(state.obs, absorbing, jnp), keys[t])
            nxt = v_step(state, action)
            # An ended episode adds exactly 0: a select, not ``alive * reward`` (an env
            # stepped past its end may return nan, and 0 * nan is nan).
            ret = ret + jnp.where(alive, nxt.reward, 0.0)
            length = length + alive.astype(jnp.int32)
            alive = alive & ~(nxt.done > 0)
            return t + 1, nxt, alive, ret, length

        init = (jnp.zeros((), jnp.int32), state, jnp.ones(num_episodes, bool),
                jnp.zeros(num_episodes), jnp.zeros(num_episodes, jnp.int32))
        if stop_early:
            end = jax.lax.while_loop(running, body, init)
        else:
            end = jax.lax.scan(lambda c, _: (body(c), None), init, None, episode_length)[0]
        return Episodes(returns=end[3], lengths=end[4])

    return run_episodes


def uniform_random_policy(action_size: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``policy_fn(obs [E, O], key) -> action [E, action_size]`` uniform in ``[-1, 1]``."""

    def random_action(obs: jax.Array, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, (obs.shape[0], action_size), minval=-1.0, maxval=1.0)

    return random_action


def random_policy_returns(run_episodes: Callable, action_size: int,
                          key: jax.Array) -> jax.Array:
    """``[N]`` returns of :func:`uniform_random_policy` in the episodes of ``run_episodes``
    (a :func:`make_episode_runner` of ``N`` episodes): ``R_random`` of the score."""
    return run_episodes(uniform_random_policy(action_size), key).returns


def normalized_score(ret, random_return, expert_return):
    """``(R - R_random) / (R_expert - R_random)``: 0 for the uniform random policy, 1 for the
    expert of the demonstrations. Elementwise, for numbers or numpy / JAX arrays."""
    return (ret - random_return) / (expert_return - random_return)
