"""Spreading seeds (and envs) over devices and hosts with ``jax.sharding``; the run's jitted,
sharded functions (:func:`make_sharded_functions`).

A run's stacked train state has a leading seed axis ``[S, ...]``. :func:`make_mesh` lays
the devices out as a 2-D mesh ``('seed', 'env')``; :func:`state_shardings` shards every
leaf's seed axis over ``'seed'`` and, for one big run, the env axis of the training envs
(``TrainState.env``, ``[S, E, ...]``) over ``'env'``. Replay buffers and learner states
are sharded by seed and never gathered; only per-epoch metrics come back to the host.
The same jitted functions run on one CPU, eight GPUs or several hosts: sharding only
changes where the numbers live, not the numbers (up to float round-off; tested).

Several hosts: every process runs the same command; :func:`initialize` calls
``jax.distributed.initialize`` before anything touches a device, the mesh then spans all
processes' devices, and only process 0 writes logs (orbax coordinates the checkpoint).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nail_jax.checks import ArgumentError
from nail_jax.training.config import TrainConfig
from nail_jax.training.trainer import learner_health

SEED_AXIS, ENV_AXIS = "seed", "env"


class DistributedError(ArgumentError):
    """A device or host layout that cannot work (shown as a one-line error); it names the
    arguments of :func:`make_mesh` or :func:`host_config_from_env` that ask for it."""


@dataclasses.dataclass(frozen=True)
class HostConfig:
    """How this process joins a multi-host run (all ``None``: a single process)."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False


def host_config_from_env(coordinator: str | None = None, num_processes: int | None = None,
                         process_id: int | None = None, auto: bool = False,
                         environ: dict[str, str] | None = None) -> HostConfig:
    """Flags first, then ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``.

    Raises DistributedError for a launch that cannot work: several processes without a
    coordinator address or a process id, or a process id out of range.
    """
    environ = os.environ if environ is None else environ

    def from_env(name: str, value, cast):
        if value is not None or name not in environ:
            return value
        try:
            return cast(environ[name])
        except ValueError as e:
            raise DistributedError(f"environment variable {name}={environ[name]!r} is not "
                                   f"a valid {cast.__name__}") from e

    coordinator = from_env("JAX_COORDINATOR_ADDRESS", coordinator, str)
    num_processes = from_env("JAX_NUM_PROCESSES", num_processes, int)
    process_id = from_env("JAX_PROCESS_ID", process_id, int)
    if auto:
        return HostConfig(coordinator, num_processes, process_id, auto=True)
    if num_processes is None or num_processes == 1:
        if coordinator is not None and num_processes is None:
            raise DistributedError(
                f"a coordinator ({coordinator}) was given without the number of processes; "
                "pass {num_processes} N (or set JAX_NUM_PROCESSES)", "num_processes")
        return HostConfig()
    if num_processes < 1:
        raise DistributedError(f"{{num_processes}} must be at least 1, got {num_processes}",
                               "num_processes")
    if coordinator is None:
        raise DistributedError(
            f"a launch with {num_processes} processes needs the coordinator's address: pass "
            "{coordinator} HOST:PORT (process 0's host and a free port), or set "
            "JAX_COORDINATOR_ADDRESS", "coordinator")
    if process_id is None:
        raise DistributedError(
            f"a launch with {num_processes} processes needs each process's id: pass "
            "{process_id} I (0 on the coordinator's host), or set JAX_PROCESS_ID", "process_id")
    if not 0 <= process_id < num_processes:
        raise DistributedError(f"{{process_id}} {process_id} is out of range for "
                               f"{num_processes} processes (0..{num_processes - 1})", "process_id")
    return HostConfig(coordinator, num_processes, process_id)


def initialize(host: HostConfig) -> None:
    """Joins the multi-host runtime (nothing for a single process).

    Must run before any JAX computation in the process. With ``host.auto`` JAX detects
    the cluster itself (TPU pods, SLURM, Open MPI).
    """
    if host.auto or (host.num_processes or 1) > 1:
        jax.distributed.initialize(host.coordinator, host.num_processes, host.process_id)


