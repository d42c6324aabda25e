"""A self-contained SAC run on :class:`nail_jax.envs.PointMass` exercising the building blocks."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nail_jax.envs import PointMass, make_env_loop, make_evaluator
from nail_jax.replay import make_replay_buffer
from nail_jax.sac import SAC, SACConfig, make_sac
from nail_jax.types import Transition


def evaluate_point_mass(sac: SAC, policy_params, key: jax.Array, horizon: int = 30,
                        n: int = 64) -> float:
    """Mean deterministic-policy return over ``n`` fresh episodes of ``horizon`` steps."""
    evaluate = make_evaluator(PointMass(), n, horizon, absorbing=False)
    returns = evaluate(lambda obs, _: sac.deterministic_action(None, policy_params, obs), key)
    return float(returns.mean())


def run_point_mass_sac(key: jax.Array, iterations: int = 600, num_envs: int = 16,
                       horizon: int = 30, updates_per_step: int = 4) -> tuple[float, float]:
    """Trains SAC for ``iterations`` vectorised env steps; returns (return before, after)."""
    env = PointMass()
    loop = make_env_loop(env, num_envs, horizon, absorbing=False)
    sac = make_sac(env.observation_size, env.action_size, SACConfig(
        hidden_sizes=(64, 64), policy_learning_rate=1e-3, critic_learning_rate=1e-3,
        alpha_learning_rate=1e-3, discount=0.9))
    buf = make_replay_buffer(capacity=10_000, sample_batch_size=128)
    obs0 = jnp.zeros(env.observation_size)
    example = Transition(obs0, jnp.zeros(env.action_size), jnp.zeros(()), jnp.zeros(()), obs0)

    def iteration(carry, key):
        sac_state, buf_state, loop_state = carry
        k_act, k_reset, k_upd = jax.random.split(key, 3)
        obs = loop.observe(loop_state)
        action, _ = sac.sample_action(None, sac_state.policy_params, obs, k_act)
        # Fresh start states for every episode that ends at this step.
        loop_state, transition = loop.step(loop.refresh(loop_state, k_reset), action)
        buf_state = buf.add(buf_state, transition)

        def one_update(s, k):
            k_s, k_u = jax.random.split(k)
            return sac.update(s, buf.sample(buf_state, k_s), k_u)

        sac_state, metrics = jax.lax.scan(
            one_update, sac_state, jax.random.split(k_upd, updates_per_step))
        return (sac_state, buf_state, loop_state), metrics["critic_loss"].mean()

    k_init, k_env, k_run, k_eval = jax.random.split(key, 4)
    carry = (sac.init(k_init), buf.init(example), loop.reset(k_env))
    before = evaluate_point_mass(sac, carry[0].policy_params, k_eval, horizon)
    run = jax.jit(lambda c, k: jax.lax.scan(iteration, c, jax.random.split(k, iterations)))
    carry, _ = run(carry, k_run)
    after = evaluate_point_mass(sac, carry[0].policy_params, k_eval, horizon)
    return before, after
