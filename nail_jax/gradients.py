"""One generic gradient step, used by the discriminator, critics, actor and temperature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def make_gradient_step(
    loss_fn: Callable[..., tuple[jax.Array, Any]], optimizer: optax.GradientTransformation
) -> Callable[..., tuple[Any, optax.OptState, jax.Array, Any]]:
    """Builds ``step(params, opt_state, *args) -> (params, opt_state, loss, aux)``.

    ``loss_fn(params, *args) -> (loss, aux)`` must be differentiable in its first
    argument (STYLE practice 3); ``optimizer`` is any optax transformation.
    """
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(params, opt_state, *args):
        (loss, aux), grads = grad_fn(params, *args)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss, aux

    return step
