"""D4RL and Minari HDF5 layouts converted to the project's format: exact arrays by hand,
the files read with h5py, and one-line errors for malformed input."""

import h5py
import numpy as np
import pytest

from nail_jax import cli
from nail_jax.data.convert import from_d4rl, from_minari_episodes, read_hdf5
from nail_jax.data.datasets import DemoError, load_dataset

OBS, ACT = 4, 2  # point_mass's sizes


def _episode(rng, t, terminated=False, truncated=True):
    done, cut = np.zeros(t, bool), np.zeros(t, bool)
    done[-1], cut[-1] = terminated, truncated
    return {"observations": rng.normal(size=(t + 1, OBS)),
            "actions": rng.uniform(-1, 1, (t, ACT)), "rewards": rng.normal(size=t),
            "terminations": done, "truncations": cut}


def test_minari_episodes_become_steps_with_next_states_and_flags():
    rng = np.random.default_rng(0)
    eps = [_episode(rng, 3, terminated=True, truncated=False), _episode(rng, 2),
           _episode(rng, 2, truncated=False)]  # the last: neither flag (a cut collection)
    data = from_minari_episodes(eps)
    assert data.num_steps == 7 and data.num_episodes == 3
    np.testing.assert_allclose(data.observations[:3], eps[0]["observations"][:3], rtol=1e-6)
    np.testing.assert_allclose(data.next_observations[3:5], eps[1]["observations"][1:],
                               rtol=1e-6)  # the true final state included
    np.testing.assert_array_equal(data.terminals, [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.timeouts, [0, 0, 0, 0, 1, 0, 1])
    np.testing.assert_allclose(data.rewards[5:], eps[2]["rewards"], rtol=1e-6)
    assert data.metadata["converted_from"] == "minari"


def test_d4rl_with_next_observations_keeps_every_step_and_flags_a_cut_end():
    rng = np.random.default_rng(1)
    n = 5
    arrays = {"observations": rng.normal(size=(n, OBS)), "actions": rng.uniform(-1, 1, (n, ACT)),
              "rewards": rng.normal(size=n), "next_observations": rng.normal(size=(n, OBS)),
              "terminals": np.array([0, 1, 0, 0, 0]), "timeouts": np.array([0, 0, 0, 0, 0])}
    data = from_d4rl(arrays)
    assert data.num_steps == 5
    np.testing.assert_allclose(data.next_observations, arrays["next_observations"], rtol=1e-6)
    np.testing.assert_array_equal(data.timeouts, [0, 0, 0, 0, 1])  # the data stops: a cut
    assert "cut" in data.metadata["last_episode"]


def test_d4rl_without_next_observations_drops_each_time_limited_last_step():
    # episode A: rows 0-2, time limit after row 2; episode B: rows 3-4, terminates after 4
    obs = np.arange(5 * OBS, dtype=np.float64).reshape(5, OBS)
    arrays = {"observations": obs, "actions": np.zeros((5, ACT)),
              "rewards": np.arange(5.0), "terminals": np.array([0, 0, 0, 0, 1]),
              "timeouts": np.array([0, 0, 1, 0, 0])}
    data = from_d4rl(arrays)
    np.testing.assert_array_equal(data.observations, obs[[0, 1, 3, 4]])
    np.testing.assert_array_equal(data.next_observations, obs[[1, 2, 4, 4]])  # 4: absorbing
    np.testing.assert_array_equal(data.timeouts, [0, 1, 0, 0])  # moved to A's new last step
    np.testing.assert_array_equal(data.terminals, [0, 0, 0, 1])
    np.testing.assert_array_equal(data.rewards, [0, 1, 3, 4])


@pytest.mark.parametrize("layout", ["d4rl", "minari"])
def test_hdf5_files_read_as_the_arrays_do(tmp_path, layout):
    rng = np.random.default_rng(2)
    eps = [_episode(rng, 4, terminated=True, truncated=False), _episode(rng, 3)]
    path = tmp_path / "data.hdf5"
    with h5py.File(path, "w") as f:
        if layout == "minari":
            f.attrs["env_spec"] = '{"id": "PointMass-v0"}'
            for i, ep in enumerate(eps):
                group = f.create_group(f"episode_{i}")
                for key, value in ep.items():
                    group[key] = value
                group.create_group("infos")  # Minari's extra group is ignored
            expected = from_minari_episodes(eps)
        else:
            flat = from_minari_episodes(eps)
            arrays = {k: getattr(flat, k) for k in ("observations", "actions", "rewards",
                                                    "next_observations", "terminals",
                                                    "timeouts")}
            for key, value in arrays.items():
                f[key] = value
            expected = from_d4rl(arrays)
    data = read_hdf5(path, layout)
    for key in ("observations", "actions", "rewards", "next_observations", "terminals",
                "timeouts"):
        np.testing.assert_array_equal(getattr(data, key), getattr(expected, key))
    assert len(data.metadata["source_sha256"]) == 64
    assert ("minari_env_spec" in data.metadata) == (layout == "minari")


def test_malformed_input_is_one_clear_error(tmp_path):
    rng = np.random.default_rng(3)
    bad = _episode(rng, 3)
    bad["observations"] = bad["observations"][:-1]  # T observations, not T + 1
    with pytest.raises(DemoError, match="T \\+ 1 observations"):
        from_minari_episodes([bad])
    missing = _episode(rng, 3)
    del missing["truncations"]
    with pytest.raises(DemoError, match="missing key.*truncations"):
        from_minari_episodes([missing])
    loud = _episode(rng, 3)
    loud["actions"] = loud["actions"] * 3  # outside [-1, 1]: refused, never clipped
    with pytest.raises(DemoError, match="actions"):
        from_minari_episodes([loud])
    with pytest.raises(DemoError, match="missing key 'timeouts'"):
        from_d4rl({"observations": np.zeros((2, OBS)), "actions": np.zeros((2, ACT)),
                   "rewards": np.zeros(2), "terminals": np.zeros(2)})
    path = tmp_path / "dict_obs.hdf5"
    with h5py.File(path, "w") as f:
        group = f.create_group("episode_0")
        group.create_group("observations")  # a dict observation space
    with pytest.raises(DemoError, match="is a group, not an array"):
        read_hdf5(path, "minari")
    with h5py.File(tmp_path / "empty.hdf5", "w"):
        pass
    with pytest.raises(DemoError, match="no episode_<i> groups"):
        read_hdf5(tmp_path / "empty.hdf5", "minari")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DemoError, match="is not an HDF5 file"):
        read_hdf5(tmp_path / "text.hdf5", "d4rl")


def test_cli_converts_checks_the_env_and_never_overwrites(tmp_path, capsys):
    rng = np.random.default_rng(4)
    path = tmp_path / "main_data.hdf5"
    with h5py.File(path, "w") as f:
        for i in range(2):
            for key, value in _episode(rng, 5).items():
                f[f"episode_{i}/{key}"] = value
    out = tmp_path / "demos.npz"
    assert cli.main(["demos", "convert", str(path), "--layout", "minari", "--out", str(out),
                     "--env", "point_mass"]) == 0
    assert "2 episodes, 10 steps" in capsys.readouterr().out
    data = load_dataset(out)
    assert data.metadata["env"] == "point_mass" and len(data.metadata["episode_returns"]) == 2
    assert "demos convert" in data.metadata["made_by"]
    before = out.read_bytes()
    assert cli.main(["demos", "convert", str(path), "--layout", "minari", "--out",
                     str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and out.read_bytes() == before
    assert cli.main(["demos", "convert", str(path), "--layout", "minari", "--out",
                     str(tmp_path / "x.npz"), "--env", "inverted_pendulum"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recorded in another env" in err
    assert not (tmp_path / "x.npz").exists()
