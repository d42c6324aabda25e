"""Whole-run checkpoints with orbax: every seed's :class:`TrainState` plus run metadata.

A checkpoint directory ``DIR/checkpoints/<epoch>/`` holds the stacked ``[S, ...]`` train
state (policy, critics, targets, temperature, discriminator, optimiser states, normaliser,
``pi_ref``, replay buffer, env states, keys, counters) and a JSON ``meta`` item (the config,
the number of seeds, elapsed wall time). Orbax writes each checkpoint into a temporary
directory and renames it when complete, so a run killed during a save keeps its previous
checkpoint. Sharded states are saved shard by shard (each host writes its own shards in a
multi-host run) and can be restored onto any device layout that splits the seeds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import flax.struct
import jax
import orbax.checkpoint as ocp

from nail_jax.learners.sac import SACState


class CheckpointError(RuntimeError):
    """A missing, incompatible or unreadable checkpoint."""


def checkpoint_dir(run_dir: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(run_dir).resolve() / "checkpoints"


def make_manager(run_dir: str | pathlib.Path, keep: int = 3,
                 read_only: bool = False) -> ocp.CheckpointManager:
    """A synchronous manager keeping the ``keep`` most recent checkpoints of a run.

    A ``read_only`` manager is given the settings orbax would otherwise override, one
    logged warning each (no saving, no pruning, no creating)."""
    if not read_only:
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, create=True)
        return ocp.CheckpointManager(checkpoint_dir(run_dir), options=options,
                                     item_names=("state", "meta"))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None, save_interval_steps=0, enable_async_checkpointing=False,
        create=False, read_only=True)
    # Orbax also logs "Given directory is read only" for every read-only manager; that is
    # what was asked for, so that one record is dropped (others pass).
    absl_logger = logging.getLogger("absl")
    absl_logger.addFilter(_drop_read_only_notice)
    try:
        return ocp.CheckpointManager(checkpoint_dir(run_dir), options=options,
                                     item_names=("state", "meta"))
    finally:
        absl_logger.removeFilter(_drop_read_only_notice)


def _drop_read_only_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Given directory is read only")


@contextlib.contextmanager
def _holding_stderr() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file inside the context; what was written
    there is passed on to stderr after a success and dropped after an exception.

    On a failed write (a full disk) orbax's writer threads each log the exception the save
    then raises, with a traceback, and tensorstore's callbacks print more ("Event loop is
    closed") for a moment after it; the caller reports the exception in one line."""
    sys.stderr.flush()
    real = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            if not ok:
                time.sleep(0.5)  # the other writer threads fail and print too
            sys.stderr.flush()
            os.dup2(real, 2)
            os.close(real)
            if ok:
                held.seek(0)
                text = held.read().decode(errors="replace")
                if text:
                    sys.stderr.write(text)
                    sys.stderr.flush()


def save(manager: ocp.CheckpointManager, epoch: int, state: Any, meta: dict) -> None:
    """Saves ``state`` (any pytree of arrays) and JSON ``meta`` as checkpoint ``epoch``.

    A failed write (a full disk: tensorstore's ``ValueError: RESOURCE_EXHAUSTED ...``)
    raises here, the checkpoints saved before untouched; the tracebacks orbax and
    tensorstore print of that same failure from their threads are dropped (see
    :func:`_holding_stderr`)."""
    with _holding_stderr():
        manager.save(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
        manager.wait_until_finished()


def discard_unfinished(run_dir: str | pathlib.Path, epoch: int) -> None:
    """Removes what a failed save of checkpoint ``epoch`` left behind (orbax's temporary
    directory), freeing its space; complete checkpoints are never touched."""
    for path in checkpoint_dir(run_dir).glob(f"{epoch}.orbax-checkpoint-tmp*"):
        shutil.rmtree(path, ignore_errors=True)


def latest_epoch(run_dir: str | pathlib.Path) -> int | None:
    """The newest complete checkpoint's epoch, or ``None`` when there is none."""
    if not checkpoint_dir(run_dir).is_dir():
        return None
    manager = make_manager(run_dir, read_only=True)
    try:
        return manager.latest_step()
    finally:
        manager.close()


def restore(run_dir: str | pathlib.Path, abstract_state: Any, epoch: int | None = None,
            shardings: Any = None) -> tuple[int, Any, dict]:
    """``(epoch, state, meta)``; ``abstract_state`` gives the expected structure and shapes.

    The arrays are placed by ``shardings`` (a tree matching ``abstract_state``), or on the
    first local device when ``None``, whatever layout they were saved from: a run saved
    on 4 devices restores onto 1 or 2.

    Raises CheckpointError when there is no checkpoint, when its arrays do not match the
    expected structure (a different env, network size or seed count), or when it is corrupt.
    """
    if not checkpoint_dir(run_dir).is_dir():
        raise CheckpointError(f"no checkpoint in {checkpoint_dir(run_dir)}")
    if shardings is None:
        shardings = jax.tree.map(
            lambda _: jax.sharding.SingleDeviceSharding(jax.local_devices()[0]), abstract_state)
    target = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                          abstract_state, shardings)

    def items(target):
        return {"state": ocp.args.StandardRestore(target), "meta": ocp.args.JsonRestore()}

    try:
        epoch, restored = _restore_items(run_dir, epoch, items(target),
                                         "does not match this run or is corrupt")
    except CheckpointError as error:
        if not _has_empty_soft(target):
            raise
        try:  # a checkpoint written before SACState had its ``soft`` field
            epoch, restored = _restore_items(run_dir, epoch, items(_before_soft(target)), "")
        except CheckpointError:
            raise error from None
        restored = {**restored, "state": _with_soft(restored["state"])}
    state = restored["state"]
    expected = jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), target)
    got = jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), state)
    if expected != got:
        raise CheckpointError(
            f"checkpoint {epoch} in {checkpoint_dir(run_dir)} has different array shapes than "
            "this run expects (different env, network sizes or seed count)")
    return epoch, state, dict(restored["meta"])


