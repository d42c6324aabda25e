"""An on-device, fixed-capacity ring buffer as pure functions over a pytree state.

Items are any pytree (e.g. :class:`nail_jax.types.Transition`) whose leaves get a
leading ``[capacity]`` axis. Inserting writes in place with ``.at[].set`` (no
``roll``), so jitting ``add`` with ``donate_argnums=0`` updates the buffer without a
copy. All functions are vmappable: a ``[S, capacity, ...]`` state holds one buffer
per seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import flax.struct
import jax
import jax.numpy as jnp

from nail_jax.checks import check_shape


@flax.struct.dataclass
class ReplayState:
    """Buffer contents and write cursor.

    Attributes:
      data: pytree of ``[capacity, ...]`` arrays.
      position: ``[]`` int32 index the next item is written to.
      size: ``[]`` int32 number of valid items (``<= capacity``).
    """

    data: Any
    position: jax.Array
    size: jax.Array


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Pure ring-buffer functions (flashbax-style).

    Attributes:
      capacity: maximum number of items.
      sample_batch_size: default number of items returned by ``sample``.
      init: ``init(example_item) -> ReplayState``; ``example_item`` is one unbatched item.
      add: ``add(state, items) -> state``; ``items`` has a leading ``[B]`` axis, ``B <= capacity``.
      sample: ``sample(state, key, batch_size=None, window=None) -> items [batch_size, ...]``:
        uniform over the ``window`` most recent insertions (all valid items when
        ``None``; ``window`` may be a traced integer). The buffer must not be empty.
      can_sample: ``can_sample(state, min_size) -> bool[]``.
    """

    capacity: int
    sample_batch_size: int
    init: Callable[[Any], ReplayState]
    add: Callable[[ReplayState, Any], ReplayState]
    sample: Callable[..., Any]
    can_sample: Callable[[ReplayState, int], jax.Array]


def make_replay_buffer(capacity: int, sample_batch_size: int) -> ReplayBuffer:
    """Builds a ring buffer of ``capacity`` items sampling ``sample_batch_size`` at a time."""
    if capacity <= 0 or sample_batch_size <= 0:
        raise ValueError(
            f"capacity and sample_batch_size must be positive, got {capacity} and "
            f"{sample_batch_size}"
        )

    def init(example_item) -> ReplayState:
        data = jax.tree.map(
            lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example_item
        )
        return ReplayState(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def add(state: ReplayState, items) -> ReplayState:
        leaves = jax.tree.leaves(items)
        n = leaves[0].shape[0]
        if n > capacity:
            raise ValueError(f"cannot add {n} items at once to a buffer of capacity {capacity}")
        chex.assert_trees_all_equal_structs(items, state.data)
        jax.tree_util.tree_map_with_path(
            lambda path, x, d: check_shape(
                x, (n, *d.shape[1:]), "items" + jax.tree_util.keystr(path)),
            items, state.data,
        )
        idx = (state.position + jnp.arange(n)) % capacity
        data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), state.data, items)
        return ReplayState(
            data=data,
            position=(state.position + n) % capacity,
            size=jnp.minimum(state.size + n, capacity),
        )

    def sample(state: ReplayState, key: jax.Array, batch_size: int | None = None,
               window: jax.Array | int | None = None):
        batch_size = sample_batch_size if batch_size is None else batch_size
        n = state.size if window is None else jnp.clip(window, 1, state.size)
        offset = jax.random.randint(key, (batch_size,), 0, jnp.maximum(n, 1))
        idx = (state.position - 1 - offset) % capacity
        return jax.tree.map(lambda d: d[idx], state.data)

    def can_sample(state: ReplayState, min_size: int) -> jax.Array:
        return state.size >= min_size

    return ReplayBuffer(capacity, sample_batch_size, init, add, sample, can_sample)
