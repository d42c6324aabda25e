"""Soft Actor-Critic (Haarnoja et al. 2018) as pure functions over one state pytree.

The three losses are top-level functions (:func:`critic_loss`, :func:`actor_loss`,
:func:`alpha_loss`) that a test can call alone; :func:`make_sac` closes them over the
networks and the config and makes one update of all three.

- Critics: twin Q functions regressed on the soft TD target
  ``y = s_r * r + gamma * discount * (min_j Q'_j(s', a') - alpha * log pi(a'|s'))``,
  ``a' ~ pi(.|s')``, with Polyak-averaged target critics ``Q'``. ``discount`` is 0 only on
  true terminations, so time-limit truncations still bootstrap.
- Actor: minimises ``E[alpha * log pi(a|s) - min_j Q_j(s, a)]`` with reparameterised actions.
- Temperature: automatic, minimising ``E[-log alpha * (log pi(a|s) + target_entropy)]``, or
  fixed (``SACConfig.fixed_alpha``).
- Reference policy: the state holds an immutable snapshot ``pi_ref`` (``SACState.reference``),
  replaced only by :func:`take_snapshot`. SAC itself never reads it; an algorithm may add a
  term of it to the soft value through the one hook :class:`SoftTerm` of :func:`make_sac`: its
  ``value`` is added to ``min_j Q`` in the target (at ``s'``) and in the actor loss (at ``s``),
  evaluated at the pre-tanh sample ``u`` of ``a = tanh(u)``; its learned state (if any) is
  ``SACState.soft``, stepped after each actor step. NAIL is the one algorithm that uses it
  (:mod:`nail_jax.algorithms.nail`).
- Absorbing states (DAC): with ``make_sac(..., absorbing=True)`` the last observation
  feature flags the absorbing state that follows a termination. No action is taken there
  in the real task, so no soft term is earned or paid there: the target's soft terms are
  dropped where ``s'`` is absorbing, and the actor and temperature losses average over the
  other states only. Otherwise a policy could earn ``alpha * (H_max - H_live)`` per step
  forever by terminating and acting at maximum entropy in the absorbing state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import flax.struct
import jax
import jax.numpy as jnp
import optax

from nail_jax.absorbing import live_weight
from nail_jax.checks import check_shape
from nail_jax.gradients import make_gradient_step
from nail_jax.networks import Network, make_q_network
from nail_jax.normalization import RunningStatistics
from nail_jax.policy import Policy, PolicySnapshot, make_policy
from nail_jax.types import Transition


@dataclasses.dataclass(frozen=True)
class SoftTerm:
    """What an algorithm adds to SAC's soft value, and what it learns for it.

    Attributes:
      value: ``value(soft, policy, current, reference, alpha [], obs [B, O], u [B, A],
        log_pi [B]) -> (term [B], stat [B])``: ``term`` is added to ``min_j Q`` at
        ``(s, a = tanh(u))``; ``current`` is the :class:`~nail_jax.policy.PolicySnapshot`
        being trained (the actor differentiates through its params), ``log_pi`` its
        log-density of the action, ``policy`` the learner's :class:`Policy` (to score
        actions under either snapshot), ``soft`` the term's learned state. ``stat`` is a
        per-state statistic (gradients stopped) that ``update`` reads.
      init: ``() -> soft``, the term's learned state at the start (``None``: it learns
        nothing; the state then holds no arrays for it).
      update: ``update(soft, stat [B], live [B]) -> (soft, metrics)``: run once per SAC
        update, after the actor step, on the actor batch's ``stat`` (``live`` weighs out the
        absorbing state); ``metrics`` are scalars, logged with SAC's.
    """

    value: Callable[..., tuple[jax.Array, jax.Array]]
    init: Callable[[], Any] = lambda: None
    update: Callable[..., tuple[Any, dict]] = lambda soft, stat, live: (soft, {})


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Static SAC settings. The defaults are the Brax presets' (``nail_jax.PRESETS``).

    Attributes:
      hidden_sizes: hidden layers of the policy and of each critic.
      policy_learning_rate, critic_learning_rate, alpha_learning_rate: Adam step sizes.
      discount: ``gamma``.
      tau: Polyak rate of the target critics.
      reward_scale: ``s_r`` multiplying rewards in the TD target.
      init_alpha: initial temperature of the automatic tuning.
      fixed_alpha: if set, the temperature stays at this value and is not learned.
      target_entropy: entropy target; ``None`` means ``-action_size``.
      n_critics: number of Q functions (the target takes their minimum).
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    policy_learning_rate: float = 6e-4
    critic_learning_rate: float = 6e-4
    alpha_learning_rate: float = 6e-4
    discount: float = 0.99
    tau: float = 0.005
    reward_scale: float = 1.0
    init_alpha: float = 1.0
    fixed_alpha: float | None = None
    target_entropy: float | None = None
    n_critics: int = 2


@flax.struct.dataclass
class SACState:
    """Everything SAC learns.

    Attributes:
      policy_params, policy_opt_state: actor parameters and Adam state.
      q_params, q_opt_state: critic parameters and Adam state.
      target_q_params: Polyak-averaged critic parameters.
      log_alpha, alpha_opt_state: ``[]`` log temperature and its Adam state.
      normalizer: observation statistics used by all networks, or ``None``; kept
        current by whoever collects data, not by :meth:`SAC.update`.
      reference: ``pi_ref``, a :class:`~nail_jax.policy.PolicySnapshot`; never changed by
        ``update``.
      steps: ``[]`` int32 number of updates done.
      soft: the learned state of the algorithm's :class:`SoftTerm` (``None`` without one or
        when it learns nothing).
    """

    policy_params: Any
    policy_opt_state: optax.OptState
    q_params: Any
    q_opt_state: optax.OptState
    target_q_params: Any
    log_alpha: jax.Array
    alpha_opt_state: optax.OptState
    normalizer: RunningStatistics | None
    reference: PolicySnapshot
    steps: jax.Array
    soft: Any = None


def take_snapshot(state: SACState) -> SACState:
    """``pi_ref <- pi``: the state with its reference replaced by the current policy."""
    return state.replace(reference=PolicySnapshot(state.normalizer, state.policy_params))


def td_target(
    reward: jax.Array,
    discount: jax.Array,
    next_q: jax.Array,
    next_log_prob: jax.Array,
    alpha: jax.Array,
    gamma: float,
    reward_scale: float = 1.0,
) -> jax.Array:
    """Soft TD target ``s_r r + gamma * discount * (min_j next_q_j - alpha * next_log_prob)``.

    Args:
      reward, discount, next_log_prob: ``[B]``.
      next_q: ``[B, n_critics]`` target-critic values at ``(s', a')``.
      alpha: ``[]`` temperature.
    Returns:
      ``[B]`` targets (gradients stopped).
    """
    chex.assert_rank([reward, discount, next_q, next_log_prob], [1, 1, 2, 1])
    soft_value = jnp.min(next_q, axis=-1) - alpha * next_log_prob
    return jax.lax.stop_gradient(reward_scale * reward + gamma * discount * soft_value)


def live_mask(obs: jax.Array, absorbing: bool) -> jax.Array:
    """``[B]`` 1 for ordinary states, 0 for the absorbing state (all 1 without absorbing)."""
    return live_weight(obs) if absorbing else jnp.ones(obs.shape[:-1])


def live_mean(x: jax.Array, live: jax.Array) -> jax.Array:
    """The mean of ``x [B]`` over the live rows (``live [B]`` weights)."""
    return jnp.sum(live * x) / jnp.maximum(jnp.sum(live), 1.0)


def critic_loss(q_params, state: SACState, alpha: jax.Array, batch: Transition,
                key: jax.Array, *, policy: Policy, q_apply: Callable, gamma: float,
                reward_scale: float = 1.0, absorbing: bool = False,
                soft_term: SoftTerm | None = None) -> tuple[jax.Array, dict]:
    """``(loss [], metrics)``: half the summed squared TD error of every critic,
    ``0.5 * mean_b sum_j (Q_j(s, a) - y)^2`` with ``y`` of :func:`td_target` at
    ``a' ~ pi(.|s')`` and the target critics; ``soft_term`` adds to ``min_j Q'`` and, like
    ``-alpha log pi``, is dropped where ``s'`` is absorbing. Metrics: ``q_mean``,
    ``target_mean``. ``batch`` is ``[B]``; ``q_apply(normalizer, params, obs, action)``."""
    next_action, next_log_prob, next_u = policy.sample_pre_tanh(
        state.normalizer, state.policy_params, batch.next_obs, key)
    next_q = q_apply(state.normalizer, state.target_q_params, batch.next_obs, next_action)
    live = live_mask(batch.next_obs, absorbing)  # no soft terms in the absorbing state
    if soft_term is not None:
        current = PolicySnapshot(state.normalizer, state.policy_params)
        bonus, _ = soft_term.value(state.soft, policy, current, state.reference, alpha,
                                   batch.next_obs, next_u, next_log_prob)
        next_q = next_q + (live * bonus)[:, None]
    target = td_target(batch.reward, batch.discount, next_q, live * next_log_prob, alpha,
                       gamma, reward_scale)
    q = q_apply(state.normalizer, q_params, batch.obs, batch.action)
    loss = 0.5 * jnp.mean(jnp.sum((q - target[:, None]) ** 2, axis=-1))
    return loss, {"q_mean": jnp.mean(q), "target_mean": jnp.mean(target)}


def actor_loss(policy_params, state: SACState, alpha: jax.Array, obs: jax.Array,
               live: jax.Array, key: jax.Array, *, policy: Policy, q_apply: Callable,
               soft_term: SoftTerm | None = None) -> tuple[jax.Array, tuple]:
    """``(loss [], (log_pi [B], stat [B] or None))``: ``E[alpha log pi(a|s) - min_j Q_j(s, a)
    - term]`` over the live rows of ``obs [B, O]`` (``live [B]``), ``a ~ pi(.|s)``
    reparameterised, ``term, stat`` of ``soft_term.value``; ``log_pi`` (gradients stopped)
    feeds :func:`alpha_loss`, ``stat`` the soft term's update."""
    action, log_pi, u = policy.sample_pre_tanh(state.normalizer, policy_params, obs, key)
    q = jnp.min(q_apply(state.normalizer, state.q_params, obs, action), axis=-1)
    stat = None
    if soft_term is not None:
        current = PolicySnapshot(state.normalizer, policy_params)
        term, stat = soft_term.value(state.soft, policy, current, state.reference, alpha, obs,
                                     u, log_pi)
        q = q + term
        stat = jax.lax.stop_gradient(stat)
    return live_mean(alpha * log_pi - q, live), (jax.lax.stop_gradient(log_pi), stat)


