"""Known, harmless messages of third-party packages, dealt with where they arise.

Each is matched by its exact text and only where it is raised, so that anything else these
packages say still reaches the user (as do nail_jax's own warnings):

- ``mujoco.mjx`` prints ``Failed to import warp: ...`` and ``Failed to import mujoco_warp:
  ...`` on import when the optional NVIDIA Warp backend is not installed (nail_jax never
  uses it). :func:`import_mujoco_mjx` imports it with those two lines dropped; importing
  this module does so (``nail_jax/__init__.py`` imports it before anything imports brax).
- MuJoCo's XML compiler warns that brax's halfcheetah asset uses the deprecated
  ``settotalmass`` attribute, and brax warns, on every env it builds, that its pipelines
  are "not actively being maintained". :func:`building_brax_env` drops those two while an
  env is built and passes any other MuJoCo warning on as a Python ``RuntimeWarning``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator

_MJX_IMPORT_LINES = ("Failed to import warp:", "Failed to import mujoco_warp:")
_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
_BRAX_WARNING = "Brax System, piplines and environments are not actively being maintained"


def import_mujoco_mjx() -> None:
    """Imports ``mujoco.mjx`` (brax imports it) without its two lines about Warp."""
    if "mujoco.mjx" in sys.modules:
        return
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            import mujoco.mjx  # noqa: F401
    finally:  # whatever else it printed, also when the import fails
        kept = [line for line in captured.getvalue().splitlines(keepends=True)
                if not line.startswith(_MJX_IMPORT_LINES)]
        sys.stdout.write("".join(kept))


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


import_mujoco_mjx()
