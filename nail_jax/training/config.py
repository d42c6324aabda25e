"""Frozen training configs, their checks, and ``key=value`` overrides.

The named presets are :mod:`nail_jax.training.presets`. Configs are static: factories close
over them; they never enter traced pytrees.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any

from nail_jax.algorithms import ALGORITHMS
from nail_jax.algorithms.nail import NAILConfig
from nail_jax.learners.discriminator import DiscriminatorConfig
from nail_jax.learners.rewards import REWARDS
from nail_jax.learners.sac import SACConfig
from nail_jax.training.presets import DEFAULT_PRESET, PRESETS

ALGOS = tuple(ALGORITHMS)  # the built-in algorithms; the registry may gain more at run time
GROUPS = {"sac": SACConfig, "disc": DiscriminatorConfig, "nail": NAILConfig}
"""The nested option groups (``--set sac.discount=...``); ``nail`` is NAIL's alone."""

# TrainConfig's defaults are the default preset's NAIL table: the presets hold the numbers.
_DEFAULT = PRESETS[DEFAULT_PRESET]["nail"]


def _group(name: str, table: dict[str, Any]):
    prefix = name + "."
    return GROUPS[name](**{k[len(prefix):]: v for k, v in table.items() if k.startswith(prefix)})


class ConfigError(ValueError):
    """An invalid configuration; the message says which field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (per seed).

    The defaults are read from the ``default`` preset's NAIL table
    (``TrainConfig() == make_config()``). Other algorithms and presets have their own complete
    tables: build their configs with :func:`make_config` (``TrainConfig(algo="ail")`` keeps
    NAIL's ``nail`` settings and is refused by :func:`validate_config`).

    Attributes:
      algo: a name in :data:`nail_jax.algorithms.ALGORITHMS`: ``nail`` (reward
        ``-log r + log pi_ref``), ``ail`` (``-log r``), ``bc`` (behavioural cloning: maximum
        likelihood of the demonstrated actions, no env steps; its epochs make the policy
        updates of this config's AIL/NAIL epochs) or ``rl`` (the environment reward; used to
        train experts).
      reward: AIL's reward form of the logit ``l = log r``
        (:data:`nail_jax.learners.rewards.REWARDS`): ``ail`` (``-l``, note eq. 3), ``gail``
        (``softplus(-l) = -log(1 - D)``) or ``fairl`` (``l * exp(-l)``); AIRL's
        ``log D - log(1 - D)`` is ``-l``, the form ``ail`` itself. Only an algorithm with
        ``reward_forms`` (``ail``) takes another form than ``ail``: NAIL's reward is eq. 8's
        ``-l + log pi_ref``, ``rl``'s the env's.
      env, backend: the task (see :func:`nail_jax.envs.registry.make_env`).
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
      bc_warmstart_steps: ``ail``/``nail`` only: behavioural-cloning steps on the
        demonstrations before the run (0: none). The policy starts as the clone (its Adam
        state and update count then fresh for SAC), ``pi_ref`` is the clone in the warm-up
        and the first epoch, and with ``normalize_observations`` the statistics start from
        the demonstrations' live states (as ``bc``'s), then follow the env's.
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
      nail: NAIL's settings (:class:`~nail_jax.algorithms.nail.NAILConfig`: ``nail.mode``,
        ``nail.weight``); ``None`` for every other algorithm.
    """

    algo: str = _DEFAULT["algo"]
    reward: str = _DEFAULT["reward"]
    env: str = _DEFAULT["env"]
    backend: str = _DEFAULT["backend"]
    demos: str = _DEFAULT["demos"]
    demo_trajectories: int = _DEFAULT["demo_trajectories"]
    demo_subsample: int = _DEFAULT["demo_subsample"]
    episode_length: int = _DEFAULT["episode_length"]
    num_envs: int = _DEFAULT["num_envs"]
    total_steps: int = _DEFAULT["total_steps"]
    epoch_steps: int = _DEFAULT["epoch_steps"]
    warmup_steps: int = _DEFAULT["warmup_steps"]
    sac_updates_per_iteration: int = _DEFAULT["sac_updates_per_iteration"]
    disc_updates_per_iteration: int = _DEFAULT["disc_updates_per_iteration"]
    batch_size: int = _DEFAULT["batch_size"]
    replay_capacity: int = _DEFAULT["replay_capacity"]
    bc_warmstart_steps: int = _DEFAULT["bc_warmstart_steps"]
    disc_window: int = _DEFAULT["disc_window"]
    absorbing: bool = _DEFAULT["absorbing"]
    normalize_observations: bool = _DEFAULT["normalize_observations"]
    num_eval_episodes: int = _DEFAULT["num_eval_episodes"]
    eval_every: int = _DEFAULT["eval_every"]
    sac: SACConfig = _group("sac", _DEFAULT)
    disc: DiscriminatorConfig = _group("disc", _DEFAULT)
    nail: NAILConfig | None = _group("nail", _DEFAULT)

    @property
    def iterations_per_epoch(self) -> int:
        return self.epoch_steps // self.num_envs

    @property
    def num_epochs(self) -> int:
        return (self.total_steps - self.warmup_steps) // self.epoch_steps

    @property
    def env_steps(self) -> int:
        """The env steps a seed takes: the warm-up and whole epochs (``total_steps`` rounds
        down to them; 0 for an algorithm that steps no env)."""
        if not ALGORITHMS[self.algo].steps_envs:
            return 0
        return self.warmup_steps + self.num_epochs * self.epoch_steps

    @property
    def gradient_steps(self) -> int:
        """Policy updates in the whole run: SAC's actor steps, or BC's steps for ``bc``."""
        return self.num_epochs * self.iterations_per_epoch * self.sac_updates_per_iteration

    def budget(self) -> str:
        """The run's length in words: its env steps, or for ``bc`` its gradient steps."""
        if not ALGORITHMS[self.algo].steps_envs:
            return (f"{self.gradient_steps} gradient steps on demonstrations (the policy "
                    f"updates of {self.total_steps} env steps of AIL/NAIL; bc takes none)")
        if self.env_steps != self.total_steps:
            return (f"{self.env_steps} env steps ({self.total_steps} rounded down to the "
                    f"warm-up and {self.num_epochs} whole epochs of {self.epoch_steps})")
        return f"{self.total_steps} env steps"

    def evaluates(self, epoch):
        """Whether epoch ``epoch`` (1-based; an int or an int array) ends with an evaluation."""
        return (epoch % self.eval_every == 0) | (epoch == self.num_epochs)