def alpha_loss(log_alpha: jax.Array, log_pi: jax.Array, live: jax.Array, *,
               target_entropy: float) -> tuple[jax.Array, tuple]:
    """``(loss [], ())``: ``-E[log alpha * (log pi(a|s) + target_entropy)]`` over the live rows
    of ``log_pi [B]`` (``live [B]``); its minimum moves the entropy towards the target."""
    return -live_mean(log_alpha * (log_pi + target_entropy), live), ()


@dataclasses.dataclass(frozen=True)
class SAC:
    """An SAC learner: networks and pure functions over :class:`SACState`.

    Attributes:
      policy: the :class:`~nail_jax.policy.Policy` it trains (act, sample, log-prob).
      policy_network, q_network: ``(init, apply)`` pairs.
      init: ``init(key, normalizer=None) -> SACState``.
      update: ``update(state, batch: Transition [B], key) -> (state, metrics)``; one
        critic, actor and temperature step and a target update.
      sample_action, deterministic_action, log_prob, act: ``policy.sample``, ``.mode``,
        ``.log_prob`` and ``.act``.
    """

    policy: Policy
    policy_network: Network
    q_network: Network
    init: Callable[..., SACState]
    update: Callable[..., tuple[SACState, dict]]
    sample_action: Callable[..., tuple[jax.Array, jax.Array]]
    deterministic_action: Callable[..., jax.Array]
    log_prob: Callable[..., jax.Array]
    act: Callable[..., jax.Array]


