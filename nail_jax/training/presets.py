"""Named presets: one complete, flat table of settings per preset and algorithm.

``PRESETS[preset][algo]`` maps every config key (``"total_steps"``, ``"sac.discount"``,
``"disc.learning_rate"``, ...) to its value; :func:`nail_jax.make_config` builds a
:class:`~nail_jax.TrainConfig` from one table and then applies the user's overrides. Nothing
else enters: no algorithm defaults, no second layer. The tables are written below as unions of
named parts whose keys never overlap (:func:`_table` refuses a key given twice, so no part can
undo another) and must name every key (:mod:`nail_jax.training.config` checks that on import).

How each preset was chosen and what it reaches: ``docs/presets.md``.
"""

from __future__ import annotations

from typing import Any

Table = dict[str, Any]

# Settings every preset shares.
_COMMON: Table = {
    "demo_trajectories": 4, "demo_subsample": 1, "disc_window": 0, "absorbing": True,
    "normalize_observations": True, "num_eval_episodes": 8, "eval_every": 1,
    "disc_updates_per_iteration": 1,
    "sac.tau": 0.005, "sac.reward_scale": 1.0, "sac.init_alpha": 1.0, "sac.n_critics": 2,
    "disc.spectral_norm": False, "disc.gradient_penalty": 10.0, "disc.state_only": False,
    "reward": "ail", "bc_warmstart_steps": 0,
}


# The objective of each algorithm: the algorithm, the temperature and, for NAIL, how its
# log pi_ref term is trained (nail.mode, nail.weight: nail_jax/algorithms/nail.py).
def _objective(algo: str, fixed_alpha: float | None = None,
               target_entropy: float | None = None, **nail: Any) -> Table:
    """The settings that say what SAC optimises: the algorithm, the temperature, NAIL's term."""
    return {"algo": algo, "sac.fixed_alpha": fixed_alpha, "sac.target_entropy": target_entropy,
            **{f"nail.{k}": v for k, v in nail.items()}}


# How NAIL's KL to pi_ref enters: at a constant weight, by its single-sample estimate
# (kl "sample") or in closed form ("analytic"; docs/presets.md says which preset takes which).
_NAIL_KL: Table = {"kl": "sample", "kl_target": None, "weight_learning_rate": 1e-4}


def _nail_weighted(weight: float, kl: str = "sample") -> Table:
    """NAIL with SAC's learned temperature and the log pi_ref term at ``weight``, its KL to
    pi_ref estimated as ``kl`` says."""
    return _objective("nail", mode="soft_value", weight=weight, **{**_NAIL_KL, "kl": kl})


# the note's bound: w = alpha = 1
_NAIL_BOUND = _objective("nail", fixed_alpha=1.0, mode="soft_value", weight=None, **_NAIL_KL)
_AIL = _objective("ail")
_BC = _objective("bc")  # behavioural cloning: as many policy updates as AIL/NAIL make
_RL = _objective("rl")

# Brax locomotion, following brax's SAC settings for halfcheetah (64 envs, batch 256,
# 8 updates per 64 env steps, lr 6e-4, normalised observations).
_BRAX_LOCOMOTION: Table = {
    "episode_length": 1000, "num_envs": 64, "total_steps": 1_000_000,
    "warmup_steps": 8_192, "batch_size": 256, "sac_updates_per_iteration": 8,
    "replay_capacity": 1_000_000,
    "sac.hidden_sizes": (256, 256), "sac.policy_learning_rate": 6e-4,
    "sac.critic_learning_rate": 6e-4, "sac.alpha_learning_rate": 6e-4,
    "disc.hidden_sizes": (256, 256), "disc.learning_rate": 3e-4,
}


def _table(*parts: Table) -> Table:
    """The union of ``parts``; a key in two parts is an error (no part undoes another)."""
    out: Table = {}
    for part in parts:
        twice = sorted(set(out) & set(part))
        if twice:
            raise ValueError(f"preset table names {', '.join(twice)} twice")
        out.update(part)
    return out


def _preset(*shared: Table, **per_algo: Table | tuple[Table, ...]) -> dict[str, Table]:
    """``{algo: _COMMON | shared parts | that algo's parts}``, every union key-disjoint."""
    return {algo: _table(_COMMON, *shared, *(parts if isinstance(parts, tuple) else (parts,)))
            for algo, parts in per_algo.items()}


_HOPPER_IMITATION: Table = {"sac.discount": 0.99, "epoch_steps": 2_560}