def validate_config(config: TrainConfig) -> TrainConfig:
    """Checks values and relations between fields; returns ``config`` or raises ConfigError."""
    from nail_jax.envs.registry import check_env  # deferred: envs imports brax

    if config.algo not in ALGORITHMS:
        raise ConfigError(f"unknown algo {config.algo!r}; choose one of: "
                          f"{', '.join(ALGORITHMS)}")
    algorithm = ALGORITHMS[config.algo]
    if config.reward == "airl":
        raise ConfigError("reward=airl is AIRL's log D - log(1 - D) = -log r, the form ail "
                          "itself: use reward=ail (the default)")
    if config.reward not in REWARDS:
        raise ConfigError(f"unknown reward form {config.reward!r}; choose one of: "
                          f"{', '.join(REWARDS)}")
    if config.reward != "ail" and not algorithm.reward_forms:
        forms = [a.name for a in ALGORITHMS.values() if a.reward_forms]
        raise ConfigError(
            f"reward={config.reward} is a reward form of AIL's discriminator; algo "
            f"{config.algo} has its own reward ({algorithm.reward}): use --algo "
            f"{forms[0]} with --set reward={config.reward}, or drop the option")
    _check_algorithm_options(config)
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
    for name in ["warmup_steps", "disc_updates_per_iteration", "disc_window",
                 "bc_warmstart_steps"]:
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
    if config.bc_warmstart_steps and not algorithm.warm_start:
        raise ConfigError(f"bc_warmstart_steps warm-starts AIL/NAIL's policy by cloning the "
                          f"demonstrations; algo {config.algo} takes none "
                          f"({algorithm.summary}): drop it")
    if algorithm.needs_discriminator and config.disc_updates_per_iteration < 1:
        raise ConfigError(f"algo {config.algo} needs disc_updates_per_iteration >= 1")
    if config.replay_capacity < config.num_envs:
        raise ConfigError("replay_capacity must hold at least one step of every env")
    _check_learner_values(config)
    return config


