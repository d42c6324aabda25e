"""Environments by name: brax's registered tasks and the toy tasks of :mod:`nail_jax.envs.toy`.

Brax tasks are built with :func:`make_env`; ``point_mass`` and ``point_mass_terminating``
are :class:`nail_jax.envs.toy.PointMass`, which compiles in well under a second on a CPU.
"""

from __future__ import annotations

import brax.envs
from brax.envs.base import Env

from nail_jax.envs.toy import PointMass
from nail_jax.third_party import building_brax_env

BACKENDS = ("spring", "positional", "generalized", "mjx")
TOY_ENVS = ("point_mass", "point_mass_terminating")


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