def make_sac(obs_size: int, action_size: int, config: SACConfig = SACConfig(),
             absorbing: bool = False, soft_term: SoftTerm | None = None) -> SAC:
    """Builds an SAC learner for ``[obs_size]`` observations and ``[action_size]`` actions.

    With ``absorbing`` the last observation feature is DAC's absorbing-state flag (1 in
    the absorbing state, 0 elsewhere); ``soft_term`` is added to the soft value (see the
    module docstring; NAIL's is :func:`nail_jax.algorithms.nail.make_soft_term`).

    Metrics of ``update``: ``critic_loss``, ``actor_loss``, ``alpha_loss``, ``alpha``,
    ``entropy`` (``-mean log pi`` over live states), ``q_mean``, ``target_mean``, and those
    of ``soft_term.update``.
    """
    policy = make_policy(obs_size, action_size, config.hidden_sizes)
    q_net = make_q_network(obs_size, action_size, config.hidden_sizes, config.n_critics)
    policy_opt = optax.adam(config.policy_learning_rate)
    q_opt = optax.adam(config.critic_learning_rate)
    alpha_opt = optax.adam(config.alpha_learning_rate)
    target_entropy = (
        -float(action_size) if config.target_entropy is None else config.target_entropy
    )

    def init(key: jax.Array, normalizer: RunningStatistics | None = None) -> SACState:
        k_pi, k_q = jax.random.split(key)
        policy_params = policy.network.init(k_pi)
        q_params = q_net.init(k_q)
        init_alpha = config.init_alpha if config.fixed_alpha is None else config.fixed_alpha
        log_alpha = jnp.asarray(jnp.log(init_alpha), jnp.float32)
        return SACState(
            policy_params=policy_params,
            policy_opt_state=policy_opt.init(policy_params),
            q_params=q_params,
            q_opt_state=q_opt.init(q_params),
            target_q_params=q_params,
            log_alpha=log_alpha,
            alpha_opt_state=alpha_opt.init(log_alpha),
            normalizer=normalizer,
            reference=PolicySnapshot(normalizer, policy_params),
            steps=jnp.zeros((), jnp.int32),
            soft=None if soft_term is None else soft_term.init(),
        )

    critic_step = make_gradient_step(
        lambda *args: critic_loss(*args, policy=policy, q_apply=q_net.apply,
                                  gamma=config.discount, reward_scale=config.reward_scale,
                                  absorbing=absorbing, soft_term=soft_term), q_opt)
    actor_step = make_gradient_step(
        lambda *args: actor_loss(*args, policy=policy, q_apply=q_net.apply,
                                 soft_term=soft_term), policy_opt)
    alpha_step = make_gradient_step(
        lambda *args: alpha_loss(*args, target_entropy=target_entropy), alpha_opt)

    def update(state: SACState, batch: Transition, key: jax.Array):
        n = batch.obs.shape[0] if batch.obs.ndim else 0
        check_shape(batch.obs, (n, obs_size), "batch.obs", floating=True)
        check_shape(batch.action, (n, action_size), "batch.action", floating=True)
        check_shape(batch.reward, (n,), "batch.reward", floating=True)
        check_shape(batch.discount, (n,), "batch.discount", floating=True)
        check_shape(batch.next_obs, (n, obs_size), "batch.next_obs", floating=True)
        k_critic, k_actor = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        q_params, q_opt_state, c_loss, q_metrics = critic_step(
            state.q_params, state.q_opt_state, state, alpha, batch, k_critic
        )
        state = state.replace(q_params=q_params, q_opt_state=q_opt_state)
        live = live_mask(batch.obs, absorbing)
        policy_params, policy_opt_state, a_loss, (log_pi, stat) = actor_step(
            state.policy_params, state.policy_opt_state, state, alpha, batch.obs, live, k_actor
        )
        if config.fixed_alpha is None:
            log_alpha, alpha_opt_state, t_loss, _ = alpha_step(
                state.log_alpha, state.alpha_opt_state, log_pi, live
            )
        else:
            log_alpha, alpha_opt_state = state.log_alpha, state.alpha_opt_state
            t_loss = jnp.zeros(())
        soft, soft_metrics = state.soft, {}
        if soft_term is not None:
            soft, soft_metrics = soft_term.update(state.soft, stat, live)
        target_q_params = optax.incremental_update(q_params, state.target_q_params, config.tau)
        new_state = state.replace(
            policy_params=policy_params,
            policy_opt_state=policy_opt_state,
            target_q_params=target_q_params,
            log_alpha=log_alpha,
            alpha_opt_state=alpha_opt_state,
            steps=state.steps + 1,
            soft=soft,
        )
        metrics = {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "alpha_loss": t_loss,
            "alpha": alpha,
            "entropy": -live_mean(log_pi, live),
            **q_metrics,
            **soft_metrics,
        }
        return new_state, metrics

    return SAC(policy, policy.network, q_net, init, update, policy.sample, policy.mode,
               policy.log_prob, policy.act)
