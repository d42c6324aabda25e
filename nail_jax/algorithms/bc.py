"""BC: behavioural cloning of the demonstrations (:mod:`nail_jax.learners.bc`), no env steps.

Each iteration is ``sac_updates_per_iteration`` maximum-likelihood steps of SAC's policy on
demonstration pairs, so a BC epoch makes as many policy updates as an AIL or NAIL epoch of
the same config; its observation statistics are the demonstrations'.
"""

from __future__ import annotations

import jax.numpy as jnp

from nail_jax.algorithms.base import Algorithm, Iteration, Parts


def make_iteration(parts: Parts) -> Iteration:
    """``sac_updates_per_iteration`` BC steps (:attr:`Parts.clone`)."""
    steps = parts.config.sac_updates_per_iteration

    def iteration(state, pairs, key):
        sac_state, metrics = parts.clone(state.sac, pairs, key, steps)
        return state.replace(sac=sac_state), {f"bc_{k}": jnp.mean(v) for k, v in metrics.items()}

    return iteration


BC = Algorithm(
    name="bc", summary="behavioural cloning: maximum likelihood of the demonstrated actions",
    needs_demonstrations=True, needs_discriminator=False, steps_envs=False, metric="score",
    reward="none: it clones the demonstrated actions", make_iteration=make_iteration,
    metrics=("bc_nll", "bc_mse", "bc_log_std"))
