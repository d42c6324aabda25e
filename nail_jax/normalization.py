"""Running mean / standard deviation of observations, as a pure pytree state.

The statistics are merged with Chan et al.'s parallel update, so adding a batch
of ``B`` observations at once gives the same result as adding them one by one.
"""

from __future__ import annotations

import chex
import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class RunningStatistics:
    """Running statistics of vectors of size ``D``.

    Attributes:
      count: ``[]`` number of vectors seen (float32 to stay jittable).
      mean: ``[D]`` running mean.
      summed_variance: ``[D]`` sum of squared deviations from the mean (``M2``).
    """

    count: jax.Array
    mean: jax.Array
    summed_variance: jax.Array

    @property
    def std(self) -> jax.Array:
        """``[D]`` population standard deviation (1 before anything was seen)."""
        var = self.summed_variance / jnp.maximum(self.count, 1.0)
        return jnp.where(self.count > 1.0, jnp.sqrt(jnp.maximum(var, 0.0)), 1.0)


def init_statistics(size: int) -> RunningStatistics:
    """Empty statistics for ``[size]`` vectors."""
    return RunningStatistics(
        count=jnp.zeros((), jnp.float32),
        mean=jnp.zeros((size,), jnp.float32),
        summed_variance=jnp.zeros((size,), jnp.float32),
    )


def update_statistics(
    stats: RunningStatistics, batch: jax.Array, weights: jax.Array | None = None
) -> RunningStatistics:
    """Merges a batch ``[..., D]`` into ``stats``; ``weights`` ``[...]`` in {0, 1} masks rows."""
    size = stats.mean.shape[-1]
    chex.assert_axis_dimension(batch, -1, size)
    x = batch.reshape(-1, size).astype(jnp.float32)
    w = jnp.ones(x.shape[0]) if weights is None else weights.reshape(-1).astype(jnp.float32)
    n_b = w.sum()
    mean_b = (w[:, None] * x).sum(0) / jnp.maximum(n_b, 1.0)
    m2_b = (w[:, None] * (x - mean_b) ** 2).sum(0)
    n = stats.count + n_b
    delta = mean_b - stats.mean
    mean = stats.mean + delta * n_b / jnp.maximum(n, 1.0)
    m2 = stats.summed_variance + m2_b + delta**2 * stats.count * n_b / jnp.maximum(n, 1.0)
    return RunningStatistics(count=n, mean=mean, summed_variance=m2)


def normalize(
    stats: RunningStatistics | None, x: jax.Array, std_min: float = 1e-6, clip: float = 10.0
) -> jax.Array:
    """``(x - mean) / std`` clipped to ``[-clip, clip]``; identity when ``stats`` is None.

    ``x`` may have any leading axes; its last axis must be ``D``.
    """
    if stats is None:
        return x
    z = (x - stats.mean) / jnp.maximum(stats.std, std_min)
    return jnp.clip(z, -clip, clip)
