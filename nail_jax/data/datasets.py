"""Demonstration datasets: the file format, load, validate, save, episodes.

A dataset is one ``.npz`` file with D4RL/Minari-style per-step keys (``N`` steps,
``O`` observation features, ``A`` action dimensions):

==================== ========== ============================================
key                  shape      meaning
==================== ========== ============================================
``observations``      ``[N, O]``  state ``s_t``
``actions``           ``[N, A]``  action ``a_t`` in ``[-1, 1]``
``next_observations`` ``[N, O]``  state ``s_{t+1}`` (the true final one at a time limit)
``rewards``           ``[N]``     environment reward ``r_t``
``terminals``         ``[N]``     ``s_{t+1}`` is a true termination (absorbing, DAC)
``timeouts``          ``[N]``     the episode was cut by a time limit after step ``t``
==================== ========== ============================================

Episodes are consecutive runs of steps, each ending at a step whose ``terminals`` or
``timeouts`` flag is set. Optional metadata (a JSON-able dict) lives in the extra key
``metadata_json``, a 0-d unicode array holding ``json.dumps(metadata)`` (no pickle), or,
when that key is absent, in a sidecar file ``<name>.json`` next to ``<name>.npz``.

Files are always read with ``allow_pickle=False``: loading never executes code from
the file. Every problem is reported as a :class:`DemoError` naming the file, the key
and the problem. Numpy only; no JAX. What is done with the episodes (select, subsample,
the discriminator's expert pairs) is :mod:`nail_jax.data.demonstrations`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from nail_jax.files import write_atomic

REQUIRED_KEYS = (
    "observations", "actions", "next_observations", "rewards", "terminals", "timeouts",
)
METADATA_KEY = "metadata_json"
ACTION_TOLERANCE = 1e-6

_MATRIX_KEYS = ("observations", "actions", "next_observations")
_FLAG_KEYS = ("terminals", "timeouts")
_FLOAT_KEYS = ("observations", "actions", "next_observations", "rewards")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


class DemoError(ValueError):
    """Bad demonstration file or data; the message names the file, the key and the problem."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A demonstration dataset in canonical dtypes (see the module docstring for the keys).

    Attributes:
      observations: ``[N, O]`` float32.
      actions: ``[N, A]`` float32, in ``[-1, 1]``.
      next_observations: ``[N, O]`` float32.
      rewards: ``[N]`` float32.
      terminals: ``[N]`` bool, true termination after the step.
      timeouts: ``[N]`` bool, time-limit end after the step.
      metadata: JSON-able dict (env name, returns, provenance, ...); may be empty.
    """

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return int(self.observations.shape[0])

    @property
    def obs_size(self) -> int:
        return int(self.observations.shape[1])

    @property
    def action_size(self) -> int:
        return int(self.actions.shape[1])

    @property
    def num_episodes(self) -> int:
        return int(np.count_nonzero(np.asarray(self.terminals) | np.asarray(self.timeouts)))


# --------------------------------------------------------------------------- validation


def _arrays_of(data: Dataset | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data, Dataset):
        return {k: getattr(data, k) for k in REQUIRED_KEYS}
    if isinstance(data, Mapping):
        return dict(data)
    raise TypeError(f"expected a Dataset or a mapping of arrays, got {type(data).__name__}")


def validate(dataset_or_arrays: Dataset | Mapping[str, Any], source: str) -> None:
    """Checks keys, dtypes, shapes, lengths, finiteness, action range and episode ends.

    Args:
      dataset_or_arrays: a :class:`Dataset` or a mapping holding at least ``REQUIRED_KEYS``.
      source: where the data came from (a file name), quoted in every error.

    Raises:
      DemoError: on the first problem found.
    """
    arrays = _arrays_of(dataset_or_arrays)
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DemoError(
            f"{source}: missing required key(s) {missing}; found {sorted(arrays)}. A demonstration "
            f"file needs all of {list(REQUIRED_KEYS)}."
        )
    arrays = {k: np.asarray(arrays[k]) for k in REQUIRED_KEYS}

    for key, a in arrays.items():
        allowed = "biuf" if key in _FLAG_KEYS else "iuf"
        if a.dtype.kind not in allowed:
            kinds = "bool, integer or float" if key in _FLAG_KEYS else "integer or float"
            raise DemoError(
                f"{source}: key '{key}' has non-numeric dtype {a.dtype}; it must be {kinds}."
            )
        rank = 2 if key in _MATRIX_KEYS else 1
        if a.ndim != rank:
            layout = "[N, width]" if rank == 2 else "[N]"
            raise DemoError(
                f"{source}: key '{key}' must be {rank}-D {layout}, got shape {a.shape}."
            )

    n = arrays["observations"].shape[0]
    for key, a in arrays.items():
        if a.shape[0] != n:
            raise DemoError(
                f"{source}: length mismatch: key '{key}' has {a.shape[0]} steps but "
                f"'observations' has {n}; all keys need one entry per step."
            )
    if n == 0:
        raise DemoError(
            f"{source}: key 'observations' is empty (N == 0): the dataset has no steps."
        )

    obs_w, next_w = arrays["observations"].shape[1], arrays["next_observations"].shape[1]
    if obs_w != next_w:
        raise DemoError(
            f"{source}: width mismatch: key 'observations' has {obs_w} features but "
            f"'next_observations' has {next_w}."
        )
    for key in _MATRIX_KEYS:
        if arrays[key].shape[1] == 0:
            raise DemoError(f"{source}: key '{key}' has zero width, shape {arrays[key].shape}.")

    for key in _FLOAT_KEYS:
        with np.errstate(over="ignore"):
            as_float32 = arrays[key].astype(np.float32)  # float64 beyond float32 range -> inf
        bad = int(np.count_nonzero(~np.isfinite(as_float32)))
        if bad:
            raise DemoError(
                f"{source}: key '{key}' contains {bad} NaN/inf value(s) (as float32) out of "
                f"{as_float32.size}; remove or repair those steps."
            )

    actions = arrays["actions"]
    lo, hi = float(actions.min()), float(actions.max())
    if lo < -1.0 - ACTION_TOLERANCE or hi > 1.0 + ACTION_TOLERANCE:
        raise DemoError(
            f"{source}: key 'actions' is outside [-1, 1] (min {lo:.8g}, max {hi:.8g}); store "
            f"actions in the environment's normalized [-1, 1] range (clip or rescale them)."
        )

    for key in _FLAG_KEYS:
        a = arrays[key]
        if a.dtype.kind != "b":
            bad = ~((a == 0) | (a == 1))
            if np.any(bad):
                values = np.unique(a[bad])[:5].tolist()
                raise DemoError(
                    f"{source}: key '{key}' must hold only 0/1 (or bool), found values {values}."
                )

    if not (bool(arrays["terminals"][-1]) or bool(arrays["timeouts"][-1])):
        raise DemoError(
            f"{source}: keys 'terminals'/'timeouts': the last episode has no end marker: set "
            f"terminals or timeouts on its last step (step {n - 1})."
        )

    if isinstance(dataset_or_arrays, Dataset) and not isinstance(
        dataset_or_arrays.metadata, dict
    ):
        raise DemoError(
            f"{source}: metadata must be a dict, got {type(dataset_or_arrays.metadata).__name__}."
        )


def _canonical(arrays: Mapping[str, Any], metadata: dict) -> Dataset:
    """Builds a Dataset with float32 features and bool flags from validated arrays."""
    out = {k: np.asarray(arrays[k], dtype=np.float32) for k in _FLOAT_KEYS}
    out.update({k: np.asarray(arrays[k]).astype(bool) for k in _FLAG_KEYS})
    return Dataset(**out, metadata=metadata)


def from_arrays(arrays: Mapping[str, Any], source: str, metadata: dict | None = None) -> Dataset:
    """A validated :class:`Dataset` in canonical dtypes from a mapping of the six arrays.

    Raises:
      DemoError: as :func:`validate`, naming ``source``.
    """
    validate(arrays, source)
    return _canonical(arrays, dict(metadata or {}))


# --------------------------------------------------------------------------- files


def _sidecar_path(path: pathlib.Path) -> pathlib.Path:
    stem = path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name
    return path.with_name(stem + ".json")


def _check_file(path: pathlib.Path) -> None:
    if not path.exists():
        raise DemoError(f"{path}: file does not exist.")
    if not path.is_file():
        raise DemoError(f"{path}: is not a regular file.")
    if path.stat().st_size == 0:
        raise DemoError(f"{path}: file is empty (0 bytes); it is not a .npz archive.")
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(_NPY_MAGIC):
        raise DemoError(
            f"{path}: is a single .npy array, not a .npz archive; save the dataset keys with "
            f"numpy.savez (or nail_jax.data.datasets.save_dataset)."
        )
    if not head.startswith(_ZIP_MAGIC):
        raise DemoError(
            f"{path}: is not a valid .npz (zip) archive (it starts with {head[:4]!r}); "
            f"pickle files and text files are refused."
        )


def _read_key(npz: Any, key: str, path: pathlib.Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as e:
        if "pickle" in str(e):
            raise DemoError(
                f"{path}: key '{key}' contains pickled objects (an object array), which are "
                f"refused (allow_pickle=False); store plain numeric arrays."
            ) from e
        raise DemoError(f"{path}: key '{key}' could not be read: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DemoError(f"{path}: key '{key}' could not be read: {e}") from e


def _parse_metadata(text: str, where: str) -> dict:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise DemoError(f"{where}: metadata is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise DemoError(f"{where}: metadata must be a JSON object, got {type(meta).__name__}.")
    return meta


def _read_metadata(npz: Any, path: pathlib.Path) -> dict:
    if METADATA_KEY in npz.files:
        raw = _read_key(npz, METADATA_KEY, path)
        if raw.ndim != 0 or raw.dtype.kind not in "US":
            raise DemoError(
                f"{path}: key '{METADATA_KEY}' must be a 0-d string array "
                f"(np.array(json.dumps(meta))), got dtype {raw.dtype} shape {raw.shape}."
            )
        text = raw[()]
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return _parse_metadata(str(text), f"{path}: key '{METADATA_KEY}'")
    sidecar = _sidecar_path(path)
    if sidecar.is_file():
        return _parse_metadata(sidecar.read_text(encoding="utf-8"), str(sidecar))
    return {}


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Loads and validates a ``.npz`` dataset (never unpickles; see the module docstring).

    Accepts float32/float64 (or integer) features and bool or 0/1 integer/float flags;
    returns float32 features and bool flags. Extra keys are ignored.

    Raises:
      DemoError: the file is missing, empty, not an ``.npz`` archive, holds pickled
        objects, or fails :func:`validate`.
    """
    path = pathlib.Path(path)
    _check_file(path)
    try:
        npz_cm = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DemoError(f"{path}: is not a valid .npz (zip) archive: {e}") from e
    if not isinstance(npz_cm, np.lib.npyio.NpzFile):
        raise DemoError(f"{path}: is not a .npz archive.")
    with npz_cm as npz:
        present = set(npz.files)
        missing = [k for k in REQUIRED_KEYS if k not in present]
        if missing:
            raise DemoError(
                f"{path}: missing required key(s) {missing}; found {sorted(present)}. A "
                f"demonstration file needs all of {list(REQUIRED_KEYS)}."
            )
        arrays = {k: _read_key(npz, k, path) for k in REQUIRED_KEYS}
        metadata = _read_metadata(npz, path)
    return from_arrays(arrays, str(path), metadata)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"object of type {type(x).__name__} is not JSON serializable")


