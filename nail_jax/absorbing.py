"""DAC's absorbing state (Kostrikov et al. 2018): the one definition of its observation layout.

With absorbing states every observation gets one extra last feature, the absorbing flag:
0 for the env's ordinary states, 1 in the absorbing state ``[0, ..., 0, 1]`` that follows
a true termination. The env loop (:mod:`nail_jax.envs.loop`), the evaluator and the
demonstration pairs (:func:`nail_jax.data.demonstrations.expert_pairs`) all build their
observations with these functions; ``xp`` is the array module, ``numpy`` (the default,
for the numpy-only data layer) or ``jax.numpy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def absorbing_state(obs_size: int, xp: Any = np) -> Any:
    """``[obs_size + 1]`` float32: the absorbing state, zeros with the flag 1 last."""
    return xp.concatenate([xp.zeros(obs_size, xp.float32), xp.ones(1, xp.float32)])


def augment_obs(obs: Any, absorbing: bool, xp: Any = np) -> Any:
    """``[..., O] -> [..., O + 1]``: ``obs`` of ordinary states with the flag 0 appended;
    ``obs`` itself when not ``absorbing``."""
    if not absorbing:
        return obs
    return xp.concatenate([obs, xp.zeros((*obs.shape[:-1], 1), obs.dtype)], axis=-1)


def live_weight(obs: Any) -> Any:
    """``[..., O + 1] -> [...]``: 1 for ordinary states, 0 for the absorbing state."""
    return 1.0 - obs[..., -1]


def zero_absorbing_action(obs: Any, action: Any) -> Any:
    """``action [..., A]`` with the rows whose ``obs [..., O + 1]`` is absorbing set to 0.

    What the discriminator sees, on both sides: it must not tell policy from expert by the
    (meaningless) action taken in the absorbing state.
    """
    return action * live_weight(obs)[..., None]
