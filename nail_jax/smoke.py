"""A self-contained SAC run on :class:`nail_jax.envs.PointMass` exercising the building blocks."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nail_jax.envs import PointMass
from nail_jax.replay import make_replay_buffer
from nail_jax.sac import SAC, SACConfig, make_sac
from nail_jax.types import Transition


def evaluate_point_mass(sac: SAC, policy_params, key: jax.Array, horizon: int = 30,
                        n: int = 64) -> float:
    """Mean deterministic-policy return over ``n`` fresh episodes of ``horizon`` steps."""
    env = PointMass()
    states = jax.vmap(env.reset)(jax.random.split(key, n))

    def step(env_state, _):
        a = sac.deterministic_action(None, policy_params, env_state.obs)
        env_state = jax.vmap(env.step)(env_state, a)
        return env_state, env_state.reward

    _, rewards = jax.lax.scan(step, states, None, horizon)
    return float(rewards.sum(0).mean())


def run_point_mass_sac(key: jax.Array, iterations: int = 600, num_envs: int = 16,
                       horizon: int = 30, updates_per_step: int = 4) -> tuple[float, float]:
    """Trains SAC for ``iterations`` vectorised env steps; returns (return before, after)."""
    env = PointMass()
    sac = make_sac(env.observation_size, env.action_size, SACConfig(
        hidden_sizes=(64, 64), policy_learning_rate=1e-3, critic_learning_rate=1e-3,
        alpha_learning_rate=1e-3, discount=0.9))
    buf = make_replay_buffer(capacity=10_000, sample_batch_size=128)
    obs0 = jnp.zeros(env.observation_size)
    example = Transition(obs0, jnp.zeros(env.action_size), jnp.zeros(()), jnp.zeros(()), obs0)

    def iteration(carry, key):
        sac_state, buf_state, env_state, t = carry
        k_act, k_reset, k_upd = jax.random.split(key, 3)
        action, _ = sac.sample_action(None, sac_state.policy_params, env_state.obs, k_act)
        nxt = jax.vmap(env.step)(env_state, action)
        buf_state = buf.add(
            buf_state, Transition(env_state.obs, action, nxt.reward, 1.0 - nxt.done, nxt.obs))
        t = t + 1
        fresh = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
        env_state = jax.tree.map(
            lambda f, n: jnp.where((t >= horizon).reshape((-1,) + (1,) * (n.ndim - 1)), f, n),
            fresh, nxt)
        t = jnp.where(t >= horizon, 0, t)

        def one_update(s, k):
            k_s, k_u = jax.random.split(k)
            return sac.update(s, buf.sample(buf_state, k_s), k_u)

        sac_state, metrics = jax.lax.scan(
            one_update, sac_state, jax.random.split(k_upd, updates_per_step))
        return (sac_state, buf_state, env_state, t), metrics["critic_loss"].mean()

    k_init, k_env, k_run, k_eval = jax.random.split(key, 4)
    carry = (sac.init(k_init), buf.init(example),
             jax.vmap(env.reset)(jax.random.split(k_env, num_envs)),
             jnp.zeros(num_envs, jnp.int32))
    before = evaluate_point_mass(sac, carry[0].policy_params, k_eval, horizon)
    run = jax.jit(lambda c, k: jax.lax.scan(iteration, c, jax.random.split(k, iterations)))
    carry, _ = run(carry, k_run)
    after = evaluate_point_mass(sac, carry[0].policy_params, k_eval, horizon)
    return before, after
