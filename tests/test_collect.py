"""Rolling a policy out into a dataset (``nail_jax.data.collect.collect_dataset``)."""

import jax
import jax.numpy as jnp
import numpy as np

from nail_jax.data.collect import collect_dataset
from nail_jax.data.datasets import episode_bounds, episode_returns, validate
from nail_jax.envs.toy import PointMass


def test_episodes_end_at_their_first_done_with_the_right_flag():
    """A point mass terminating within 0.3 of the goal, driven towards it at speeds that
    differ per episode: episodes that arrive end at the step that arrives (``terminals``),
    the others run to the limit (``timeouts``). Each episode is compared with a step-by-step
    rollout of the env from the same start. Catches a flag on the wrong step or of the wrong
    kind, and steps kept after the first ``done``."""
    env = PointMass(terminate_radius=0.3)
    n, limit = 8, 12
    speed = jnp.linspace(0.05, 1.0, n)  # the slow ones never arrive

    def policy(obs, key):
        return jnp.clip(-10.0 * obs[:, :2], -1, 1) * speed[:, None]

    key = jax.random.PRNGKey(3)
    data = collect_dataset(env, policy, n, limit, key, metadata={"env": "point_mass"})
    validate(data, "collected")
    bounds = episode_bounds(data)
    assert len(bounds) == n
    starts = jax.vmap(env.reset)(jax.random.split(jax.random.split(key)[0], n))
    kinds = set()
    for e, (lo, hi) in enumerate(bounds):
        state = jax.tree.map(lambda x, e=e: x[e], starts)
        obs, rewards, done = [], [], False
        for _ in range(limit):
            action = jnp.clip(-10.0 * state.obs[:2], -1, 1) * speed[e]
            obs.append(np.asarray(state.obs))
            state = env.step(state, action)
            rewards.append(float(state.reward))
            if state.done:
                done = True
                break
        np.testing.assert_allclose(data.observations[lo:hi], obs, atol=1e-6)
        np.testing.assert_allclose(data.rewards[lo:hi], rewards, atol=1e-6)
        np.testing.assert_allclose(data.next_observations[hi - 1], state.obs, atol=1e-6)
        assert data.terminals[hi - 1] == done and data.timeouts[hi - 1] == (not done)
        assert not data.terminals[lo:hi - 1].any() and not data.timeouts[lo:hi - 1].any()
        kinds.add(done)
    assert kinds == {True, False}  # both endings occur
    np.testing.assert_allclose(data.metadata["episode_returns"], episode_returns(data),
                               rtol=1e-5)
    assert data.metadata["expert_return"] == np.mean(data.metadata["episode_returns"])
