"""Re-evaluating a trained run from its checkpoint, with as many episodes as wanted.

Training evaluates each epoch's policy on ``num_eval_episodes`` episodes (8 in the Brax
presets). :func:`evaluate_run` measures the policy of one checkpoint on as many fresh
episodes per seed as wanted, with the same policy (its mean action, or sampled actions),
time limit and normalisation ``(R - R_random) / (R_expert - R_random)`` as training (the run's own
``R_random`` per seed and ``R_expert`` of its demonstrations): a check that a final score
is not the luck of a few episodes, and a way to score a run at an earlier checkpoint.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np

from nail_jax.algorithms import ALGORITHMS
from nail_jax.envs.episodes import make_episode_runner, normalized_score
from nail_jax.running.run_dir import RunArgumentError, restore_run, spread


def evaluate_run(run_dir: str | pathlib.Path, num_episodes: int, epoch: int | None = None,
                 seed: int = 0, stochastic: bool = False) -> dict:
    """Evaluates every seed of a run at checkpoint ``epoch`` (default: the latest).

    The policy evaluated is the one the trainer evaluated at the end of that epoch (its
    ``pi_ref`` for the next one): deterministic actions ``tanh(mean)``, or actions sampled
    from the policy with ``stochastic`` (as it acts in training). Seed ``i`` of the
    run gets the episodes of key ``split(PRNGKey(seed), S)[i]``; all seeds run in one
    vmapped program of ``S * num_episodes`` envs.

    Returns a JSON-able dict: ``run``, ``algo``, ``env``, ``backend``, ``epoch``,
    ``env_steps``, ``episodes``, ``episode_length`` (the time limit), ``seed``,
    ``stochastic``, ``seeds`` (per seed: ``seed``, ``return_mean``, ``return_std``, ``score``
    or ``None`` for ``rl``, ``length_mean`` and ``ended_early``, the number of its episodes
    the env ended before the time limit: falls, in the locomotion tasks), and ``return`` /
    ``score`` (mean, std, min and max over seeds of the per-seed means).

    Raises RunError (RunArgumentError for ``num_episodes < 1``) for a directory without a
    run or checkpoint.
    """
    if num_episodes < 1:
        raise RunArgumentError(f"{{num_episodes}} must be at least 1, got {num_episodes}",
                               "num_episodes")
    run = restore_run(run_dir, 0, epoch)
    config, trainer, state = run.config, run.trainer, run.state
    run_episodes = make_episode_runner(trainer.env, num_episodes, config.episode_length,
                                       config.absorbing)

    def per_seed(reference, key):
        return run_episodes(lambda obs, k: trainer.act(reference, obs, k if stochastic else None),
                         key)

    num_seeds = state.env_steps.shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    episodes = jax.jit(jax.vmap(per_seed))(state.sac.reference, keys)
    returns = np.asarray(episodes.returns, np.float64)
    lengths = np.asarray(episodes.lengths)
    random_return = np.asarray(state.random_return, np.float64)
    expert_return = trainer.expert_return
    imitation = ALGORITHMS[config.algo].metric == "score"
    rows = []
    for i in range(num_seeds):
        mean = float(returns[i].mean())
        score = normalized_score(mean, random_return[i], expert_return) if imitation else None
        rows.append({"seed": i, "return_mean": mean, "return_std": float(returns[i].std()),
                     "score": None if score is None else float(score),
                     "length_mean": float(lengths[i].mean()),
                     "ended_early": int(np.sum(lengths[i] < config.episode_length))})

    return {"run": str(run_dir), "algo": config.algo, "env": config.env,
            "backend": config.backend, "epoch": run.epoch,
            "env_steps": int(np.asarray(state.env_steps)[0]), "episodes": num_episodes,
            "episode_length": config.episode_length,
            "seed": seed, "stochastic": stochastic, "seeds": rows,
            "return": spread([r["return_mean"] for r in rows]),
            "score": spread([r["score"] for r in rows]) if imitation else None}


def eval_file(run_dir: str | pathlib.Path, result: dict) -> pathlib.Path:
    """Where :func:`evaluate_run`'s result is kept: one file per epoch, episodes, seed and
    policy (``_stochastic`` for sampled actions), so a re-evaluation with other settings
    never replaces an earlier one."""
    kind = "_stochastic" if result["stochastic"] else ""
    return (pathlib.Path(run_dir) / "evaluations" /
            f"epoch{result['epoch']}_episodes{result['episodes']}_seed{result['seed']}"
            f"{kind}.json")
