"""A toy task with no physics engine: what the unit and end-to-end tests learn on."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State


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
