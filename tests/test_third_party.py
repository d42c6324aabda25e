"""Known third-party messages are dropped where they arise, and nothing else is."""

import subprocess
import sys
import warnings

import mujoco
import pytest

from nail_jax.envs.registry import make_env
from nail_jax.third_party import building_brax_env


def test_importing_the_package_prints_nothing():
    """``mujoco.mjx`` prints two lines about the optional Warp backend on import; a fresh
    ``import nail_jax`` (which imports brax) prints nothing."""
    proc = subprocess.run([sys.executable, "-c", "import nail_jax, nail_jax.envs.registry"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == "" and "warp" not in proc.stderr.lower(), (proc.stdout, proc.stderr)


@pytest.mark.slow  # builds a brax env
def test_building_a_brax_env_is_quiet(capfd):
    """halfcheetah's asset triggers MuJoCo's ``settotalmass`` deprecation and brax warns on
    every env it builds; neither reaches the user."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_env("halfcheetah")
    assert [str(w.message) for w in caught] == []
    out, err = capfd.readouterr()
    assert "settotalmass" not in out + err


def test_other_mujoco_warnings_still_reach_the_user():
    """Only the known message is dropped: another MuJoCo warning becomes a RuntimeWarning,
    and the handler in place before is put back afterwards."""
    before = mujoco.get_mju_user_warning()
    with building_brax_env():
        handler = mujoco.get_mju_user_warning()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            handler("compiler attribute 'settotalmass' is deprecated and will be removed")
        with pytest.warns(RuntimeWarning, match="MuJoCo: Nan, Inf or huge value in QACC"):
            handler("Nan, Inf or huge value in QACC at DOF 0")
    assert mujoco.get_mju_user_warning() is before


def test_reading_checkpoints_logs_nothing(tmp_path, caplog):
    """Read-only checkpoint managers (latest epoch, restore, size) used to log eight orbax
    warnings each about the settings read-only mode overrides; now none, while orbax's
    other log records still pass (the filter is only in place while a manager is made)."""
    import logging

    import jax.numpy as jnp

    from nail_jax.running import checkpoint as ckpt

    manager = ckpt.make_manager(tmp_path, keep=2)
    ckpt.save(manager, 3, {"x": jnp.arange(4.0)}, {"num_seeds": 1})
    manager.close()
    with caplog.at_level(logging.WARNING):
        assert ckpt.latest_epoch(tmp_path) == 3 and ckpt.size_bytes(tmp_path) > 0
        assert ckpt.read_meta(tmp_path) == (3, {"num_seeds": 1})
    assert [r.getMessage() for r in caplog.records] == []
    logging.getLogger("absl").warning("Given directory is read only: a later record")
    assert len(caplog.records) == 1
