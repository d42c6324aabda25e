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
directory's files are described in :mod:`nail_jax.running.run_dir`; how a run fails
safely (divergence, stop signals, failed writes) in :mod:`nail_jax.running.safety`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import pathlib
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nail_jax.algorithms import ALGORITHMS
from nail_jax.data.run_demos import RECORD_KEYS
from nail_jax.files import write_json_atomic, write_jsonl_atomic
from nail_jax.running import checkpoint as ckpt
from nail_jax.running import parallel
from nail_jax.running.parallel import ShardedFunctions
from nail_jax.running.run_dir import (
    RunArgumentError,
    RunError,
    check_run_dir,
    demos_fingerprint,
    load_run_config,
    prepare_run_dir,
    read_metrics,
    run_metric,
    summarize,
)
from nail_jax.running.safety import (
    DivergenceError,
    RunStopped,
    RunWriteError,
    StopSignals,
    find_divergence,
    writing,
)
from nail_jax.training.config import TrainConfig, config_to_dict
from nail_jax.training.trainer import build


def _to_python(x) -> float | int:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return int(x)
    v = float(x)
    return v if math.isfinite(v) else None  # JSON has no NaN


def _silent(_: str) -> None:
    pass


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
    allow_changed_demos: bool = False,
    handle_signals: bool = True,
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

    The demonstration file's SHA-256 is kept in ``config.json``; a resumed run whose file
    has changed is refused unless ``allow_changed_demos``. With ``handle_signals`` (in the
    main thread) a SIGTERM or SIGINT lets the epoch in flight finish, checkpoints it and
    raises :class:`~nail_jax.running.safety.RunStopped`; a second one ends the process at
    once (:class:`~nail_jax.running.safety.StopSignals`).

    Raises RunError (:class:`~nail_jax.running.run_dir.RunArgumentError` for a bad
    argument, named as here), ConfigError, DemoError, CheckpointError or DistributedError,
    all before anything is written when the input is bad; after that
    :class:`~nail_jax.running.safety.DivergenceError` when a metric or learned parameter
    is not finite (that epoch is not saved; ``summary.json`` holds the epochs before),
    ``RunStopped``, or :class:`~nail_jax.running.safety.RunWriteError` when a file or
    checkpoint cannot be written (those written before are kept).
    """
    plan = resolve_run(config, pathlib.Path(run_dir), num_seeds, seed, resume, overwrite,
                       checkpoint_every, keep_checkpoints, total_steps, command,
                       allow_changed_demos)
    # Everything that can fail on bad input (devices, env, demonstrations) fails here,
    # before the run directory is touched and before anything compiles.
    try:
        mesh = parallel.make_mesh(plan.num_seeds, devices, env_shards, plan.config.num_envs)
    except parallel.DistributedError as e:  # named as run_training's argument, ``devices``
        raise parallel.DistributedError(e.template, *e.arguments, **e.python_names,
                                        num_devices="devices") from None
    main = parallel.is_main_process()
    log = log if main else _silent
    for note in plan.notes:
        log(note)
    fns, demos_record = build_functions(plan, mesh)
    plan, note = record_expert_return(plan, demos_record)
    if note:
        log(note)
    open_run_dir(plan, fns, overwrite, main, log)
    manager = ckpt.make_manager(plan.run_dir, keep=plan.keep_checkpoints)
    t_start = time.time()
    save_times: list[float] = []
    try:
        start_epoch, state, elapsed_before = restore_or_init(plan, fns, main, log)
        clock = _Clock(t_start, elapsed_before)
        signals = StopSignals(plan.run_dir) if handle_signals else None
        with signals or contextlib.nullcontext():
            train_epochs(plan, fns, manager, state, start_epoch, clock, main,
                         progress=progress, tensorboard=tensorboard, signals=signals,
                         save_times=save_times, log=log)
    except DivergenceError as e:
        e.summary = finish(plan, manager, clock, save_times, main, diverged=e)
        raise
    except BaseException:
        manager.close()
        raise
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
        :func:`open_run_dir`), with the demonstration file and its SHA-256
        (``demos_file``, ``demos_sha256``) for ``nail`` and ``ail``.
      notes: lines for the log (e.g. a resumed run whose demonstrations were not
        fingerprinted).
    """

    run_dir: pathlib.Path
    config: TrainConfig
    num_seeds: int
    seed: int
    resume: bool
    checkpoint_every: int
    keep_checkpoints: int
    run_info: dict
    notes: tuple[str, ...] = ()


