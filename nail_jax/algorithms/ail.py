"""AIL (note section 3, eq. 3): SAC on the discriminator's reward, DAC-style.

Each iteration: one env step acting with ``pi_ref``, discriminator steps on balanced
batches, every SAC batch relabelled with a reward of the current discriminator's logit
``l = log r`` (``config.reward``: :data:`nail_jax.learners.rewards.REWARDS`, default
``-l``), then the SAC updates. NAIL (:mod:`nail_jax.algorithms.nail`) is this iteration with
its own relabelling and a term in SAC's soft value.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from nail_jax.algorithms.base import Algorithm, Iteration, Parts
from nail_jax.learners.rewards import REWARDS, ail_reward

DISC_METRICS = ("disc_bce", "disc_accuracy_policy", "disc_accuracy_expert", "disc_logit_policy",
                "disc_logit_expert", "disc_gradient_penalty", "disc_loss")
SAC_METRICS = ("critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_mean",
               "target_mean")


def log_ratio(parts: Parts, disc_state, transitions) -> jax.Array:
    """``[N]`` discriminator logits ``log r`` of replay ``transitions [N]`` (note eq. 2)."""
    return parts.disc.log_ratio(
        disc_state, transitions.obs,
        parts.mask_absorbing_action(transitions.obs, transitions.action), transitions.next_obs)


def make_imitation_iteration(parts: Parts, relabel: Callable) -> Iteration:
    """The adversarial iteration AIL and NAIL share; ``relabel(transitions [G * B],
    disc_state, reference) -> (transitions, metrics)`` puts the algorithm's rewards on all
    of the iteration's SAC batches at once (the discriminator and ``pi_ref`` are fixed
    during the SAC steps)."""

    def iteration(state, pairs, key):
        k_act, k_disc, k_sample, k_sac = jax.random.split(key, 4)
        reference = state.sac.reference
        state = parts.step_envs(state, reference, k_act)
        disc_state, metrics = parts.disc_steps(state.disc, state.replay, pairs, k_disc)
        flat = parts.sample_replay(state.replay, k_sample)
        flat, r_metrics = relabel(flat, disc_state, reference)
        sac_state, s_metrics = parts.sac_steps(state.sac, flat, k_sac)
        return (state.replace(sac=sac_state, disc=disc_state),
                {**metrics, **r_metrics, **s_metrics})

    return iteration


def make_iteration(parts: Parts) -> Iteration:
    """AIL's iteration: the reward form ``config.reward`` of the logit."""
    reward_form = REWARDS[parts.config.reward]

    def relabel(transitions, disc_state, reference):
        del reference  # AIL never reads pi_ref
        log_r = log_ratio(parts, disc_state, transitions)
        reward = reward_form(log_r)
        return transitions.replace(reward=reward), {
            "reward_ail": jnp.mean(ail_reward(log_r)), "reward_used": jnp.mean(reward)}

    return make_imitation_iteration(parts, relabel)


AIL = Algorithm(
    name="ail",
    summary="adversarial imitation: SAC on a reward of the discriminator (-log r by default)",
    needs_demonstrations=True, needs_discriminator=True, steps_envs=True, metric="score",
    reward="a form of the discriminator logit (config.reward)", reward_forms=True,
    warm_start=True, make_iteration=make_iteration,
    metrics=(*DISC_METRICS, "reward_ail", "reward_used", *SAC_METRICS))
