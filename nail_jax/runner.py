"""The training driver: many seeds in one program, logs, checkpoints and resume.

``run_training`` jits ``vmap(run_epoch)`` over seeds and loops over epochs in Python
only to log, show progress and checkpoint; the numbers equal those of the all-in-jit
``Trainer.train`` (tested). Seed ``i`` of a run started with ``--seed s`` uses the key
``PRNGKey(s + i)``, so any seed can be rerun alone with ``--seed s+i --seeds 1``.

Files in the run directory:
  config.json    the full config, seeds, and the command that started the run
  metrics.jsonl  one JSON object per epoch and seed
  summary.json   final and best score (or return, for ``rl``) per seed, mean and spread
  checkpoints/   orbax checkpoints of the whole state (see :mod:`nail_jax.checkpoint`)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from nail_jax import checkpoint as ckpt
from nail_jax import distributed as dist
from nail_jax.config import TrainConfig, config_from_dict, config_to_dict
from nail_jax.envs import augment_obs
from nail_jax.sac import PolicySnapshot
from nail_jax.trainer import build

RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "checkpoints")


class RunError(RuntimeError):
    """A problem with the run directory or the run's arguments (shown as a one-line error)."""


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """``[num_seeds]`` keys; seed ``i`` gets ``PRNGKey(seed + i)``."""
    return jax.vmap(jax.random.PRNGKey)(seed + np.arange(num_seeds))


def write_json_atomic(path: pathlib.Path, data: Any) -> None:
    """Writes JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


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


def has_run(run_dir: pathlib.Path) -> bool:
    return any((run_dir / name).exists() for name in RUN_FILES)


def check_run_dir(run_dir: pathlib.Path, overwrite: bool) -> None:
    """Raises RunError when ``run_dir`` cannot take a new run (without changing anything)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} exists and is not a directory")
    if has_run(run_dir) and not overwrite:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it, "
                       "--overwrite to start over (the old run is moved aside), "
                       "or another --out")


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


def _to_python(x) -> float | int:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return int(x)
    v = float(x)
    return v if math.isfinite(v) else None  # JSON has no NaN


