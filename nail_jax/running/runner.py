"""The training driver: many seeds in one program, logs, checkpoints and resume.

:func:`run_training` jits ``vmap(run_epoch)`` over seeds and loops over epochs in Python
only to log, show progress and checkpoint; the numbers equal those of the all-in-jit
``Trainer.train`` (tested). Seed ``i`` of a run started with ``seed=s`` uses the key
``PRNGKey(s + i)``, so any seed can be rerun alone with ``seed=s+i, num_seeds=1``.

A run is these steps, each a function here: :func:`resolve_run` (the arguments, or a
resumed run's ``config.json``, into a :class:`RunPlan`), :func:`build_functions` (trainer
and demonstrations, jitted and sharded), :func:`open_run_dir` (``config.json``),
:func:`restore_or_init` (the state to start from), :func:`train_epochs` (the epoch loop:
``metrics.jsonl``, checkpoints, progress) and :func:`finish` (``summary.json``). The run
directory's files are described in :mod:`nail_jax.running.run_dir`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nail_jax.files import write_json_atomic, write_jsonl_atomic
from nail_jax.running import checkpoint as ckpt
from nail_jax.running import parallel
from nail_jax.running.parallel import ShardedFunctions
from nail_jax.running.run_dir import (
    RunArgumentError,
    RunError,
    check_run_dir,
    load_run_config,
    prepare_run_dir,
    read_metrics,
    run_metric,
    summarize,
)
from nail_jax.training.config import TrainConfig, config_to_dict
from nail_jax.training.trainer import build


def _to_python(x) -> float | int:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return int(x)
    v = float(x)
    return v if math.isfinite(v) else None  # JSON has no NaN


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
    :mod:`nail_jax.running.parallel`); the numbers do not depend on the layout, so a run
    may resume on another device count. In a multi-host run only process 0 writes files
    (the other processes return ``{}``).

    Raises RunError (:class:`~nail_jax.running.run_dir.RunArgumentError` for a bad
    argument, named as here), ConfigError, DemoError, CheckpointError or DistributedError,
    all before anything is written when the input is bad.
    """
    plan = resolve_run(config, pathlib.Path(run_dir), num_seeds, seed, resume, overwrite,
                       checkpoint_every, keep_checkpoints, total_steps, command)
    # Everything that can fail on bad input (devices, env, demonstrations) fails here,
    # before the run directory is touched and before anything compiles.
    try:
        mesh = parallel.make_mesh(plan.num_seeds, devices, env_shards, plan.config.num_envs)
    except parallel.DistributedError as e:  # named as run_training's argument, ``devices``
        raise parallel.DistributedError(e.template, *e.arguments, **e.python_names,
                                        num_devices="devices") from None
    main = parallel.is_main_process()
    log = log if main else _silent
    fns = build_functions(plan, mesh)
    open_run_dir(plan, fns, overwrite, main, log)
    manager = ckpt.make_manager(plan.run_dir, keep=plan.keep_checkpoints)
    t_start = time.time()
    start_epoch, state, elapsed_before = restore_or_init(plan, fns, main, log)
    clock = _Clock(t_start, elapsed_before)
    save_times = train_epochs(plan, fns, manager, state, start_epoch, clock, main,
                              progress=progress, tensorboard=tensorboard)
    return finish(plan, manager, clock, save_times, main)


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """A run's settings, resolved from :func:`run_training` 's arguments or, on resume,
    from the run's ``config.json``.

    Attributes:
      run_dir: the run directory.
      config: the config trained (on resume: the saved one, ``total_steps`` maybe raised).
      num_seeds, seed: seeds and base seed.
      resume: whether the run continues from its latest checkpoint.
      checkpoint_every, keep_checkpoints: checkpoint cadence and how many are kept.
      run_info: what ``config.json`` holds (the device layout is added by
        :func:`open_run_dir`).
    """

    run_dir: pathlib.Path
    config: TrainConfig
    num_seeds: int
    seed: int
    resume: bool
    checkpoint_every: int
    keep_checkpoints: int
    run_info: dict


