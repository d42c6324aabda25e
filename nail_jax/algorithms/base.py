"""What an algorithm is to the trainer: :class:`Algorithm`, and the :class:`Parts` it is
built from.

The trainer (:mod:`nail_jax.training.trainer`) owns the scaffold every algorithm shares: the
state, the envs and their steps, the replay buffer, the epoch with its ``pi_ref`` swap, and
the evaluation. An algorithm says what it needs and what one *iteration* (one vectorised env
step's worth of learning) does with the scaffold's parts; the registry
(:data:`nail_jax.algorithms.ALGORITHMS`) names them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

Iteration = Callable[[Any, Any, jax.Array], tuple[Any, dict]]
"""``iteration(state: TrainState, pairs: ExpertPairs | None, key) -> (state, metrics)``: pure,
scanned over an epoch; metrics are scalars."""


@dataclasses.dataclass(frozen=True)
class Parts:
    """The trainer's pieces an iteration is built from (all pure functions of one seed).

    Attributes:
      config: the run's :class:`~nail_jax.training.config.TrainConfig`.
      sac: the :class:`~nail_jax.learners.sac.SAC` learner (its policy is the run's).
      disc: the :class:`~nail_jax.learners.discriminator.Discriminator`.
      step_envs: ``(state, policy: PolicySnapshot, key) -> state``: one vectorised env step
        acting with ``policy``; updates the observation statistics and the replay buffer.
      sample_replay: ``(replay, key) -> Transition [sac_updates_per_iteration * batch]``.
      disc_steps: ``(disc_state, replay, pairs, key) -> (disc_state, metrics)``:
        ``disc_updates_per_iteration`` discriminator steps on balanced batches (policy
        samples from the replay, expert rows from ``pairs``, the run's
        :class:`~nail_jax.data.run_demos.ExpertPairs`); metrics ``disc_*``.
      sac_steps: ``(sac_state, Transition [G * batch], key) -> (sac_state, metrics)``: the
        ``G = sac_updates_per_iteration`` SAC updates on those rows, scanned; metrics means.
      clone: ``(sac_state, pairs, key, steps) -> (sac_state, metrics [steps])``: behavioural
        cloning steps on SAC's policy.
      mask_absorbing_action: ``(obs, action) -> action`` with zeros in the absorbing state
        (the identity without absorbing states).
    """

    config: Any
    sac: Any
    disc: Any
    step_envs: Callable[..., Any]
    sample_replay: Callable[..., Any]
    disc_steps: Callable[..., tuple[Any, dict]]
    sac_steps: Callable[..., tuple[Any, dict]]
    clone: Callable[..., tuple[Any, dict]]
    mask_absorbing_action: Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One algorithm, as the trainer, the config checks and the CLI see it.

    Attributes:
      name: its ``--algo`` name.
      summary: one line for ``--help``.
      needs_demonstrations: it reads ``config.demos`` (recorded by sha256 in the run).
      needs_discriminator: it trains the discriminator (``disc_updates_per_iteration >= 1``).
      steps_envs: it takes env steps (``False``: no warm-up, a minimal replay buffer, and
        runs measured in gradient steps).
      metric: what judges a run: ``score`` (normalised by the demonstrations) or
        ``eval_return``.
      reward: its reward in words; an algorithm with ``reward_forms`` takes any of
        :data:`nail_jax.learners.rewards.REWARDS` as ``config.reward``, the others only the
        default.
      reward_forms: whether ``config.reward`` picks its reward form.
      warm_start: whether it takes ``bc_warmstart_steps``.
      options: the type of its own config group (``TrainConfig.<name>``), or ``None``.
      check_options: ``(options) -> None``, raising ``ValueError`` with a one-line message
        for values of its own group that make no sense.
      make_iteration: ``(parts: Parts) -> Iteration``.
      make_soft_term: ``(config) -> SoftTerm | None``, what it adds to SAC's soft
        value (:func:`nail_jax.learners.sac.make_sac`); ``None`` for plain SAC.
      metrics: the names of the metrics its iteration logs, in the order it computes them.
      settings_of: the algorithm whose preset tables it trains with where a preset has none
        of its own (``None``: every preset names it); so a new algorithm needs no tables.
    """

    name: str
    summary: str
    needs_demonstrations: bool
    needs_discriminator: bool
    steps_envs: bool
    metric: str
    reward: str
    make_iteration: Callable[[Parts], Iteration]
    metrics: tuple[str, ...]
    reward_forms: bool = False
    warm_start: bool = False
    options: type | None = None
    check_options: Callable[[Any], None] = lambda options: None
    make_soft_term: Callable[[Any], Any] = lambda config: None
    settings_of: str | None = None
