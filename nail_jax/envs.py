"""Environments: construction, the training env loop with absorbing states, and evaluation.

``PointMass`` implements brax's ``Env`` interface with no physics engine, so it
compiles in well under a second on a CPU; it is what the unit and end-to-end tests
learn on. Brax tasks are built with :func:`make_env`.

The env loop (:func:`make_env_loop`) replaces brax's ``EpisodeWrapper`` and
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

import brax.envs
import flax.struct
import jax
import jax.numpy as jnp
from brax.envs.base import Env, State

from nail_jax.third_party import building_brax_env
from nail_jax.types import Transition

BACKENDS = ("spring", "positional", "generalized", "mjx")
TOY_ENVS = ("point_mass", "point_mass_terminating")


class PointMass(Env):
    """A point in ``[-1, 1]^D`` that must move to the origin.

    Observation ``[2D]``: position and the previous action. Action ``[D]`` in ``[-1, 1]``
    moves the point by ``max_speed * action``. Reward ``-||x||_2`` per step. With
    ``terminate_radius > 0`` the episode terminates (a true termination, for
    absorbing-state tests) once the point is within that radius of the origin.
    Time limits are added by brax's ``EpisodeWrapper``, not here.
    """

    def __init__(self, dim: int = 2, max_speed: float = 0.1, terminate_radius: float = 0.0):
        self._dim = dim
        self._max_speed = max_speed
        self._terminate_radius = terminate_radius

    def _obs(self, x: jax.Array, a: jax.Array) -> jax.Array:
        return jnp.concatenate([x, a])

    def reset(self, rng: jax.Array) -> State:
        x = jax.random.uniform(rng, (self._dim,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros(())
        return State(pipeline_state=x, obs=self._obs(x, jnp.zeros(self._dim)),
                     reward=zero, done=zero, metrics={}, info={})

    def step(self, state: State, action: jax.Array) -> State:
        a = jnp.clip(action, -1.0, 1.0)
        x = jnp.clip(state.pipeline_state + self._max_speed * a, -1.0, 1.0)
        dist = jnp.linalg.norm(x)
        done = (dist < self._terminate_radius).astype(jnp.float32)
        return state.replace(pipeline_state=x, obs=self._obs(x, a), reward=-dist, done=done)

    @property
    def observation_size(self) -> int:
        return 2 * self._dim

    @property
    def action_size(self) -> int:
        return self._dim

    @property
    def backend(self) -> str:
        return "jax"


def available_envs() -> tuple[str, ...]:
    """Names accepted by :func:`make_env`: brax's registered envs and the toy tasks."""
    return tuple(sorted(brax.envs._envs)) + TOY_ENVS  # noqa: SLF001 (brax keeps no public list)


def make_env(name: str, backend: str = "spring") -> Env:
    """Builds an env by name; raises ``ValueError`` naming the valid choices.

    ``point_mass`` is :class:`PointMass`; ``point_mass_terminating`` terminates within
    0.1 of the goal. Toy envs ignore ``backend``.
    """
    check_env(name, backend)
    if name == "point_mass":
        return PointMass()
    if name == "point_mass_terminating":
        return PointMass(terminate_radius=0.1)
    with building_brax_env():
        return brax.envs.get_environment(name, backend=backend)


def check_env(name: str, backend: str) -> None:
    """Raises ``ValueError`` naming the valid choices for an unknown env or backend."""
    if name not in available_envs():
        raise ValueError(f"unknown env {name!r}; choose one of: {', '.join(available_envs())}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


def augment_obs(obs: jax.Array, absorbing: bool) -> jax.Array:
    """``[..., O] -> [..., O + 1]`` with a 0 absorbing flag appended (identity if not absorbing)."""
    if not absorbing:
        return obs
    return jnp.concatenate([obs, jnp.zeros((*obs.shape[:-1], 1), obs.dtype)], axis=-1)


def absorbing_obs(obs_size: int) -> jax.Array:
    """The DAC absorbing state ``[0, ..., 0, 1]`` of size ``obs_size + 1``."""
    return jnp.zeros(obs_size + 1).at[-1].set(1.0)


def _select(pred: jax.Array, on_true, on_false):
    """Per-env ``where`` over matching pytrees; ``pred`` is ``[E]``."""
    def pick(a, b):
        return jnp.where(pred.reshape(pred.shape + (1,) * (a.ndim - pred.ndim)), a, b)
    return jax.tree.map(pick, on_true, on_false)


@flax.struct.dataclass
class EnvLoopState:
    """State of ``E`` parallel training envs.

    Attributes:
      env_state: brax ``State`` with leading ``[E]`` axis.
      steps: ``[E]`` int32 steps taken in the current episode.
      in_absorbing: ``[E]`` bool, the env sits in the absorbing state this step.
      reset_cache: brax ``State`` ``[E]``, the start states of the next episodes.
    """

    env_state: State
    steps: jax.Array
    in_absorbing: jax.Array
    reset_cache: State


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
    abs_obs = absorbing_obs(raw_obs) if absorbing else None
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
        obs = augment_obs(state.env_state.obs, absorbing)
        if absorbing:
            obs = jnp.where(state.in_absorbing[:, None], abs_obs, obs)
        return obs

    def step(state: EnvLoopState, action: jax.Array) -> tuple[EnvLoopState, Transition]:
        obs = observe(state)
        nxt = v_step(state.env_state, action)
        steps = state.steps + 1
        terminated = nxt.done > 0
        truncated = (steps >= episode_length) & ~terminated
        next_obs = augment_obs(nxt.obs, absorbing)
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


def make_evaluator(env: Env, num_episodes: int, episode_length: int, absorbing: bool,
                   stop_early: bool = True):
    """``evaluate(policy_fn, key) -> [num_episodes]`` undiscounted returns.

    ``policy_fn(obs [E, O'], key) -> action [E, A]``, with ``O'`` including the absorbing
    flag (always 0 here). Each episode starts from a fresh ``reset`` and ends at its first
    ``done`` or after ``episode_length`` steps. With ``stop_early`` the loop stops once every
    episode has ended (under ``vmap``, every episode of every batch member); without it, it
    runs all ``episode_length`` steps (a ``scan``, which reverse-mode autodiff can go
    through). The returns are the same: step ``t`` acts on the same key either way.
    """
    v_reset = jax.vmap(env.reset)
    v_step = jax.vmap(env.step)

    def evaluate(policy_fn, key: jax.Array) -> jax.Array:
        k_reset, k_act = jax.random.split(key)
        state = v_reset(jax.random.split(k_reset, num_episodes))
        keys = jax.random.split(k_act, episode_length)

        def running(carry):
            t, _, alive, _ = carry
            return (t < episode_length) & jnp.any(alive > 0)

        def body(carry):
            t, state, alive, ret = carry
            action = policy_fn(augment_obs(state.obs, absorbing), keys[t])
            nxt = v_step(state, action)
            ret = ret + alive * nxt.reward
            alive = alive * (1.0 - (nxt.done > 0))
            return t + 1, nxt, alive, ret

        init = (jnp.zeros((), jnp.int32), state, jnp.ones(num_episodes), jnp.zeros(num_episodes))
        if stop_early:
            return jax.lax.while_loop(running, body, init)[3]
        return jax.lax.scan(lambda c, _: (body(c), None), init, None, episode_length)[0][3]

    return evaluate
