"""NAIL: everything in which it differs from AIL, in one module.

AIL (:mod:`nail_jax.algorithms.ail`) trains SAC on ``-log r(s, a)``, the discriminator's
logit (note eq. 3). NAIL adds the reference policy ``pi_ref``, the previous epoch's policy
(the immutable snapshot the trainer swaps at each epoch end and acts with during the epoch):
its reward is eq. 8's

    r_NAIL(s, a) = -(log r(s, a) - log pi_ref(a|s)),

so that when the ratio goes flat the policy keeps matching itself instead of drifting.
``nail.mode`` picks how that ``log pi_ref`` term is trained; everything else (discriminator,
replay, SAC, absorbing states, the epoch) is AIL's.

- ``soft_value`` (the presets): the replay reward stays AIL's ``-log r``, and SAC's soft value
  gains ``w * log pi_ref(a|s)`` in the target (at ``a' ~ pi(.|s')``) and in the actor loss
  (:func:`make_soft_term`, SAC's one hook). The soft term is then
  ``w log pi_ref - alpha log pi``; at ``w = alpha`` (``nail.weight=none``) it is
  ``-alpha KL(pi || pi_ref)``, and at ``w = alpha = 1`` this is SAC on eq. 8's reward
  rewritten for ``Q~ = Q - log pi_ref``: the same fixed point and greedy policy, but the
  critic never fits ``log pi_ref`` of stale replay actions, which spans orders of magnitude
  once ``pi_ref`` is narrow. ``w = alpha < 1`` is eq. 7's bound for the reward ``r / alpha``.
- ``reward``: eq. 8 literally, ``log pi_ref(a|s)`` of the replay action added to the replay
  reward (:func:`nail_reward`); unweighted (``nail.weight`` must be ``none``).

In both, ``log pi_ref`` is 0 where ``s`` is DAC's absorbing state: no action is taken there
and ``pi_ref`` is never trained there (:func:`reference_log_prob`; SAC drops its soft terms
there too).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from nail_jax.absorbing import live_weight
from nail_jax.algorithms.ail import DISC_METRICS, SAC_METRICS, log_ratio, make_imitation_iteration
from nail_jax.algorithms.base import Algorithm, Iteration, Parts
from nail_jax.learners.rewards import ail_reward
from nail_jax.learners.sac import SoftTerm
from nail_jax.policy import Policy, PolicySnapshot

MODES = ("soft_value", "reward")


@dataclasses.dataclass(frozen=True)
class NAILConfig:
    """NAIL's own settings (``--set nail.mode=... nail.weight=...``).

    Attributes:
      mode: ``soft_value`` (the term ``w log pi_ref`` in SAC's soft value) or ``reward``
        (eq. 8's ``log pi_ref`` in the replay reward); see the module docstring.
      weight: ``w`` of the soft-value term; ``None`` means ``w = alpha`` (a KL to ``pi_ref``
        at the temperature). ``None`` in ``reward`` mode.
    """

    mode: str = "soft_value"
    weight: float | None = 0.03


def check_options(nail: NAILConfig) -> None:
    """Raises ``ValueError`` (one line: what is wrong, how to fix it) for an unknown
    ``nail.mode``, a weight in ``reward`` mode, or a weight that is not a finite number >= 0."""
    if nail.mode not in MODES:
        raise ValueError(f"unknown nail.mode {nail.mode!r}; choose one of: {', '.join(MODES)}")
    if nail.weight is not None and nail.mode != "soft_value":
        raise ValueError("nail.weight weighs the log pi_ref term of nail.mode=soft_value; "
                         "nail.mode=reward puts eq. 8's unweighted log pi_ref in the reward: "
                         "set nail.weight=none")
    if nail.weight is not None and not (math.isfinite(nail.weight) and nail.weight >= 0):
        raise ValueError(f"nail.weight must be a finite number >= 0, got {nail.weight}")


def nail_reward(log_ratio: jax.Array, log_pi_ref: jax.Array) -> jax.Array:
    """NAIL's reward ``-(log r(s, a) - log pi_ref(a|s))`` (note eq. 8, negated to maximise),
    trained on literally in ``nail.mode=reward``; the default ``soft_value`` mode trains the
    same objective through :func:`make_soft_term`.

    Args:
      log_ratio: ``[...]`` discriminator logits ``log r``.
      log_pi_ref: ``[...]`` ``log pi_ref(a|s)`` under the reference policy ``pi_ref``,
        the snapshot taken at the start of the epoch.
    """
    return log_pi_ref - log_ratio


def make_soft_term(nail: NAILConfig) -> SoftTerm | None:
    """SAC's soft-value hook ``w * log pi_ref(a|s)`` of ``a = tanh(u)`` (``[B]``) in
    ``soft_value`` mode, ``None`` in ``reward`` mode.

    Evaluated at the pre-tanh sample ``u``, not at ``atanh(a)``: exact, with gradients, also
    where the action saturates (``tanh(u)`` rounds to 1).
    """
    if nail.mode != "soft_value":
        return None

    def soft_term(policy: Policy, reference: PolicySnapshot, alpha, obs, u):
        weight = alpha if nail.weight is None else nail.weight
        return weight * policy.log_prob_pre_tanh(reference.normalizer, reference.params, obs, u)

    return soft_term


def reference_log_prob(policy: Policy, reference: PolicySnapshot, obs: jax.Array,
                       action: jax.Array, absorbing: bool) -> jax.Array:
    """``[N]`` ``log pi_ref(a|s)`` of ``obs [N, O]``, ``action [N, A]``; exactly 0 where ``s`` is
    the absorbing state (with ``absorbing``), even where ``log pi_ref`` is infinite.

    Kept there, it would add about ``E[log pi_ref] / (1 - gamma)`` to the value of terminating.
    """
    log_pi_ref = policy.log_prob(reference.normalizer, reference.params, obs, action)
    if not absorbing:
        return log_pi_ref
    return jnp.where(live_weight(obs) > 0, log_pi_ref, 0.0)


def make_iteration(parts: Parts) -> Iteration:
    """AIL's iteration with NAIL's relabelling: eq. 8's reward in ``reward`` mode; in
    ``soft_value`` mode AIL's ``-log r`` (SAC adds the term), ``log pi_ref`` then logged on
    the first SAC batch only."""
    config, policy = parts.config, parts.sac.policy
    batch = config.batch_size
    literal = config.nail.mode == "reward"

    def relabel(transitions, disc_state, reference):
        log_r = log_ratio(parts, disc_state, transitions)
        r_ail = ail_reward(log_r)
        if literal:  # eq. 8 on every replay transition
            log_pi_ref = reference_log_prob(policy, reference, transitions.obs,
                                            transitions.action, config.absorbing)
            reward = r_nail = nail_reward(log_r, log_pi_ref)
        else:  # SAC adds the term; log pi_ref is a metric: one SAC batch's worth is enough
            log_pi_ref = reference_log_prob(policy, reference, transitions.obs[:batch],
                                            transitions.action[:batch], config.absorbing)
            reward = r_ail
            r_nail = nail_reward(log_r[:batch], log_pi_ref)
        metrics = {"reward_ail": jnp.mean(r_ail), "reward_nail": jnp.mean(r_nail),
                   "log_pi_ref": jnp.mean(log_pi_ref), "reward_used": jnp.mean(reward)}
        return transitions.replace(reward=reward), metrics

    return make_imitation_iteration(parts, relabel)


NAIL = Algorithm(
    name="nail",
    summary="non-adversarial imitation: AIL plus log pi_ref of the last epoch's policy (eq. 8)",
    needs_demonstrations=True, needs_discriminator=True, steps_envs=True, metric="score",
    reward="eq. 8's -log r + log pi_ref", warm_start=True, options=NAILConfig,
    check_options=check_options,
    make_iteration=make_iteration,
    make_soft_term=lambda config: make_soft_term(config.nail),
    metrics=(*DISC_METRICS, "reward_ail", "reward_nail", "log_pi_ref", "reward_used",
             *SAC_METRICS))
