import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax.absorbing import absorbing_state
from nail_jax.envs.episodes import make_episode_runner
from nail_jax.envs.loop import make_env_loop
from nail_jax.envs.registry import make_env


def _towards_goal(obs):
    return jnp.clip(-10.0 * obs[:, :2], -1.0, 1.0)


def test_termination_leads_into_absorbing_state_then_reset():
    env = make_env("point_mass_terminating")  # terminates within 0.1 of the origin
    loop = make_env_loop(env, num_envs=1, episode_length=100, absorbing=True)
    state = loop.reset(jax.random.PRNGKey(0))
    abs_obs = np.asarray(absorbing_state(4))
    step = jax.jit(loop.step)
    seen = []
    for _ in range(40):
        obs = loop.observe(state)
        state, tr = step(state, _towards_goal(obs[:, :4]))
        seen.append(jax.tree.map(lambda x: np.asarray(x[0]), tr))
    ends = [i for i, t in enumerate(seen) if np.array_equal(t.next_obs, abs_obs)
            and not np.array_equal(t.obs, abs_obs)]
    assert ends, "the env never terminated"
    i = ends[0]
    term, absorbing, after = seen[i], seen[i + 1], seen[i + 2]
    # (s_T-1, a, r, 1, s_abs): bootstrapping is not masked.
    assert term.discount == 1.0 and term.obs[-1] == 0.0
    # (s_abs, a, 0, 1, s_abs), then a fresh episode with the flag off.
    np.testing.assert_array_equal(absorbing.obs, abs_obs)
    np.testing.assert_array_equal(absorbing.next_obs, abs_obs)
    assert absorbing.reward == 0.0 and absorbing.discount == 1.0
    assert after.obs[-1] == 0.0 and np.linalg.norm(after.obs[:2]) > 0.1


def test_termination_without_absorbing_masks_bootstrap():
    """Without absorbing states ``discount`` is 0 exactly on the steps that land inside the
    radius (recomputed from the dynamics) and 1 on all others, and those episodes restart.
    Catches masking every step, none, or the step after the termination."""
    env = make_env("point_mass_terminating")
    loop = make_env_loop(env, num_envs=4, episode_length=100, absorbing=False)
    state = loop.reset(jax.random.PRNGKey(0))
    step = jax.jit(loop.step)
    ended = 0
    for _ in range(40):
        action = _towards_goal(loop.observe(state))
        landed = np.clip(np.asarray(state.env_state.pipeline_state) + 0.1 * action, -1, 1)
        state, tr = step(state, action)
        terminated = np.linalg.norm(landed, axis=1) < 0.1
        np.testing.assert_array_equal(tr.discount, np.where(terminated, 0.0, 1.0))
        np.testing.assert_array_equal(np.asarray(state.steps)[terminated], 0)
        ended += int(terminated.sum())
    assert ended >= 4 and loop.obs_size == 4


def test_truncation_keeps_true_final_observation_and_bootstraps():
    env = make_env("point_mass")
    loop = make_env_loop(env, num_envs=2, episode_length=5, absorbing=True)
    state = loop.reset(jax.random.PRNGKey(1))
    action = jnp.full((2, 2), 0.5)
    for _ in range(5):
        prev = state
        state, tr = loop.step(state, action)
    # After 5 steps the episode was truncated: the transition bootstraps from the true
    # final observation, and the env restarted from its cached start state.
    expected_final = jax.vmap(env.step)(prev.env_state, action).obs
    np.testing.assert_allclose(tr.next_obs[:, :4], expected_final)
    np.testing.assert_array_equal(tr.discount, [1.0, 1.0])
    np.testing.assert_allclose(state.env_state.obs, prev.reset_cache.obs)
    np.testing.assert_array_equal(state.steps, [0, 0])


def test_refresh_draws_new_start_states():
    loop = make_env_loop(make_env("point_mass"), 3, 10, absorbing=False)
    state = loop.reset(jax.random.PRNGKey(0))
    new = loop.refresh(state, jax.random.PRNGKey(5))
    assert not np.allclose(new.reset_cache.obs, state.reset_cache.obs)
    np.testing.assert_array_equal(new.env_state.obs, state.env_state.obs)


def test_evaluator_stops_at_termination():
    env = make_env("point_mass_terminating")
    evaluate = make_episode_runner(env, num_episodes=4, episode_length=50, absorbing=True)
    reach = evaluate(lambda obs, k: _towards_goal(obs), jax.random.PRNGKey(0))
    # Reaching the goal ends the episode, so returns are far above 50 steps of standing still.
    still = evaluate(lambda obs, k: jnp.zeros((obs.shape[0], 2)), jax.random.PRNGKey(0))
    assert reach.returns.shape == (4,) and np.all(reach.returns > still.returns)
    assert np.all(reach.lengths < 50) and np.all(still.lengths == 50)


