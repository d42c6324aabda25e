"""A run directory: its files, reading them back, and a run rebuilt from its checkpoint.

Files in the run directory (written by :func:`nail_jax.running.driver.run_training`):
  config.json    the full config, seeds, the command that started the run, and the
                 demonstration file with its SHA-256 (checked on resume)
  metrics.jsonl  one JSON object per epoch and seed
  summary.json   final and best score (or return, for ``rl``) per seed, mean and spread
                 (after a divergence: of the epochs before, and what diverged)
  checkpoints/   orbax checkpoints of the whole state (see :mod:`nail_jax.running.checkpoint`)

What reads a run (evaluation, plotting, collecting demonstrations from an expert) imports
this module, not the driver.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from nail_jax.algorithms import ALGORITHMS
from nail_jax.checks import ArgumentError
from nail_jax.data.demonstrations import resolve as resolve_demos
from nail_jax.data.experts import ExpertPolicy
from nail_jax.data.run_demos import RECORD_KEYS
from nail_jax.files import sha256
from nail_jax.policy import PolicySnapshot
from nail_jax.running import checkpoint as ckpt
from nail_jax.running.parallel import seed_keys
from nail_jax.training.config import TrainConfig, config_from_dict
from nail_jax.training.trainer import build

RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "checkpoints")


class RunError(RuntimeError):
    """A problem with the run directory or the run's arguments (shown as a one-line error)."""


class RunArgumentError(ArgumentError, RunError):
    """A bad argument of the driver's Python API, worded with the argument's name."""


def read_metrics(run_dir: str | pathlib.Path) -> list[dict]:
    """All records of ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def diverged(run_dir: str | pathlib.Path) -> str | None:
    """``"diverged at epoch E (NAME)"`` when ``run_dir``'s ``summary.json`` records a
    divergence (``nail-jax train`` exited 3), else None (also while the run has no summary)."""
    path = pathlib.Path(run_dir) / "summary.json"
    if not path.exists():
        return None
    where = json.loads(path.read_text()).get("diverged")
    return None if where is None else f"diverged at epoch {where['epoch']} ({where['name']})"


def has_run(run_dir: pathlib.Path) -> bool:
    """Whether ``run_dir`` holds any of a run's files."""
    return any((run_dir / name).exists() for name in RUN_FILES)


