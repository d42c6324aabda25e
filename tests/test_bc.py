"""Behavioural cloning (nail_jax.learners.bc): the loss by hand, maximum likelihood recovers a
known tanh-Gaussian demonstrator, weights, saturated actions, jit / vmap."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax.learners.bc import BCBatch, bc_loss, make_bc
from nail_jax.learners.sac import SACConfig, make_sac


def _log_tanh_gaussian(mean, std, action):
    """``log pi(a)`` of ``a = tanh(u)``, ``u ~ N(mean, std^2)``, in float64 by the textbook
    formula: the Gaussian density of ``atanh(a)`` over ``|d tanh / du| = 1 - a^2``."""
    u = np.arctanh(action)
    gauss = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.sum(gauss - np.log(1 - action**2), -1)


def test_loss_is_the_weighted_negative_log_likelihood_by_hand():
    mean = np.array([[0.2, -0.5], [1.0, 0.0], [-0.3, 0.4]])
    log_std = np.array([[-1.0, 0.0], [-0.5, -2.0], [0.3, -0.7]])
    action = np.array([[0.1, -0.6], [0.7, 0.05], [0.9, -0.2]])
    weight = np.array([1.0, 0.0, 2.0])  # the middle row must not count

    def apply(normalizer, params, obs):
        del normalizer, params, obs
        return jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32)

    batch = BCBatch(jnp.zeros((3, 4)), jnp.asarray(action, jnp.float32),
                    jnp.asarray(weight, jnp.float32))
    loss, metrics = bc_loss(apply, None, None, batch)
    log_prob = _log_tanh_gaussian(mean, np.exp(log_std), action)
    want = -(log_prob[0] + 2 * log_prob[2]) / 3
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(metrics["nll"], want, rtol=1e-5)
    sq = np.sum((np.tanh(mean) - action) ** 2, -1)
    np.testing.assert_allclose(metrics["mse"], (sq[0] + 2 * sq[2]) / 3, rtol=1e-5)
    np.testing.assert_allclose(metrics["log_std"], (log_std[0].mean() + 2 * log_std[2].mean())
                               / 3, rtol=1e-5)


def _demonstrator(key, n, w, b, std):
    """States ``s ~ N(0, I)`` in R^2 and actions ``tanh(W s + b + std * eps)`` in R^2."""
    ks, ke = jax.random.split(key)
    s = jax.random.normal(ks, (n, 2))
    u = s @ w.T + b + std * jax.random.normal(ke, (n, 2))
    return s, jnp.tanh(u)


def test_maximum_likelihood_recovers_a_tanh_gaussian_demonstrator():
    """The demonstrator is in the policy class: a fit must find its mean ``W s + b`` and its
    standard deviation (MLE of a Gaussian in ``atanh(a)``), not merely imitate on average."""
    w = jnp.array([[0.8, -0.4], [0.3, 0.6]])
    b = jnp.array([0.2, -0.3])
    std = 0.3
    bc = make_bc(2, 2, (64, 64), learning_rate=1e-3)
    state = bc.init(jax.random.PRNGKey(0))

    def body(state, key):
        s, a = _demonstrator(key, 512, w, b, std)
        return bc.update(state, BCBatch(s, a, jnp.ones(512)), key)

    state, metrics = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 3000)))(
        state, jax.random.PRNGKey(1))
    grid = jnp.stack(jnp.meshgrid(jnp.linspace(-1, 1, 5), jnp.linspace(-1, 1, 5)),
                     -1).reshape(-1, 2)
    mean, log_std = bc.policy_network.apply(None, state.params, grid)
    np.testing.assert_allclose(mean, grid @ w.T + b, atol=0.08)
    # Measured: the mean within 0.025; std within 13% everywhere, 0.7% on average (in log).
    np.testing.assert_allclose(np.exp(log_std), std, rtol=0.2)
    np.testing.assert_allclose(np.exp(np.mean(log_std)), std, rtol=0.06)
    # The loss at the end is the demonstrator's own negative log-likelihood (its entropy).
    s, a = _demonstrator(jax.random.PRNGKey(2), 20_000, w, b, std)
    own = -np.mean(_log_tanh_gaussian(np.asarray(s @ w.T + b, np.float64), std,
                                      np.asarray(a, np.float64)))
    assert abs(float(metrics["nll"][-200:].mean()) - own) < 0.05, (metrics["nll"][-1], own)
    assert int(state.steps) == 3000


def test_zero_weight_rows_do_not_change_the_update():
    """A row of weight 0 (the absorbing state) gives the same update, bit for bit, whatever
    its state and action."""
    bc = make_bc(3, 2, (16,))
    state = bc.init(jax.random.PRNGKey(0))
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    obs, action = jax.random.normal(k1, (8, 3)), jnp.tanh(jax.random.normal(k2, (8, 2)))
    weight = jnp.ones(8).at[5].set(0.0)
    a = BCBatch(obs, action, weight)
    b = BCBatch(obs.at[5].set(100.0), action.at[5].set(-1.0), weight)
    chex.assert_trees_all_equal(bc.update(state, a, k3), bc.update(state, b, k3))
    c = BCBatch(obs.at[4].set(100.0), action, weight)  # a weighted row does count
    assert not np.allclose(bc.update(state, c, k3)[1]["nll"], bc.update(state, a, k3)[1]["nll"])


def test_saturated_demonstrator_actions_give_finite_loss_and_gradients():
    """A deterministic expert's ``tanh(mean)`` rounds to exactly +-1 in float32; ``atanh`` of
    those is clipped, so the loss and the step stay finite."""
    bc = make_bc(2, 2, (16,))
    state = bc.init(jax.random.PRNGKey(0))
    batch = BCBatch(jnp.ones((4, 2)), jnp.array([[1.0, -1.0], [1.0, 0.0], [0.5, -1.0],
                                                 [-1.0, 1.0]]), jnp.ones(4))
    new, metrics = bc.update(state, batch, None)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new.params))


def test_policy_is_sacs_and_the_adam_states_are_interchangeable():
    """BC trains SAC's policy network: same parameter tree, and the same Adam state structure,
    so the trainer can hand a SAC state's policy to BC and back."""
    bc = make_bc(3, 2, (16, 16), learning_rate=6e-4)
    sac = make_sac(3, 2, SACConfig(hidden_sizes=(16, 16), policy_learning_rate=6e-4))
    sac_state = sac.init(jax.random.PRNGKey(0))
    chex.assert_trees_all_equal_shapes_and_dtypes(bc.init(jax.random.PRNGKey(0)).params,
                                                  sac_state.policy_params)
    chex.assert_trees_all_equal_structs(bc.optimizer.init(sac_state.policy_params),
                                        sac_state.policy_opt_state)


