"""The training env loop: parallel envs with absorbing states and time-limit truncation.

It drives any :class:`nail_jax.envs.base.Env` (an env without time limit or auto-reset, of
any suite). :func:`make_env_loop` replaces brax's ``EpisodeWrapper`` and
``AutoResetWrapper``, which lose the true final observation of an episode and restart
every episode of a slot from one fixed state (see BRAX notes). Here:

- a time-limit truncation keeps ``discount = 1`` and ``next_obs`` = the true final
  observation, so the critic bootstraps through it;
- with ``absorbing=True`` (DAC, Kostrikov et al. 2018) observations get one extra
  feature (0 for ordinary states); a true termination leads into the absorbing state
  ``[0, ..., 0, 1]``, the env spends one more step there emitting the transition
  ``(s_abs, a, 0, 1, s_abs)``, then resets. Bootstrapping is never masked, and the
  learned value of the absorbing state carries the (learned) reward of terminating;
- with ``absorbing=False`` a true termination sets ``discount = 0``;
- episodes restart from a cache of fresh ``reset`` states, re-drawn by ``refresh``
  (the trainer calls it at each epoch start), so starts differ across slots and epochs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from nail_jax.absorbing import absorbing_state, augment_obs
from nail_jax.envs.base import Env, EnvState
from nail_jax.types import Transition


def _select(pred: jax.Array, on_true, on_false):
    """Per-env ``where`` over matching pytrees; ``pred`` is ``[E]``."""
    def pick(a, b):
        return jnp.where(pred.reshape(pred.shape + (1,) * (a.ndim - pred.ndim)), a, b)
    return jax.tree.map(pick, on_true, on_false)


@flax.struct.dataclass
class EnvLoopState:
    """State of ``E`` parallel training envs.

    Attributes:
      env_state: the env's :class:`nail_jax.envs.base.EnvState` with leading ``[E]`` axis.
      steps: ``[E]`` int32 steps taken in the current episode.
      in_absorbing: ``[E]`` bool, the env sits in the absorbing state this step.
      reset_cache: ``EnvState`` ``[E]``, the start states of the next episodes.
    """

    env_state: EnvState
    steps: jax.Array
    in_absorbing: jax.Array
    reset_cache: EnvState


@dataclasses.dataclass(frozen=True)
class EnvLoop:
    """Pure functions driving ``num_envs`` envs (see module docstring).

    Attributes:
      obs_size: size of the observations the learners see (``+1`` with absorbing states).
      action_size: action size.
      reset: ``reset(key) -> EnvLoopState``.
      refresh: ``refresh(state, key) -> state`` with new episode start states.
      observe: ``observe(state) -> [E, obs_size]`` the observations to act on.
      step: ``step(state, action [E, A]) -> (state, Transition [E])``.
    """

    obs_size: int
    action_size: int
    reset: Callable[[jax.Array], EnvLoopState]
    refresh: Callable[[EnvLoopState, jax.Array], EnvLoopState]
    observe: Callable[[EnvLoopState], jax.Array]
    step: Callable[[EnvLoopState, jax.Array], tuple[EnvLoopState, Transition]]


def make_env_loop(env: Env, num_envs: int, episode_length: int, absorbing: bool) -> EnvLoop:
    """Builds the training env loop over ``num_envs`` copies of ``env``."""
    raw_obs = env.observation_size
    obs_size = raw_obs + 1 if absorbing else raw_obs
    abs_obs = absorbing_state(raw_obs, jnp) if absorbing else None
    v_reset = jax.vmap(env.reset)
    v_step = jax.vmap(env.step)

    def reset(key: jax.Array) -> EnvLoopState:
        k_now, k_cache = jax.random.split(key)
        return EnvLoopState(
            env_state=v_reset(jax.random.split(k_now, num_envs)),
            steps=jnp.zeros(num_envs, jnp.int32),
            in_absorbing=jnp.zeros(num_envs, bool),
            reset_cache=v_reset(jax.random.split(k_cache, num_envs)),
        )

    def refresh(state: EnvLoopState, key: jax.Array) -> EnvLoopState:
        return state.replace(reset_cache=v_reset(jax.random.split(key, num_envs)))

    def observe(state: EnvLoopState) -> jax.Array:
        obs = augment_obs(state.env_state.obs, absorbing, jnp)
        if absorbing:
            obs = jnp.where(state.in_absorbing[:, None], abs_obs, obs)
        return obs

    def step(state: EnvLoopState, action: jax.Array) -> tuple[EnvLoopState, Transition]:
        obs = observe(state)
        nxt = v_step(state.env_state, action)
        steps = state.steps + 1
        terminated = nxt.done > 0
        truncated = (steps >= episode_length) & ~terminated
        next_obs = augment_obs(nxt.obs, absorbing, jnp)
        reward = nxt.reward
        if absorbing:
            next_obs = jnp.where(terminated[:, None], abs_obs, next_obs)
            discount = jnp.ones(num_envs)
            # The absorbing step: (s_abs, a, 0, 1, s_abs), then a reset.
            was_abs = state.in_absorbing
            next_obs = jnp.where(was_abs[:, None], abs_obs, next_obs)
            reward = jnp.where(was_abs, 0.0, reward)
            enter_abs = terminated & ~was_abs
            restart = was_abs | truncated
            in_absorbing = enter_abs
        else:
            discount = 1.0 - terminated.astype(jnp.float32)
            restart = terminated | truncated
            in_absorbing = state.in_absorbing
        transition = Transition(obs=obs, action=action, reward=reward.astype(jnp.float32),
                                discount=discount.astype(jnp.float32), next_obs=next_obs)
        env_state = _select(restart, state.reset_cache, nxt)
        new_state = EnvLoopState(
            env_state=env_state,
            steps=jnp.where(restart, 0, steps),
            in_absorbing=in_absorbing,
            reset_cache=state.reset_cache,
        )
        return new_state, transition

    return EnvLoop(obs_size, env.action_size, reset, refresh, observe, step)