def check_demos(saved: dict, config: TrainConfig, allow_changed: bool) -> tuple[dict, list[str]]:
    """``(config.json updates, notes)`` for resuming the run of ``saved`` (its
    ``config.json``) on the demonstrations as they are now.

    Raises RunArgumentError when the file's SHA-256 is not the recorded one, unless
    ``allow_changed``; then the new one is recorded (the old in ``demos_sha256_earlier``).
    A run from before fingerprints were kept resumes with a note, and gets one.
    """
    now = demos_fingerprint(config)
    if not now:
        return {}, []
    recorded = saved.get("demos_sha256")
    if recorded is None:
        return now, [f"note: {config.demos!r} has no recorded fingerprint in config.json (a "
                     f"run from before they were kept); resuming on {now['demos_file']} as "
                     f"it is now, sha256 {now['demos_sha256']}, recorded from here on"]
    if recorded == now["demos_sha256"]:
        return now, []
    change = (f"the demonstrations {now['demos_file']} changed since the run started: sha256 "
              f"{now['demos_sha256']}, but config.json recorded {recorded}")
    if not allow_changed:
        raise RunArgumentError(
            f"{change}; restore the file the run trained on, or pass {{allow_changed_demos}} "
            "to continue on the new data on purpose", "allow_changed_demos",
            allow_changed_demos="allow_changed_demos=True")
    earlier = [*saved.get("demos_sha256_earlier", []), recorded]
    return {**now, "demos_sha256_earlier": earlier}, [f"note: {change}; continuing on the "
                                                      "new data (allow_changed_demos)"]


def resolve_run(config: TrainConfig | None, run_dir: pathlib.Path, num_seeds: int, seed: int,
                resume: bool, overwrite: bool, checkpoint_every: int | None,
                keep_checkpoints: int | None, total_steps: int | None,
                command: str | None, allow_changed_demos: bool = False) -> RunPlan:
    """Checks the arguments, the run directory and, on resume, the demonstrations'
    fingerprint (changing nothing); see :func:`run_training`."""
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
        demos, notes = check_demos(saved, config, allow_changed_demos)
        run_info = {**saved, "config": config_to_dict(config),
                    "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
                    "resumed_with": [*saved.get("resumed_with", []), command], **demos}
    else:
        check_run_dir(run_dir, overwrite)
        checkpoint_every, keep_checkpoints = checkpoint_every or 1, keep_checkpoints or 2
        run_info = {"config": config_to_dict(config), "num_seeds": num_seeds, "seed": seed,
                    "checkpoint_every": checkpoint_every, "keep_checkpoints": keep_checkpoints,
                    "command": command, **demos_fingerprint(config)}
        notes = []
    return RunPlan(run_dir, config, num_seeds, seed, resume, checkpoint_every,
                   keep_checkpoints, run_info, tuple(notes))


def build_functions(plan: RunPlan, mesh) -> tuple[ShardedFunctions, dict]:
    """The trainer and demonstrations of ``plan.config``, jitted and sharded over ``mesh``,
    and what the run records of the demonstrations' returns (``Trainer.demos_record``)."""
    trainer, pairs = build(plan.config)
    fns = parallel.make_sharded_functions(trainer, pairs, mesh,
                                          parallel.seed_keys(plan.seed, plan.num_seeds))
    return fns, trainer.demos_record


def record_expert_return(plan: RunPlan, demos_record: dict) -> tuple[RunPlan, str | None]:
    """``plan`` with ``demos_record`` (the score's expert return, from the episodes trained
    on, and the file's) in its ``config.json``, and a note for a resumed run from before
    the score used the episodes trained on: its earlier epochs' scores used the file's
    expert return (their ``eval_return`` and ``random_return`` are logged, so they can be
    rescored), the epochs from here the episodes'."""
    note = None
    if (plan.resume and demos_record and "expert_return" not in plan.run_info
            and demos_record["expert_return"] != demos_record["expert_return_file"]):
        note = (f"note: this run began before the score's expert return was that of the "
                f"{demos_record['demo_episodes']} episodes trained on; its earlier epochs "
                f"were scored with the file's {demos_record['expert_return_file']:.6g}, the "
                f"epochs from here with the episodes' {demos_record['expert_return']:.6g}")
    run_info = {**plan.run_info, **demos_record}
    return dataclasses.replace(plan, run_info=run_info), note