@flax.struct.dataclass
class _SACStateBeforeSoft:
    """SACState's layout in checkpoints written before its ``soft`` field (2026-12-07)."""

    policy_params: Any
    policy_opt_state: Any
    q_params: Any
    q_opt_state: Any
    target_q_params: Any
    log_alpha: Any
    alpha_opt_state: Any
    normalizer: Any
    reference: Any
    steps: Any


def _is_sac_state(x) -> bool:
    return isinstance(x, (SACState, _SACStateBeforeSoft))


def _has_empty_soft(tree) -> bool:
    """Whether ``tree`` holds an SACState without a learned soft term (only such a state
    can have been written before the field existed)."""
    states = [x for x in jax.tree.leaves(tree, is_leaf=_is_sac_state) if _is_sac_state(x)]
    return bool(states) and all(isinstance(x, SACState) and x.soft is None for x in states)


def _before_soft(tree):
    """``tree`` with each SACState in the layout of :class:`_SACStateBeforeSoft`."""
    return jax.tree.map(
        lambda x: _SACStateBeforeSoft(**{k: getattr(x, k) for k in
                                         _SACStateBeforeSoft.__dataclass_fields__})
        if isinstance(x, SACState) else x, tree, is_leaf=_is_sac_state)


def _with_soft(tree):
    """The inverse of :func:`_before_soft`: each old-layout state as an SACState, ``soft=None``."""
    return jax.tree.map(
        lambda x: SACState(**{k: getattr(x, k) for k in _SACStateBeforeSoft.__dataclass_fields__},
                           soft=None) if isinstance(x, _SACStateBeforeSoft) else x,
        tree, is_leaf=_is_sac_state)


def read_meta(run_dir: str | pathlib.Path, epoch: int | None = None) -> tuple[int, dict]:
    """``(epoch, meta)`` of checkpoint ``epoch`` (default: the latest), without its arrays.

    Raises CheckpointError when there is no such checkpoint or its ``meta`` is unreadable.
    """
    if not checkpoint_dir(run_dir).is_dir():
        raise CheckpointError(f"no checkpoint in {checkpoint_dir(run_dir)}")
    epoch, restored = _restore_items(run_dir, epoch, {"meta": ocp.args.JsonRestore()},
                                     "has no readable metadata")
    return epoch, dict(restored["meta"])


def _restore_items(run_dir, epoch: int | None, items: dict, problem: str) -> tuple[int, Any]:
    """Restores the named orbax ``items`` of checkpoint ``epoch`` (default: the latest);
    a failure is a CheckpointError saying ``problem`` and orbax's first line."""
    manager = make_manager(run_dir, read_only=True)
    try:
        epoch = _pick_epoch(manager, run_dir, epoch)
        try:
            return epoch, manager.restore(epoch, args=ocp.args.Composite(**items))
        except Exception as e:  # orbax raises ValueError, KeyError, FileNotFoundError, ...
            raise CheckpointError(
                f"checkpoint {epoch} in {checkpoint_dir(run_dir)} {problem} "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    finally:
        manager.close()


def _pick_epoch(manager: ocp.CheckpointManager, run_dir, epoch: int | None) -> int:
    """``epoch``, or the latest when ``None``, after checking ``manager`` keeps it."""
    kept = sorted(manager.all_steps())
    if not kept:
        raise CheckpointError(f"no checkpoint in {checkpoint_dir(run_dir)}")
    if epoch is None:
        return kept[-1]
    if epoch not in kept:
        raise CheckpointError(f"no checkpoint of epoch {epoch} in {checkpoint_dir(run_dir)}; "
                              f"it keeps epochs {', '.join(map(str, kept))}")
    return epoch


def size_bytes(run_dir: str | pathlib.Path, epoch: int | None = None) -> int | None:
    """Bytes on disk of one checkpoint (the latest by default), or ``None`` without one."""
    epoch = latest_epoch(run_dir) if epoch is None else epoch
    if epoch is None:
        return None
    path = checkpoint_dir(run_dir) / str(epoch)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