def spread(values) -> dict | None:
    """``{"mean", "std", "min", "max"}`` of ``values`` (one number per seed), ``None`` if empty."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "max": float(v.max())} if v.size else None


def summarize(records: list[dict], algo: str, num_seeds: int) -> dict:
    """Final and best score (``eval_return`` for ``rl``) per seed, with mean and std."""
    key = "eval_return" if algo == "rl" else "score"
    per_seed = []
    for s in range(num_seeds):
        rows = [r for r in records if r["seed"] == s and r.get(key) is not None]
        if not rows:
            continue
        values = [r[key] for r in rows]
        per_seed.append({"seed": s, f"final_{key}": values[-1], f"best_{key}": max(values),
                         "final_eval_return": rows[-1]["eval_return"],
                         "env_steps": rows[-1]["env_steps"]})
    return {"metric": key, "seeds": per_seed,
            f"final_{key}": spread([p[f"final_{key}"] for p in per_seed]),
            f"best_{key}": spread([p[f"best_{key}"] for p in per_seed])}


class Progress:
    """Epoch progress on ``stream``: a live bar with elapsed time and ETA (rich) on a
    terminal; elsewhere (logs, CI) a plain line every ``every_s`` seconds and at the end.

    ``start`` is the epoch the run starts from (a resumed run); the ETA is measured on the
    epochs done in this process. A context manager: leaving it stops the live bar.
    """

    def __init__(self, total: int, stream=sys.stderr, every_s: float = 30.0,
                 enabled: bool = True, start: int = 0):
        self.total, self.stream, self.every_s, self.enabled = total, stream, every_s, enabled
        self.start, self.t0, self.last = start, time.time(), -math.inf
        self.live = None
        if enabled and hasattr(stream, "isatty") and stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self.live = Bar(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(),
                            TextColumn("{task.fields[text]}"), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(),
                            console=Console(file=stream), transient=False)
            self.task = self.live.add_task("train", total=total, completed=start,
                                           text="compiling")
            self.live.start()

    def eta(self, done: int) -> float:
        """Seconds left at this process's pace so far (``nan`` before an epoch is done)."""
        ran = done - self.start
        return (time.time() - self.t0) / ran * (self.total - done) if ran > 0 else math.nan

    def update(self, done: int, text: str, elapsed: float) -> None:
        if not self.enabled:
            return
        if self.live is not None:
            self.live.update(self.task, completed=done, text=text)
        elif done == self.total or time.time() - self.last >= self.every_s:
            width = 24
            filled = int(width * done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"[{bar}] epoch {done}/{self.total} {text} {elapsed:6.0f}s "
                              f"eta {self.eta(done):.0f}s\n")
            self.stream.flush()
            self.last = time.time()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def run_training(
    config: TrainConfig | None,
    run_dir: str | pathlib.Path,
    num_seeds: int = 1,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
    keep_checkpoints: int | None = None,
    progress: bool = True,
    command: str | None = None,
    total_steps: int | None = None,
    tensorboard: bool = False,
    log: Callable[[str], None] = print,
    devices: int | None = None,
    env_shards: int = 1,
) -> dict:
    """Trains ``num_seeds`` seeds of ``config`` into ``run_dir``; returns the summary.

    With ``resume`` the run continues from its latest checkpoint: the config, seeds and
    base seed are read from ``run_dir/config.json`` (``config`` may be ``None``), only
    ``total_steps`` may be raised, and the metrics are those of the uninterrupted run.
    A checkpoint is saved every ``checkpoint_every`` epochs (and at the last), the
    ``keep_checkpoints`` most recent kept; ``None`` means 1 and 2 for a new run, the run's
    own settings (from ``config.json``) for a resumed one.
    With ``tensorboard`` the per-epoch metrics also go to TensorBoard event files in
    ``run_dir/tensorboard/seed_<i>`` (x axis: env steps).

    Seeds are sharded over ``devices`` devices (default: the most of all devices that
    split the seeds evenly), envs over ``env_shards`` of them (see
    :mod:`nail_jax.distributed`); the numbers do not depend on the layout, so a run may
    resume on another device count. In a multi-host run only process 0 writes files.
    """
    run_dir = pathlib.Path(run_dir)
    if num_seeds < 1:
        raise RunError(f"--seeds must be at least 1, got {num_seeds}")
    for flag, value in (("--checkpoint-every", checkpoint_every),
                        ("--keep-checkpoints", keep_checkpoints)):
        if value is not None and value < 1:
            raise RunError(f"{flag} must be at least 1, got {value}")
    if resume:
        saved = _load_run_config(run_dir)
        config = saved["config"]
        if total_steps is not None:
            if total_steps < config.total_steps:
                raise RunError(f"--steps {total_steps} is below the run's {config.total_steps}; "
                               "a resumed run can only be extended")
            config = dataclasses.replace(config, total_steps=total_steps)
        num_seeds, seed = saved["num_seeds"], saved["seed"]
        checkpoint_every = checkpoint_every or saved.get("checkpoint_every", 1)
        keep_checkpoints = keep_checkpoints or saved.get("keep_checkpoints", 2)
        run_info = {**saved, "config": config_to_dict(config),
                    "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
                    "resumed_with": [*saved.get("resumed_with", []), command]}
    else:
        check_run_dir(run_dir, overwrite)
        checkpoint_every, keep_checkpoints = checkpoint_every or 1, keep_checkpoints or 2
        run_info = {"config": config_to_dict(config), "num_seeds": num_seeds, "seed": seed,
                    "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
                    "command": command}
    # Everything that can fail on bad input (devices, env, demonstrations) fails here,
    # before the run directory is touched and before anything compiles.
    mesh = dist.make_mesh(num_seeds, devices, env_shards, config.num_envs)
    main = dist.is_main_process()
    if not main:
        log = _silent
    trainer, expert = build(config)
    fns = make_sharded_functions(trainer, expert, mesh, seed_keys(seed, num_seeds))
    expert = fns.expert
    run_info["layout"] = dist.describe(mesh)
    dist.barrier("checked run dir")
    if not resume and main:
        moved = prepare_run_dir(run_dir, overwrite)
        if moved:
            log(f"moved the previous run in {run_dir} to {moved}")
    if main:
        write_json_atomic(run_dir / "config.json", run_info)
    dist.barrier("prepared run dir")

    keys = fns.keys
    init, epoch_fn = fns.init, fns.run_epoch
    manager = ckpt.make_manager(run_dir, keep=keep_checkpoints)

    t_start = time.time()
    elapsed_before = 0.0
    if resume:
        # The seed count first, from the metadata alone: restoring arrays of another seed
        # count fails with an orbax shape message that does not say so.
        saved_epoch, meta = ckpt.read_meta(run_dir)
        if meta.get("num_seeds") != num_seeds:
            raise RunError(f"checkpoint {saved_epoch} in {ckpt.checkpoint_dir(run_dir)} holds "
                           f"{meta.get('num_seeds')} seed(s) but {run_dir}/config.json says "
                           f"{num_seeds}; restore config.json's num_seeds")
        start_epoch, state, meta = ckpt.restore(run_dir, fns.abstract_state,
                                                shardings=fns.shardings)
        elapsed_before = float(meta.get("elapsed", 0.0))
        kept = [r for r in read_metrics(run_dir) if r["epoch"] <= start_epoch]
        if main:
            _write_lines(run_dir / "metrics.jsonl", kept)
        log(f"resuming {run_dir} from epoch {start_epoch} of {config.num_epochs}")
    else:
        start_epoch = 0
        state = init(keys, expert)
        if main:
            _write_lines(run_dir / "metrics.jsonl", [])
        log(f"training {config.algo} on {config.env} ({config.backend}) for "
            f"{config.total_steps} env steps x {num_seeds} seed(s), {config.num_epochs} epochs "
            f"on {dist.describe(mesh)} -> {run_dir}")

    save_times: list[float] = []
    writers = _tensorboard_writers(run_dir, num_seeds) if tensorboard and main else []
    metric_key = "eval_return" if config.algo == "rl" else "score"
    shown = math.nan
    metrics_file = run_dir / "metrics.jsonl" if main else os.devnull
    with (Progress(config.num_epochs, enabled=progress and main, start=start_epoch) as bar,
          open(metrics_file, "a") as out):
        for epoch in range(start_epoch, config.num_epochs):
            t0 = time.time()
            state, metrics = epoch_fn(state, expert, fns.evaluates(epoch + 1))
            metrics = dist.to_host(metrics)  # the only thing gathered
            now = time.time()
            elapsed = elapsed_before + now - t_start
            for s in range(num_seeds):
                record = {"epoch": epoch + 1, "seed": s}
                record.update({k: _to_python(v[s]) for k, v in metrics.items()
                               if k not in ("epoch",)})
                record["epoch_time"] = now - t0
                record["wall_time"] = elapsed
                out.write(json.dumps(record) + "\n")
                if writers:
                    _write_scalars(writers[s], record)
            out.flush()
            done = epoch + 1
            if done % checkpoint_every == 0 or done == config.num_epochs:
                t_save = time.time()
                ckpt.save(manager, done, state, {"num_seeds": num_seeds, "elapsed": elapsed,
                                                 "config": config_to_dict(config),
                                                 "layout": dist.describe(mesh)})
                save_times.append(time.time() - t_save)
            if config.evaluates(done):  # else the bar keeps the last evaluation's value
                shown = np.nanmean(np.asarray(metrics[metric_key], np.float64))
            bar.update(done, f"steps {int(metrics['env_steps'][0])} {metric_key} {shown:.3f}",
                       elapsed)
    manager.close()
    for writer in writers:
        writer.close()
    checkpoint_bytes = ckpt.size_bytes(run_dir)  # on every process: orbax syncs hosts
    if not main:
        return {}
    summary = summarize(read_metrics(run_dir), config.algo, num_seeds)
    summary.update({"algo": config.algo, "env": config.env, "backend": config.backend,
                    "num_seeds": num_seeds, "total_steps": config.total_steps,
                    "wall_time": elapsed_before + time.time() - t_start,
                    "checkpoint_seconds_mean": float(np.mean(save_times)) if save_times else None,
                    "checkpoint_bytes": checkpoint_bytes})
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


