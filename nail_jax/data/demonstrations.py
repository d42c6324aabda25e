"""Demonstrations for a run: select and subsample episodes, the discriminator's expert pairs
and their weights, and the datasets bundled with the package (``nail_jax/data/bundled``).

Numpy only; no JAX. The file format is :mod:`nail_jax.data.datasets`.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from nail_jax.absorbing import absorbing_state, augment_obs
from nail_jax.data.datasets import Dataset, DemoError, episode_bounds, episode_returns


def _take(dataset: Dataset, idx: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray,
          metadata: dict) -> Dataset:
    return Dataset(
        observations=dataset.observations[idx],
        actions=dataset.actions[idx],
        next_observations=dataset.next_observations[idx],
        rewards=dataset.rewards[idx],
        terminals=terminals,
        timeouts=timeouts,
        metadata=metadata,
    )


def select_episodes(dataset: Dataset, k: int) -> Dataset:
    """Returns the first ``k`` episodes.

    Metadata is kept (copied); its ``episode_returns`` becomes the selected episodes'
    returns: the first ``k`` stored values when the metadata holds one per episode (so
    returns survive :func:`subsample`), else the sums of ``rewards``.

    Raises:
      DemoError: ``k < 1`` or fewer than ``k`` episodes exist.
    """
    bounds = episode_bounds(dataset)
    if not isinstance(k, (int, np.integer)) or k < 1 or k > len(bounds):
        raise DemoError(
            f"dataset: cannot select {k!r} episodes: it has {len(bounds)}; k must be an "
            f"integer in [1, {len(bounds)}]."
        )
    k = int(k)
    end = int(bounds[k - 1, 1])
    metadata = dict(dataset.metadata)
    stored = metadata.get("episode_returns")
    if isinstance(stored, (list, tuple)) and len(stored) == len(bounds):
        metadata["episode_returns"] = list(stored[:k])
    else:
        metadata["episode_returns"] = [float(r) for r in episode_returns(dataset)[:k]]
    idx = np.arange(end)
    return _take(dataset, idx, dataset.terminals[:end].copy(), dataset.timeouts[:end].copy(),
                 metadata)


def subsample(dataset: Dataset, every: int, rng: np.random.Generator | int = 0) -> Dataset:
    """Keeps every ``every``-th step of each episode from a random offset (DAC, Kostrikov et al.).

    For each episode in order (length ``L``), one offset ``rng.integers(min(every, L))``
    is drawn and steps ``start + offset, start + offset + every, ...`` are kept (the cap
    ``min(every, L)`` keeps at least one step of a short episode). The final step of an
    episode ending in a true termination is always kept (it leads into the absorbing
    state). Kept steps keep their own flags; if an episode's true last step was not kept
    (a timeout episode), its last kept step gets ``timeouts=True``, so
    :func:`episode_bounds` finds the same episodes. ``metadata`` is copied with
    ``"subsample_every"`` set. ``every=1`` returns ``dataset`` unchanged.

    Raises:
      DemoError: ``every`` is not a positive integer.
    """
    if not isinstance(every, (int, np.integer)) or every < 1:
        raise DemoError(f"dataset: subsample 'every' must be a positive integer, got {every!r}.")
    every = int(every)
    bounds = episode_bounds(dataset)
    if every == 1:
        return dataset
    rng = np.random.default_rng(rng)
    terminals = np.asarray(dataset.terminals, bool)
    timeouts = np.asarray(dataset.timeouts, bool)
    kept, new_term, new_time = [], [], []
    for start, end in bounds:
        offset = int(rng.integers(min(every, end - start)))
        idx = np.arange(start + offset, end, every)
        if terminals[end - 1] and idx[-1] != end - 1:
            idx = np.append(idx, end - 1)
        term, time = terminals[idx].copy(), timeouts[idx].copy()
        if idx[-1] != end - 1:
            time[-1] = True
        kept.append(idx)
        new_term.append(term)
        new_time.append(time)
    metadata = dict(dataset.metadata)
    metadata["subsample_every"] = every
    return _take(dataset, np.concatenate(kept), np.concatenate(new_term),
                 np.concatenate(new_time), metadata)


# --------------------------------------------------------------------------- expert pairs


def expert_pairs(dataset: Dataset, absorbing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Returns the ``(states, actions)`` the discriminator sees as real data, float32.

    ``absorbing=False``: ``(observations [N, O], actions [N, A])``.
    ``absorbing=True`` (DAC): states get an extra last feature (0 for ordinary states),
    and one ``(absorbing_state(O), zeros(A))`` pair is appended per episode that ends in a
    true termination: shapes ``[N + n_terminated, O + 1]`` and ``[N + n_terminated, A]``.
    """
    obs = np.asarray(dataset.observations, np.float32)
    act = np.asarray(dataset.actions, np.float32)
    if not absorbing:
        return obs.copy(), act.copy()
    n_term = int(np.count_nonzero(dataset.terminals))
    flagged = augment_obs(obs, absorbing)
    extra_obs = np.tile(absorbing_state(obs.shape[1]), (n_term, 1))
    extra_act = np.zeros((n_term, act.shape[1]), np.float32)
    return np.concatenate([flagged, extra_obs]), np.concatenate([act, extra_act])


