"""Environments by name: the dispatcher over the registered suites.

Each suite is one adapter module that names its simulator and describes itself with a
:class:`nail_jax.envs.base.Suite`: brax's registered tasks (:mod:`nail_jax.envs.brax_suite`)
and the toy tasks (:mod:`nail_jax.envs.toy`, ``point_mass`` and ``point_mass_terminating``,
which compile in well under a second on a CPU). Adding a suite is one adapter module, listed
in :data:`SUITES`, its presets and its data; nothing here or above names a simulator.
"""

from __future__ import annotations

from nail_jax.envs import brax_suite, toy
from nail_jax.envs.base import Env, Suite

SUITES: tuple[Suite, ...] = (brax_suite.SUITE, toy.SUITE)

# Every suite's backends, in order. A suite without backends accepts any of these and
# ignores it, so a run's backend means the same whatever its env.
BACKENDS = tuple(dict.fromkeys(b for suite in SUITES for b in suite.backends))
TOY_ENVS = toy.TOY_ENVS


def available_envs() -> tuple[str, ...]:
    """Names accepted by :func:`make_env`: each suite's tasks, in the order of :data:`SUITES`
    (brax's registered envs, then the toy tasks)."""
    return tuple(name for suite in SUITES for name in suite.tasks())


def suite_of(name: str) -> Suite:
    """The suite of env ``name``; raises ``ValueError`` naming the valid choices."""
    for suite in SUITES:
        if name in suite.tasks():
            return suite
    raise ValueError(f"unknown env {name!r}; choose one of: {', '.join(available_envs())}")


def has_backends(name: str) -> bool:
    """Whether env ``name`` has other dynamics on another backend (so demonstrations recorded
    on another backend do not match it): brax envs, not toy ones."""
    return suite_of(name).backend_matters


def make_env(name: str, backend: str = "spring") -> Env:
    """Builds an env by name; raises ``ValueError`` naming the valid choices.

    ``point_mass`` is :class:`nail_jax.envs.toy.PointMass`; ``point_mass_terminating``
    terminates within 0.1 of the origin. Toy envs ignore ``backend``.
    """
    check_env(name, backend)
    return suite_of(name).make(name, backend)


def check_env(name: str, backend: str) -> None:
    """Raises ``ValueError`` naming the valid choices for an unknown env or backend."""
    suite = suite_of(name)
    backends = suite.backends or BACKENDS
    if backend not in backends:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(backends)}")
