import json
import os

import numpy as np
import pytest

from nail_jax.absorbing import absorbing_state
from nail_jax.data import demonstrations as demos
from nail_jax.data.datasets import (
    REQUIRED_KEYS,
    Dataset,
    DemoError,
    episode_bounds,
    episode_returns,
    load_dataset,
    save_dataset,
    validate,
)
from nail_jax.data.demonstrations import (
    expert_pairs,
    expert_weights,
    list_bundled,
    resolve,
    select_episodes,
    subsample,
)

# Three episodes: A = steps 0-3 (time limit), B = steps 4-5 (true termination),
# C = steps 6-10 (time limit).
N, OBS, ACT = 11, 2, 1
REWARDS = np.array([1, 2, 3, 4, 0.5, 0.25, 1, 1, 1, 1, -2], np.float64)
RETURNS = [10.0, 0.75, 2.0]
BOUNDS = [[0, 4], [4, 6], [6, 11]]


def raw_arrays() -> dict:
    """The hand-made dataset as a producer might write it: float64, int flags."""
    steps = np.arange(N, dtype=np.float64)
    obs = np.stack([steps, 10 + steps], axis=1)
    terminals = np.zeros(N, np.int64)
    terminals[5] = 1
    timeouts = np.zeros(N, np.int64)
    timeouts[[3, 10]] = 1
    return dict(
        observations=obs,
        actions=((steps - 5) / 5)[:, None],
        next_observations=obs + 0.5,
        rewards=REWARDS.copy(),
        terminals=terminals,
        timeouts=timeouts,
    )


def make_dataset(metadata=None) -> Dataset:
    a = raw_arrays()
    return Dataset(
        observations=a["observations"].astype(np.float32),
        actions=a["actions"].astype(np.float32),
        next_observations=a["next_observations"].astype(np.float32),
        rewards=a["rewards"].astype(np.float32),
        terminals=a["terminals"].astype(bool),
        timeouts=a["timeouts"].astype(bool),
        metadata={} if metadata is None else metadata,
    )


def assert_same(got: Dataset, want: Dataset) -> None:
    for key in REQUIRED_KEYS:
        g, w = getattr(got, key), getattr(want, key)
        assert g.dtype == w.dtype, key
        np.testing.assert_array_equal(g, w, err_msg=key)
    assert got.metadata == want.metadata


# ----------------------------------------------------------------------------- files


def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    meta = {"env": "point_mass", "backend": "generalized", "episode_returns": RETURNS,
            "expert_return": 4.5, "random_return": -1.0, "made_by": {"script": "collect.py"}}
    ds = make_dataset(meta)
    path = tmp_path / "demo.npz"
    save_dataset(path, ds)
    assert os.listdir(tmp_path) == ["demo.npz"]  # the temporary file was renamed away
    loaded = load_dataset(path)
    assert_same(loaded, ds)
    assert loaded.observations.dtype == np.float32 and loaded.terminals.dtype == bool
    with np.load(path, allow_pickle=False) as npz:  # metadata is a plain 0-d string
        assert npz["metadata_json"].shape == () and npz["metadata_json"].dtype.kind == "U"
    assert (loaded.num_steps, loaded.obs_size, loaded.action_size, loaded.num_episodes) == (
        11, 2, 1, 3)


def test_save_overwrites_atomically_and_converts_numpy_metadata(tmp_path):
    path = tmp_path / "demo.npz"
    path.write_bytes(b"old")
    save_dataset(path, make_dataset({"expert_return": np.float32(2.5), "r": np.arange(2)}))
    assert load_dataset(path).metadata == {"expert_return": 2.5, "r": [0, 1]}
    assert sorted(os.listdir(tmp_path)) == ["demo.npz"]


def test_save_refuses_invalid_dataset_and_writes_nothing(tmp_path):
    ds = make_dataset()
    bad = Dataset(**{k: getattr(ds, k) for k in REQUIRED_KEYS[:-1]},
                  timeouts=np.zeros(N, bool), metadata={})
    with pytest.raises(DemoError, match="no end marker"):
        save_dataset(tmp_path / "bad.npz", bad)
    with pytest.raises(DemoError, match="not JSON-serializable"):
        save_dataset(tmp_path / "bad.npz", make_dataset({"f": object()}))
    assert os.listdir(tmp_path) == []


