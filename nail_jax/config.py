"""Frozen training configs, named presets, and ``key=value`` overrides.

Configs are static: factories close over them; they never enter traced pytrees.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from nail_jax.discriminator import DiscriminatorConfig
from nail_jax.sac import SACConfig

ALGOS = ("nail", "ail", "rl")


class ConfigError(ValueError):
    """An invalid configuration; the message says which field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (per seed).

    Attributes:
      algo: ``nail`` (reward ``-log r + log pi_ref``), ``ail`` (``-log r``) or ``rl``
        (the environment reward; used to train experts).
      env, backend: the task (see :func:`nail_jax.envs.make_env`).
      demos: a demonstration file or bundled dataset name (ignored by ``rl``).
      demo_trajectories: how many demonstration episodes to use (the first K).
      demo_subsample: keep every n-th demonstration step (DAC subsampling; 1 keeps all).
      episode_length: time limit of training and evaluation episodes.
      num_envs: parallel training envs per seed.
      total_steps: environment steps per seed, warm-up included.
      epoch_steps: environment steps per epoch; ``pi_ref`` is swapped at each epoch end.
      warmup_steps: steps collected with the initial policy before any update.
      sac_updates_per_iteration: SAC gradient steps per vectorised env step
        (``num_envs`` transitions).
      disc_updates_per_iteration: discriminator steps per vectorised env step.
      batch_size: SAC and discriminator batch size (per class for the discriminator).
      replay_capacity: replay buffer size in transitions.
      disc_window: the discriminator's policy samples come from the most recent
        ``disc_window`` transitions; 0 means the whole replay buffer.
      absorbing: DAC absorbing states for episodes that terminate.
      normalize_observations: running mean/std normalisation of observations.
      num_eval_episodes: deterministic evaluation episodes at each evaluated epoch's end.
      eval_every: evaluate at the end of every ``eval_every``-th epoch and of the last;
        the other epochs log no ``eval_return``/``score`` (``null``). Training is the same
        for any value (the evaluation has its own key). On a GPU the 1,000-step
        evaluation takes most of an epoch (``experiments/results/benchmark_h200.json``).
      sac, disc: learner settings.
    """

    algo: str = "nail"
    env: str = "point_mass"
    backend: str = "spring"
    demos: str = "point_mass"
    demo_trajectories: int = 4
    demo_subsample: int = 1
    episode_length: int = 1000
    num_envs: int = 16
    total_steps: int = 100_000
    epoch_steps: int = 5_120
    warmup_steps: int = 1_024
    sac_updates_per_iteration: int = 1
    disc_updates_per_iteration: int = 1
    batch_size: int = 256
    replay_capacity: int = 1_000_000
    disc_window: int = 0
    absorbing: bool = True
    normalize_observations: bool = True
    num_eval_episodes: int = 8
    eval_every: int = 1
    sac: SACConfig = SACConfig()
    disc: DiscriminatorConfig = DiscriminatorConfig()

    @property
    def iterations_per_epoch(self) -> int:
        return self.epoch_steps // self.num_envs

    @property
    def num_epochs(self) -> int:
        return (self.total_steps - self.warmup_steps) // self.epoch_steps

    def evaluates(self, epoch):
        """Whether epoch ``epoch`` (1-based; an int or an int array) ends with an evaluation."""
        return (epoch % self.eval_every == 0) | (epoch == self.num_epochs)


def validate_config(config: TrainConfig) -> TrainConfig:
    """Checks values and relations between fields; returns ``config`` or raises ConfigError."""
    from nail_jax.envs import check_env  # deferred: envs imports brax

    if config.algo not in ALGOS:
        raise ConfigError(f"unknown algo {config.algo!r}; choose one of: {', '.join(ALGOS)}")
    try:
        check_env(config.env, config.backend)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    positive = ["total_steps", "epoch_steps", "num_envs", "batch_size", "replay_capacity",
                "episode_length", "num_eval_episodes", "eval_every", "demo_trajectories",
                "demo_subsample", "sac_updates_per_iteration"]
    for name in positive:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ["warmup_steps", "disc_updates_per_iteration", "disc_window"]:
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(config, name)}")
    for name in ["epoch_steps", "warmup_steps"]:
        if getattr(config, name) % config.num_envs:
            raise ConfigError(
                f"{name}={getattr(config, name)} must be a multiple of num_envs={config.num_envs}")
    if config.warmup_steps < config.num_envs:
        raise ConfigError(
            f"warmup_steps={config.warmup_steps} must be at least num_envs={config.num_envs} so "
            "the replay buffer holds data before the first update")
    if config.num_epochs < 1:
        raise ConfigError(
            f"total_steps={config.total_steps} leaves no full epoch after warmup_steps="
            f"{config.warmup_steps} with epoch_steps={config.epoch_steps}; raise --steps to at "
            f"least {config.warmup_steps + config.epoch_steps}")
    if config.algo != "rl" and config.disc_updates_per_iteration < 1:
        raise ConfigError(f"algo {config.algo} needs disc_updates_per_iteration >= 1")
    if config.sac.reference_kl and config.algo != "nail":
        raise ConfigError("sac.reference_kl adds NAIL's log pi_ref term; it needs algo nail")
    if config.sac.kl_weight is not None and not config.sac.reference_kl:
        raise ConfigError("sac.kl_weight weighs the log pi_ref soft term; it needs "
                          "sac.reference_kl=true (algo nail)")
    if config.sac.kl_weight is not None and config.sac.kl_weight < 0:
        raise ConfigError(f"sac.kl_weight must be >= 0, got {config.sac.kl_weight}")
    if config.replay_capacity < config.num_envs:
        raise ConfigError("replay_capacity must hold at least one step of every env")
    return config


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
    # A 2-D point mass (nail_jax.envs.PointMass) with scripted-expert demonstrations:
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


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _parse_value(text: str, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        non_none = [a for a in args if a is not type(None)]
        return _parse_value(text, non_none[0], key)
    try:
        if typ is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if typ is int:
            return int(float(text)) if float(text).is_integer() else int(text)
        if typ is float:
            return float(text)
        if typ is str:
            return text
        if origin is tuple:
            values = json.loads(text if text.startswith("[") else f"[{text}]")
            return tuple(int(v) for v in values)
    except (ValueError, json.JSONDecodeError):
        pass
    raise ConfigError(f"cannot parse {key}={text!r} as {getattr(typ, '__name__', typ)}")


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Returns ``config`` with ``{"field" or "sac.field" / "disc.field": value}`` replaced.

    String values are parsed according to the field's type (``--set`` on the CLI).
    Unknown keys raise ConfigError listing the valid ones.
    """
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {"sac": {}, "disc": {}}
    hints = _field_types(TrainConfig)
    for key, value in overrides.items():
        group, _, name = key.rpartition(".")
        if group:
            if group not in nested:
                raise ConfigError(f"unknown option group {group!r} in {key!r}; use sac.* or disc.*")
            sub_cls = type(getattr(config, group))
            sub_hints = _field_types(sub_cls)
            if name not in sub_hints:
                raise ConfigError(f"unknown option {key!r}; {group}.* options are: "
                                  + ", ".join(sorted(sub_hints)))
            typ = sub_hints[name]
            nested[group][name] = _parse_value(value, typ, key) if isinstance(value, str) else value
        else:
            if name not in hints or name in nested:
                raise ConfigError(f"unknown option {key!r}; options are: "
                                  + ", ".join(sorted(set(hints) - set(nested)))
                                  + ", sac.*, disc.*")
            typ = hints[name]
            top[name] = _parse_value(value, typ, key) if isinstance(value, str) else value
    for group, values in nested.items():
        if values:
            top[group] = dataclasses.replace(getattr(config, group), **values)
    return dataclasses.replace(config, **top)


def make_config(algo: str = "nail", preset: str | None = None,
                overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Algorithm defaults, then the preset and its settings for ``algo``
    (:data:`ALGO_PRESETS`), then ``overrides``; validated."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown algo {algo!r}; choose one of: {', '.join(ALGOS)}")
    config = apply_overrides(TrainConfig(algo=algo), ALGO_DEFAULTS[algo])
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        config = apply_overrides(config, PRESETS[preset])
        config = apply_overrides(config, ALGO_PRESETS.get(preset, {}).get(algo, {}))
    config = apply_overrides(config, overrides or {})
    return validate_config(config)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """A JSON-able dict of the config (nested learner configs as sub-dicts)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (lists become tuples)."""
    data = dict(data)
    sac = SACConfig(**{k: tuple(v) if isinstance(v, list) else v
                       for k, v in data.pop("sac").items()})
    disc = DiscriminatorConfig(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.pop("disc").items()})
    return TrainConfig(**data, sac=sac, disc=disc)
