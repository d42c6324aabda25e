"""Named presets: overrides of :class:`nail_jax.training.config.TrainConfig` fields.

Three tables, applied by :func:`nail_jax.training.config.make_config` in this order:
:data:`ALGO_DEFAULTS` (per algorithm), :data:`PRESETS` (per task), then
:data:`ALGO_PRESETS` (per task and algorithm). Nested fields are written ``"sac.x"``.
"""

from __future__ import annotations

from typing import Any

# Brax locomotion, following brax's SAC settings for halfcheetah (64 envs, batch 256,
# 8 updates per 64 env steps, lr 6e-4, discount 0.99, normalised observations).
_BRAX_LOCOMOTION: dict[str, Any] = {
    "backend": "spring", "episode_length": 1000, "num_envs": 64, "total_steps": 1_000_000,
    "epoch_steps": 10_240, "warmup_steps": 8_192, "batch_size": 256,
    "sac_updates_per_iteration": 8, "disc_updates_per_iteration": 1,
    "replay_capacity": 1_000_000, "num_eval_episodes": 8,
    "sac.policy_learning_rate": 6e-4, "sac.critic_learning_rate": 6e-4,
    "sac.alpha_learning_rate": 6e-4, "disc.learning_rate": 3e-4,
}

# Named presets: overrides of TrainConfig fields (nested fields as "sac.x"). Each is
# documented in the README with how it was chosen.
PRESETS: dict[str, dict[str, Any]] = {
    # A 2-D point mass (nail_jax.envs.toy.PointMass) with scripted-expert demonstrations:
    # about 40 s per run on a 2-core CPU. Epoch length and update ratio from a small sweep
    # of both algorithms (README, Presets).
    "point_mass": {
        "env": "point_mass", "demos": "point_mass", "episode_length": 30, "num_envs": 16,
        "total_steps": 40_320, "epoch_steps": 800, "warmup_steps": 320, "batch_size": 128,
        "sac_updates_per_iteration": 4, "replay_capacity": 50_000,
        "sac.hidden_sizes": (64, 64), "sac.discount": 0.9,
        "sac.policy_learning_rate": 1e-3, "sac.critic_learning_rate": 1e-3,
        "sac.alpha_learning_rate": 1e-3, "disc.hidden_sizes": (64, 64),
        "disc.learning_rate": 1e-3,
    },
    "halfcheetah": {"env": "halfcheetah", "demos": "halfcheetah", **_BRAX_LOCOMOTION},
    # hopper on brax's own hopper backend, `generalized`: on `spring` no SAC setting tried
    # made the hopper hop (README, Bundled demonstrations). Epochs of 2,560 env steps as on
    # spring below. 5 seeds x 1M: AIL 0.924, NAIL 0.795 (IQM 0.893; one seed lost its gait
    # at 914k), 0.785 and 0.728 at 500k (README, Results).
    "hopper": {"env": "hopper", "demos": "hopper", **_BRAX_LOCOMOTION,
               "backend": "generalized", "epoch_steps": 2_560},
    # The hopper preset until the generalized-backend expert: spring, with the demonstrations
    # of an expert that lunges and falls after ~144 steps. Epochs of 2,560 env steps (pi_ref
    # swapped 4x as often as with 10,240), 5 seeds x 500k: AIL 0.940 (0.918 with 10,240),
    # NAIL 0.919 (0.866; one seed's discriminator had won outright and terminating paid).
    # README, Results.
    "hopper_spring": {"env": "hopper", "demos": "hopper_spring", **_BRAX_LOCOMOTION,
                      "epoch_steps": 2_560},
}
# `nail-jax train` with no arguments: NAIL on halfcheetah with the bundled demonstrations,
# short enough to finish in minutes on a 2-core CPU (see the README for what it reaches).
PRESETS["default"] = {**PRESETS["halfcheetah"], "total_steps": 8_192 + 9 * 10_240}

# Settings of a preset for one algorithm only, applied after the preset (README Results).
# Brax tasks: NAIL with log pi_ref at weight 0.03 and SAC's learned temperature (entropy held
# at -|A|). 5 seeds x 1M: halfcheetah 0.900 (weight 0.1: 0.891); hopper 0.766, IQM 0.941,
# and 0.924 on a second draw of 5 seeds (weight 0.1: 0.795, IQM 0.893; it learns slower).
# hopper_spring keeps weight 0.1, measured there (5 x 500k, epochs of 2,560: 0.92); at a
# fixed temperature of 0.1 instead, hopper's entropy collapses and seeds get stuck (0.14).
_NAIL_BRAX = {"nail": {"sac.fixed_alpha": None, "sac.kl_weight": 0.03}}
_NAIL_BRAX_0_1 = {"nail": {"sac.fixed_alpha": None, "sac.kl_weight": 0.1}}
ALGO_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "halfcheetah": _NAIL_BRAX,
    # rl: the settings that trained the bundled hopper expert (brax's hopper discount).
    "hopper": {**_NAIL_BRAX, "rl": {"sac.discount": 0.997, "epoch_steps": 10_240}},
    "hopper_spring": _NAIL_BRAX_0_1,
}
ALGO_PRESETS["default"] = ALGO_PRESETS["halfcheetah"]

# Algorithm defaults applied before presets and user overrides: NAIL's objective is the
# bound of the note (eq. 7-8) at temperature 1, and its log pi_ref term enters SAC's soft
# value (sac.reference_kl, see nail_jax/sac.py) instead of the replayed reward.
ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    "nail": {"sac.fixed_alpha": 1.0, "sac.reference_kl": True},
    "ail": {},
    "rl": {},
}
