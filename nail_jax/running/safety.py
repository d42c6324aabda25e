"""Runs that fail safely: divergence, stop signals and failed writes.

The driver (:func:`nail_jax.running.driver.run_training`) uses these so that an hours-long
run on a shared cluster ends in a known state:

- **Divergence.** After each epoch the gathered metrics, and whether each learned part of
  each seed's state is finite (:func:`nail_jax.training.trainer.learner_health`), are
  checked (:func:`find_divergence`). The first non-finite value stops the run with a
  :class:`DivergenceError`: that epoch's state is not saved, the last good checkpoint
  stays the latest.
- **Stop signals.** Within :class:`StopSignals`, a first SIGTERM or SIGINT lets the epoch in
  flight finish; the driver then checkpoints it and raises :class:`RunStopped`. A second
  one ends the process at once (exit ``128 + signal``), losing the epoch in flight only.
- **Failed writes.** A result file or checkpoint that cannot be written (disk full,
  permission) is a :class:`RunWriteError`; every write is atomic or cut back, so the files
  and checkpoints written before stay as they were.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import threading
from collections.abc import Iterator

import numpy as np

from nail_jax.running.run_dir import RunError
from nail_jax.training.trainer import EVALUATION_METRICS, METRIC_FLOW

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _resume_hint(run_dir) -> str:
    return f"nail-jax train --resume {shlex.quote(str(run_dir))}"


class RunWriteError(RunError):
    """A run's file or checkpoint could not be written (disk full, permission); the files
    and checkpoints written before it are kept as they were."""


class DivergenceError(RuntimeError):
    """Training diverged: a metric or a learned parameter of some seed is not finite.

    Attributes:
      epoch: the epoch (1-based) whose end showed it; its state was not saved.
      name: the first non-finite metric (in the order an iteration computes them), or the
        learned part (``policy_params``, ``q_params``, ...) when all metrics are finite.
      value: ``"nan"``, ``"inf"``, ``"-inf"``, or ``"not finite"`` for a learned part.
      seed: the first seed (``seed`` argument + index) where ``name`` is not finite;
        ``seed_index`` its index; ``seeds``: every seed with a non-finite value.
      environment: the learners are finite and only an evaluation's return is not: a live
        evaluation episode got a non-finite reward, the environment diverged.
      last_checkpoint: the latest checkpoint's epoch (``None``: there is none), in
        ``run_dir``.
      summary: the run's summary up to the epoch before (``summary.json``), set by the
        driver once written.
    """

    def __init__(self, epoch: int, name: str, value: str, seed: int, seed_index: int,
                 seeds: tuple[int, ...], environment: bool, last_checkpoint: int | None,
                 run_dir):
        self.epoch, self.name, self.value = epoch, name, value
        self.seed, self.seed_index, self.seeds = seed, seed_index, seeds
        self.environment, self.last_checkpoint, self.run_dir = environment, last_checkpoint, run_dir
        self.summary: dict | None = None
        cause = f"{name} is {value}, seed {seed}"
        if environment:
            cause += ("; the learners are finite: the environment gave a non-finite reward "
                      "in a live evaluation episode")
        if last_checkpoint is None:
            where = f"no checkpoint was saved before it in {run_dir}"
        else:
            where = f"the last good checkpoint is epoch {last_checkpoint} in {run_dir}"
        super().__init__(f"training diverged at epoch {epoch} ({cause}); {where}")

    def as_dict(self) -> dict:
        """The facts, JSON-able (``summary.json``'s ``diverged``)."""
        return {"epoch": self.epoch, "name": self.name, "value": self.value,
                "seed": self.seed, "seeds": list(self.seeds),
                "environment": self.environment, "last_checkpoint": self.last_checkpoint}


class RunStopped(Exception):
    """The run was stopped by a signal after checkpointing the epoch it was in.

    Attributes:
      signal_name, signum: the signal (``"SIGTERM"``, 15).
      epoch: the epoch checkpointed last; ``nail-jax train --resume run_dir`` continues
        from it, with the numbers of an uninterrupted run.
      exit_code: ``128 + signum``, what the command line exits with (143 for SIGTERM).
    """

    def __init__(self, signum: int, epoch: int, run_dir):
        self.signum, self.signal_name = signum, signal.Signals(signum).name
        self.epoch, self.run_dir, self.exit_code = epoch, run_dir, 128 + signum
        super().__init__(f"stopped by {self.signal_name} at epoch {epoch}; continue with: "
                         f"{_resume_hint(run_dir)}")


def _value_name(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _flow_rank(name: str) -> tuple[int, str]:
    for rank, prefix in enumerate(METRIC_FLOW):
        if name.startswith(prefix):
            return rank, name
    return len(METRIC_FLOW), name


def find_divergence(metrics: dict, health: dict, evaluated: bool, epoch: int, seed: int,
                    last_checkpoint: int | None, run_dir) -> DivergenceError | None:
    """The :class:`DivergenceError` an epoch's host-side values show, or ``None``.

    ``metrics``: ``{name: [S]}`` of ``run_epoch``; ``health``: ``{part: [S] bool}``
    (:func:`nail_jax.training.trainer.learner_health`); ``evaluated``: whether the epoch
    had an evaluation (else its evaluation metrics are ``nan`` by design and not looked
    at); ``seed``: the run's base seed. The first non-finite of: the training metrics in
    the order an iteration computes them, then the learned parts, then the evaluation
    metrics (and ``random_return``).
    """
    values = {k: np.asarray(v) for k, v in metrics.items()}
    floating = {k: v for k, v in values.items() if np.issubdtype(v.dtype, np.floating)}
    evaluation = [k for k in (*EVALUATION_METRICS, "random_return") if k in floating]
    training = sorted((k for k in floating if k not in evaluation), key=_flow_rank)
    bad_seeds = set()
    first = None  # (name, seed index, value, environment)
    checks = [(k, ~np.isfinite(floating[k]), False) for k in training]
    checks += [(k, ~np.asarray(ok, bool), False) for k, ok in health.items()]
    checks += [(k, ~np.isfinite(floating[k]), True) for k in evaluation
               if evaluated or k == "random_return"]
    for name, bad, from_env in checks:
        bad_seeds.update(np.flatnonzero(bad).tolist())
        if first is None and bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = _value_name(float(floating[name][i])) if name in floating else "not finite"
            first = (name, i, value, from_env)
    if first is None:
        return None
    name, index, value, from_env = first
    return DivergenceError(epoch, name, value, seed + index, index,
                           tuple(seed + i for i in sorted(bad_seeds)), from_env,
                           last_checkpoint, run_dir)


@contextlib.contextmanager
def writing(what: str, after: str = "") -> Iterator[None]:
    """Turns an ``OSError`` while writing ``what`` into a one-line :class:`RunWriteError`
    (``after`` is added to its message)."""
    try:
        yield
    except OSError as e:
        reason = f"{type(e).__name__}: {e.strerror or e}"
        raise RunWriteError(f"could not write {what} ({reason}){after}") from e


def _say(fd: int, line: str) -> None:
    """One line to ``fd``, unbuffered (from any thread, while the main one is busy)."""
    with contextlib.suppress(OSError):
        os.write(fd, (line + "\n").encode())


class StopSignals:
    """SIGTERM and SIGINT, caught for a run (a context manager; only in the main thread,
    elsewhere it does nothing).

    The first signal sets :attr:`signum` (the driver checks it at each epoch end with
    :meth:`stop_requested`, after that epoch's scheduled checkpoint) and
    writes one line to stderr at once: a watcher thread reads the signal from a wakeup
    pipe, so it is seen even while the main thread waits on a device computation. A second
    signal ends the process at once through ``os._exit(128 + signal)`` with one line on
    stderr, losing the epoch in flight; every file is written atomically (``metrics.jsonl``
    is cut back on resume, orbax discards an unfinished checkpoint), so the run resumes
    from its latest checkpoint. A signal that was ignored (``SIG_IGN``) stays ignored.
    Leaving the context puts the previous handlers back.
    """

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.signum: int | None = None
        self.epoch_in_flight = 0
        self._seen = 0
        self._lock = threading.Lock()
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._wakeup = -1
        self._stderr = 2

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        # A copy of stderr: a checkpoint save points fd 2 elsewhere for a while
        # (nail_jax.running.checkpoint.save), the notices must still be seen.
        self._stderr = os.dup(2)
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handler)
        threading.Thread(target=self._watch, args=(read,), daemon=True,
                         name="nail_jax stop signals").start()
        return self

    def stop_requested(self, next_epoch: int) -> bool:
        """Whether a stop signal came; if none has, one that comes from now on is for epoch
        ``next_epoch`` (the epoch its notice names)."""
        with self._lock:
            if self.signum is None:
                self.epoch_in_flight = next_epoch
                return False
            return True

    def _handler(self, signum, frame) -> None:  # in the main thread, maybe late
        # No lock: the main thread may be inside ``stop_requested``'s critical section
        # when Python runs this, and taking the lock there again would deadlock it. One
        # attribute write is atomic, and the watcher thread records the same signal.
        if self.signum is None:
            self.signum = signum

    def _watch(self, read: int) -> None:
        while True:
            try:
                data = os.read(read, 64)
            except OSError:
                return
            if not data:  # the write end was closed: the run left the context
                os.close(read)
                return
            for signum in data:
                if signum in self._previous:
                    self._received(signum)

    def _received(self, signum: int) -> None:
        with self._lock:
            self._seen += 1
            if self.signum is None:
                self.signum = signum
            seen, epoch = self._seen, self.epoch_in_flight
        name = signal.Signals(signum).name
        if seen == 1:
            _say(self._stderr, f"nail-jax: got {name}: finishing epoch {epoch} and saving a "
                               f"checkpoint of it (send it again to stop at once, losing epoch "
                               f"{epoch})")
            return
        _say(self._stderr, f"nail-jax: stopped at once by a second {name} in epoch {epoch}, "
                           f"which is lost; continue from the latest checkpoint with: "
                           f"{_resume_hint(self.run_dir)}")
        os._exit(128 + signum)

    def __exit__(self, *exc) -> None:
        if self._pipe is None:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        signal.set_wakeup_fd(self._wakeup)
        os.close(self._pipe[1])  # the watcher reads EOF, closes the read end and ends
        os.close(self._stderr)
        self._pipe, self._previous, self._stderr = None, {}, 2
