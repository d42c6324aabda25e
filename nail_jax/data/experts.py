"""Expert policies as small files, and the experts bundled with the package.

An expert file is one ``.npz`` archive (read with ``allow_pickle=False``) holding an SAC
run's tanh-Gaussian policy and the observation statistics it normalises with:

============================== ===============================================================
key                            meaning
============================== ===============================================================
``param/<path>``                one array per leaf of the policy network's params (the flax
                                path joined by ``/``, e.g. ``param/params/MLP_0/dense_0/kernel``)
``normalizer/count``            ``[]`` observations seen (absent without normalisation)
``normalizer/mean``             ``[O']`` running mean
``normalizer/summed_variance``  ``[O']`` running sum of squared deviations
``metadata_json``               0-d string: JSON with ``format`` (:data:`FORMAT`), ``env``,
                                ``backend``, ``episode_length``, ``absorbing``, ``obs_size``,
                                ``action_size``, ``hidden_sizes`` and free provenance (the
                                training command, env steps, evaluation return, ...)
============================== ===============================================================

``O'`` is the env's observation size plus one with absorbing states (the flag feature).
Bundled experts live in ``nail_jax/data/bundled/experts/<name>.npz``; ``nail-jax collect
--expert NAME`` rolls one out into new demonstrations. A run's policy becomes such a file
with ``nail-jax export`` (:meth:`nail_jax.running.run_dir.RestoredRun.expert`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import zipfile
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from nail_jax.absorbing import augment_obs
from nail_jax.data.datasets import METADATA_KEY, DemoError
from nail_jax.data.demonstrations import bundled_dir, resolve_named
from nail_jax.files import sha256, write_atomic  # noqa: F401 (sha256: re-exported)
from nail_jax.normalization import RunningStatistics
from nail_jax.policy import Policy, PolicySnapshot, make_policy

FORMAT = "nail_jax.expert/1"
REQUIRED_METADATA = ("env", "backend", "episode_length", "absorbing", "obs_size",
                     "action_size", "hidden_sizes")
_PARAM = "param/"
_NORMALIZER = ("count", "mean", "summed_variance")


class ExpertError(DemoError):
    """A bad expert policy file; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class ExpertPolicy:
    """A trained policy that can act without its run: params, statistics and metadata.

    Attributes:
      snapshot: the policy's :class:`~nail_jax.policy.PolicySnapshot` (observation
        statistics or ``None``, and the policy network's params).
      metadata: JSON-able dict with at least :data:`REQUIRED_METADATA`.
    """

    snapshot: PolicySnapshot
    metadata: dict

    @property
    def env(self) -> str:
        return self.metadata["env"]

    @property
    def backend(self) -> str:
        return self.metadata["backend"]

    @property
    def episode_length(self) -> int:
        return int(self.metadata["episode_length"])

    def policy(self) -> Callable[..., jax.Array]:
        """The policy as a jittable ``policy(obs [..., O], key=None) -> action [..., A]``.

        ``obs`` is the env's own observation (the absorbing flag, if the policy was trained
        with one, is added inside as 0); ``key=None`` gives the deterministic action
        ``tanh(mean)``, a PRNG key a sample. Observation normalisation is applied inside.
        """
        absorbing = bool(self.metadata["absorbing"])
        act, snapshot = _policy_of(self.metadata).act, self.snapshot

        def policy(obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
            return act(snapshot, augment_obs(obs, absorbing, jnp), key)

        return policy


def _policy_of(meta: dict) -> Policy:
    """The :class:`~nail_jax.policy.Policy` ``meta`` describes (no optimiser is built)."""
    return make_policy(int(meta["obs_size"]) + int(bool(meta["absorbing"])),
                       int(meta["action_size"]), tuple(meta["hidden_sizes"]))


def _expected_params(meta: dict) -> Any:
    """The abstract params (shapes and dtypes) of the policy network ``meta`` describes."""
    return jax.eval_shape(_policy_of(meta).network.init, jax.random.PRNGKey(0))


def save_expert(path: str | os.PathLike, expert: ExpertPolicy) -> pathlib.Path:
    """Writes ``expert`` to ``path`` (an ``.npz``) atomically; returns the path.

    The metadata is completed with ``format``; the params must match the network the
    metadata describes (else :class:`ExpertError`).
    """
    path = pathlib.Path(path)
    meta = {**expert.metadata, "format": FORMAT}
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ExpertError(f"{path}: expert metadata lacks {missing}")
    _check_params(expert.snapshot.params, meta, str(path))
    payload = {_PARAM + k: np.asarray(v) for k, v in
               traverse_util.flatten_dict(_as_dict(expert.snapshot.params), sep="/").items()}
    if expert.snapshot.normalizer is not None:
        for name in _NORMALIZER:
            payload[f"normalizer/{name}"] = np.asarray(getattr(expert.snapshot.normalizer, name))
    payload[METADATA_KEY] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez_compressed(f, **payload))
    return path