def open_run_dir(plan: RunPlan, fns: ShardedFunctions, overwrite: bool, main: bool,
                 log: Callable[[str], None]) -> None:
    """Creates the run directory of a new run (an old run moved aside with ``overwrite``)
    and writes ``config.json``, on process 0; every process waits for it."""
    run_info = {**plan.run_info, "layout": parallel.describe(fns.mesh)}
    parallel.barrier("checked run dir")
    if not plan.resume and main:
        with writing(f"the run directory {plan.run_dir}"):
            moved = prepare_run_dir(plan.run_dir, overwrite)
        if moved:
            log(f"moved the previous run in {plan.run_dir} to {moved}")
    if main:
        with writing(f"{plan.run_dir / 'config.json'}", "; the run's files are as they were"):
            write_json_atomic(plan.run_dir / "config.json", run_info)
    parallel.barrier("prepared run dir")


def restore_or_init(plan: RunPlan, fns: ShardedFunctions, main: bool,
                    log: Callable[[str], None]) -> tuple[int, Any, float]:
    """``(start_epoch, state, elapsed_before)``: a resumed run's latest checkpoint (its
    ``metrics.jsonl`` cut back to that epoch), or a new run's initial state."""
    run_dir, config, num_seeds = plan.run_dir, plan.config, plan.num_seeds
    if not plan.resume:
        state = fns.init(fns.keys, fns.pairs)
        if main:
            with writing(f"{run_dir / 'metrics.jsonl'}"):
                write_jsonl_atomic(run_dir / "metrics.jsonl", [])
        log(f"training {config.algo} on {config.env} ({config.backend}) for "
            f"{config.budget()} x {num_seeds} seed(s), {config.num_epochs} epochs "
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
        with writing(f"{run_dir / 'metrics.jsonl'}", "; the run's files are as they were"):
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
                 tensorboard: bool = False, signals: StopSignals | None = None,
                 save_times: list[float] | None = None,
                 log: Callable[[str], None] = _silent) -> list[float]:
    """Runs epochs ``start_epoch + 1 .. num_epochs``: appends their records to
    ``metrics.jsonl`` (and TensorBoard), checkpoints every ``plan.checkpoint_every`` epochs
    and at the last, shows progress. Returns the seconds each checkpoint save took (also
    appended to ``save_times``).

    After each epoch's records: a non-finite metric or learned part raises
    :class:`DivergenceError` (that epoch is not saved); a stop signal seen by ``signals``
    checkpoints the epoch and raises :class:`RunStopped` (but the last: the run finishes);
    a failed write raises :class:`RunWriteError`.
    """
    config, run_dir = plan.config, plan.run_dir
    save_times = [] if save_times is None else save_times
    writers = _tensorboard_writers(run_dir, plan.num_seeds) if tensorboard and main else []
    metric_key = run_metric(config.algo)
    shown = math.nan
    metrics_path = run_dir / "metrics.jsonl"
    fd = os.open(metrics_path, os.O_WRONLY | os.O_APPEND) if main else None
    if signals is not None:
        signals.epoch_in_flight = start_epoch + 1
    try:
        with Progress(config.num_epochs, enabled=progress and main, start=start_epoch) as bar:
            for epoch in range(start_epoch, config.num_epochs):
                done = epoch + 1
                t0 = time.time()
                state, metrics = fns.run_epoch(state, fns.pairs, fns.evaluates(done))
                # The only things gathered: the metrics and one flag per learned part.
                metrics, health = parallel.to_host((metrics, fns.health(state)))
                now = time.time()
                elapsed = clock.elapsed(now)
                records = epoch_records(metrics, plan.num_seeds, done, now - t0, elapsed)
                if fd is not None:
                    _append_records(fd, records, metrics_path)
                for record in records if writers else ():
                    _write_scalars(writers[record["seed"]], record)
                diverged = find_divergence(metrics, health, bool(config.evaluates(done)), done,
                                           plan.seed, manager.latest_step(), run_dir)
                if diverged is not None:
                    raise diverged
                saved = done % plan.checkpoint_every == 0 or done == config.num_epochs
                if saved:
                    t_save = time.time()
                    _save_checkpoint(plan, fns, manager, done, state, elapsed, main)
                    save_times.append(time.time() - t_save)
                # After the save: a signal that came during it stops the run here too.
                stopping = signals is not None and parallel.any_process(
                    signals.stop_requested(done + 1))
                if stopping and not saved:
                    t_save = time.time()
                    _save_checkpoint(plan, fns, manager, done, state, elapsed, main)
                    save_times.append(time.time() - t_save)
                if config.evaluates(done):  # else the bar keeps the last evaluation's value
                    shown = np.nanmean(np.asarray(metrics[metric_key], np.float64))
                steps = metrics["env_steps" if ALGORITHMS[config.algo].steps_envs else "grad_steps"]
                bar.update(done, f"steps {int(steps[0])} {metric_key} "
                                 f"{shown:.3f}", elapsed)
                if stopping and done < config.num_epochs:
                    raise RunStopped(signals.signum or signal.SIGTERM, done, run_dir)
                if stopping:
                    log(f"nail-jax: the stop signal came in the last epoch ({done}); the run "
                        "is complete")
    finally:
        if fd is not None:
            os.close(fd)
        for writer in writers:
            writer.close()
    return save_times