def resolve_run(config: TrainConfig | None, run_dir: pathlib.Path, num_seeds: int, seed: int,
                resume: bool, overwrite: bool, checkpoint_every: int | None,
                keep_checkpoints: int | None, total_steps: int | None,
                command: str | None) -> RunPlan:
    """Checks the arguments and the run directory (changing nothing); see :func:`run_training`."""
    if num_seeds < 1:
        raise RunArgumentError(f"{{num_seeds}} must be at least 1, got {num_seeds}",
                               "num_seeds")
    for name, value in (("checkpoint_every", checkpoint_every),
                        ("keep_checkpoints", keep_checkpoints)):
        if value is not None and value < 1:
            raise RunArgumentError(f"{{{name}}} must be at least 1, got {value}", name)
    if resume:
        saved = load_run_config(run_dir)
        config = saved["config"]
        if total_steps is not None:
            if total_steps < config.total_steps:
                raise RunArgumentError(
                    f"{{total_steps}} {total_steps} is below the run's {config.total_steps}; "
                    "a resumed run can only be extended", "total_steps")
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
    return RunPlan(run_dir, config, num_seeds, seed, resume, checkpoint_every,
                   keep_checkpoints, run_info)


def build_functions(plan: RunPlan, mesh) -> ShardedFunctions:
    """The trainer and demonstrations of ``plan.config``, jitted and sharded over ``mesh``."""
    trainer, demos = build(plan.config)
    return parallel.make_sharded_functions(trainer, demos, mesh,
                                           parallel.seed_keys(plan.seed, plan.num_seeds))


def open_run_dir(plan: RunPlan, fns: ShardedFunctions, overwrite: bool, main: bool,
                 log: Callable[[str], None]) -> None:
    """Creates the run directory of a new run (an old run moved aside with ``overwrite``)
    and writes ``config.json``, on process 0; every process waits for it."""
    run_info = {**plan.run_info, "layout": parallel.describe(fns.mesh)}
    parallel.barrier("checked run dir")
    if not plan.resume and main:
        moved = prepare_run_dir(plan.run_dir, overwrite)
        if moved:
            log(f"moved the previous run in {plan.run_dir} to {moved}")
    if main:
        write_json_atomic(plan.run_dir / "config.json", run_info)
    parallel.barrier("prepared run dir")


def restore_or_init(plan: RunPlan, fns: ShardedFunctions, main: bool,
                    log: Callable[[str], None]) -> tuple[int, Any, float]:
    """``(start_epoch, state, elapsed_before)``: a resumed run's latest checkpoint (its
    ``metrics.jsonl`` cut back to that epoch), or a new run's initial state."""
    run_dir, config, num_seeds = plan.run_dir, plan.config, plan.num_seeds
    if not plan.resume:
        state = fns.init(fns.keys, fns.demos)
        if main:
            write_jsonl_atomic(run_dir / "metrics.jsonl", [])
        log(f"training {config.algo} on {config.env} ({config.backend}) for "
            f"{config.total_steps} env steps x {num_seeds} seed(s), {config.num_epochs} epochs "
            f"on {parallel.describe(fns.mesh)} -> {run_dir}")
        return 0, state, 0.0
    # The seed count first, from the metadata alone: restoring arrays of another seed
    # count fails with an orbax shape message that does not say so.
    saved_epoch, meta = ckpt.read_meta(run_dir)
    if meta.get("num_seeds") != num_seeds:
        raise RunError(f"checkpoint {saved_epoch} in {ckpt.checkpoint_dir(run_dir)} holds "
                       f"{meta.get('num_seeds')} seed(s) but {run_dir}/config.json says "
                       f"{num_seeds}; restore config.json's num_seeds")
    start_epoch, state, meta = ckpt.restore(run_dir, fns.abstract_state,
                                            shardings=fns.shardings)
    kept = [r for r in read_metrics(run_dir) if r["epoch"] <= start_epoch]
    if main:
        write_jsonl_atomic(run_dir / "metrics.jsonl", kept)
    log(f"resuming {run_dir} from epoch {start_epoch} of {config.num_epochs}")
    return start_epoch, state, float(meta.get("elapsed", 0.0))


@dataclasses.dataclass(frozen=True)
class _Clock:
    """Wall time of a run: ``elapsed_before`` seconds in earlier processes, then since
    ``t_start``."""

    t_start: float
    elapsed_before: float

    def elapsed(self, now: float | None = None) -> float:
        return self.elapsed_before + (time.time() if now is None else now) - self.t_start


