"""The env boundary: what nail_jax needs of an environment, and how a suite of them is named.

Everything above this module (the training loop :mod:`nail_jax.envs.loop`, the evaluator
:mod:`nail_jax.envs.episodes`, the trainer) sees an env only through :class:`Env` and its
:class:`EnvState`; a simulator is named only in its suite's adapter module
(:mod:`nail_jax.envs.brax_suite` for brax, :mod:`nail_jax.envs.toy` for the point mass),
which describes itself with a :class:`Suite` that :mod:`nail_jax.envs.registry` lists.
Adding a suite is one adapter module, its presets and its data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import jax


@runtime_checkable
class EnvState(Protocol):
    """One env's state: a pytree of arrays (``jax.tree.map`` over it selects per env under
    ``vmap``) whose fields nail_jax reads. brax's ``State`` is one.

    Attributes:
      obs: ``[O]`` the observation to act on.
      reward: ``[]`` reward of the step that led here (0 after ``reset``).
      done: ``[]`` float, ``> 0`` once the episode truly terminated (not a time limit).
      metrics: named ``[]`` scalars of the step, possibly none; the demonstration collector
        reads ``x_velocity`` where there is one.
    """

    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: Mapping[str, jax.Array]


@runtime_checkable
class Env(Protocol):
    """A single, unbatched environment without time limit or auto-reset (the loop adds both).

    ``reset`` and ``step`` are pure functions of their arguments that ``jax.jit`` and
    ``jax.vmap`` (over a leading env axis of keys, states and actions) go through.
    """

    def reset(self, rng: jax.Array) -> EnvState:
        """A fresh start state drawn with the PRNG key ``rng``."""
        ...

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """The state after acting ``action [action_size]`` in ``[-1, 1]`` in ``state``."""
        ...

    @property
    def observation_size(self) -> int:
        """``O``, the size of ``EnvState.obs``."""
        ...

    @property
    def action_size(self) -> int:
        """``A``, the size of the actions ``step`` takes."""
        ...


@dataclasses.dataclass(frozen=True)
class Suite:
    """A family of envs behind one adapter.

    Attributes:
      name: the suite's name (``"brax"``, ``"toy"``).
      tasks: ``tasks() -> names`` of its envs, read at call time (a suite may learn of new
        envs after import, as brax's registry does).
      make: ``make(name, backend) -> Env`` for a name of ``tasks()`` and a checked backend.
      backends: the simulator backends it builds on; ``()`` for a suite without any, whose
        ``make`` ignores ``backend``.
      backend_matters: whether the same env on another backend has other dynamics, so that
        demonstrations recorded on another backend do not match (the trainer warns).
    """

    name: str
    tasks: Callable[[], tuple[str, ...]]
    make: Callable[[str, str], Env]
    backends: tuple[str, ...] = ()
    backend_matters: bool = False
