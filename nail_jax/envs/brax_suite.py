"""The brax adapter: brax's registered envs on its four backends, as the :data:`SUITE` entry.

The only module of :mod:`nail_jax.envs` that names brax (see :mod:`nail_jax.envs.base` for
the boundary). brax's ``Env`` and ``State`` already are :class:`nail_jax.envs.base.Env` and
:class:`nail_jax.envs.base.EnvState`, so envs pass through as brax builds them.

brax says two known, harmless things while it builds an env, dropped here by their exact
text and only then (:func:`building_brax_env`), so that anything else still reaches the user:
MuJoCo's XML compiler warns that brax's halfcheetah asset uses the deprecated
``settotalmass`` attribute, and brax warns, on every env it builds, that its pipelines are
"not actively being maintained". Any other MuJoCo warning is passed on as a Python
``RuntimeWarning``. (``mujoco.mjx``'s lines on import are :mod:`nail_jax.third_party`'s.)
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import brax.envs

from nail_jax.envs.base import Env, Suite

BACKENDS = ("spring", "positional", "generalized", "mjx")

_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
_BRAX_WARNING = "Brax System, piplines and environments are not actively being maintained"


def env_names() -> tuple[str, ...]:
    """brax's registered envs, sorted, as registered when called."""
    return tuple(sorted(brax.envs._envs))  # noqa: SLF001 (brax keeps no public list)


@contextlib.contextmanager
def building_brax_env() -> Iterator[None]:
    """Context for ``brax.envs.get_environment``: drops the two known messages above; other
    MuJoCo warnings become ``RuntimeWarning`` s. The previous MuJoCo handler is restored."""
    import mujoco

    def on_warning(message: str) -> None:
        if not message.startswith(_MUJOCO_WARNINGS):
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(on_warning)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_BRAX_WARNING, category=UserWarning)
            yield
    finally:
        mujoco.set_mju_user_warning(previous)


def make(name: str, backend: str) -> Env:
    """brax's env ``name`` on ``backend`` (both already checked), built quietly."""
    with building_brax_env():
        return brax.envs.get_environment(name, backend=backend)


SUITE = Suite(name="brax", tasks=env_names, make=make, backends=BACKENDS, backend_matters=True)