@dataclasses.dataclass(frozen=True)
class ShardedFunctions:
    """A run's jitted functions and inputs laid out on a device mesh.

    Attributes:
      init: ``init(keys [S], expert) -> TrainState [S, ...]`` sharded by ``shardings``.
      run_epoch: ``run_epoch(state, expert, evaluate) -> (state, metrics [S])``; donates
        ``state``. ``evaluate``: a scalar bool (:meth:`ShardedFunctions.evaluates`,
        :meth:`ShardedFunctions.flag`).
      keys: ``[S]`` seed keys, sharded over ``'seed'``.
      expert: the demonstration data, replicated on every device (``None`` for ``rl``).
      shardings: the train state's shardings (:func:`nail_jax.distributed.state_shardings`).
      abstract_state: shapes and dtypes of the stacked train state.
      config: the trainer's config.
      mesh: the device mesh.
    """

    init: Callable
    run_epoch: Callable
    keys: jax.Array
    expert: Any
    shardings: Any
    abstract_state: Any
    config: TrainConfig
    mesh: Any

    def evaluates(self, epoch: int) -> jax.Array:
        """``run_epoch``'s ``evaluate`` for epoch ``epoch`` (1-based), on every device."""
        return self.flag(self.config.evaluates(epoch))

    def flag(self, evaluate: bool) -> jax.Array:
        """``run_epoch``'s ``evaluate`` argument: ``evaluate`` on every device."""
        return dist.put(np.asarray(evaluate), dist.replicated(self.mesh))


