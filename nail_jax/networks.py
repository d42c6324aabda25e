"""Networks as ``(init, apply)`` pairs built by factories (STYLE practice 2).

``apply(normalizer, params, ...)`` normalises observations with the running
statistics ``normalizer`` (or not at all when it is ``None``) before the MLP.

- policy:        ``apply(normalizer, params, obs [..., O]) -> (mean, log_std)``, each ``[..., A]``
- twin Q:        ``apply(normalizer, params, obs [..., O], action [..., A]) -> q [..., n_critics]``
- discriminator: ``apply(normalizer, variables, obs [..., O], action [..., A]) -> logit [...]``;
  the logit estimates ``log r(s, a) = log Q_pi(s, a) / P(s, a)`` (note eq. 2); state-only,
  ``apply(normalizer, variables, obs [..., O], next_obs [..., O])`` estimates ``log r(s, s')``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nail_jax.checks import check_same_leading, check_shape
from nail_jax.normalization import RunningStatistics, normalize


@dataclasses.dataclass(frozen=True)
class Network:
    """A pair of pure functions: ``init(key) -> params`` and ``apply(normalizer, params, ...)``."""

    init: Callable[[jax.Array], Any]
    apply: Callable[..., Any]


class MLP(nn.Module):
    """Dense layers with an activation between them; optional spectral normalisation."""

    layer_sizes: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    spectral_norm: bool = False
    activate_final: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, update_stats: bool = False) -> jax.Array:
        for i, size in enumerate(self.layer_sizes):
            dense = nn.Dense(size, kernel_init=nn.initializers.lecun_uniform(), name=f"dense_{i}")
            if self.spectral_norm:
                x = nn.SpectralNorm(dense, name=f"sn_{i}")(x, update_stats=update_stats)
            else:
                x = dense(x)
            if i < len(self.layer_sizes) - 1 or self.activate_final:
                x = self.activation(x)
        return x


class _PolicyModule(nn.Module):
    action_size: int
    hidden_sizes: Sequence[int]
    log_std_min: float
    log_std_max: float

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = MLP((*self.hidden_sizes, 2 * self.action_size))(obs)
        mean, raw = jnp.split(out, 2, axis=-1)
        # Smoothly squash log_std into [log_std_min, log_std_max], shifted so that a zero
        # pre-activation gives log_std = 0 (unit std, as in most SAC implementations).
        lo, hi = self.log_std_min, self.log_std_max
        frac0 = jnp.clip((0.0 - lo) / (hi - lo), 1e-3, 1 - 1e-3)
        log_std = lo + (hi - lo) * jax.nn.sigmoid(raw + jnp.log(frac0 / (1.0 - frac0)))
        return mean, log_std


class _TwinQModule(nn.Module):
    hidden_sizes: Sequence[int]
    n_critics: int

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        qs = [MLP((*self.hidden_sizes, 1), name=f"q_{i}")(x)[..., 0] for i in range(self.n_critics)]
        return jnp.stack(qs, axis=-1)


class _DiscriminatorModule(nn.Module):
    hidden_sizes: Sequence[int]
    spectral_norm: bool

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array, update_stats: bool = False) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        net = MLP((*self.hidden_sizes, 1), activation=nn.tanh, spectral_norm=self.spectral_norm)
        return net(x, update_stats=update_stats)[..., 0]


def _check_inputs(obs: jax.Array, obs_size: int, action: jax.Array | None = None,
                  action_size: int | None = None, name: str = "action") -> None:
    check_shape(obs, (..., obs_size), "obs")
    if action is not None:
        check_shape(action, (..., action_size), name)
        check_same_leading({"obs": obs, name: action}, obs.ndim - 1)


def make_policy_network(
    obs_size: int,
    action_size: int,
    hidden_sizes: Sequence[int] = (256, 256),
    log_std_min: float = -5.0,
    log_std_max: float = 2.0,
) -> Network:
    """Tanh-Gaussian policy head: ``apply(normalizer, params, obs) -> (mean, log_std)``."""
    module = _PolicyModule(action_size, tuple(hidden_sizes), log_std_min, log_std_max)

    def init(key: jax.Array):
        return module.init(key, jnp.zeros((1, obs_size)))

    def apply(normalizer: RunningStatistics | None, params, obs: jax.Array):
        _check_inputs(obs, obs_size)
        return module.apply(params, normalize(normalizer, obs))

    return Network(init, apply)


def make_q_network(
    obs_size: int,
    action_size: int,
    hidden_sizes: Sequence[int] = (256, 256),
    n_critics: int = 2,
) -> Network:
    """Twin critics: ``apply(normalizer, params, obs, action) -> [..., n_critics]``."""
    module = _TwinQModule(tuple(hidden_sizes), n_critics)

    def init(key: jax.Array):
        return module.init(key, jnp.zeros((1, obs_size)), jnp.zeros((1, action_size)))

    def apply(normalizer: RunningStatistics | None, params, obs: jax.Array, action: jax.Array):
        _check_inputs(obs, obs_size, action, action_size)
        return module.apply(params, normalize(normalizer, obs), action)

    return Network(init, apply)


@dataclasses.dataclass(frozen=True)
class DiscriminatorNetwork(Network):
    """Discriminator ``(init, apply)`` plus ``apply_and_update`` for spectral-norm statistics.

    ``params`` are flax variables ``{"params": ..., ["batch_stats": ...]}``; the optional
    ``batch_stats`` hold the power-iteration vectors of spectral normalisation.
    ``apply_and_update(normalizer, params, obs, action) -> (logit, batch_stats)`` runs one
    power-iteration step and returns the refreshed statistics (``{}`` without spectral norm).
    """

    apply_and_update: Callable[..., Any] = None  # type: ignore[assignment]


def make_discriminator_network(
    obs_size: int,
    action_size: int,
    hidden_sizes: Sequence[int] = (256, 256),
    spectral_norm: bool = False,
    state_only: bool = False,
) -> DiscriminatorNetwork:
    """Discriminator MLP: ``apply(...) -> logit = log r`` (note eq. 2).

    Over ``(s, a)``: ``apply(normalizer, variables, obs [..., O], action [..., A])``. With
    ``state_only`` over ``(s, s')`` (imitation from observations): the second input is the
    next observation ``[..., O]``, normalised like ``obs``, and ``action_size`` is unused.
    """
    module = _DiscriminatorModule(tuple(hidden_sizes), spectral_norm)
    second_size = obs_size if state_only else action_size

    def prepare(normalizer, obs, second):
        _check_inputs(obs, obs_size, second, second_size, "next_obs" if state_only else "action")
        if state_only:
            return normalize(normalizer, obs), normalize(normalizer, second)
        return normalize(normalizer, obs), second

    def init(key: jax.Array):
        return module.init(key, jnp.zeros((1, obs_size)), jnp.zeros((1, second_size)))

    def apply(normalizer: RunningStatistics | None, params, obs: jax.Array, second: jax.Array):
        return module.apply(params, *prepare(normalizer, obs, second))

    def apply_and_update(normalizer, params, obs: jax.Array, second: jax.Array):
        logit, updates = module.apply(
            params, *prepare(normalizer, obs, second), update_stats=True,
            mutable=["batch_stats"])
        return logit, updates.get("batch_stats", {})

    return DiscriminatorNetwork(init, apply, apply_and_update)