def test_update_is_the_same_with_and_without_jit():
    bc = make_bc(3, 2, (16,))
    state = bc.init(jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    batch = BCBatch(jax.random.normal(k1, (8, 3)), jnp.tanh(jax.random.normal(k2, (8, 2))),
                    jnp.ones(8))
    with jax.disable_jit():
        eager = bc.update(state, batch, None)
    chex.assert_trees_all_close(jax.jit(bc.update)(state, batch, None), eager, rtol=1e-5,
                                atol=1e-7)


def test_vmap_over_seeds_equals_separate_updates():
    bc = make_bc(3, 2, (16,))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    states = jax.vmap(bc.init)(keys)
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    batches = BCBatch(jax.random.normal(k1, (3, 8, 3)), jnp.tanh(jax.random.normal(k2, (3, 8, 2))),
                      jnp.ones((3, 8)))
    vmapped, metrics = jax.jit(jax.vmap(bc.update))(states, batches, keys)
    for i in range(3):
        one = jax.tree.map(lambda x, i=i: x[i], (states, batches))
        alone, m = jax.jit(bc.update)(*one, keys[i])
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], vmapped), alone,
                                    rtol=1e-5, atol=1e-7)
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], metrics), m, rtol=1e-5)


def test_bad_batches_are_refused_with_their_name():
    bc = make_bc(3, 2, (16,))
    state = bc.init(jax.random.PRNGKey(0))
    with pytest.raises(AssertionError, match="batch.action"):
        bc.update(state, BCBatch(jnp.zeros((4, 3)), jnp.zeros((4, 3)), jnp.ones(4)), None)
    with pytest.raises(AssertionError, match="batch.weight"):
        bc.update(state, BCBatch(jnp.zeros((4, 3)), jnp.zeros((4, 2)), jnp.ones(5)), None)