def over_seeds(fn: Callable, num_seeds: int) -> Callable:
    """``fn(per_seed, shared)`` mapped over the leading seed axis of ``per_seed``.

    ``jax.vmap`` for several seeds. For one seed, ``fn`` itself with the axis taken off and
    put back: the same numbers, but XLA on a CPU runs the batch-of-1 matmuls that ``vmap``
    makes about 1.5x slower than plain ones (``experiments/profile.py``).
    """
    if num_seeds > 1:
        return jax.vmap(fn, in_axes=(0, None))

    def single(per_seed, shared):
        out = fn(jax.tree.map(lambda x: x[0], per_seed), shared)
        return jax.tree.map(lambda x: x[None], out)

    return single


def make_sharded_functions(trainer, expert, mesh, keys) -> ShardedFunctions:
    """Map over seeds (:func:`over_seeds`), ``jit`` with the seed axis (and optionally
    envs) sharded."""
    keys = dist.put(np.asarray(keys), dist.seed_sharding(mesh))
    expert = None if expert is None else dist.put(jax.device_get(expert),
                                                  dist.replicated(mesh))
    num_seeds = keys.shape[0]
    batched_init = over_seeds(trainer.init, num_seeds)
    abstract = jax.eval_shape(batched_init, keys, expert)
    shardings = dist.state_shardings(abstract, mesh, trainer.config.num_envs)
    by_seed = dist.seed_sharding(mesh)
    init = jax.jit(batched_init, out_shardings=shardings)
    # The evaluate flag rides with the shared (unbatched) inputs, so it stays unbatched.
    batched_epoch = over_seeds(lambda state, shared: trainer.run_epoch(state, *shared),
                               num_seeds)
    run_epoch = jax.jit(lambda state, expert, evaluate: batched_epoch(state, (expert, evaluate)),
                        out_shardings=(shardings, by_seed), donate_argnums=0)
    return ShardedFunctions(init, run_epoch, keys, expert, shardings, abstract,
                            trainer.config, mesh)


