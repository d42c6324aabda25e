"""RL: SAC on the environment's own reward (trains the bundled experts)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nail_jax.algorithms.ail import SAC_METRICS
from nail_jax.algorithms.base import Algorithm, Iteration, Parts


def make_iteration(parts: Parts) -> Iteration:
    """One env step acting with ``pi_ref``, then the SAC updates on the env reward."""

    def iteration(state, pairs, key):
        del pairs
        k_act, _, k_sample, k_sac = jax.random.split(key, 4)  # the key layout AIL's has
        state = parts.step_envs(state, state.sac.reference, k_act)
        flat = parts.sample_replay(state.replay, k_sample)
        sac_state, s_metrics = parts.sac_steps(state.sac, flat, k_sac)
        return state.replace(sac=sac_state), {"reward_used": jnp.mean(flat.reward), **s_metrics}

    return iteration


RL = Algorithm(
    name="rl", summary="SAC on the env reward (trains experts)",
    needs_demonstrations=False, needs_discriminator=False, steps_envs=True,
    metric="eval_return", reward="the env reward", make_iteration=make_iteration,
    metrics=("reward_used", *SAC_METRICS))
