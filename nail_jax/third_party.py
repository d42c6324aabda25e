"""Known, harmless messages of third-party packages, dealt with where they arise.

Each is matched by its exact text and only where it is raised, so that anything else these
packages say still reaches the user (as do nail_jax's own warnings):

- ``mujoco.mjx`` prints ``Failed to import warp: ...`` and ``Failed to import mujoco_warp:
  ...`` on import when the optional NVIDIA Warp backend is not installed (nail_jax never
  uses it). :func:`import_mujoco_mjx` imports it with those two lines dropped; importing
  this module does so (``nail_jax/__init__.py`` imports it before anything imports brax).
- What MuJoCo and brax say while brax builds an env is dropped by the brax adapter,
  :func:`nail_jax.envs.brax_suite.building_brax_env`.
"""

from __future__ import annotations

import contextlib
import io
import sys

_MJX_IMPORT_LINES = ("Failed to import warp:", "Failed to import mujoco_warp:")


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


import_mujoco_mjx()
