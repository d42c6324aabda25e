"""The policy apart from its learners: acting, sampling and scoring with no optimiser.

Every policy in nail_jax is a tanh-squashed diagonal Gaussian
(:mod:`nail_jax.distributions`) whose mean and log-std come from
:func:`nail_jax.networks.make_policy_network`. SAC trains it, BC clones it, the evaluator
rolls it out, expert files store it, and NAIL's reference policy ``pi_ref`` is one of its
:class:`PolicySnapshot` s. All of them act through the one :class:`Policy` built here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.struct
import jax

from nail_jax.distributions import (
    tanh_gaussian_kl,
    tanh_gaussian_log_prob,
    tanh_gaussian_log_prob_pre_tanh,
    tanh_gaussian_mode,
    tanh_gaussian_sample,
    tanh_gaussian_sample_pre_tanh,
)
from nail_jax.networks import Network, make_policy_network
from nail_jax.normalization import RunningStatistics


@flax.struct.dataclass
class PolicySnapshot:
    """An immutable policy: observation statistics (or ``None``) and policy params.

    The reference policy ``pi_ref`` (``SACState.reference``) is one, made by
    :func:`nail_jax.learners.sac.take_snapshot`; so is an expert file's policy and any
    policy handed to :attr:`Policy.act`."""

    normalizer: RunningStatistics | None
    params: Any


@dataclasses.dataclass(frozen=True)
class Policy:
    """Pure functions of the tanh-Gaussian policy for ``[O]`` observations, ``[A]`` actions.

    Each takes the observation statistics (or ``None``) and the policy params first, so
    that a learner can differentiate through the params it holds; ``obs`` is ``[..., O]``.

    Attributes:
      network: the ``(init, apply)`` pair, ``apply(normalizer, params, obs) -> (mean,
        log_std)``, each ``[..., A]``.
      sample: ``(normalizer, params, obs, key) -> (action [..., A], log_prob [...])``.
      sample_pre_tanh: ``(normalizer, params, obs, key) -> (action, log_prob, u)``, with the
        pre-tanh sample ``u [..., A]`` (``action = tanh(u)``).
      mode: ``(normalizer, params, obs) -> tanh(mean) [..., A]``, the deterministic action.
      log_prob: ``(normalizer, params, obs, action [..., A]) -> [...]``.
      log_prob_pre_tanh: ``(normalizer, params, obs, u [..., A]) -> [...]``, the density of
        ``tanh(u)``, exact also where ``tanh(u)`` rounds to 1.
      kl: ``(normalizer, params, other: PolicySnapshot, obs) -> [...]``, the closed-form
        ``KL(pi(.|s) || other(.|s))`` of this policy (differentiable in ``params``) from
        ``other`` at each state (:func:`~nail_jax.distributions.tanh_gaussian_kl`).
      act: ``(snapshot: PolicySnapshot, obs, key=None) -> action [..., A]``: a sample, or with
        ``key=None`` the deterministic ``tanh(mean)``.
    """

    network: Network
    sample: Callable[..., tuple[jax.Array, jax.Array]]
    sample_pre_tanh: Callable[..., tuple[jax.Array, jax.Array, jax.Array]]
    mode: Callable[..., jax.Array]
    log_prob: Callable[..., jax.Array]
    log_prob_pre_tanh: Callable[..., jax.Array]
    kl: Callable[..., jax.Array]
    act: Callable[..., jax.Array]


def make_policy(obs_size: int, action_size: int,
                hidden_sizes: Sequence[int] = (256, 256)) -> Policy:
    """The :class:`Policy` of ``[obs_size]`` observations and ``[action_size]`` actions, its
    network of ``hidden_sizes`` (observations include the absorbing flag where a run has one)."""
    network = make_policy_network(obs_size, action_size, hidden_sizes)

    def of_distribution(fn):
        """``fn(mean, log_std, *rest)`` as ``(normalizer, params, obs, *rest) -> ...``."""

        def apply(normalizer, params, obs, *rest):
            mean, log_std = network.apply(normalizer, params, obs)
            return fn(mean, log_std, *rest)

        return apply

    sample = of_distribution(lambda mean, log_std, key: tanh_gaussian_sample(key, mean, log_std))
    sample_pre_tanh = of_distribution(
        lambda mean, log_std, key: tanh_gaussian_sample_pre_tanh(key, mean, log_std))
    mode = of_distribution(lambda mean, log_std: tanh_gaussian_mode(mean))
    log_prob = of_distribution(tanh_gaussian_log_prob)
    log_prob_pre_tanh = of_distribution(tanh_gaussian_log_prob_pre_tanh)

    def kl(normalizer, params, other: PolicySnapshot, obs: jax.Array) -> jax.Array:
        mean, log_std = network.apply(normalizer, params, obs)
        other_mean, other_log_std = network.apply(other.normalizer, other.params, obs)
        return tanh_gaussian_kl(mean, log_std, other_mean, other_log_std)

    def act(snapshot: PolicySnapshot, obs: jax.Array, key: jax.Array | None = None) -> jax.Array:
        if key is None:
            return mode(snapshot.normalizer, snapshot.params, obs)
        return sample(snapshot.normalizer, snapshot.params, obs, key)[0]

    return Policy(network, sample, sample_pre_tanh, mode, log_prob, log_prob_pre_tanh, kl, act)