def _silent(_: str) -> None:
    pass


def _tensorboard_writers(run_dir: pathlib.Path, num_seeds: int) -> list:
    from tensorboardX import SummaryWriter  # a brax dependency

    return [SummaryWriter(str(run_dir / "tensorboard" / f"seed_{s}")) for s in range(num_seeds)]


def _write_scalars(writer, record: dict) -> None:
    for key, value in record.items():
        if key not in ("epoch", "seed", "env_steps") and value is not None:
            writer.add_scalar(key, value, record["env_steps"])


def _write_lines(path: pathlib.Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def _load_run_config(run_dir: pathlib.Path) -> dict:
    path = run_dir / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} holds no run (no config.json); give the directory of a "
                       "nail-jax train run")
    if ckpt.latest_epoch(run_dir) is None:
        raise RunError(f"no checkpoint in {ckpt.checkpoint_dir(run_dir)}")
    try:
        saved = json.loads(path.read_text())
        saved["config"] = config_from_dict(saved["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise RunError(f"{path} is not a nail-jax run config ({e})") from e
    return saved


@dataclasses.dataclass(frozen=True)
class RestoredRun:
    """A run rebuilt from its directory and one of its checkpoints.

    Attributes:
      config: the run's ``TrainConfig``.
      trainer, expert: what :func:`nail_jax.trainer.build` makes of ``config``.
      epoch: the checkpoint's epoch.
      state: the ``TrainState`` of every seed (leading ``[S]`` axis), on one local device.
    """

    config: TrainConfig
    trainer: Any
    expert: Any
    epoch: int
    state: Any

    def policy(self, seed_index: int = 0) -> Callable[..., jax.Array]:
        """Seed ``seed_index``'s policy as a jittable ``policy(obs, key=None)``, see
        :func:`load_policy`."""
        sac_state = jax.tree.map(lambda x: x[seed_index], self.state.sac)
        snapshot = PolicySnapshot(sac_state.normalizer, sac_state.policy_params)
        act, absorbing = self.trainer.act, self.config.absorbing

        def policy(obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
            return act(snapshot, augment_obs(obs, absorbing), key)

        return policy


def restore_run(run_dir: str | pathlib.Path, seed_index: int = 0,
                epoch: int | None = None) -> RestoredRun:
    """Rebuilds a run's functions and restores checkpoint ``epoch`` (default: the latest).

    Raises RunError when ``run_dir`` holds no run or no checkpoint, or when ``seed_index``
    (the seed the caller will read) is out of range; CheckpointError when the checkpoint
    does not match the run.
    """
    run_dir = pathlib.Path(run_dir)
    saved = _load_run_config(run_dir)
    config, num_seeds = saved["config"], saved["num_seeds"]
    if not 0 <= seed_index < num_seeds:
        raise RunError(f"seed index {seed_index} out of range: the run has {num_seeds} seeds")
    trainer, expert = build(config)
    init = jax.vmap(trainer.init, in_axes=(0, None))
    abstract = jax.eval_shape(init, seed_keys(saved["seed"], num_seeds), expert)
    restored_epoch, state, _ = ckpt.restore(run_dir, abstract, epoch)  # onto one local device
    return RestoredRun(config, trainer, expert, restored_epoch, state)


def load_policy(run_dir: str | pathlib.Path, seed_index: int = 0, epoch: int | None = None):
    """The trained policy of one seed of a run, as a jittable ``policy(obs, key=None)``.

    ``obs`` is ``[..., O]``, the env's own observation (the absorbing flag, if the run
    used one, is added inside); ``key=None`` gives the deterministic action ``tanh(mean)``,
    a PRNG key a sample. Observation normalisation is applied inside.
    Returns ``(policy, config)``.
    """
    run = restore_run(run_dir, seed_index, epoch)
    return run.policy(seed_index), run.config