def save_dataset(path: str | os.PathLike, dataset: Dataset) -> None:
    """Validates ``dataset`` and writes it to ``path`` atomically (:mod:`nail_jax.files`).

    Features are written as float32, flags as bool, metadata as the ``metadata_json`` key
    (numpy scalars and arrays inside it become plain JSON numbers and lists). The file is
    written exactly at ``path`` (no suffix is appended).
    """
    path = pathlib.Path(path)
    validate(dataset, str(path))
    try:
        meta_text = json.dumps(dataset.metadata, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise DemoError(f"{path}: metadata is not JSON-serializable: {e}") from e
    canon = _canonical(_arrays_of(dataset), dataset.metadata)
    payload = {k: getattr(canon, k) for k in REQUIRED_KEYS}
    payload[METADATA_KEY] = np.array(meta_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez_compressed(f, **payload))


# --------------------------------------------------------------------------- episodes


def episode_bounds(dataset: Dataset) -> np.ndarray:
    """Returns ``[E, 2]`` int64 half-open ``(start, end)`` step slices of the episodes, in order."""
    ends = np.flatnonzero(np.asarray(dataset.terminals) | np.asarray(dataset.timeouts)) + 1
    n = dataset.num_steps
    if n == 0 or ends.size == 0 or ends[-1] != n:
        raise DemoError(
            "dataset: keys 'terminals'/'timeouts': the last episode has no end marker: set "
            "terminals or timeouts on its last step."
        )
    starts = np.concatenate([[0], ends[:-1]])
    return np.stack([starts, ends], axis=1).astype(np.int64)


def episode_returns(dataset: Dataset) -> np.ndarray:
    """Returns ``[E]`` float64 sums of ``rewards`` per episode."""
    bounds = episode_bounds(dataset)
    return np.add.reduceat(np.asarray(dataset.rewards, np.float64), bounds[:, 0])