def _check_algorithm_options(config: TrainConfig) -> None:
    """An algorithm's own option group (``nail``) is set for it and for no other, with values
    its :attr:`~nail_jax.algorithms.base.Algorithm.check_options` accepts."""
    for algorithm in ALGORITHMS.values():
        if algorithm.options is None:
            continue
        options = getattr(config, algorithm.name)
        if algorithm.name != config.algo and options is not None:
            raise ConfigError(
                f"{algorithm.name}.* options set {algorithm.name.upper()}'s own term; algo "
                f"{config.algo} has none (make_config({config.algo!r}) gives {config.algo}'s "
                f"own settings): drop them, or use --algo {algorithm.name}")
        if algorithm.name == config.algo and not isinstance(options, algorithm.options):
            raise ConfigError(f"algo {config.algo} needs its {algorithm.name}.* options")
        if algorithm.name == config.algo:
            try:
                algorithm.check_options(options)
            except ValueError as e:
                raise ConfigError(str(e)) from None


def _check_learner_values(config: TrainConfig) -> None:
    """The learners' numbers: finite, and in range where a value outside makes no sense
    (they would train on nan, or diverge, at the first update)."""
    for group in ("sac", "disc"):
        for field in dataclasses.fields(getattr(config, group)):
            value = getattr(getattr(config, group), field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{group}.{field.name} must be a finite number, got {value}")
            if field.name == "hidden_sizes" and (not value or min(value) < 1):
                raise ConfigError(f"{group}.hidden_sizes must be positive layer sizes, got "
                                  f"{','.join(map(str, value)) or 'none'}")
    sac, disc = config.sac, config.disc
    for name, value in (("sac.policy_learning_rate", sac.policy_learning_rate),
                        ("sac.critic_learning_rate", sac.critic_learning_rate),
                        ("sac.alpha_learning_rate", sac.alpha_learning_rate),
                        ("disc.learning_rate", disc.learning_rate),
                        ("disc.gradient_penalty", disc.gradient_penalty)):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    if not 0.0 <= sac.discount <= 1.0:
        raise ConfigError(f"sac.discount must be in [0, 1], got {sac.discount}")
    if not 0.0 < sac.tau <= 1.0:
        raise ConfigError(f"sac.tau must be in (0, 1], got {sac.tau}")
    for name, value in (("sac.init_alpha", sac.init_alpha), ("sac.fixed_alpha", sac.fixed_alpha)):
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be positive (the temperature is kept as its log), "
                              f"got {value}")
    if sac.n_critics < 1:
        raise ConfigError(f"sac.n_critics must be at least 1, got {sac.n_critics}")


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


RENAMED = {"sac.kl_weight": "nail.weight",
           "sac.reference_kl": "nail.mode (true: soft_value, false: reward)"}
