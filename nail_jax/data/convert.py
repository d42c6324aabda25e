"""Demonstrations in other layouts, converted to this project's ``.npz`` format.

Two layouts researchers have, both HDF5 on disk:

- **D4RL** (``d4rl``): flat per-step datasets at the file's top level, ``observations
  [N, O]``, ``actions [N, A]``, ``rewards [N]``, ``terminals [N]``, ``timeouts [N]`` and, in
  ``qlearning_dataset``-style files, ``next_observations [N, O]``. Without
  ``next_observations`` a step's next state is the following row of its episode; an
  episode's last step has none in the file, so it is dropped when it ends in a time limit
  (the step before it then carries the time-limit flag, as ``d4rl.qlearning_dataset``
  does), and kept at a true termination, where DAC replaces the next state by the absorbing
  state (its ``next_observations`` row is a copy of ``observations``, and the metadata says
  so). Steps after the last flagged one end in a cut: the last of them becomes a time limit.
- **Minari** (``minari``): one group per episode, ``episode_<i>``, each with
  ``observations [T + 1, O]`` (the first and every next state), ``actions [T, A]``,
  ``rewards [T]``, ``terminations [T]`` and ``truncations [T]``. ``observations[1:]`` are the
  next states, true final ones included; an episode whose last step has neither flag (a
  collection cut short) ends in a time limit.

The pure functions :func:`from_d4rl` and :func:`from_minari_episodes` take numpy arrays;
:func:`read_hdf5` opens a file with ``h5py`` (``pip install h5py``; not a dependency of
the library) and calls them. ``nail-jax demos convert`` is the command. The result is
validated like any loaded file (:func:`nail_jax.data.datasets.from_arrays`): actions outside
``[-1, 1]`` are refused, never clipped. Observation *layouts* are not checked: a file made in
another simulator loads when its sizes match the env's, but its features must mean the same
as the env's, in the same order (see the guide's "Demonstrations from elsewhere").
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nail_jax.data.datasets import Dataset, DemoError, from_arrays

LAYOUTS = ("d4rl", "minari")
D4RL_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")
MINARI_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")
_EPISODE = re.compile(r"^episode_(\d+)$")


def _array(arrays: Mapping[str, Any], key: str, where: str, ndim: int,
           needs: Sequence[str]) -> np.ndarray:
    if key not in arrays:
        raise DemoError(f"{where}: missing key '{key}' (needs {', '.join(needs)}).")
    value = np.asarray(arrays[key])
    if value.dtype.kind not in "biuf":
        raise DemoError(f"{where}: key '{key}' holds {value.dtype} values, not numbers "
                        f"(dict observations must be flattened first).")
    if value.ndim != ndim:
        raise DemoError(f"{where}: key '{key}' has shape {value.shape}, expected "
                        f"{'[N, features]' if ndim == 2 else '[N]'}.")
    return value


def _steps(arrays: Mapping[str, Any], keys: Sequence[str], where: str):
    """The five per-step arrays named by ``keys`` (observations, actions, rewards, the
    termination flags, the time-limit flags): checked, flags as bool, a step that
    terminates not also cut."""
    obs, actions, rewards, done, cut = (
        _array(arrays, key, where, 2 if i < 2 else 1, keys) for i, key in enumerate(keys))
    done = done.astype(bool)
    return obs, actions, rewards, done, cut.astype(bool) & ~done


def from_d4rl(arrays: Mapping[str, Any], source: str = "arrays",
              metadata: dict | None = None) -> Dataset:
    """A D4RL-layout dataset (flat per-step arrays) as a :class:`Dataset`.

    Args:
      arrays: ``observations [N, O]``, ``actions [N, A]``, ``rewards [N]``, ``terminals
        [N]``, ``timeouts [N]``; optional ``next_observations [N, O]``.
      source: where the arrays came from, quoted in errors.
      metadata: kept in the result, with ``converted_from`` added.

    Returns:
      The dataset, ``N`` steps with ``next_observations``, or fewer without it (each
      time-limited episode's last step is dropped; see the module docstring).

    Raises:
      DemoError: a missing key, a wrong shape, non-numeric values, or an invalid result.
    """
    obs, actions, rewards, terminals, timeouts = _steps(arrays, D4RL_KEYS, source)
    n = len(obs)
    if not (len(actions) == len(rewards) == len(terminals) == len(timeouts) == n) or n == 0:
        raise DemoError(f"{source}: observations, actions, rewards, terminals and timeouts "
                        f"must have the same nonzero length, got {len(obs)}, {len(actions)}, "
                        f"{len(rewards)}, {len(terminals)}, {len(timeouts)}.")
    meta = {**(metadata or {}), "converted_from": "d4rl"}
    if not (terminals[-1] or timeouts[-1]):
        timeouts = timeouts.copy()
        timeouts[-1] = True  # the data stops here: a cut, not a termination
        meta["last_episode"] = "cut at the end of the data; marked as a time limit"
    keep = np.ones(n, bool)
    if "next_observations" in arrays:
        next_obs = _array(arrays, "next_observations", source, 2, D4RL_KEYS)
        if next_obs.shape != obs.shape:
            raise DemoError(f"{source}: next_observations has shape {next_obs.shape}, "
                            f"observations {obs.shape}; they must match.")
    else:
        next_obs = np.concatenate([obs[1:], obs[-1:]])  # the following row
        next_obs[terminals] = obs[terminals]  # unknown in the file; DAC's absorbing state
        cut = np.flatnonzero(timeouts)  # no next state in the file: drop, flag the step before
        keep[cut] = False
        earlier = cut[(cut > 0) & ~(terminals | timeouts)[np.maximum(cut - 1, 0)]] - 1
        timeouts = timeouts.copy()
        timeouts[earlier] = True
        meta["next_observations"] = ("the following row; at true terminations a copy of "
                                     "observations (unknown in the file); each time-limited "
                                     "episode's last step dropped")
    out = {"observations": obs[keep], "actions": actions[keep], "rewards": rewards[keep],
           "next_observations": next_obs[keep], "terminals": terminals[keep],
           "timeouts": timeouts[keep]}
    return from_arrays(out, source, meta)


def from_minari_episodes(episodes: Sequence[Mapping[str, Any]], source: str = "episodes",
                         metadata: dict | None = None) -> Dataset:
    """Minari-layout episodes (``T + 1`` observations each) as one :class:`Dataset`.

    Args:
      episodes: per episode ``observations [T + 1, O]``, ``actions [T, A]``, ``rewards [T]``,
        ``terminations [T]``, ``truncations [T]``.
      source: where they came from, quoted in errors (the episode's index is added).
      metadata: kept in the result, with ``converted_from`` added.

    Returns:
      The dataset: ``sum(T)`` steps, ``next_observations = observations[1:]`` per episode.

    Raises:
      DemoError: no episodes, a missing key, a wrong shape, non-numeric values (e.g. dict
        observations), or an invalid result.
    """
    if not episodes:
        raise DemoError(f"{source}: holds no episodes.")
    parts = {k: [] for k in ("observations", "next_observations", "actions", "rewards",
                             "terminals", "timeouts")}
    for i, episode in enumerate(episodes):
        where = f"{source}: episode {i}"
        missing = [k for k in MINARI_KEYS if k not in episode]
        if missing:
            raise DemoError(f"{where}: missing key(s) {', '.join(missing)} (needs "
                            f"{', '.join(MINARI_KEYS)}).")
        obs, actions, rewards, done, cut = _steps(episode, MINARI_KEYS, where)
        t = len(actions)
        if t == 0 or len(obs) != t + 1 or not len(rewards) == len(done) == len(cut) == t:
            raise DemoError(f"{where}: needs T >= 1 actions, rewards, terminations and "
                            f"truncations and T + 1 observations, got {len(actions)}, "
                            f"{len(rewards)}, {len(done)}, {len(cut)} and {len(obs)}.")
        if np.any(done[:-1] | cut[:-1]):
            raise DemoError(f"{where}: terminates or is truncated before its last step.")
        if not (done[-1] or cut[-1]):
            cut = cut.copy()
            cut[-1] = True  # the collection stopped here: a cut
        for key, value in (("observations", obs[:-1]), ("next_observations", obs[1:]),
                           ("actions", actions), ("rewards", rewards), ("terminals", done),
                           ("timeouts", cut)):
            parts[key].append(value)
    out = {k: np.concatenate(v) for k, v in parts.items()}
    return from_arrays(out, source, {**(metadata or {}), "converted_from": "minari"})


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise DemoError("reading HDF5 needs h5py: pip install h5py") from e
    return h5py


def _read_group(group: Any, keys: Sequence[str], where: str) -> dict[str, np.ndarray]:
    out = {}
    for key in keys:
        if key in group:
            item = group[key]
            if not hasattr(item, "shape"):  # a group, e.g. a dict observation space
                raise DemoError(f"{where}: '{key}' is a group, not an array (dict "
                                f"observations must be flattened first).")
            out[key] = item[()]
    return out


def read_hdf5(path: str | os.PathLike, layout: str) -> Dataset:
    """Reads a D4RL or Minari HDF5 file (a Minari dataset's ``main_data.hdf5``).

    Args:
      path: the ``.hdf5`` file.
      layout: ``"d4rl"`` or ``"minari"`` (see the module docstring).

    Returns:
      The converted dataset; its metadata names the source file, its SHA-256 and layout, and
      for Minari the dataset's ``env_spec`` id when the file records one.

    Raises:
      DemoError: an unknown layout, no h5py, a file that is not HDF5, or bad contents.
    """
    if layout not in LAYOUTS:
        raise DemoError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}.")
    path = pathlib.Path(path)
    if not path.is_file():
        raise DemoError(f"{path}: file does not exist.")
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except OSError as e:
        raise DemoError(f"{path}: is not an HDF5 file ({e}).") from e
    meta = {"source_file": path.name, "source_sha256": _sha256(path)}
    with handle:
        if layout == "d4rl":
            arrays = _read_group(handle, (*D4RL_KEYS, "next_observations"), str(path))
            return from_d4rl(arrays, str(path), meta)
        names = sorted((int(m.group(1)), name) for name in handle
                       if (m := _EPISODE.match(name)))
        if not names:
            raise DemoError(f"{path}: has no episode_<i> groups; is it a Minari dataset's "
                            f"main_data.hdf5 (else try --layout d4rl)?")
        spec = handle.attrs.get("env_spec")
        if spec is not None:
            meta["minari_env_spec"] = spec.decode() if isinstance(spec, bytes) else str(spec)
        episodes = [_read_group(handle[name], MINARI_KEYS, f"{path}: {name}")
                    for _, name in names]
        return from_minari_episodes(episodes, str(path), meta)
