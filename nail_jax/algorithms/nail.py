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

In ``soft_value`` mode the term is ``w log pi_ref - alpha log pi = (alpha - w)(-log pi) -
w (log pi - log pi_ref)``: an entropy bonus at ``alpha - w`` and a penalty on ``pi``'s KL from
``pi_ref``. ``nail.kl`` picks how that KL enters:

- ``sample`` (today's form): the single-sample log-ratio ``log pi(a|s) - log pi_ref(a|s)`` at
  the sampled ``a``, heavy-tailed once ``pi_ref`` is narrow and ``pi`` has moved;
- ``analytic``: the closed form ``KL(pi(.|s) || pi_ref(.|s))`` of the two tanh-Gaussians
  (:func:`nail_jax.distributions.tanh_gaussian_kl`), the same expectation without the
  sample's variance: the term becomes ``w log pi(a|s) - w KL(pi(.|s) || pi_ref(.|s))``.

With ``nail.kl_target = eps`` the weight ``w`` is not a constant but a dual variable, learned
like SAC's temperature (:func:`dual_step`): after every SAC update
``w <- max(0, w - lr (1 - KL / eps))``, ``KL`` that update's mean closed-form KL over the
actor batch. Its fixed point is the ``w`` at which the KL averaged over the epoch's updates
equals ``eps``: a per-epoch trust region around ``pi_ref`` (see docs/design.md). ``w`` starts
at ``nail.weight`` and is part of SAC's state (``SACState.soft``, a :class:`DualWeight`).

In both modes, ``log pi_ref`` is 0 where ``s`` is DAC's absorbing state: no action is taken there
and ``pi_ref`` is never trained there (:func:`reference_log_prob`; SAC drops its soft terms
there too).
"""

from __future__ import annotations

import dataclasses
import math

import flax.struct
import jax
import jax.numpy as jnp

from nail_jax.absorbing import live_weight
from nail_jax.algorithms.ail import DISC_METRICS, SAC_METRICS, log_ratio, make_imitation_iteration
from nail_jax.algorithms.base import Algorithm, Iteration, Parts
from nail_jax.learners.rewards import ail_reward
from nail_jax.learners.sac import SoftTerm, live_mean
from nail_jax.policy import Policy, PolicySnapshot

MODES = ("soft_value", "reward")
KL_FORMS = ("sample", "analytic")


@dataclasses.dataclass(frozen=True)
class NAILConfig:
    """NAIL's own settings (``--set nail.mode=... nail.weight=... nail.kl=...
    nail.kl_target=...``). The class defaults are the form runs had before ``nail.kl`` and
    ``nail.kl_target`` existed (a saved config without them means that); the presets set all.

    Attributes:
      mode: ``soft_value`` (the term ``w log pi_ref`` in SAC's soft value) or ``reward``
        (eq. 8's ``log pi_ref`` in the replay reward); see the module docstring.
      weight: ``w`` of the soft-value term; ``None`` means ``w = alpha`` (a KL to ``pi_ref``
        at the temperature). With ``kl_target``, the initial ``w``. ``None`` in ``reward``
        mode.
      kl: ``sample`` (the single-sample KL at the sampled action) or ``analytic`` (its
        closed form); ``soft_value`` mode only.
      kl_target: ``eps``, the KL to ``pi_ref`` averaged over an epoch's updates that the
        learned ``w`` holds (``None``: ``w`` is the constant ``weight``).
      weight_learning_rate: ``lr`` of the dual step on ``w`` (:func:`dual_step`): ``w``
        changes by at most ``lr`` per update while the KL is below ``eps``.
    """

    mode: str = "soft_value"
    weight: float | None = 0.03
    kl: str = "sample"
    kl_target: float | None = None
    weight_learning_rate: float = 1e-4


@flax.struct.dataclass
class DualWeight:
    """The learned state of NAIL's trust region: ``weight [] >= 0``, the ``w`` of the term."""

    weight: jax.Array


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def check_options(nail: NAILConfig) -> None:
    """Raises ``ValueError`` (one line: what is wrong, how to fix it) for settings that make
    no sense: an unknown ``nail.mode`` or ``nail.kl``, a weight, closed-form KL or KL target
    in ``reward`` mode, a weight that is not a finite number >= 0, a KL target that is not a
    number > 0 or has no initial weight, a learning rate that is not > 0."""
    if nail.mode not in MODES:
        raise ValueError(f"unknown nail.mode {nail.mode!r}; choose one of: {', '.join(MODES)}")
    if nail.kl not in KL_FORMS:
        raise ValueError(f"unknown nail.kl {nail.kl!r}; choose one of: {', '.join(KL_FORMS)}")
    if nail.mode != "soft_value":
        for key, value, default in (("weight", nail.weight, None), ("kl", nail.kl, "sample"),
                                    ("kl_target", nail.kl_target, None)):
            if value != default:
                raise ValueError(
                    f"nail.{key} belongs to nail.mode=soft_value; nail.mode=reward puts eq. 8's "
                    f"unweighted single-sample log pi_ref in the reward: set nail.{key}="
                    f"{str(default).lower()}")
    if nail.weight is not None and not (math.isfinite(nail.weight) and nail.weight >= 0):
        raise ValueError(f"nail.weight must be a finite number >= 0, got {nail.weight}")
    if nail.kl_target is not None:
        if not _positive(nail.kl_target):
            raise ValueError(f"nail.kl_target must be a number > 0 (nats), got {nail.kl_target}")
        if nail.weight is None:
            raise ValueError("nail.kl_target learns w from its initial value nail.weight: "
                             "set nail.weight to a number >= 0 (e.g. 0.03)")
    if not _positive(nail.weight_learning_rate):
        raise ValueError("nail.weight_learning_rate must be a number > 0, "
                         f"got {nail.weight_learning_rate}")


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


def dual_step(weight: jax.Array, kl: jax.Array, kl_target: float,
              learning_rate: float) -> jax.Array:
    """One projected dual-descent step on ``w`` for the constraint ``KL <= kl_target``:
    ``max(0, w - learning_rate * (1 - kl / kl_target))``, a step on the Lagrangian
    ``w (kl_target - KL)`` normalised by ``kl_target`` and kept at ``w >= 0``. It raises ``w``
    when ``kl [] > kl_target`` and lowers it below; over ``N`` steps ``w`` moves by
    ``learning_rate * N * (mean KL / kl_target - 1)``, so it rests where the mean KL is the
    target."""
    return jnp.maximum(weight - learning_rate * (1.0 - kl / kl_target), 0.0)


def make_soft_term(nail: NAILConfig) -> SoftTerm:
    """SAC's soft-value hook for NAIL (:class:`~nail_jax.learners.sac.SoftTerm`).

    ``value`` at ``a = tanh(u)`` (``[B]``), with ``KL = KL(pi(.|s) || pi_ref(.|s))`` in closed form:

    - ``soft_value`` mode, ``nail.kl=sample``: ``w log pi_ref(a|s)``, evaluated at the pre-tanh
      sample ``u`` (not at ``atanh(a)``: exact, with gradients, also where ``tanh(u)`` rounds
      to 1);
    - ``soft_value`` mode, ``nail.kl=analytic``: ``w log pi(a|s) - w KL``, so that the soft
      value ``Q - alpha log pi + value`` is ``Q - (alpha - w) log pi - w KL``;
    - ``reward`` mode: 0 (the term is in the replay reward); the hook only measures the KL.

    ``w`` is ``nail.weight``, ``alpha`` where that is ``None``, 1 in ``reward`` mode (eq. 8
    unweighted), and the learned :class:`DualWeight` with ``nail.kl_target``. ``update`` logs
    ``nail_kl`` (the live-mean KL of the update's actor batch; the epoch's mean),
    ``nail_kl_max`` (the epoch's largest of those) and ``nail_weight`` (the ``w`` used), and
    with ``nail.kl_target`` takes :func:`dual_step`.
    """
    learned = nail.kl_target is not None
    literal = nail.mode == "reward"

    def weight_of(soft, alpha):
        if learned:
            return soft.weight
        if literal:
            return jnp.ones_like(alpha)
        return alpha if nail.weight is None else jnp.asarray(nail.weight, alpha.dtype)

    def value(soft, policy: Policy, current: PolicySnapshot, reference: PolicySnapshot, alpha,
              obs, u, log_pi):
        kl = policy.kl(current.normalizer, current.params, reference, obs)
        weight = weight_of(soft, alpha)
        stat = {"kl": kl, "weight": weight}
        if literal:
            return jnp.zeros_like(log_pi), stat
        if nail.kl == "analytic":
            return weight * log_pi - weight * kl, stat
        return weight * policy.log_prob_pre_tanh(reference.normalizer, reference.params, obs,
                                                 u), stat

    def init():
        return DualWeight(jnp.asarray(nail.weight, jnp.float32)) if learned else None

    def update(soft, stat, live):
        kl = live_mean(stat["kl"], live)
        if learned:
            soft = soft.replace(weight=dual_step(soft.weight, kl, nail.kl_target,
                                                 nail.weight_learning_rate))
        return soft, {"nail_kl": kl, "nail_kl_max": kl, "nail_weight": stat["weight"]}

    return SoftTerm(value, init, update)


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
             *SAC_METRICS, "nail_kl", "nail_kl_max", "nail_weight"))