def is_main_process() -> bool:
    """True on the process that writes logs and result files (process 0)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process gets here (nothing for a single process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"nail_jax: {name}")


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (``flag`` itself for a single process): every
    process gets the same answer, so all stop at the same epoch."""
    if jax.process_count() == 1:
        return bool(flag)
    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, bool))))


def choose_devices(num_seeds: int, available: int, env_shards: int = 1) -> int:
    """The default device count: the most devices (at most ``available``) that split
    ``num_seeds`` evenly, times ``env_shards``."""
    per_seed_group = max(available // env_shards, 1)
    groups = max(d for d in range(1, min(num_seeds, per_seed_group) + 1) if num_seeds % d == 0)
    return groups * env_shards


def make_mesh(num_seeds: int, num_devices: int | None = None, env_shards: int = 1,
              num_envs: int | None = None, devices: list | None = None) -> Mesh:
    """A ``('seed', 'env')`` mesh of ``num_devices // env_shards`` by ``env_shards`` devices.

    ``num_devices=None`` takes the most of all devices (across hosts) that split the seeds
    evenly (:func:`choose_devices`). Raises DistributedError, before anything compiles,
    when more devices are asked for than exist, when ``num_seeds`` does not divide over
    the seed axis, or when ``num_envs`` does not divide over ``env_shards``.
    """
    devices = jax.devices() if devices is None else devices
    available = len(devices)
    if env_shards < 1:
        raise DistributedError(f"{{env_shards}} must be at least 1, got {env_shards}", "env_shards")
    if num_devices is None:
        num_devices = choose_devices(num_seeds, available, env_shards)
    if num_devices < 1:
        raise DistributedError(f"{{num_devices}} must be at least 1, got {num_devices}",
                               "num_devices")
    if num_devices > available:
        kinds = sorted({d.platform for d in devices})
        raise DistributedError(
            f"{{num_devices}} {num_devices} asks for more devices than exist: {available} "
            f"{'/'.join(kinds)} device(s) in all; pass {{num_devices}} {available} or fewer",
            "num_devices")
    if num_devices % env_shards:
        raise DistributedError(f"{{num_devices}} {num_devices} does not split into "
                               f"{{env_shards}} {env_shards}; use a multiple of {env_shards}",
                               "num_devices", "env_shards")
    seed_devices = num_devices // env_shards
    if num_seeds % seed_devices:
        raise DistributedError(
            f"{num_seeds} seed(s) do not divide over {seed_devices} device(s); use a seed count "
            f"that is a multiple of {seed_devices}, or {{num_devices}} "
            f"{choose_devices(num_seeds, num_devices, env_shards)}", "num_devices")
    if num_envs is not None and num_envs % env_shards:
        raise DistributedError(f"num_envs {num_envs} does not divide over {{env_shards}} "
                               f"{env_shards}", "env_shards")
    grid = np.asarray(devices[:num_devices], dtype=object).reshape(seed_devices, env_shards)
    return Mesh(grid, (SEED_AXIS, ENV_AXIS))


def seed_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis over ``'seed'``, the rest replicated."""
    return NamedSharding(mesh, P(SEED_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def state_shardings(abstract_state: Any, mesh: Mesh, num_envs: int | None = None) -> Any:
    """A sharding for each leaf of a stacked ``[S, ...]`` train state.

    Every leaf is split along its seed axis; with an ``'env'`` mesh axis of size > 1,
    leaves of ``abstract_state.env`` shaped ``[S, num_envs, ...]`` are also split along
    the env axis. Scalars (none in a train state) are replicated.
    """
    by_seed = seed_sharding(mesh)
    rep = replicated(mesh)
    shardings = jax.tree.map(lambda x: by_seed if x.ndim else rep, abstract_state)
    if mesh.shape[ENV_AXIS] > 1 and num_envs is not None and hasattr(abstract_state, "env"):
        by_env = NamedSharding(mesh, P(SEED_AXIS, ENV_AXIS))
        env = jax.tree.map(
            lambda x: by_env if x.ndim >= 2 and x.shape[1] == num_envs else by_seed,
            abstract_state.env)
        shardings = shardings.replace(env=env)
    return shardings


def put(tree: Any, shardings: Any) -> Any:
    """Host arrays (identical on every process) -> global arrays with ``shardings``.

    ``shardings`` is one sharding or a tree of them matching ``tree``. Works across hosts:
    each process fills only its own devices' shards.
    """
    if isinstance(shardings, jax.sharding.Sharding):
        shardings = jax.tree.map(lambda _: shardings, tree)

    def one(x, sharding):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(one, tree, shardings)


def to_host(tree: Any) -> Any:
    """Global arrays -> numpy on every process (an all-gather across hosts)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def describe(mesh: Mesh) -> str:
    """``'4 cpu device(s) (mesh: seed 4 x env 1), 1 process(es)'``: a line for the log."""
    kinds = "/".join(sorted({d.platform for d in mesh.devices.flat}))
    return (f"{mesh.devices.size} {kinds} device(s) (mesh: seed {mesh.shape[SEED_AXIS]} x env "
            f"{mesh.shape[ENV_AXIS]}), {jax.process_count()} process(es)")


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """``[num_seeds]`` keys; seed ``i`` gets ``PRNGKey(seed + i)``."""
    return jax.vmap(jax.random.PRNGKey)(seed + np.arange(num_seeds))


@dataclasses.dataclass(frozen=True)
class ShardedFunctions:
    """A run's jitted functions and inputs laid out on a device mesh.

    Attributes:
      init: ``init(keys [S], pairs) -> TrainState [S, ...]`` sharded by ``shardings``.
      run_epoch: ``run_epoch(state, pairs, evaluate) -> (state, metrics [S])``; donates
        ``state``. ``evaluate``: a scalar bool (:meth:`ShardedFunctions.evaluates`,
        :meth:`ShardedFunctions.flag`).
      keys: ``[S]`` seed keys, sharded over ``'seed'``.
      pairs: the expert pairs, replicated on every device (``None`` for ``rl``).
      shardings: the train state's shardings (:func:`state_shardings`).
      abstract_state: shapes and dtypes of the stacked train state.
      config: the trainer's config.
      mesh: the device mesh.
      health: ``health(state) -> {part: [S] bool}``, whether each learned part of each
        seed's state is finite (:func:`nail_jax.training.trainer.learner_health`); call it
        before ``run_epoch`` donates ``state``.
    """

    init: Callable
    run_epoch: Callable
    keys: jax.Array
    pairs: Any
    shardings: Any
    abstract_state: Any
    config: TrainConfig
    mesh: Any
    health: Callable

    def evaluates(self, epoch: int) -> jax.Array:
        """``run_epoch``'s ``evaluate`` for epoch ``epoch`` (1-based), on every device."""
        return self.flag(self.config.evaluates(epoch))

    def flag(self, evaluate: bool) -> jax.Array:
        """``run_epoch``'s ``evaluate`` argument: ``evaluate`` on every device."""
        return put(np.asarray(evaluate), replicated(self.mesh))


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


def make_sharded_functions(trainer, pairs, mesh, keys) -> ShardedFunctions:
    """Map ``trainer`` 's ``init`` and ``run_epoch`` over seeds (:func:`over_seeds`), ``jit``
    them with the seed axis (and optionally envs) sharded over ``mesh``."""
    keys = put(np.asarray(keys), seed_sharding(mesh))
    pairs = None if pairs is None else put(jax.device_get(pairs), replicated(mesh))
    num_seeds = keys.shape[0]
    batched_init = over_seeds(trainer.init, num_seeds)
    abstract = jax.eval_shape(batched_init, keys, pairs)
    shardings = state_shardings(abstract, mesh, trainer.config.num_envs)
    by_seed = seed_sharding(mesh)
    init = jax.jit(batched_init, out_shardings=shardings)
    # The evaluate flag rides with the shared (unbatched) inputs, so it stays unbatched.
    batched_epoch = over_seeds(lambda state, shared: trainer.run_epoch(state, *shared),
                               num_seeds)
    run_epoch = jax.jit(lambda state, pairs, evaluate: batched_epoch(state, (pairs, evaluate)),
                        out_shardings=(shardings, by_seed), donate_argnums=0)
    batched_health = over_seeds(lambda state, _: learner_health(state), num_seeds)
    health = jax.jit(lambda state: batched_health(state, None), out_shardings=by_seed)
    return ShardedFunctions(init, run_epoch, keys, pairs, shardings, abstract,
                            trainer.config, mesh, health)