def test_hand_written_file_with_required_keys_only_loads(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, **raw_arrays())
    loaded = load_dataset(path)
    assert_same(loaded, make_dataset())
    assert loaded.metadata == {}


def test_float_flags_and_float32_input_load(tmp_path):
    a = raw_arrays()
    a["terminals"] = a["terminals"].astype(np.float64)
    a["timeouts"] = a["timeouts"].astype(np.float32)
    a["observations"] = a["observations"].astype(np.float32)
    a["actions"][0] = 1 + 5e-7  # within the 1e-6 tolerance
    np.savez(tmp_path / "f.npz", **a)
    loaded = load_dataset(tmp_path / "f.npz")
    np.testing.assert_array_equal(loaded.terminals, make_dataset().terminals)
    np.testing.assert_array_equal(episode_bounds(loaded), BOUNDS)


def test_sidecar_json_metadata(tmp_path):
    np.savez(tmp_path / "demo.npz", **raw_arrays())
    (tmp_path / "demo.json").write_text(json.dumps({"env": "ant", "expert_return": 3.0}))
    assert load_dataset(tmp_path / "demo.npz").metadata == {"env": "ant", "expert_return": 3.0}


def test_embedded_metadata_wins_over_sidecar(tmp_path):
    np.savez(tmp_path / "demo.npz", **raw_arrays(), metadata_json=np.array('{"env": "in"}'))
    (tmp_path / "demo.json").write_text('{"env": "side"}')
    assert load_dataset(tmp_path / "demo.npz").metadata == {"env": "in"}


# ----------------------------------------------------------------------------- episodes


def test_episode_bounds_and_returns():
    ds = make_dataset()
    bounds = episode_bounds(ds)
    np.testing.assert_array_equal(bounds, BOUNDS)
    assert bounds.dtype == np.int64
    returns = episode_returns(ds)
    assert returns.dtype == np.float64
    np.testing.assert_array_equal(returns, RETURNS)