def check_run_dir(run_dir: pathlib.Path, overwrite: bool) -> None:
    """Raises RunError when ``run_dir`` cannot take a new run (without changing anything)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunArgumentError(f"{{run_dir}} {run_dir} exists and is not a directory",
                               "run_dir")
    if has_run(run_dir) and not overwrite:
        raise RunArgumentError(
            f"{run_dir} already holds a run; pass {{resume}} to continue it, {{overwrite}} "
            "to start over (the old run is moved aside), or another {run_dir}",
            "resume", "overwrite", "run_dir", resume="resume=True", overwrite="overwrite=True")


def prepare_run_dir(run_dir: pathlib.Path, overwrite: bool) -> pathlib.Path | None:
    """Creates ``run_dir``; an existing run is moved aside (never deleted) with ``overwrite``.

    Returns where an old run was moved, if anywhere.
    """
    check_run_dir(run_dir, overwrite)
    moved = None
    if has_run(run_dir):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        moved = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
        shutil.move(str(run_dir), moved)
    run_dir.mkdir(parents=True, exist_ok=True)
    return moved


def load_run_config(run_dir: pathlib.Path) -> dict:
    """``config.json`` of a run with a checkpoint, its ``config`` as a ``TrainConfig``.

    Raises RunError when ``run_dir`` holds no run, no checkpoint, or an unreadable config.
    """
    saved = read_run_config(run_dir)  # no run: said before no checkpoint
    if ckpt.latest_epoch(run_dir) is None:
        raise RunError(f"no checkpoint in {ckpt.checkpoint_dir(run_dir)}")
    return saved


def read_run_config(run_dir: pathlib.Path) -> dict:
    """``config.json`` of a run (with or without checkpoints, e.g. a results copy), its
    ``config`` as a ``TrainConfig``.

    Raises RunError when ``run_dir`` holds no run or an unreadable config.
    """
    path = pathlib.Path(run_dir) / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} holds no run (no config.json); give the directory of a "
                       "nail-jax train run")
    try:
        saved = json.loads(path.read_text())
        saved["config"] = config_from_dict(saved["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise RunError(f"{path} is not a nail-jax run config ({e})") from e
    return saved


def spread(values) -> dict | None:
    """``{"mean", "sd", "min", "max"}`` of ``values`` (one number per seed), ``None`` if empty;
    ``sd`` is the sample standard deviation (ddof 1), ``None`` for one value. (Summaries
    written before 2026-12-07 hold ``std``, the population SD, instead.)"""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "min": float(v.min()), "max": float(v.max())} if v.size else None


def run_metric(algo: str) -> str:
    """The metric a run of ``algo`` is judged by (:attr:`Algorithm.metric`): ``score``, or
    ``eval_return`` for ``rl`` (SAC on the env reward has no demonstrations to normalise by)."""
    return ALGORITHMS[algo].metric


def summarize(records: list[dict], algo: str, num_seeds: int) -> dict:
    """Final and best :func:`run_metric` per seed, with mean and std; per seed also the final
    evaluation's return and mean episode length (``None`` for runs from before it was
    logged)."""
    key = run_metric(algo)
    per_seed = []
    for s in range(num_seeds):
        rows = [r for r in records if r["seed"] == s and r.get(key) is not None]
        if not rows:
            continue
        values = [r[key] for r in rows]
        per_seed.append({"seed": s, f"final_{key}": values[-1], f"best_{key}": max(values),
                         "final_eval_return": rows[-1]["eval_return"],
                         "final_eval_length": rows[-1].get("eval_length"),
                         "env_steps": rows[-1]["env_steps"]})
    return {"metric": key, "seeds": per_seed,
            f"final_{key}": spread([p[f"final_{key}"] for p in per_seed]),
            f"best_{key}": spread([p[f"best_{key}"] for p in per_seed])}


@dataclasses.dataclass(frozen=True)
class RestoredRun:
    """A run rebuilt from its directory and one of its checkpoints.

    Attributes:
      config: the run's ``TrainConfig``.
      trainer, pairs: what :func:`nail_jax.training.trainer.build` makes of ``config``.
      epoch: the checkpoint's epoch.
      state: the ``TrainState`` of every seed (leading ``[S]`` axis), on one local device.
      run_dir, run_info: the run directory and its ``config.json`` (command, seed, ...).
    """

    config: TrainConfig
    trainer: Any
    pairs: Any
    epoch: int
    state: Any

    run_dir: pathlib.Path | None = None
    run_info: dict = dataclasses.field(default_factory=dict)

    def expert(self, seed_index: int = 0) -> ExpertPolicy:
        """Seed ``seed_index``'s current policy ``pi`` as an :class:`ExpertPolicy` (what
        ``nail-jax export`` writes), its metadata naming the run, epoch and env steps."""
        sac_state = jax.tree.map(lambda x: x[seed_index], self.state.sac)
        config = self.config
        records = [r for r in read_metrics(self.run_dir) if r.get("seed") == seed_index
                   and r.get("epoch") == self.epoch] if self.run_dir is not None else []
        meta = {
            "env": config.env, "backend": config.backend,
            "episode_length": config.episode_length, "absorbing": config.absorbing,
            "obs_size": int(self.trainer.env.observation_size),
            "action_size": int(self.trainer.env.action_size),
            "hidden_sizes": list(config.sac.hidden_sizes), "algo": config.algo,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "run_command": self.run_info.get("command"),
            "seed": int(self.run_info.get("seed", 0)) + seed_index, "epoch": self.epoch,
            "env_steps": records[-1]["env_steps"] if records else None,
            "eval_return": records[-1].get("eval_return") if records else None,
            "wall_time": records[-1].get("wall_time") if records else None,
        }
        return ExpertPolicy(PolicySnapshot(sac_state.normalizer, sac_state.policy_params), meta)

    def policy(self, seed_index: int = 0) -> Callable[..., jax.Array]:
        """Seed ``seed_index``'s current policy ``pi`` as a jittable ``policy(obs, key=None)``,
        see :func:`load_policy`."""
        return self.expert(seed_index).policy()


def demos_fingerprint(config: TrainConfig) -> dict:
    """``{"demos_file", "demos_sha256"}`` of the demonstration file ``config.demos`` names
    (``{}`` for an algorithm without demonstrations, ``rl``). Raises DemoError when there is
    no such file."""
    if not ALGORITHMS[config.algo].needs_demonstrations:
        return {}
    path = resolve_demos(config.demos)
    return {"demos_file": str(path), "demos_sha256": sha256(path)}


def restore_run(run_dir: str | pathlib.Path, seed_index: int = 0,
                epoch: int | None = None, score: bool = True) -> RestoredRun:
    """Rebuilds a run's functions and restores checkpoint ``epoch`` (default: the latest).

    The demonstration file is read only where it must be: when the caller needs the score
    (``score``) of a run that did not record its expert return (runs before 2026-12-07),
    and then only if its SHA-256 is the one the run recorded. Otherwise the run's recorded
    expert return stands in, and the pairs are a placeholder (see
    :func:`~nail_jax.training.trainer.build`): acting, exporting and collecting need no
    demonstrations.

    Raises RunError when ``run_dir`` holds no run or no checkpoint, when ``seed_index``
    (the seed the caller will read) is out of range, or when the score needs demonstrations
    that changed since the run; DemoError when they are gone; CheckpointError when the
    checkpoint does not match the run.
    """
    run_dir = pathlib.Path(run_dir)
    saved = load_run_config(run_dir)
    config, num_seeds = saved["config"], saved["num_seeds"]
    if not 0 <= seed_index < num_seeds:
        raise RunError(f"seed index {seed_index} out of range: the run has {num_seeds} seeds")
    record = {k: saved[k] for k in RECORD_KEYS if k in saved}
    if not ALGORITHMS[config.algo].needs_demonstrations or "expert_return" in record:
        trainer, pairs = build(config, record or None)
    elif not score:
        trainer, pairs = build(config, {"expert_return": float("nan")})
    else:
        recorded, now = saved.get("demos_sha256"), demos_fingerprint(config)
        if recorded is not None and recorded != now["demos_sha256"]:
            raise RunError(
                f"the demonstrations {now['demos_file']} changed since the run: sha256 "
                f"{now['demos_sha256']}, but {run_dir}/config.json recorded {recorded}; the "
                "score's expert return would come from other data: restore the file")
        trainer, pairs = build(config)
    init = jax.vmap(trainer.init, in_axes=(0, None))
    abstract = jax.eval_shape(init, seed_keys(saved["seed"], num_seeds), pairs)
    restored_epoch, state, _ = ckpt.restore(run_dir, abstract, epoch)  # onto one local device
    return RestoredRun(config, trainer, pairs, restored_epoch, state, run_dir, saved)


def load_policy(run_dir: str | pathlib.Path, seed_index: int = 0, epoch: int | None = None):
    """The trained policy of one seed of a run, as a jittable ``policy(obs, key=None)``.

    ``obs`` is ``[..., O]``, the env's own observation (the absorbing flag, if the run
    used one, is added inside); ``key=None`` gives the deterministic action ``tanh(mean)``,
    a PRNG key a sample. Observation normalisation is applied inside.
    Returns ``(policy, config)``.
    """
    run = restore_run(run_dir, seed_index, epoch, score=False)
    return run.policy(seed_index), run.config