PRESETS: dict[str, dict[str, Table]] = {
    # A 2-D point mass (nail_jax.envs.toy.PointMass) with scripted-expert demonstrations.
    "point_mass": _preset(
        {"env": "point_mass", "backend": "spring", "demos": "point_mass", "episode_length": 30,
         "num_envs": 16, "total_steps": 40_320, "epoch_steps": 800, "warmup_steps": 320,
         "batch_size": 128, "sac_updates_per_iteration": 4, "replay_capacity": 50_000,
         "sac.hidden_sizes": (64, 64), "sac.discount": 0.9, "sac.policy_learning_rate": 1e-3,
         "sac.critic_learning_rate": 1e-3, "sac.alpha_learning_rate": 1e-3,
         "disc.hidden_sizes": (64, 64), "disc.learning_rate": 1e-3},
        nail=_NAIL_BOUND, ail=_AIL, bc=_BC, rl=_RL),
    # Brax inverted pendulum on its own backend (`generalized`; on `spring` SAC did not learn
    # to balance), 16 envs, one SAC step per 4 env steps: a couple of minutes on a 2-core CPU.
    "inverted_pendulum": _preset(
        {"env": "inverted_pendulum", "backend": "generalized", "demos": "inverted_pendulum",
         "episode_length": 1000, "num_envs": 16, "epoch_steps": 4_096, "warmup_steps": 1_024,
         "batch_size": 256, "sac_updates_per_iteration": 4, "replay_capacity": 1_000_000,
         "sac.hidden_sizes": (256, 256), "sac.discount": 0.99,
         "sac.policy_learning_rate": 6e-4, "sac.critic_learning_rate": 6e-4,
         "sac.alpha_learning_rate": 6e-4, "disc.hidden_sizes": (256, 256),
         "disc.learning_rate": 3e-4},
        # the closed-form KL: chosen on seeds 0-9, confirmed on fresh seeds 10-19 (presets.md)
        nail=(_nail_weighted(0.03, kl="analytic"), {"total_steps": 99_328}),
        ail=(_AIL, {"total_steps": 99_328}), bc=(_BC, {"total_steps": 99_328}),
        # the bundled expert: entropy held at -3 (action noise small beside the 300 N range)
        rl=(_objective("rl", target_entropy=-3.0), {"total_steps": 41_984})),
    "halfcheetah": _preset(
        {"env": "halfcheetah", "backend": "spring", "demos": "halfcheetah",
         "epoch_steps": 10_240, "sac.discount": 0.99}, _BRAX_LOCOMOTION,
        nail=_nail_weighted(0.03), ail=_AIL, bc=_BC, rl=_RL),
    # hopper on brax's own hopper backend, `generalized` (on `spring` no SAC setting tried made
    # the hopper hop); epochs of 2,560 env steps; its expert with brax's hopper discount.
    "hopper": _preset(
        {"env": "hopper", "backend": "generalized", "demos": "hopper"}, _BRAX_LOCOMOTION,
        nail=(_nail_weighted(0.03), _HOPPER_IMITATION), ail=(_AIL, _HOPPER_IMITATION),
        bc=(_BC, _HOPPER_IMITATION), rl=(_RL, {"sac.discount": 0.997, "epoch_steps": 10_240})),
    # walker2d, the other terminating biped, as hopper: generalized backend (on spring its SAC
    # expert fell after ~170 steps), epochs of 2,560 for imitation, the expert's discount 0.997.
    "walker2d": _preset(
        {"env": "walker2d", "backend": "generalized", "demos": "walker2d"}, _BRAX_LOCOMOTION,
        nail=(_nail_weighted(0.03), _HOPPER_IMITATION), ail=(_AIL, _HOPPER_IMITATION),
        bc=(_BC, _HOPPER_IMITATION), rl=(_RL, {"sac.discount": 0.997, "epoch_steps": 10_240})),
    # ant on spring (about 3x the env steps per second of generalized here), as halfcheetah.
    "ant": _preset(
        {"env": "ant", "backend": "spring", "demos": "ant", "epoch_steps": 10_240,
         "sac.discount": 0.99}, _BRAX_LOCOMOTION,
        nail=_nail_weighted(0.03), ail=_AIL, bc=_BC, rl=_RL),
    # The hopper preset until the generalized-backend expert (spring, an expert that falls).
    "hopper_spring": _preset(
        {"env": "hopper", "backend": "spring", "demos": "hopper_spring", "epoch_steps": 2_560,
         "sac.discount": 0.99}, _BRAX_LOCOMOTION,
        nail=_nail_weighted(0.1), ail=_AIL, bc=_BC, rl=_RL),
}
# `nail-jax train` with no arguments, `make_config()` and `TrainConfig()`: the preset named here,
# also reachable as "default" (the one place that says which).
DEFAULT_PRESET = "inverted_pendulum"
PRESETS["default"] = PRESETS[DEFAULT_PRESET]
