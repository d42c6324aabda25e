"""Behavioural cloning: maximum likelihood of demonstration actions under the SAC policy.

The policy is SAC's tanh-squashed Gaussian (:func:`nail_jax.policy.make_policy`, the same
parameters), so a cloned policy acts, is evaluated, exported and scored exactly like
an AIL or NAIL one. The loss is the weighted negative log-likelihood

    L(theta) = - sum_i w_i log pi_theta(a_i | s_i) / sum_i w_i

of demonstration pairs ``(s_i, a_i)``, with ``log pi`` the tanh-Gaussian density of
:func:`nail_jax.distributions.tanh_gaussian_log_prob`: ``u = atanh(a)`` after clipping ``a`` to
``[-1 + eps, 1 - eps]`` (a deterministic expert's actions often saturate), then the Gaussian
density of ``u`` and the ``log(1 - tanh(u)^2)`` correction in its stable form. The correction
does not depend on ``theta``, so the gradient is that of the Gaussian fit of ``atanh(a)``.
The weights ``w_i`` drop rows that carry no action (the DAC absorbing state) and may undo a
subsample's bias.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from nail_jax.checks import check_shape
from nail_jax.distributions import tanh_gaussian_log_prob, tanh_gaussian_mode
from nail_jax.gradients import make_gradient_step
from nail_jax.networks import Network
from nail_jax.normalization import RunningStatistics
from nail_jax.policy import Policy, make_policy


@flax.struct.dataclass
class BCBatch:
    """Demonstration pairs for one BC step.

    Attributes:
      obs: ``[B, obs_size]`` states.
      action: ``[B, action_size]`` the demonstrator's actions in ``[-1, 1]``.
      weight: ``[B]`` non-negative row weights (0 drops a row, e.g. the absorbing state).
    """

    obs: jax.Array
    action: jax.Array
    weight: jax.Array


@flax.struct.dataclass
class BCState:
    """Everything BC learns: policy params, their Adam state, the (fixed) observation
    statistics the network normalises with (or ``None``), and ``[]`` int32 update count."""

    params: Any
    opt_state: optax.OptState
    normalizer: RunningStatistics | None
    steps: jax.Array


def bc_loss(policy_apply: Callable, params, normalizer: RunningStatistics | None,
            batch: BCBatch) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(loss [], metrics)``: the weighted negative log-likelihood of ``batch.action``.

    ``policy_apply(normalizer, params, obs [B, O]) -> (mean, log_std)``, each ``[B, A]``.
    Metrics (weighted means): ``nll`` (the loss), ``mse`` of the deterministic action
    ``tanh(mean)`` against the demonstrated one (summed over action dimensions), ``log_std``.
    """
    mean, log_std = policy_apply(normalizer, params, batch.obs)
    log_prob = tanh_gaussian_log_prob(mean, log_std, batch.action)
    total = jnp.maximum(jnp.sum(batch.weight), 1e-8)

    def average(x):
        return jnp.sum(batch.weight * x) / total

    nll = -average(log_prob)
    mse = average(jnp.sum((tanh_gaussian_mode(mean) - batch.action) ** 2, -1))
    return nll, {"nll": nll, "mse": mse, "log_std": average(jnp.mean(log_std, -1))}


@dataclasses.dataclass(frozen=True)
class BC:
    """Behavioural cloning as pure functions.

    Attributes:
      policy: the :class:`~nail_jax.policy.Policy` it trains (SAC's).
      policy_network: ``policy.network``, the ``(init, apply)`` pair.
      init: ``init(key, normalizer=None) -> BCState`` (fresh params and Adam state).
      update: ``update(state, batch: BCBatch, key) -> (state, metrics)``: one Adam step on
        :func:`bc_loss`; ``key`` is unused (the loss is deterministic) and kept for the
        ``(state, batch, key)`` signature every learner shares. Metrics: ``nll``, ``mse``,
        ``log_std``.
      optimizer: the optax transformation (Adam), so a caller holding the policy's params
        and Adam state in another pytree (e.g. :class:`~nail_jax.learners.sac.SACState`) can
        hand them over: the state structures are the same.
    """

    policy: Policy
    policy_network: Network
    init: Callable[..., BCState]
    update: Callable[..., tuple[BCState, dict]]
    optimizer: optax.GradientTransformation


def make_bc(obs_size: int, action_size: int, hidden_sizes: Sequence[int] = (256, 256),
            learning_rate: float = 3e-4) -> BC:
    """Builds BC for ``[obs_size]`` states and ``[action_size]`` actions with SAC's policy
    network of ``hidden_sizes`` and Adam at ``learning_rate``."""
    policy = make_policy(obs_size, action_size, hidden_sizes)
    network = policy.network
    optimizer = optax.adam(learning_rate)
    step = make_gradient_step(
        lambda params, normalizer, batch: bc_loss(network.apply, params, normalizer, batch),
        optimizer)

    def init(key: jax.Array, normalizer: RunningStatistics | None = None) -> BCState:
        params = network.init(key)
        return BCState(params, optimizer.init(params), normalizer, jnp.zeros((), jnp.int32))

    def update(state: BCState, batch: BCBatch, key: jax.Array | None = None):
        del key
        n = batch.obs.shape[0]
        check_shape(batch.obs, (n, obs_size), "batch.obs", floating=True)
        check_shape(batch.action, (n, action_size), "batch.action", floating=True)
        check_shape(batch.weight, (n,), "batch.weight", floating=True)
        params, opt_state, _, metrics = step(state.params, state.opt_state, state.normalizer,
                                             batch)
        return state.replace(params=params, opt_state=opt_state, steps=state.steps + 1), metrics

    return BC(policy, network, init, update, optimizer)
