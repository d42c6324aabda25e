"""Environments by name: the dispatcher over the registered suites.

Each suite is one adapter module that names its simulator and describes itself with a
:class:`nail_jax.envs.base.Suite`: brax's registered tasks (:mod:`nail_jax.envs.brax_suite`)
and the toy tasks (:mod:`nail_jax.envs.toy`, ``point_mass`` and ``point_mass_terminating``,
which compile in well under a second on a CPU), and the envs a user registers in this process
(:func:`register_env`). Adding a suite to the package is one adapter module, listed in
:data:`SUITES`, its presets and its data; nothing here or above names a simulator.
"""

from __future__ import annotations

from collections.abc import Callable

from nail_jax.envs import brax_suite, toy
from nail_jax.envs.base import Env, Suite

_USER_ENVS: dict[str, Callable[[], Env]] = {}


def _make_user_env(name: str, backend: str) -> Env:
    del backend  # a registered env has no backends
    return _USER_ENVS[name]()


USER_SUITE = Suite(name="user", tasks=lambda: tuple(_USER_ENVS), make=_make_user_env)
SUITES: tuple[Suite, ...] = (brax_suite.SUITE, toy.SUITE, USER_SUITE)

# Every suite's backends, in order. A suite without backends accepts any of these and
# ignores it, so a run's backend means the same whatever its env.
BACKENDS = tuple(dict.fromkeys(b for suite in SUITES for b in suite.backends))
TOY_ENVS = toy.TOY_ENVS


def available_envs() -> tuple[str, ...]:
    """Names accepted by :func:`make_env`: each suite's tasks, in the order of :data:`SUITES`
    (brax's registered envs, then the toy tasks)."""
    return tuple(name for suite in SUITES for name in suite.tasks())


def register_env(name: str, make: Callable[[], Env]) -> None:
    """Makes ``name`` an env of this process: configs, :func:`make_env`, the trainer and the
    driver (``nail_jax.run_training``, its checkpoints and resume) accept it like a bundled
    one. Register it again before resuming a run in a new process.

    Args:
      name: the env's name (``config.env``); not one of brax's or the toy envs.
      make: ``make() -> Env``, a :class:`nail_jax.envs.base.Env` (pure ``reset`` and
        ``step`` that ``jit`` and ``vmap`` go through; no time limit or auto-reset). Called
        each time the env is built. Registering a name again replaces its ``make``.

    Raises:
      ValueError: an empty name, a name of another suite, or a ``make`` that is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"an env name must be a non-empty string, got {name!r}")
    if not callable(make):
        raise ValueError(f"register_env({name!r}, make): make must be callable, got "
                         f"{type(make).__name__}")
    for suite in SUITES:
        if suite is not USER_SUITE and name in suite.tasks():
            raise ValueError(f"env {name!r} is already a {suite.name} env; register yours "
                             f"under another name")
    _USER_ENVS[name] = make


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