def expert_next_observations(dataset: Dataset, absorbing: bool) -> np.ndarray:
    """The states that follow :func:`expert_pairs`' states, row for row, float32: what a
    state-only discriminator sees as real ``(s, s')`` data with ``expert_pairs``' ``s``.

    ``absorbing=False``: ``next_observations [N, O]``. ``absorbing=True`` (DAC): flagged like
    the states; a true termination's ``s'`` is the absorbing state, and each appended
    absorbing pair is followed by the absorbing state again (the env loop's
    ``(s_abs, a, 0, 1, s_abs)``): ``[N + n_terminated, O + 1]``. A timeout's ``s'`` is the
    episode's true final observation, as in the replay.
    """
    nxt = np.asarray(dataset.next_observations, np.float32)
    if not absorbing:
        return nxt.copy()
    terminals = np.asarray(dataset.terminals, bool)
    abs_obs = absorbing_state(nxt.shape[1])
    flagged = np.where(terminals[:, None], abs_obs, augment_obs(nxt, absorbing))
    extra = np.tile(abs_obs, (int(terminals.sum()), 1))
    return np.concatenate([flagged, extra]).astype(np.float32)


def expert_weights(dataset: Dataset, absorbing: bool) -> np.ndarray:
    """Sampling weights ``[M]`` aligned with :func:`expert_pairs` that undo subsampling's bias.

    After :func:`subsample` with ``every = n`` each kept ordinary step stands for ``n``
    steps of its episode and gets weight ``n``; the final step of a terminated episode
    (always kept, whatever the grid) and each absorbing pair stand for themselves and get
    weight 1. So absorbing states keep the share of the data they have in the policy's
    replay (one per terminated episode of ``L`` steps) instead of an ``n`` times larger one.
    Without subsampling all weights are 1.
    """
    every = float(dataset.metadata.get("subsample_every", 1))
    terminals = np.asarray(dataset.terminals, bool)
    weights = np.where(terminals, 1.0, every).astype(np.float32)
    if absorbing:
        weights = np.concatenate([weights, np.ones(int(terminals.sum()), np.float32)])
    return weights


# --------------------------------------------------------------------------- bundled data


def bundled_dir() -> pathlib.Path:
    """Returns ``nail_jax/data/bundled``, where bundled datasets live (it may not exist)."""
    return pathlib.Path(__file__).resolve().parent / "bundled"


def list_bundled() -> list[str]:
    """Returns the sorted names (file stems) of the bundled ``.npz`` datasets; ``[]`` if none."""
    d = bundled_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.npz") if p.is_file())


def resolve_named(name_or_path: str | os.PathLike, folder: pathlib.Path) -> pathlib.Path | None:
    """An existing file ``name_or_path``, else ``folder/<name>.npz`` for a bare name (with or
    without ``.npz``) if that file exists, else ``None``."""
    path = pathlib.Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path)
    if os.sep not in name and "/" not in name:
        stem = name[: -len(".npz")] if name.endswith(".npz") else name
        candidate = folder / f"{stem}.npz"
        if stem and candidate.is_file():
            return candidate
    return None


def resolve(name_or_path: str | os.PathLike) -> pathlib.Path:
    """Turns a file path or a bundled dataset name (with or without ``.npz``) into a path.

    Raises:
      DemoError: neither an existing file nor a bundled name; lists the bundled names.
    """
    found = resolve_named(name_or_path, bundled_dir())
    if found is not None:
        return found
    bundled = list_bundled()
    raise DemoError(
        f"{name_or_path}: file does not exist and is not a bundled dataset; bundled datasets: "
        f"{bundled if bundled else 'none'} (in {bundled_dir()})."
    )
