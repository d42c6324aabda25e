"""The toy adapter: tasks with no physics engine, what the unit and end-to-end tests learn on.

Pure JAX envs that compile in well under a second on a CPU, listed as the :data:`SUITE` entry
(``point_mass`` and ``point_mass_terminating``; no backends: any backend name gives the same
env). See :mod:`nail_jax.envs.base` for the boundary.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nail_jax.envs.base import Suite

TOY_ENVS = ("point_mass", "point_mass_terminating")


@flax.struct.dataclass
class PointMassState:
    """A :class:`nail_jax.envs.base.EnvState`; the fields (and their order) of brax's
    ``State``, so a saved training state holds the same leaves under the same names.

    Attributes:
      pipeline_state: ``[D]`` the position.
      obs: ``[2D]`` the position and the previous action.
      reward: ``[]`` ``-||position||_2``.
      done: ``[]`` 1.0 once terminated.
      metrics: none.
      info: none.
    """

    pipeline_state: jax.Array
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict = flax.struct.field(default_factory=dict)
    info: dict = flax.struct.field(default_factory=dict)


class PointMass:
    """A point in ``[-1, 1]^D`` that must move to the origin (a :class:`nail_jax.envs.base.Env`).

    Observation ``[2D]``: position and the previous action. Action ``[D]`` in ``[-1, 1]``
    moves the point by ``max_speed * action``. Reward ``-||x||_2`` per step. With
    ``terminate_radius > 0`` the episode terminates (a true termination, for
    absorbing-state tests) once the point is within that radius of the origin.
    Time limits are added by the env loop (:mod:`nail_jax.envs.loop`), not here.
    """

    def __init__(self, dim: int = 2, max_speed: float = 0.1, terminate_radius: float = 0.0):
        self._dim = dim
        self._max_speed = max_speed
        self._terminate_radius = terminate_radius

    def _obs(self, x: jax.Array, a: jax.Array) -> jax.Array:
        return jnp.concatenate([x, a])

    def reset(self, rng: jax.Array) -> PointMassState:
        x = jax.random.uniform(rng, (self._dim,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros(())
        return PointMassState(pipeline_state=x, obs=self._obs(x, jnp.zeros(self._dim)),
                              reward=zero, done=zero, metrics={}, info={})

    def step(self, state: PointMassState, action: jax.Array) -> PointMassState:
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


def make(name: str, backend: str) -> PointMass:
    """``point_mass``, or ``point_mass_terminating`` (terminates within 0.1 of the goal);
    ``backend`` is ignored."""
    del backend
    if name == "point_mass":
        return PointMass()
    if name == "point_mass_terminating":
        return PointMass(terminate_radius=0.1)
    raise ValueError(f"unknown toy env {name!r}; choose one of: {', '.join(TOY_ENVS)}")


SUITE = Suite(name="toy", tasks=lambda: TOY_ENVS, make=make)