class _Counting:
    """``env`` with a reward of 1 per step, so that returns are episode lengths."""

    def __init__(self, env):
        self.env = env

    def reset(self, key):
        return self.env.reset(key)

    def step(self, state, action):
        nxt = self.env.step(state, action)
        return nxt.replace(reward=jnp.ones_like(nxt.reward))


def test_evaluator_stopping_early_gives_the_fixed_length_episodes():
    """Noisy steps towards the goal: episodes end at different steps, some never; the
    early-stopping loop (also vmapped over keys, where it runs until all have ended)
    returns exactly the returns and lengths of running all steps. With a reward of 1 per
    step the return of each episode is its length."""
    env = make_env("point_mass_terminating")

    def policy(obs, k):
        return jnp.clip(_towards_goal(obs) + 2.0 * jax.random.normal(k, (obs.shape[0], 2)),
                        -1.0, 1.0)

    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    for task in (env, _Counting(env)):
        early, full = (make_episode_runner(task, num_episodes=6, episode_length=40,
                                           absorbing=False, stop_early=stop)
                       for stop in (True, False))
        got = jax.jit(jax.vmap(lambda k, f=early: f(policy, k)))(keys)
        want = jax.jit(jax.vmap(lambda k, f=full: f(policy, k)))(keys)
        one = jax.jit(lambda k, f=early: f(policy, k))(keys[1])
        for name in ("returns", "lengths"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            np.testing.assert_array_equal(getattr(one, name), getattr(want, name)[1])
        assert want.lengths.dtype == np.int32
    np.testing.assert_array_equal(want.returns, want.lengths)  # the counting env's
    # Not vacuous: some episodes end early and some at the time limit.
    assert np.any(want.lengths < 40) and np.any(want.lengths == 40), want.lengths


class _NanAfterTheEnd:
    """``env`` whose reward is ``nan`` on a step taken after the episode ended (an env
    stepped past its termination may return anything), and, with ``nan_at``, at step
    ``nan_at`` of every episode."""

    def __init__(self, env, nan_at=None):
        self.env, self.nan_at = env, nan_at

    def reset(self, key):
        state = self.env.reset(key)
        return state.replace(info={"t": jnp.zeros((), jnp.int32)})

    def step(self, state, action):
        nxt = self.env.step(state, action)
        reward = jnp.where(state.done > 0, jnp.nan, nxt.reward)
        if self.nan_at is not None:
            reward = jnp.where(state.info["t"] == self.nan_at, jnp.nan, reward)
        return nxt.replace(reward=reward, info={"t": state.info["t"] + 1})


def _towards_goal_noisy(obs, k):
    return jnp.clip(_towards_goal(obs) + 2.0 * jax.random.normal(k, (obs.shape[0], 2)),
                    -1.0, 1.0)


def test_ended_episodes_add_exactly_zero_even_when_the_env_returns_nan():
    """Episodes end at different steps and the loop goes on until all have ended (and,
    vmapped, until those of every key have): the steps after an episode's end must add
    exactly 0 to its return. With ``alive * reward`` an env that returns nan there made
    the whole return nan (0 * nan). The returns equal the clean env's bit for bit."""
    env = make_env("point_mass_terminating")
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    for stop in (True, False):
        clean, nan_after = (make_episode_runner(task, num_episodes=6, episode_length=40,
                                                absorbing=False, stop_early=stop)
                            for task in (env, _NanAfterTheEnd(env)))
        want = jax.jit(jax.vmap(lambda k, f=clean: f(_towards_goal_noisy, k)))(keys)
        got = jax.jit(jax.vmap(lambda k, f=nan_after: f(_towards_goal_noisy, k).returns))(keys)
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, want.returns)
        assert np.any(want.lengths < 40), "no episode ended early: the test would be vacuous"


def test_a_nan_reward_in_a_live_episode_makes_its_return_nan():
    """A nan reward at step 2 of episodes that never terminate is not dropped: the returns
    are nan (the driver then reports the environment as diverged)."""
    env = make_env("point_mass")
    evaluate = make_episode_runner(_NanAfterTheEnd(env, nan_at=2), 3, 40, absorbing=False)
    returns = evaluate(_towards_goal_noisy, jax.random.PRNGKey(0)).returns
    assert np.all(np.isnan(returns))


def test_unknown_env_and_backend():
    with pytest.raises(ValueError, match="unknown env 'nope'.*halfcheetah"):
        make_env("nope")
    with pytest.raises(ValueError, match="unknown backend 'warp'.*spring"):
        make_env("hopper", backend="warp")