"""Options that moved; their old names are refused with the new one (run directories that
hold them are translated: :func:`translate_saved_config`)."""


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Returns ``config`` with ``{"field" or "sac.field" / "disc.field" / "nail.field": value}``
    replaced.

    String values are parsed according to the field's type (``--set`` on the CLI).
    Unknown keys raise ConfigError listing the valid ones; ``nail.*`` needs a config with
    NAIL's options (``algo nail``).
    """
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    hints = _field_types(TrainConfig)
    for key, value in overrides.items():
        group, _, name = key.rpartition(".")
        if group:
            if group not in nested:
                raise ConfigError(f"unknown option group {group!r} in {key!r}; use "
                                  + ", ".join(f"{g}.*" for g in GROUPS))
            if getattr(config, group) is None:
                raise ConfigError(f"{key} is an option of algo {group}; algo {config.algo} "
                                  f"has no {group}.* options: drop it, or use --algo {group}")
            sub_hints = _field_types(GROUPS[group])
            if key in RENAMED:
                raise ConfigError(f"{key} is now {RENAMED[key]}")
            if name not in sub_hints:
                raise ConfigError(f"unknown option {key!r}; {group}.* options are: "
                                  + ", ".join(sorted(sub_hints)))
            typ = sub_hints[name]
            nested[group][name] = _parse_value(value, typ, key) if isinstance(value, str) else value
        else:
            if name not in hints or name in nested:
                raise ConfigError(f"unknown option {key!r}; options are: "
                                  + ", ".join(sorted(set(hints) - set(nested)))
                                  + ", " + ", ".join(f"{g}.*" for g in GROUPS))
            typ = hints[name]
            top[name] = _parse_value(value, typ, key) if isinstance(value, str) else value
    for group, values in nested.items():
        if values:
            top[group] = dataclasses.replace(getattr(config, group), **values)
    return dataclasses.replace(config, **top)


def make_config(algo: str = next(iter(ALGORITHMS)), preset: str = "default",
                overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The preset's table for ``algo`` (:data:`~nail_jax.training.presets.PRESETS`), then
    ``overrides`` (``{"field" or "sac.field": value}``, strings parsed); validated.

    ``make_config()`` equals ``TrainConfig()``: the defaults are the ``default`` preset's NAIL.
    """
    if algo not in ALGORITHMS:
        raise ConfigError(f"unknown algo {algo!r}; choose one of: {', '.join(ALGORITHMS)}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    table = _preset_table(algo, preset)
    config = TrainConfig(**{k: v for k, v in table.items() if "." not in k},
                         **{g: _group(g, table) for g in GROUPS if _has_group(algo, g)},
                         **{g: None for g in GROUPS if not _has_group(algo, g)})
    return validate_config(apply_overrides(config, overrides or {}))


def _preset_table(algo: str, preset: str) -> dict[str, Any]:
    """``PRESETS[preset][algo]``, or for an algorithm with ``settings_of`` and no table of its
    own there, the table of the algorithm it names, for ``algo``."""
    tables = PRESETS[preset]
    own = tables.get(algo)
    if own is not None:
        return own
    borrowed = ALGORITHMS[algo].settings_of
    if borrowed not in tables:
        raise ConfigError(f"preset {preset!r} has no settings for algo {algo!r}; it has: "
                          + ", ".join(tables))
    return {k: v for k, v in tables[borrowed].items()
            if not k.startswith(f"{borrowed}.")} | {"algo": algo}


def _has_group(algo: str, group: str) -> bool:
    """Whether configs of ``algo`` carry the option group ``group`` (an algorithm's own
    group, like ``nail``, belongs to that algorithm alone)."""
    return group not in ALGORITHMS or group == algo


def config_keys(algo: str = "nail") -> tuple[str, ...]:
    """Every key of ``algo``'s flat config table: TrainConfig's fields, ``sac.*``, ``disc.*``
    and the algorithm's own group (``nail.*`` for NAIL)."""
    top = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in GROUPS]
    return tuple(top + [f"{g}.{f.name}" for g, cls in GROUPS.items() if _has_group(algo, g)
                        for f in dataclasses.fields(cls)])


def _check_preset_tables() -> None:
    """Each preset table names every key of its algorithm, so no setting comes from
    anywhere else."""
    for preset, tables in PRESETS.items():
        for algo, table in tables.items():
            keys = set(config_keys(algo))
            missing, unknown = sorted(keys - set(table)), sorted(set(table) - keys)
            if missing or unknown or table["algo"] != algo:
                raise AssertionError(f"preset {preset!r}/{algo}: missing {missing}, unknown "
                                     f"{unknown}, algo {table['algo']!r}")


_check_preset_tables()


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """A JSON-able dict of the config (nested learner configs as sub-dicts, ``None`` for an
    option group the algorithm has not)."""
    return dataclasses.asdict(config)


def translate_saved_config(data: dict[str, Any]) -> dict[str, Any]:
    """A ``config.json`` config from before NAIL's options had their own group, in today's
    names: ``sac.reference_kl`` and ``sac.kl_weight`` become ``nail.mode`` (``soft_value`` or
    ``reward``) and ``nail.weight`` for algo nail, and are dropped (they were off) for the
    others. A config in today's names is returned as it is."""
    sac = dict(data.get("sac", {}))
    if "nail" in data or ("reference_kl" not in sac and "kl_weight" not in sac):
        return data
    reference_kl, weight = sac.pop("reference_kl", False), sac.pop("kl_weight", None)
    nail = ({"mode": "soft_value" if reference_kl else "reward", "weight": weight}
            if data.get("algo") == "nail" else None)
    return {**data, "sac": sac, "nail": nail}


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (lists become tuples); old names are translated
    (:func:`translate_saved_config`)."""
    data = dict(translate_saved_config(data))
    groups = {}
    for group, cls in GROUPS.items():
        values = data.pop(group, None)
        groups[group] = None if values is None else cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return TrainConfig(**data, **groups)