def epoch_records(metrics: dict, num_seeds: int, epoch: int, epoch_time: float,
                  elapsed: float) -> list[dict]:
    """One ``metrics.jsonl`` record per seed of an epoch's host-side ``metrics [S]``."""
    records = []
    for s in range(num_seeds):
        record = {"epoch": epoch, "seed": s}
        record.update({k: _to_python(v[s]) for k, v in metrics.items() if k not in ("epoch",)})
        record["epoch_time"] = epoch_time
        record["wall_time"] = elapsed
        records.append(record)
    return records


def train_epochs(plan: RunPlan, fns: ShardedFunctions, manager, state, start_epoch: int,
                 clock: _Clock, main: bool, progress: bool = True,
                 tensorboard: bool = False) -> list[float]:
    """Runs epochs ``start_epoch + 1 .. num_epochs``: appends their records to
    ``metrics.jsonl`` (and TensorBoard), checkpoints every ``plan.checkpoint_every`` epochs
    and at the last, shows progress. Returns the seconds each checkpoint save took."""
    config, run_dir = plan.config, plan.run_dir
    save_times: list[float] = []
    writers = _tensorboard_writers(run_dir, plan.num_seeds) if tensorboard and main else []
    metric_key = run_metric(config.algo)
    shown = math.nan
    metrics_file = run_dir / "metrics.jsonl" if main else os.devnull
    with (Progress(config.num_epochs, enabled=progress and main, start=start_epoch) as bar,
          open(metrics_file, "a") as out):
        for epoch in range(start_epoch, config.num_epochs):
            t0 = time.time()
            state, metrics = fns.run_epoch(state, fns.demos, fns.evaluates(epoch + 1))
            metrics = parallel.to_host(metrics)  # the only thing gathered
            now = time.time()
            elapsed = clock.elapsed(now)
            for record in epoch_records(metrics, plan.num_seeds, epoch + 1, now - t0,
                                        elapsed):
                out.write(json.dumps(record) + "\n")
                if writers:
                    _write_scalars(writers[record["seed"]], record)
            out.flush()
            done = epoch + 1
            if done % plan.checkpoint_every == 0 or done == config.num_epochs:
                t_save = time.time()
                ckpt.save(manager, done, state, {"num_seeds": plan.num_seeds, "elapsed": elapsed,
                                                 "config": config_to_dict(config),
                                                 "layout": parallel.describe(fns.mesh)})
                save_times.append(time.time() - t_save)
            if config.evaluates(done):  # else the bar keeps the last evaluation's value
                shown = np.nanmean(np.asarray(metrics[metric_key], np.float64))
            bar.update(done, f"steps {int(metrics['env_steps'][0])} {metric_key} {shown:.3f}",
                       elapsed)
    for writer in writers:
        writer.close()
    return save_times


def finish(plan: RunPlan, manager, clock: _Clock, save_times: list[float], main: bool) -> dict:
    """Closes the checkpoint manager and, on process 0, writes and returns ``summary.json``
    (``{}`` on the other processes)."""
    manager.close()
    checkpoint_bytes = ckpt.size_bytes(plan.run_dir)  # on every process: orbax syncs hosts
    if not main:
        return {}
    config = plan.config
    summary = summarize(read_metrics(plan.run_dir), config.algo, plan.num_seeds)
    summary.update({"algo": config.algo, "env": config.env, "backend": config.backend,
                    "num_seeds": plan.num_seeds, "seed": plan.seed,
                    "total_steps": config.total_steps,
                    "wall_time": clock.elapsed(),
                    "checkpoint_seconds_mean": float(np.mean(save_times)) if save_times else None,
                    "checkpoint_bytes": checkpoint_bytes})
    write_json_atomic(plan.run_dir / "summary.json", summary)
    return summary


def _silent(_: str) -> None:
    pass


def _tensorboard_writers(run_dir: pathlib.Path, num_seeds: int) -> list:
    from tensorboardX import SummaryWriter  # a brax dependency

    return [SummaryWriter(str(run_dir / "tensorboard" / f"seed_{s}")) for s in range(num_seeds)]


def _write_scalars(writer, record: dict) -> None:
    for key, value in record.items():
        if key not in ("epoch", "seed", "env_steps") and value is not None:
            writer.add_scalar(key, value, record["env_steps"])
