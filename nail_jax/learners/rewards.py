"""Imitation rewards as pure functions of the discriminator logit.

Sign convention, used everywhere in nail_jax: the argument ``log_ratio`` is the
discriminator logit ``l(s, a) = log r(s, a) = log Q_pi(s, a) - log P(s, a)``
(note eq. 2), positive where the policy visits more than the expert. The expert
probability is ``D(s, a) = P(real | s, a) = sigmoid(-l)``. Every reward is to be
*maximised* by the RL learner and has the shape of its input (``[...]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def ail_reward(log_ratio: jax.Array) -> jax.Array:
    """AIL reward ``-log r(s, a)`` (note eq. 3, negated for maximisation). It is also AIRL's
    ``log D - log(1 - D)``, the expert-class logit (hence :data:`airl_reward`, the same
    function, and one reward form ``ail`` for both)."""
    return -log_ratio


airl_reward = ail_reward
"""AIRL's ``log D - log(1 - D) = -l``: :func:`ail_reward` itself."""


def gail_reward(log_ratio: jax.Array) -> jax.Array:
    """GAIL-style ``-log(1 - D) = -log sigmoid(l) = softplus(-l)`` (always positive)."""
    return jax.nn.softplus(-log_ratio)


def fairl_reward(log_ratio: jax.Array) -> jax.Array:
    """FAIRL (forward KL, Ghasemipour et al. 2020): ``-(P/Q) log(P/Q) = l * exp(-l)``."""
    return log_ratio * jnp.exp(-log_ratio)


REWARDS = {
    "ail": ail_reward,
    "gail": gail_reward,
    "fairl": fairl_reward,
}
"""AIL's reward forms (``config.reward``): functions of the logit alone. NAIL's reward also
needs ``log pi_ref``: :func:`nail_jax.algorithms.nail.nail_reward`."""
