"""Pytrees that flow between the modules.

Shapes below are for one transition; batches add leading axes (``[B, ...]``,
``[G, B, ...]`` for scanned gradient steps, ``[S, ...]`` for vmapped seeds).
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax

Params = Any
PRNGKey = jax.Array


@flax.struct.dataclass
class Transition:
    """One environment transition ``(s, a, r, s')``.

    Attributes:
      obs: ``[obs_size]`` observation ``s``.
      action: ``[action_size]`` action ``a`` in ``[-1, 1]``.
      reward: ``[]`` reward. Imitation learners overwrite it at SAC-batch time.
      discount: ``[]`` bootstrap mask, ``0.0`` only on a *true* termination.
        A time-limit truncation keeps ``1.0`` and bootstraps from ``next_obs``,
        the true final observation of the episode (STYLE practice 9).
      next_obs: ``[obs_size]`` observation ``s'``.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    discount: jax.Array
    next_obs: jax.Array


@flax.struct.dataclass
class DiscriminatorBatch:
    """A balanced discriminator batch.

    Attributes:
      policy_obs: ``[B, obs_size]`` states visited by the policy (class "fake", label 1).
      policy_action: ``[B, action_size]`` policy actions.
      expert_obs: ``[B, obs_size]`` demonstration states (class "real", label 0).
      expert_action: ``[B, action_size]`` demonstration actions.
      policy_next_obs, expert_next_obs: ``[B, obs_size]`` the states that followed, for a
        state-only discriminator (``(s, s')`` pairs); ``None`` otherwise.
    """

    policy_obs: jax.Array
    policy_action: jax.Array
    expert_obs: jax.Array
    expert_action: jax.Array
    policy_next_obs: jax.Array | None = None
    expert_next_obs: jax.Array | None = None
