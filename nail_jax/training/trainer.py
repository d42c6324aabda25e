"""The trainer: ``make_train(config) -> train(key)``, the scaffold every algorithm shares.

Data flows one way each vectorised env step (one *iteration*):

    act with pi_ref -> env step -> replay -> discriminator update -> reward -> SAC update

and at the end of each epoch (``epoch_steps`` env steps) ``pi_ref <- pi`` and the
deterministic policy is evaluated. The scaffold here (the state, init with its warm-up, env
steps, replay, the epoch, the ``pi_ref`` swap, evaluation) is the same for every algorithm;
what an iteration does with it is the algorithm's
(:data:`nail_jax.algorithms.ALGORITHMS`): AIL and NAIL share every line but NAIL's
(:mod:`nail_jax.algorithms.nail`); ``rl`` trains on the env reward; ``bc`` takes no env steps
and clones the demonstrations. The same cloning steps, run ``bc_warmstart_steps`` times in
``init``, warm-start AIL's and NAIL's policy (and ``pi_ref``).

Everything per seed is one :class:`TrainState` pytree, so ``jax.vmap`` over seeds works
on every function here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from nail_jax.absorbing import live_weight, zero_absorbing_action
from nail_jax.algorithms import ALGORITHMS, Parts
from nail_jax.data.run_demos import ExpertPairs, RunDemos, load_run_demos, sample_expert_pairs
from nail_jax.envs.base import Env
from nail_jax.envs.episodes import make_episode_runner, normalized_score, random_policy_returns
from nail_jax.envs.loop import EnvLoopState, make_env_loop
from nail_jax.envs.registry import make_env
from nail_jax.learners.bc import BCBatch, BCState, make_bc
from nail_jax.learners.discriminator import DiscriminatorState, make_discriminator
from nail_jax.learners.sac import SACState, make_sac, take_snapshot
from nail_jax.normalization import init_statistics, update_statistics
from nail_jax.policy import PolicySnapshot
from nail_jax.replay import ReplayState, make_replay_buffer
from nail_jax.training.config import TrainConfig, validate_config
from nail_jax.types import DiscriminatorBatch, Transition


@flax.struct.dataclass
class TrainState:
    """The whole state of one seed's run.

    Attributes:
      sac, disc: learner states (``disc`` is unused by ``rl`` and ``bc``; ``bc`` trains
        ``sac``'s policy params and their Adam state). ``sac.reference`` is ``pi_ref``, the
        snapshot that acts during the current epoch.
      replay: the replay buffer (``bc``: ``num_envs`` rows, never filled).
      env: the training envs.
      key: PRNG key.
      env_steps: ``[]`` int32 environment steps taken (warm-up included; 0 for ``bc``).
      epoch: ``[]`` int32 completed epochs.
      random_return: ``[]`` mean return of a uniform random policy (for the score).
    """

    sac: SACState
    disc: DiscriminatorState
    replay: ReplayState
    env: EnvLoopState
    key: jax.Array
    env_steps: jax.Array
    epoch: jax.Array
    random_return: jax.Array


# ``run_epoch``'s metrics that are ``nan`` by design in an epoch without an evaluation.
EVALUATION_METRICS = ("eval_return", "eval_return_std", "eval_length", "score")
# Training metrics in the order an iteration computes them (discriminator, rewards, critic,
# actor, temperature), as name prefixes: of several non-finite metrics, the first in this
# order is the nearest to the cause (a nan critic makes a nan actor loss in the same step).
METRIC_FLOW = ("bc_", "disc_", "reward_", "log_pi_ref", "critic_loss", "q_mean", "target_mean",
               "actor_loss", "entropy", "nail_", "alpha")


def reduce_metrics(metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``{name: [N] values} -> {name: []}``: the largest of a metric named ``*_max``, the mean
    of every other (over an iteration's SAC updates, over an epoch's iterations)."""
    return {k: jnp.max(v) if k.endswith("_max") else jnp.mean(v) for k, v in metrics.items()}


def learner_health(state: TrainState) -> dict[str, jax.Array]:
    """``{part: [] bool}``: whether each learned part of one seed's state holds only finite
    numbers: ``policy_params``, ``q_params``, ``target_q_params``, ``log_alpha``,
    ``disc_params`` and, with normalisation, ``normalizer`` (not the replay buffer: cheap,
    a reduction over the parameters). Vmap it over seeds."""
    parts = {"policy_params": state.sac.policy_params, "q_params": state.sac.q_params,
             "target_q_params": state.sac.target_q_params, "log_alpha": state.sac.log_alpha,
             "disc_params": state.disc.params}
    if state.sac.normalizer is not None:
        parts["normalizer"] = state.sac.normalizer

    def finite(tree) -> jax.Array:
        leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))

    return {name: finite(tree) for name, tree in parts.items()}


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Pure functions of one seed's run; vmap them over seeds.

    Attributes:
      config: the validated config.
      init: ``init(key, pairs) -> TrainState``: builds learners, measures the random
        policy's return, and collects ``warmup_steps`` with the initial policy.
      run_epoch: ``run_epoch(state, pairs, evaluate=True) -> (state, metrics)``, one
        epoch: its iterations, the ``pi_ref`` swap, and, if the scalar bool ``evaluate``
        (it may be traced, but must not be batched over seeds), an evaluation; without it
        ``eval_return``, ``eval_return_std``, ``eval_length`` (mean episode length) and
        ``score`` are ``nan`` and the rest is the same. Metrics are scalars.
      train: ``train(key, pairs) -> (state, metrics [num_epochs])``: ``init`` then all
        epochs in one ``lax.scan``, evaluating where ``config.evaluates(epoch)``; the same
        numbers as calling ``run_epoch`` in a loop.
      act: ``act(policy, obs [E, O'], key) -> action`` of a :class:`PolicySnapshot` (e.g.
        ``pi_ref``), stochastic; with a ``None`` key deterministic, ``tanh(mean)``.
      expert_return: the mean return of the demonstration episodes trained on, the
        score's expert end (``nan`` without demonstrations).
      demos_record: what the run records of its demonstrations' returns
        (:meth:`~nail_jax.data.run_demos.RunDemos.describe`; ``{}`` without them).
      env: the Brax (or point-mass) env the run acts and is evaluated in.
    """

    config: TrainConfig
    init: Callable[..., TrainState]
    run_epoch: Callable[..., tuple[TrainState, dict]]
    train: Callable[..., tuple[TrainState, dict]]
    act: Callable[..., jax.Array]
    expert_return: float
    env: Env
    demos_record: dict = dataclasses.field(default_factory=dict)


def make_trainer(config: TrainConfig, run_demos: RunDemos | None = None,
                 env: Env | None = None) -> Trainer:
    """Builds the run's pure functions for ``config`` (validated here).

    ``env`` may be passed to reuse an env already built for ``config`` (brax envs take
    seconds to build).
    """
    config = validate_config(config)
    algorithm = ALGORITHMS[config.algo]
    env = make_env(config.env, config.backend) if env is None else env
    loop = make_env_loop(env, config.num_envs, config.episode_length, config.absorbing)
    obs_size, action_size = loop.obs_size, loop.action_size
    if algorithm.needs_demonstrations and run_demos is None:
        raise ValueError(f"algo {config.algo!r} needs demonstrations")
    expert_return = (run_demos.expert_return if algorithm.needs_demonstrations
                     else float("nan"))
    run_episodes = make_episode_runner(env, config.num_eval_episodes, config.episode_length,
                                       config.absorbing)
    sac = make_sac(obs_size, action_size, config.sac, absorbing=config.absorbing,
                   soft_term=algorithm.make_soft_term(config))
    disc = make_discriminator(obs_size, action_size, config.disc)
    # an algorithm without env steps needs no buffer: a minimal one keeps checkpoints small.
    buffer = make_replay_buffer(
        config.replay_capacity if algorithm.steps_envs else config.num_envs, config.batch_size)
    bc = make_bc(obs_size, action_size, config.sac.hidden_sizes, config.sac.policy_learning_rate)
    n_sac = config.sac_updates_per_iteration
    batch = config.batch_size
    weighted_pairs = config.demo_subsample > 1  # else all weights are equal: sample uniformly

    def mask_absorbing_action(obs, action):
        return zero_absorbing_action(obs, action) if config.absorbing else action

    def step_envs(state: TrainState, policy: PolicySnapshot, key: jax.Array):
        """One vectorised env step acting with ``policy``; updates normaliser and replay."""
        action = sac.act(policy, loop.observe(state.env), key)
        env_state, transition = loop.step(state.env, action)
        sac_state, disc_state = state.sac, state.disc
        if config.normalize_observations:
            weights = live_weight(transition.obs) if config.absorbing else None
            stats = update_statistics(sac_state.normalizer, transition.obs, weights)
            sac_state = sac_state.replace(normalizer=stats)
            disc_state = disc_state.replace(normalizer=stats)
        return state.replace(
            sac=sac_state, disc=disc_state, env=env_state,
            replay=buffer.add(state.replay, transition),
            env_steps=state.env_steps + config.num_envs,
        )

    def clone(sac_state: SACState, pairs: ExpertPairs, key: jax.Array, steps: int):
        """``steps`` BC steps on SAC's policy params and Adam state (through a
        :class:`BCState` view; the structures are the same) on fresh demonstration batches,
        weighted like the discriminator's expert side (the absorbing state has weight 0).
        Returns the SAC state and the ``[steps]`` BC metrics."""

        def body(learner: BCState, k):
            obs, action, _ = sample_expert_pairs(pairs, k, batch, weighted=weighted_pairs)
            weight = live_weight(obs) if config.absorbing else jnp.ones(obs.shape[:1])
            return bc.update(learner, BCBatch(obs, action, weight), k)

        learner = BCState(sac_state.policy_params, sac_state.policy_opt_state,
                          sac_state.normalizer, sac_state.steps)
        learner, metrics = jax.lax.scan(body, learner, jax.random.split(key, steps))
        return sac_state.replace(policy_params=learner.params, policy_opt_state=learner.opt_state,
                                 steps=learner.steps), metrics

    def disc_step(disc_state, replay, pairs, key):
        k_pol, k_exp, k_upd = jax.random.split(key, 3)
        window = config.disc_window if config.disc_window > 0 else None
        policy = buffer.sample(replay, k_pol, window=window)
        # Subsampled steps and absorbing pairs are weighted; otherwise all weights are 1.
        e_obs, e_act, e_next = sample_expert_pairs(pairs, k_exp, batch, weighted=weighted_pairs)
        d_batch = DiscriminatorBatch(
            policy.obs, mask_absorbing_action(policy.obs, policy.action),
            e_obs, mask_absorbing_action(e_obs, e_act),
            *((policy.next_obs, e_next) if config.disc.state_only else ()))
        return disc.update(disc_state, d_batch, k_upd)

    def disc_steps(disc_state, replay, pairs, key):
        disc_state, metrics = jax.lax.scan(
            lambda d, k: disc_step(d, replay, pairs, k), disc_state,
            jax.random.split(key, config.disc_updates_per_iteration))
        return disc_state, {f"disc_{k}": jnp.mean(v) for k, v in metrics.items()}

    def sample_replay(replay, key):
        return buffer.sample(replay, key, batch_size=n_sac * batch)

    def sac_steps(sac_state, flat: Transition, key):
        """The ``n_sac`` updates on ``flat [n_sac * batch]``, reshaped and scanned (STYLE
        practice 5)."""
        batches = jax.tree.map(lambda x: x.reshape(n_sac, batch, *x.shape[1:]), flat)
        sac_state, metrics = jax.lax.scan(lambda s, inputs: sac.update(s, *inputs), sac_state,
                                          (batches, jax.random.split(key, n_sac)))
        return sac_state, reduce_metrics(metrics)

    iteration = algorithm.make_iteration(Parts(
        config=config, sac=sac, disc=disc, step_envs=step_envs, sample_replay=sample_replay,
        disc_steps=disc_steps, sac_steps=sac_steps, clone=clone,
        mask_absorbing_action=mask_absorbing_action))

    def init(key: jax.Array, pairs: ExpertPairs | None = None) -> TrainState:
        k_sac, k_disc, k_env, k_rand, k_warm, k_next = jax.random.split(key, 6)
        stats = init_statistics(obs_size) if config.normalize_observations else None
        warm_start = config.bc_warmstart_steps if algorithm.warm_start else 0
        if (not algorithm.steps_envs or warm_start) and stats is not None:
            # the demonstrations' states (not the absorbing one)
            stats = update_statistics(stats, pairs.obs,
                                      live_weight(pairs.obs) if config.absorbing else None)
        sac_state = sac.init(k_sac, stats)
        if warm_start:  # pi <- the clone; SAC then starts its own Adam moments and count
            fresh = sac_state
            sac_state, _ = clone(sac_state, pairs, jax.random.fold_in(k_sac, 1), warm_start)
            sac_state = take_snapshot(sac_state.replace(
                policy_opt_state=fresh.policy_opt_state, steps=fresh.steps))
        example = Transition(jnp.zeros(obs_size), jnp.zeros(action_size), jnp.zeros(()),
                             jnp.zeros(()), jnp.zeros(obs_size))
        state = TrainState(
            sac=sac_state,
            disc=disc.init(k_disc, stats),
            replay=buffer.init(example),
            env=loop.reset(k_env),
            key=k_next,
            env_steps=jnp.zeros((), jnp.int32),
            epoch=jnp.zeros((), jnp.int32),
            random_return=jnp.mean(random_policy_returns(run_episodes, action_size, k_rand)),
        )
        warm_iters = config.warmup_steps // config.num_envs if algorithm.steps_envs else 0
        initial = state.sac.reference

        def warm(s, k):
            return step_envs(s, initial, k), None

        state, _ = jax.lax.scan(warm, state, jax.random.split(k_warm, warm_iters))
        # The pi_ref acting in epoch 1 sees the statistics gathered during warm-up.
        return state.replace(sac=take_snapshot(state.sac))

    def evaluation(policy, key):
        episodes = run_episodes(lambda obs, _: sac.act(policy, obs, None), key)
        return episodes.returns, episodes.lengths.astype(jnp.float32)

    def no_evaluation(policy, key):
        nan = jnp.full((config.num_eval_episodes,), jnp.nan)
        return nan, nan

    def run_epoch(state: TrainState, pairs: ExpertPairs | None = None, evaluate=True):
        key, k_refresh, k_iter, k_eval = jax.random.split(state.key, 4)
        state = state.replace(key=key, env=loop.refresh(state.env, k_refresh))
        state, it_metrics = jax.lax.scan(
            lambda s, k: iteration(s, pairs, k), state,
            jax.random.split(k_iter, config.iterations_per_epoch))
        # End of epoch: pi_ref <- pi (note section 4).
        state = state.replace(sac=take_snapshot(state.sac), epoch=state.epoch + 1)
        # A real branch (not a select) while ``evaluate`` is not batched: skipping saves time.
        returns, lengths = jax.lax.cond(evaluate, evaluation, no_evaluation,
                                        state.sac.reference, k_eval)
        eval_return = jnp.mean(returns)
        metrics = reduce_metrics(it_metrics)
        metrics.update({
            "env_steps": state.env_steps,
            "epoch": state.epoch,
            "eval_return": eval_return,
            "eval_return_std": jnp.std(returns),
            "eval_length": jnp.mean(lengths),
            "random_return": state.random_return,
            "alpha_end": jnp.exp(state.sac.log_alpha),
        })
        if not algorithm.steps_envs:  # its budget is gradient steps
            metrics["grad_steps"] = state.sac.steps
        if algorithm.metric == "score":
            metrics["score"] = normalized_score(eval_return, state.random_return, expert_return)
        return state, metrics

    def train(key: jax.Array, pairs: ExpertPairs | None = None):
        state = init(key, pairs)
        epochs = jnp.arange(1, config.num_epochs + 1)  # not batched under vmap(train)
        return jax.lax.scan(lambda s, e: run_epoch(s, pairs, config.evaluates(e)), state,
                            epochs)

    return Trainer(config, init, run_epoch, train, sac.act, expert_return, env,
                   run_demos.describe() if algorithm.needs_demonstrations else {})


def make_train(config: TrainConfig) -> Callable[[jax.Array], tuple[TrainState, dict]]:
    """``make_train(config) -> train(key) -> (final TrainState, metrics [num_epochs])``.

    A pure, jittable function of the key; ``jax.jit(jax.vmap(train))(keys)`` runs several
    seeds in one program. Demonstrations named by ``config.demos`` are loaded here, once.
    """
    trainer, pairs = build(config)
    return lambda key: trainer.train(key, pairs)


def build(config: TrainConfig, demos_record: dict | None = None
          ) -> tuple[Trainer, ExpertPairs | None]:
    """The trainer and its :class:`~nail_jax.data.run_demos.ExpertPairs` on the device
    (``None`` for an algorithm without demonstrations).

    With ``demos_record`` (what a run recorded of its demonstrations, ``expert_return`` at
    least: see :meth:`~nail_jax.data.run_demos.RunDemos.describe`) the demonstration file is
    not read: the pairs are one row of zeros, enough for the train state's shapes (restoring
    a checkpoint, acting), and the score uses the recorded expert return.
    """
    config = validate_config(config)
    env = make_env(config.env, config.backend)
    if not ALGORITHMS[config.algo].needs_demonstrations:
        return make_trainer(config, env=env), None
    if demos_record is None:
        run_demos = load_run_demos(config, env.observation_size, env.action_size)
    else:
        width = env.observation_size + int(config.absorbing)  # the absorbing flag
        pairs = ExpertPairs(jnp.zeros((1, width)), jnp.zeros((1, env.action_size)),
                            jnp.zeros((1, width)), jnp.ones((1,)))
        run_demos = RunDemos(pairs, float(demos_record["expert_return"]),
                             int(demos_record.get("demo_episodes", config.demo_trajectories)),
                             float(demos_record.get("expert_return_file", float("nan"))))
    return make_trainer(config, run_demos, env), run_demos.pairs
