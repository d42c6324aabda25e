"""``nail-jax smoke``: the real trainer, ``rl`` (SAC on the env reward) on the point mass.

The same :func:`nail_jax.training.trainer.make_train` as every run, on the ``point_mass``
preset shortened to a few epochs: a check, in seconds, that the installed package learns.
"""

from __future__ import annotations

import jax
import numpy as np

from nail_jax.training.config import make_config
from nail_jax.training.trainer import make_train


def smoke_config(iterations: int = 600):
    """The ``point_mass`` preset for ``rl`` with ``iterations`` vectorised env steps after
    the warm-up (rounded down to whole epochs, at least one)."""
    base = make_config("rl", "point_mass")
    epochs = max(iterations // base.iterations_per_epoch, 1)
    return make_config("rl", "point_mass",
                       {"total_steps": base.warmup_steps + epochs * base.epoch_steps})


def run_smoke(key: jax.Array, iterations: int = 600) -> tuple[float, np.ndarray]:
    """Trains :func:`smoke_config`; returns ``(random_return, eval_returns [epochs])``: the
    uniform random policy's mean return and the deterministic policy's after each epoch."""
    train = jax.jit(make_train(smoke_config(iterations)))
    _, metrics = train(key)
    return float(metrics["random_return"][0]), np.asarray(metrics["eval_return"], np.float64)