def _as_dict(tree: Any) -> Any:
    """Nested plain dicts (flax may hand out FrozenDicts)."""
    if hasattr(tree, "items"):
        return {k: _as_dict(v) for k, v in tree.items()}
    return tree


def _check_params(params: Any, meta: dict, source: str) -> None:
    expected = _expected_params(meta)
    want = traverse_util.flatten_dict(_as_dict(expected), sep="/")
    got = traverse_util.flatten_dict(_as_dict(params), sep="/")
    if set(want) != set(got):
        extra, lack = sorted(set(got) - set(want)), sorted(set(want) - set(got))
        raise ExpertError(
            f"{source}: the policy params do not fit a network of hidden sizes "
            f"{list(meta['hidden_sizes'])} (missing {lack[:3]}, unexpected {extra[:3]})")
    for name, spec in want.items():
        shape = tuple(np.shape(got[name]))
        if shape != tuple(spec.shape):
            raise ExpertError(f"{source}: param {name} has shape {shape}, the network in the "
                              f"metadata needs {tuple(spec.shape)}")


def load_expert(name_or_path: str | os.PathLike) -> ExpertPolicy:
    """Reads and checks an expert file, or a bundled expert by name (never unpickles).

    Raises:
      ExpertError: no such file or bundled expert, not an ``.npz``, no metadata or keys,
        non-finite numbers, or params that do not fit the network the metadata describes.
    """
    path = resolve_expert(name_or_path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ExpertError(f"{path}: is not an expert .npz archive ({e})") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy: one bare array
        raise ExpertError(f"{path}: is one numpy array (.npy), not an expert .npz archive; "
                          "nail-jax export RUN_DIR --out FILE.npz writes one")
    if METADATA_KEY not in arrays or arrays[METADATA_KEY].ndim != 0:
        raise ExpertError(f"{path}: no '{METADATA_KEY}' key; not a nail-jax expert file")
    try:
        meta = json.loads(str(arrays.pop(METADATA_KEY)[()]))
    except json.JSONDecodeError as e:
        raise ExpertError(f"{path}: metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ExpertError(f"{path}: not a nail-jax expert file (format {found!r}, expected "
                          f"{FORMAT!r}); a demonstration dataset goes to --demos instead")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ExpertError(f"{path}: expert metadata lacks {missing}")
    for name, a in arrays.items():
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
            raise ExpertError(f"{path}: key '{name}' must hold finite floats")
    flat = {k[len(_PARAM):]: jnp.asarray(v) for k, v in arrays.items() if k.startswith(_PARAM)}
    params = traverse_util.unflatten_dict(flat, sep="/")
    _check_params(params, meta, str(path))
    normalizer = None
    keys = [f"normalizer/{n}" for n in _NORMALIZER]
    if any(k in arrays for k in keys):
        lacking = [k for k in keys if k not in arrays]
        if lacking:
            raise ExpertError(f"{path}: observation statistics lack {lacking}")
        width = int(meta["obs_size"]) + int(bool(meta["absorbing"]))
        if arrays[keys[1]].shape != (width,) or arrays[keys[2]].shape != (width,):
            raise ExpertError(f"{path}: observation statistics must be [{width}] vectors")
        normalizer = RunningStatistics(*(jnp.asarray(arrays[k]) for k in keys))
    return ExpertPolicy(PolicySnapshot(normalizer, params), meta)


def experts_dir() -> pathlib.Path:
    """``nail_jax/data/bundled/experts``, where bundled expert policies live."""
    return bundled_dir() / "experts"


def list_bundled_experts() -> list[str]:
    """Sorted names of the bundled expert policies; ``[]`` if none."""
    d = experts_dir()
    return sorted(p.stem for p in d.glob("*.npz") if p.is_file()) if d.is_dir() else []


def resolve_expert(name_or_path: str | os.PathLike) -> pathlib.Path:
    """An expert file path, or a bundled expert's name (with or without ``.npz``), as a path.

    Raises:
      ExpertError: neither; lists the bundled experts.
    """
    found = resolve_named(name_or_path, experts_dir())
    if found is None:
        raise ExpertError(
            f"{name_or_path}: not an expert file, a run directory or a bundled expert; "
            f"bundled experts: {', '.join(list_bundled_experts()) or 'none'}")
    return found
