"""Known third-party messages are dropped where they arise, and nothing else is."""

import subprocess
import sys
import warnings

import mujoco
import pytest

from nail_jax.envs.brax_suite import building_brax_env
from nail_jax.envs.registry import make_env


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


def test_a_failed_checkpoint_write_prints_no_thread_tracebacks(tmp_path, capfd, monkeypatch):
    """On a full disk orbax's writer threads each log the exception that ``save`` then
    raises, with a traceback, and tensorstore prints "Event loop is closed" tracebacks
    (about 60 lines on the point mass); the driver reports the exception in one line, so
    what reaches file descriptor 2 during a failed save is dropped. After a successful save
    it is passed on, nothing lost."""
    import logging
    import os

    import jax.numpy as jnp
    import orbax.checkpoint as ocp

    from nail_jax.running import checkpoint as ckpt

    real = ocp.CheckpointManager.save

    def failing_save(self, step, *args, **kwargs):
        logging.getLogger("absl").error("_SignalingThread.run() raised an exception: ...")
        os.write(2, b"RuntimeError: Event loop is closed\n")
        raise ValueError("RESOURCE_EXHAUSTED: No space left on device")

    def noisy_save(self, step, *args, **kwargs):
        os.write(2, b"a line a successful save printed\n")
        return real(self, step, *args, **kwargs)

    manager = ckpt.make_manager(tmp_path, keep=2)
    monkeypatch.setattr(ocp.CheckpointManager, "save", failing_save)
    capfd.readouterr()
    with pytest.raises(ValueError, match="RESOURCE_EXHAUSTED"):
        ckpt.save(manager, 1, {"x": jnp.arange(4.0)}, {})
    assert capfd.readouterr().err == ""
    monkeypatch.setattr(ocp.CheckpointManager, "save", noisy_save)
    ckpt.save(manager, 2, {"x": jnp.arange(4.0)}, {})
    assert capfd.readouterr().err == "a line a successful save printed\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # fd 2 is back
    manager.close()
