"""The tanh-squashed diagonal Gaussian used by the SAC policy (Haarnoja et al. 2018, App. C).

An action is ``a = tanh(u)`` with ``u ~ N(mean, exp(log_std)^2)``; its density is

    log pi(a|s) = sum_i [ log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2) ].

``log(1 - tanh(u)^2)`` is evaluated as ``2 (log 2 - u - softplus(-2u))``, which stays
finite and accurate for large ``|u|`` (actions near the bounds), where the naive
form underflows to ``log 0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nail_jax.checks import check_shape

_LOG_2 = 0.6931471805599453
_HALF_LOG_2PI = 0.9189385332046727

# atanh of actions is taken after clipping them to [-1 + eps, 1 - eps].
ACTION_EPS = 1e-6


def log_one_minus_tanh_sq(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2)`` elementwise, stable for large ``|u|``."""
    return 2.0 * (_LOG_2 - u - jax.nn.softplus(-2.0 * u))


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, u: jax.Array) -> jax.Array:
    """Elementwise log density of ``u`` under ``N(mean, exp(log_std)^2)``."""
    z = (u - mean) * jnp.exp(-log_std)
    return -0.5 * z**2 - log_std - _HALF_LOG_2PI


def tanh_gaussian_log_prob_pre_tanh(
    mean: jax.Array, log_std: jax.Array, u: jax.Array
) -> jax.Array:
    """``log pi(a)`` of ``a = tanh(u)`` from the pre-tanh value ``u [..., A]``; returns ``[...]``.

    Exact where ``tanh(u)`` rounds to 1 and ``atanh(a)`` could not recover ``u``: use it
    for any density of an action sampled by :func:`tanh_gaussian_sample_pre_tanh`.
    """
    check_shape(log_std, mean.shape, "log_std")
    check_shape(u, mean.shape, "u")
    return jnp.sum(gaussian_log_prob(mean, log_std, u) - log_one_minus_tanh_sq(u), axis=-1)


def tanh_gaussian_sample_pre_tanh(
    key: jax.Array, mean: jax.Array, log_std: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Samples ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``; returns ``(a, log pi(a), u)``.

    Shapes: ``mean``, ``log_std``, ``a``, ``u``: ``[..., A]``; ``log pi(a)``: ``[...]``.
    """
    check_shape(log_std, mean.shape, "log_std")
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(u), tanh_gaussian_log_prob_pre_tanh(mean, log_std, u), u


def tanh_gaussian_sample(
    key: jax.Array, mean: jax.Array, log_std: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Samples ``a = tanh(u)`` and returns ``(a, log pi(a))``.

    Args:
      key: PRNG key.
      mean: ``[..., A]`` pre-tanh mean.
      log_std: ``[..., A]`` pre-tanh log standard deviation.
    Returns:
      action ``[..., A]`` in ``(-1, 1)`` and its log-probability ``[...]``, computed
      from ``u`` directly (no ``atanh``), so it is exact even where ``tanh(u)`` rounds to 1.
    """
    action, log_prob, _ = tanh_gaussian_sample_pre_tanh(key, mean, log_std)
    return action, log_prob


def tanh_gaussian_log_prob(
    mean: jax.Array, log_std: jax.Array, action: jax.Array, eps: float = ACTION_EPS
) -> jax.Array:
    """``log pi(a)`` of given actions ``[..., A]``; returns ``[...]``.

    Actions are clipped to ``[-1 + eps, 1 - eps]`` before ``atanh``: an action exactly
    on the bound (as demonstrations may hold) then gets a large but finite density.
    """
    check_shape(log_std, mean.shape, "log_std")
    check_shape(action, mean.shape, "action")
    a = jnp.clip(action, -1.0 + eps, 1.0 - eps)
    return tanh_gaussian_log_prob_pre_tanh(mean, log_std, jnp.arctanh(a))


def tanh_gaussian_mode(mean: jax.Array) -> jax.Array:
    """The deterministic action ``tanh(mean)`` used for evaluation."""
    return jnp.tanh(mean)


def tanh_gaussian_kl(mean_p: jax.Array, log_std_p: jax.Array, mean_q: jax.Array,
                     log_std_q: jax.Array) -> jax.Array:
    """``KL(p || q)`` of two tanh-squashed diagonal Gaussians, in closed form; returns ``[...]``.

    ``tanh`` is a bijection, so the KL of the squashed distributions equals that of their
    pre-tanh Gaussians ``N(mean_p, std_p^2)`` and ``N(mean_q, std_q^2)`` (the Jacobians cancel
    in the log-ratio):

        KL = sum_i [ log std_q,i - log std_p,i + (std_p,i^2 + (mean_p,i - mean_q,i)^2)
                     / (2 std_q,i^2) - 1/2 ].

    It is ``E_{a ~ p}[log p(a) - log q(a)]``, the expectation of the single-sample estimate,
    without its variance. All four inputs are ``[..., A]``.
    """
    for name, x in (("log_std_p", log_std_p), ("mean_q", mean_q), ("log_std_q", log_std_q)):
        check_shape(x, mean_p.shape, name)
    var_ratio = jnp.exp(2.0 * (log_std_p - log_std_q))
    mahalanobis = ((mean_p - mean_q) * jnp.exp(-log_std_q)) ** 2
    return 0.5 * jnp.sum(var_ratio + mahalanobis - 1.0 - 2.0 * (log_std_p - log_std_q), axis=-1)