def _append_records(fd: int, records: list[dict], path: pathlib.Path) -> None:
    """Appends ``records`` as JSON lines to the file open as ``fd`` (``O_APPEND``); a
    failed write is cut back to the records before and raises RunWriteError."""
    data = memoryview("".join(json.dumps(r) + "\n" for r in records).encode())
    size = os.fstat(fd).st_size
    try:
        with writing(f"{path}", "; its earlier records are kept"):
            while data:
                data = data[os.write(fd, data):]
    except RunWriteError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _save_checkpoint(plan: RunPlan, fns: ShardedFunctions, manager, epoch: int, state,
                     elapsed: float, main: bool) -> None:
    """Saves checkpoint ``epoch``; a failed save raises RunWriteError, its unfinished
    directory removed and the earlier checkpoints kept."""
    try:
        ckpt.save(manager, epoch, state, {"num_seeds": plan.num_seeds, "elapsed": elapsed,
                                          "config": config_to_dict(plan.config),
                                          "layout": parallel.describe(fns.mesh)})
    except Exception as e:  # orbax and tensorstore raise OSError, ValueError, ... on a full disk
        if main:
            ckpt.discard_unfinished(plan.run_dir, epoch)
        latest = ckpt.latest_epoch(plan.run_dir)
        kept = (f"the earlier checkpoints are kept (latest: epoch {latest}); continue after "
                f"fixing it with: nail-jax train --resume {plan.run_dir}" if latest is not None
                else "no earlier checkpoint was saved")
        first = str(e).splitlines()[0] if str(e) else ""
        raise RunWriteError(f"could not save checkpoint {epoch} in "
                            f"{ckpt.checkpoint_dir(plan.run_dir)} ({type(e).__name__}: "
                            f"{first}); {kept}") from e


def finish(plan: RunPlan, manager, clock: _Clock, save_times: list[float], main: bool,
           diverged: DivergenceError | None = None) -> dict:
    """Closes the checkpoint manager and, on process 0, writes and returns ``summary.json``
    (``{}`` on the other processes). After a divergence it summarises the epochs before
    it, and ``diverged`` says what diverged where (:meth:`DivergenceError.as_dict`)."""
    manager.close()
    checkpoint_bytes = ckpt.size_bytes(plan.run_dir)  # on every process: orbax syncs hosts
    if not main:
        return {}
    config = plan.config
    records = read_metrics(plan.run_dir)
    if diverged is not None:
        records = [r for r in records if r["epoch"] < diverged.epoch]
    summary = summarize(records, config.algo, plan.num_seeds)
    summary.update({"algo": config.algo, "env": config.env, "backend": config.backend,
                    "num_seeds": plan.num_seeds, "seed": plan.seed,
                    "total_steps": config.total_steps, "budget": config.budget(),
                    "wall_time": clock.elapsed(),
                    "checkpoint_seconds_mean": float(np.mean(save_times)) if save_times else None,
                    "checkpoint_bytes": checkpoint_bytes,
                    **{k: plan.run_info[k] for k in RECORD_KEYS if k in plan.run_info}})
    if diverged is not None:
        summary["diverged"] = diverged.as_dict()
    with writing(f"{plan.run_dir / 'summary.json'}",
                 "; the run's other files and its checkpoints are kept"):
        write_json_atomic(plan.run_dir / "summary.json", summary)
    return summary


def _tensorboard_writers(run_dir: pathlib.Path, num_seeds: int) -> list:
    from tensorboardX import SummaryWriter  # a brax dependency

    return [SummaryWriter(str(run_dir / "tensorboard" / f"seed_{s}")) for s in range(num_seeds)]


def _write_scalars(writer, record: dict) -> None:
    for key, value in record.items():
        if key not in ("epoch", "seed", "env_steps") and value is not None:
            writer.add_scalar(key, value, record["env_steps"])