def test_select_episodes_first_k():
    sel = select_episodes(make_dataset({"env": "x"}), 2)
    assert sel.num_steps == 6 and sel.num_episodes == 2
    np.testing.assert_array_equal(sel.observations[:, 0], np.arange(6))
    np.testing.assert_array_equal(sel.terminals, [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(sel.timeouts, [0, 0, 0, 1, 0, 0])
    assert sel.metadata == {"env": "x", "episode_returns": [10.0, 0.75]}
    one = select_episodes(make_dataset(), 1)
    np.testing.assert_array_equal(episode_bounds(one), [[0, 4]])
    assert select_episodes(make_dataset(), 3).num_steps == N


def test_select_episodes_slices_stored_returns():
    # Stored returns (e.g. true returns kept through subsampling) are sliced, not recomputed.
    sel = select_episodes(make_dataset({"episode_returns": [100.0, 7.0, 8.0]}), 2)
    assert sel.metadata["episode_returns"] == [100.0, 7.0]


@pytest.mark.parametrize("k", [0, -1, 4])
def test_select_episodes_bad_k(k):
    with pytest.raises(DemoError, match=rf"cannot select {k} episodes: it has 3"):
        select_episodes(make_dataset(), k)


def test_subsample_every_one_is_identity():
    ds = make_dataset({"env": "x"})
    assert subsample(ds, 1, rng=123) is ds


def expected_subsample(every: int, seed: int) -> list[int]:
    """Independent reimplementation: one offset per episode, strided, terminal appended."""
    rng = np.random.default_rng(seed)
    kept = []
    for (start, end), terminated in zip(BOUNDS, [False, True, False], strict=True):
        offset = int(rng.integers(min(every, end - start)))
        idx = list(range(start + offset, end, every))
        if terminated and end - 1 not in idx:
            idx.append(end - 1)
        kept += idx
    return kept


def test_subsample_every_three_exact_indices():
    ds = make_dataset({"episode_returns": RETURNS})
    sub = subsample(ds, 3, rng=2)
    # seed 2 draws offsets (2, 0, 0): A keeps [2], B keeps [4] + terminal 5, C keeps [6, 9].
    assert expected_subsample(3, 2) == [2, 4, 5, 6, 9]
    np.testing.assert_array_equal(sub.observations[:, 0], [2, 4, 5, 6, 9])
    np.testing.assert_array_equal(sub.next_observations[:, 0], [2.5, 4.5, 5.5, 6.5, 9.5])
    np.testing.assert_array_equal(sub.rewards, [3, 0.5, 0.25, 1, 1])
    np.testing.assert_array_equal(sub.terminals, [0, 0, 1, 0, 0])
    # 2 and 9 are the last kept steps of the time-limited episodes A and C.
    np.testing.assert_array_equal(sub.timeouts, [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(episode_bounds(sub), [[0, 1], [1, 3], [3, 5]])
    assert sub.metadata == {"episode_returns": RETURNS, "subsample_every": 3}
    assert ds.num_steps == N  # input untouched


@pytest.mark.parametrize("seed", range(6))
def test_subsample_matches_reference_and_keeps_terminal(seed):
    sub = subsample(make_dataset(), 3, rng=np.random.default_rng(seed))
    kept = expected_subsample(3, seed)
    np.testing.assert_array_equal(sub.observations[:, 0], kept)
    assert 5 in kept and sub.terminals[kept.index(5)]
    assert sub.num_episodes == 3 and int(sub.terminals.sum()) == 1


def test_subsample_longer_than_episodes_keeps_one_step_each():
    # Offsets are drawn in [0, min(every, L)): seed 0 gives (3, 1, 2) for lengths (4, 2, 5).
    sub = subsample(make_dataset(), 50, rng=0)
    assert expected_subsample(50, 0) == [3, 5, 8]
    np.testing.assert_array_equal(sub.observations[:, 0], [3, 5, 8])
    np.testing.assert_array_equal(sub.terminals, [0, 1, 0])
    np.testing.assert_array_equal(sub.timeouts, [1, 0, 1])


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_subsample_bad_every(every):
    with pytest.raises(DemoError, match="'every' must be a positive integer"):
        subsample(make_dataset(), every)


# ----------------------------------------------------------------------------- expert pairs


def test_expert_pairs_plain():
    ds = make_dataset()
    obs, act = expert_pairs(ds, absorbing=False)
    assert obs.dtype == act.dtype == np.float32
    np.testing.assert_array_equal(obs, ds.observations)
    np.testing.assert_array_equal(act, ds.actions)


def test_expert_pairs_absorbing():
    ds = make_dataset()
    obs, act = expert_pairs(ds, absorbing=True)
    assert obs.shape == (N + 1, OBS + 1) and act.shape == (N + 1, ACT)
    want_obs = np.zeros((N + 1, 3), np.float32)
    want_obs[:N, 0] = np.arange(N)
    want_obs[:N, 1] = 10 + np.arange(N)
    want_obs[N] = [0, 0, 1]
    np.testing.assert_array_equal(obs, want_obs)
    want_act = np.zeros((N + 1, 1), np.float32)
    want_act[:N, 0] = ((np.arange(N) - 5) / 5).astype(np.float32)
    np.testing.assert_array_equal(act, want_act)
    # Two terminated episodes give two absorbing pairs; none without terminations.
    two = Dataset(**{k: getattr(ds, k) for k in REQUIRED_KEYS[:4]},
                  terminals=ds.timeouts, timeouts=ds.terminals, metadata={})
    assert expert_pairs(two, absorbing=True)[0].shape == (N + 2, 3)
    first = select_episodes(ds, 1)
    assert expert_pairs(first, absorbing=True)[0].shape == (4, 3)


def test_absorbing_state():
    np.testing.assert_array_equal(absorbing_state(3), [0, 0, 0, 1])
    assert absorbing_state(3).dtype == np.float32


# ----------------------------------------------------------------------------- bad inputs


def _with(**changes) -> dict:
    a = raw_arrays()
    for k, v in changes.items():
        if v is None:
            del a[k]
        else:
            a[k] = v(a[k]) if callable(v) else v
    return a


def _set(i, value):
    def f(x):
        x = x.astype(np.float64).copy()
        x.flat[i] = value
        return x
    return f


BAD = {
    "missing": (_with(rewards=None, timeouts=None),
                r"missing required key\(s\) \['rewards', 'timeouts'\]"),
    "obs_rank": (_with(observations=lambda x: x[:, 0]),
                 r"'observations' must be 2-D \[N, width\], got shape \(11,\)"),
    "rewards_rank": (_with(rewards=lambda x: x[:, None]),
                     r"'rewards' must be 1-D \[N\], got shape \(11, 1\)"),
    "string_dtype": (_with(rewards=np.array(["a"] * N)), r"'rewards' has non-numeric dtype"),
    "complex_dtype": (_with(actions=lambda x: x.astype(complex)),
                      r"'actions' has non-numeric dtype complex128"),
    "length": (_with(actions=lambda x: x[:-1]),
               r"length mismatch: key 'actions' has 10 steps but 'observations' has 11"),
    "width": (_with(next_observations=np.zeros((N, 3))),
              r"width mismatch: key 'observations' has 2 features but 'next_observations' has 3"),
    "nan": (_with(observations=lambda x: _set(1, np.inf)(_set([0, 5], np.nan)(x))),
            r"'observations' contains 3 NaN/inf value\(s\)"),
    "overflow": (_with(rewards=_set(4, 1e300)), r"'rewards' contains 1 NaN/inf"),
    "action_range": (_with(actions=lambda x: _set(9, 1.5)(_set(0, -1.25)(x))),
                     r"'actions' is outside \[-1, 1\] \(min -1.25, max 1.5\)"),
    "action_tol": (_with(actions=_set(3, 1 + 2e-6)),
                   r"'actions' is outside \[-1, 1\] \(min -1, max 1\.000002\)"),
    "empty": ({k: v[:0] for k, v in raw_arrays().items()}, r"empty \(N == 0\)"),
    "no_end": (_with(timeouts=_set(10, 0)),
               r"the last episode has no end marker: set terminals or timeouts on its last"),
    "flag_value": (_with(terminals=lambda x: np.where(np.arange(N) == 5, 2, x)),
                   r"'terminals' must hold only 0/1 \(or bool\), found values \[2\]"),
    "flag_half": (_with(timeouts=_set(3, 0.5)), r"'timeouts' must hold only 0/1.*\[0\.5\]"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arrays_raise_demo_error(tmp_path, name):
    arrays, pattern = BAD[name]
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    with pytest.raises(DemoError, match=pattern) as info:
        load_dataset(path)
    assert str(path) in str(info.value)
    with pytest.raises(DemoError, match=pattern):  # same check on in-memory arrays
        validate(arrays, source="in-memory")


def test_validate_accepts_dataset_and_names_source():
    validate(make_dataset(), "mine")
    with pytest.raises(DemoError, match=r"^src\.npz: missing"):
        validate({}, "src.npz")


def test_pickled_object_array_is_refused(tmp_path):
    a = raw_arrays()
    obs = np.empty(N, dtype=object)
    obs[:] = [np.zeros(2) for _ in range(N)]
    a["observations"] = obs
    path = tmp_path / "pickled.npz"
    np.savez(path, **a)  # np.savez pickles object arrays by default
    with pytest.raises(DemoError, match=r"key 'observations' contains pickled objects.*refused"):
        load_dataset(path)


def test_missing_file(tmp_path):
    with pytest.raises(DemoError, match=r"nope\.npz: file does not exist"):
        load_dataset(tmp_path / "nope.npz")


def test_zero_byte_file(tmp_path):
    (tmp_path / "zero.npz").write_bytes(b"")
    with pytest.raises(DemoError, match=r"zero\.npz: file is empty \(0 bytes\)"):
        load_dataset(tmp_path / "zero.npz")


def test_text_file_named_npz(tmp_path):
    (tmp_path / "text.npz").write_text("observations,actions\n1,2\n")
    with pytest.raises(DemoError, match=r"text\.npz: is not a valid \.npz \(zip\) archive"):
        load_dataset(tmp_path / "text.npz")


def test_npy_file_named_npz(tmp_path):
    with open(tmp_path / "single.npz", "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DemoError, match=r"single \.npy array, not a \.npz archive"):
        load_dataset(tmp_path / "single.npz")


def test_truncated_zip(tmp_path):
    np.savez(tmp_path / "full.npz", **raw_arrays())
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DemoError, match=r"cut\.npz"):
        load_dataset(tmp_path / "cut.npz")


def test_directory_is_refused(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(DemoError, match="not a regular file"):
        load_dataset(tmp_path / "dir.npz")


@pytest.mark.parametrize("meta, pattern", [
    (np.array("{not json"), "metadata is not valid JSON"),
    (np.array("[1, 2]"), "metadata must be a JSON object, got list"),
    (np.array(["{}", "{}"]), "'metadata_json' must be a 0-d string array"),
])
def test_bad_metadata(tmp_path, meta, pattern):
    np.savez(tmp_path / "m.npz", **raw_arrays(), metadata_json=meta)
    with pytest.raises(DemoError, match=pattern):
        load_dataset(tmp_path / "m.npz")


def test_bad_sidecar(tmp_path):
    np.savez(tmp_path / "s.npz", **raw_arrays())
    (tmp_path / "s.json").write_text("{")
    with pytest.raises(DemoError, match=r"s\.json: metadata is not valid JSON"):
        load_dataset(tmp_path / "s.npz")


# ----------------------------------------------------------------------------- bundled


# Observation and action sizes of each env with bundled demonstrations.
ENV_SIZES = {"halfcheetah": (17, 6), "hopper": (11, 3), "inverted_pendulum": (4, 1),
             "point_mass": (4, 2), "walker2d": (17, 6), "ant": (27, 8)}


@pytest.mark.parametrize("name", list_bundled())
def test_bundled_datasets_are_what_their_metadata_says(name):
    """Each shipped dataset loads by name, fits its env, and its metadata (what ``demos
    list`` and the score normalisation read) agrees with its arrays. Catches a file
    replaced by another env's or another expert's data, or stale returns in the metadata."""
    data = load_dataset(resolve(name))
    meta = data.metadata
    assert (data.obs_size, data.action_size) == ENV_SIZES[meta["env"]]
    returns = episode_returns(data)
    np.testing.assert_allclose(meta["episode_returns"], returns, rtol=1e-4, atol=1e-2)
    assert meta["expert_return"] == pytest.approx(np.mean(returns), rel=1e-4)
    assert meta["random_return"] == pytest.approx(np.mean(meta["random_episode_returns"]))
    assert meta["random_return"] < meta["expert_return"]
    lengths = np.diff(episode_bounds(data), axis=1)[:, 0]
    assert np.all(lengths <= meta["episode_length"])
    ends = np.cumsum(lengths) - 1
    np.testing.assert_array_equal(data.timeouts[ends], lengths == meta["episode_length"])
    assert {"halfcheetah", "hopper", "walker2d", "ant", "point_mass"} <= set(list_bundled())


def test_resolve_paths_and_bundled_names(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    monkeypatch.setattr(demos, "bundled_dir", lambda: bundle)
    assert list_bundled() == []
    save_dataset(bundle / "walker_expert.npz", make_dataset())
    save_dataset(bundle / "ant_expert.npz", make_dataset())
    (bundle / "ant_expert.json").write_text("{}")
    assert list_bundled() == ["ant_expert", "walker_expert"]
    assert resolve("ant_expert") == bundle / "ant_expert.npz"
    assert resolve("ant_expert.npz") == bundle / "ant_expert.npz"
    own = tmp_path / "own.npz"
    save_dataset(own, make_dataset())
    assert resolve(str(own)) == own
    with pytest.raises(DemoError,
                       match=r"hopper: file does not exist.*\['ant_expert', 'walker_expert'\]"):
        resolve("hopper")
    with pytest.raises(DemoError, match="does not exist"):
        resolve(str(tmp_path / "missing.npz"))


def test_resolve_with_no_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(demos, "bundled_dir", lambda: tmp_path / "absent")
    assert list_bundled() == []
    with pytest.raises(DemoError, match=r"x: file does not exist .*bundled datasets: none"):
        resolve("x")


def test_expert_weights_undo_subsampling_bias():
    ds = make_dataset()
    np.testing.assert_array_equal(expert_weights(ds, absorbing=False), np.ones(ds.num_steps))
    sub = subsample(ds, 3, rng=0)
    w = expert_weights(sub, absorbing=True)
    n_term = int(sub.terminals.sum())
    assert w.shape == (sub.num_steps + n_term,)
    term = np.asarray(sub.terminals)
    assert n_term == 1 and term[-1] == 0  # episode B's terminal step is kept
    np.testing.assert_array_equal(w[: sub.num_steps][term], 1.0)
    np.testing.assert_array_equal(w[: sub.num_steps][~term], 3.0)
    np.testing.assert_array_equal(w[sub.num_steps:], 1.0)
