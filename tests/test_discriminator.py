import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import (
    DiscriminatorBatch,
    DiscriminatorConfig,
    bce_loss,
    classification_metrics,
    gradient_penalty,
    make_discriminator,
)


def test_bce_hand_computed():
    lp = jnp.array([0.0, 2.0])  # policy, label 1: -log sigmoid(l)
    le = jnp.array([-1.0, 0.5])  # expert, label 0: -log(1 - sigmoid(l))
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    want = 0.5 * (
        np.mean([-np.log(sig(0.0)), -np.log(sig(2.0))])
        + np.mean([-np.log(1 - sig(-1.0)), -np.log(1 - sig(0.5))])
    )
    np.testing.assert_allclose(bce_loss(lp, le), want, rtol=1e-6)
    np.testing.assert_allclose(bce_loss(jnp.zeros(3), jnp.zeros(5)), np.log(2.0), rtol=1e-6)


def test_classification_metrics():
    m = classification_metrics(jnp.array([1.0, -1.0, 2.0, 3.0]), jnp.array([-1.0, -2.0, 0.5, -3.0]))
    assert float(m["accuracy_policy"]) == 0.75
    assert float(m["accuracy_expert"]) == 0.75
    np.testing.assert_allclose(m["logit_policy"], 1.25)
    np.testing.assert_allclose(m["logit_expert"], -1.375)


def test_gradient_penalty_of_linear_logit():
    # logit = w.s + v.a has constant gradient (w, v): penalty = (||(w, v)|| - 1)^2.
    w, v = jnp.array([3.0, 0.0]), jnp.array([4.0])

    def logit_fn(o, a):
        return o @ w + a @ v

    k = jax.random.PRNGKey(0)
    po, pa, eo, ea = (jax.random.normal(kk, s) for kk, s in zip(
        jax.random.split(k, 4), [(8, 2), (8, 1), (8, 2), (8, 1)], strict=True))
    np.testing.assert_allclose(gradient_penalty(logit_fn, po, pa, eo, ea, k), 16.0, rtol=1e-5)


def test_gradient_penalty_of_quadratic_logit_at_interpolates():
    # logit = 0.5 ||x||^2: grad = x, so penalty = mean (||x_interp|| - 1)^2, with the same
    # uniform draw as the implementation.
    def logit_fn(o, a):
        return 0.5 * (jnp.sum(o**2, -1) + jnp.sum(a**2, -1))

    po, pa = jnp.array([[1.0, 0.0], [0.0, 2.0]]), jnp.array([[0.0], [1.0]])
    eo, ea = jnp.array([[3.0, 0.0], [0.0, 0.0]]), jnp.array([[0.0], [0.0]])
    key = jax.random.PRNGKey(3)
    eps = np.asarray(jax.random.uniform(key, (2, 1)))
    x = eps * np.concatenate([eo, ea], 1) + (1 - eps) * np.concatenate([po, pa], 1)
    want = np.mean((np.linalg.norm(x, axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(gradient_penalty(logit_fn, po, pa, eo, ea, key), want, rtol=1e-5)


def _gaussian_batch(key, n, mu_q, sd_q, mu_p, sd_p):
    kq, kp = jax.random.split(key)
    q = mu_q + sd_q * jax.random.normal(kq, (n, 2))
    p = mu_p + sd_p * jax.random.normal(kp, (n, 2))
    return DiscriminatorBatch(q[:, :1], q[:, 1:], p[:, :1], p[:, 1:])


def _log_normal(x, mu, sd):
    return np.sum(-0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi), -1)


def test_recovers_log_ratio_of_two_gaussians():
    """Policy Q = N(mu_q, sd_q^2 I), expert P = N(mu_p, sd_p^2 I) over (s, a) in R^2."""
    mu_q, sd_q = np.array([0.5, -0.3]), 0.6
    mu_p, sd_p = np.array([0.0, 0.2]), 0.8
    disc = make_discriminator(1, 1, DiscriminatorConfig(
        hidden_sizes=(64, 64), learning_rate=1e-3, gradient_penalty=0.0))
    state = disc.init(jax.random.PRNGKey(0))

    def body(state, key):
        k_batch, k_update = jax.random.split(key)
        batch = _gaussian_batch(k_batch, 512, mu_q, sd_q, mu_p, sd_p)
        return disc.update(state, batch, k_update)

    state, metrics = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 3000)))(
        state, jax.random.PRNGKey(1))
    # Evaluate where both densities have mass: points drawn from the 50/50 mixture,
    # restricted to where each density is at least 5% of its peak.
    x = np.asarray(jnp.concatenate(jax.tree.leaves(_gaussian_batch(
        jax.random.PRNGKey(2), 2000, mu_q, sd_q, mu_p, sd_p))[:2], -1))
    x = np.concatenate([x, np.asarray(jnp.concatenate(jax.tree.leaves(_gaussian_batch(
        jax.random.PRNGKey(2), 2000, mu_q, sd_q, mu_p, sd_p))[2:], -1))])
    true = _log_normal(x, mu_q, sd_q) - _log_normal(x, mu_p, sd_p)
    mass = (_log_normal(x, mu_q, sd_q) > np.log(0.05) - np.log(2 * np.pi * sd_q**2)) & (
        _log_normal(x, mu_p, sd_p) > np.log(0.05) - np.log(2 * np.pi * sd_p**2))
    est = np.asarray(disc.log_ratio(state, jnp.asarray(x[:, :1]), jnp.asarray(x[:, 1:])))
    err = np.abs(est - true)[mass]
    print(f"log-ratio error where both have mass: mean {err.mean():.3f}, "
          f"p90 {np.quantile(err, 0.9):.3f}, over {mass.sum()} points; true range "
          f"[{true[mass].min():.2f}, {true[mass].max():.2f}]")
    assert mass.sum() > 1000
    assert err.mean() < 0.1
    assert np.quantile(err, 0.9) < 0.2
    # The trained BCE is below chance, as the distributions differ.
    assert float(metrics["bce"][-100:].mean()) < np.log(2.0) - 0.05


def _state_only_batch(key, n, mu_q, sd_q, mu_p, sd_p):
    """``(s, s')`` from the two Gaussians over R^2; actions from two other, far apart
    distributions, which a state-only discriminator must ignore."""
    pairs = _gaussian_batch(key, n, mu_q, sd_q, mu_p, sd_p)
    ka, kb = jax.random.split(jax.random.fold_in(key, 1))
    return DiscriminatorBatch(
        pairs.policy_obs, 0.5 + 0.1 * jax.random.normal(ka, (n, 3)),
        pairs.expert_obs, -0.5 + 0.1 * jax.random.normal(kb, (n, 3)),
        policy_next_obs=pairs.policy_action, expert_next_obs=pairs.expert_action)


def test_state_only_recovers_log_ratio_of_two_gaussians_over_state_pairs():
    """The Gaussian check on ``(s, s')``: ``log r(s, s')`` is recovered although the two
    classes' actions are separable (a discriminator that used them would not be)."""
    mu_q, sd_q = np.array([0.5, -0.3]), 0.6
    mu_p, sd_p = np.array([0.0, 0.2]), 0.8
    disc = make_discriminator(1, 3, DiscriminatorConfig(
        hidden_sizes=(64, 64), learning_rate=1e-3, gradient_penalty=0.0, state_only=True))
    state = disc.init(jax.random.PRNGKey(0))

    def body(state, key):
        k_batch, k_update = jax.random.split(key)
        return disc.update(state, _state_only_batch(k_batch, 512, mu_q, sd_q, mu_p, sd_p),
                           k_update)

    state, metrics = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 3000)))(
        state, jax.random.PRNGKey(1))
    pairs = _gaussian_batch(jax.random.PRNGKey(2), 2000, mu_q, sd_q, mu_p, sd_p)
    x = np.concatenate([np.concatenate([pairs.policy_obs, pairs.policy_action], -1),
                        np.concatenate([pairs.expert_obs, pairs.expert_action], -1)])
    true = _log_normal(x, mu_q, sd_q) - _log_normal(x, mu_p, sd_p)
    mass = (_log_normal(x, mu_q, sd_q) > np.log(0.05) - np.log(2 * np.pi * sd_q**2)) & (
        _log_normal(x, mu_p, sd_p) > np.log(0.05) - np.log(2 * np.pi * sd_p**2))
    s, s_next = jnp.asarray(x[:, :1]), jnp.asarray(x[:, 1:])
    est = np.asarray(disc.log_ratio(state, s, jnp.full((len(x), 3), 0.5), s_next))
    np.testing.assert_array_equal(  # the action is not an input
        est, np.asarray(disc.log_ratio(state, s, jnp.full((len(x), 3), -0.5), s_next)))
    err = np.abs(est - true)[mass]
    assert mass.sum() > 1000
    assert err.mean() < 0.1 and np.quantile(err, 0.9) < 0.2, (err.mean(), np.quantile(err, 0.9))
    assert float(metrics["bce"][-100:].mean()) < np.log(2.0) - 0.05


def test_state_only_update_ignores_actions_and_needs_next_states():
    """Two batches that differ only in their actions give the same update, bit for bit; a
    batch without next states is refused with a message saying so."""
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(16,), state_only=True))
    state = disc.init(jax.random.PRNGKey(0))
    base, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    nxt = _batch(jax.random.PRNGKey(3))
    a = base.replace(policy_next_obs=nxt.policy_obs, expert_next_obs=nxt.expert_obs)
    b = a.replace(policy_action=-a.policy_action, expert_action=jnp.zeros_like(a.expert_action))
    chex.assert_trees_all_equal(disc.update(state, a, key), disc.update(state, b, key))
    changed = a.replace(policy_next_obs=a.policy_next_obs + 1.0)
    assert not np.allclose(disc.update(state, changed, key)[1]["loss"],
                           disc.update(state, a, key)[1]["loss"])
    with pytest.raises(ValueError, match="batch.policy_next_obs is None, but a state-only"):
        disc.update(state, base, key)
    with pytest.raises(ValueError, match="pass next_obs"):
        disc.log_ratio(state, base.policy_obs, base.policy_action)


def _batch(key, n=16, obs=3, act=2):
    ks = jax.random.split(key, 4)
    return DiscriminatorBatch(
        jax.random.normal(ks[0], (n, obs)) + 1.0, jnp.tanh(jax.random.normal(ks[1], (n, act))),
        jax.random.normal(ks[2], (n, obs)), jnp.tanh(jax.random.normal(ks[3], (n, act))))


@pytest.mark.parametrize("spectral_norm", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_update_jit_equals_nojit(spectral_norm):
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(16,),
                                                        spectral_norm=spectral_norm))
    state = disc.init(jax.random.PRNGKey(0))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    s1, m1 = disc.update(state, batch, key)
    s2, m2 = jax.jit(disc.update)(state, batch, key)
    chex.assert_trees_all_close((s1, m1), (s2, m2), rtol=1e-5, atol=1e-6)
    assert set(m1) == {"loss", "bce", "gradient_penalty", "accuracy_policy", "accuracy_expert",
                       "logit_policy", "logit_expert"}


@pytest.mark.slow
def test_vmap_over_seeds_equals_separate_calls():
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(16,)))
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    states = jax.vmap(disc.init)(keys)
    batches = jax.vmap(_batch)(keys)
    upd_keys = jax.random.split(jax.random.PRNGKey(1), 4)
    vs, vm = jax.jit(jax.vmap(disc.update))(states, batches, upd_keys)
    for i in range(4):
        take = lambda t, i=i: jax.tree.map(lambda x: x[i], t)  # noqa: E731
        s, m = jax.jit(disc.update)(take(states), take(batches), upd_keys[i])
        chex.assert_trees_all_close((s, m), take((vs, vm)), rtol=1e-5, atol=1e-6)


def test_no_retracing_across_updates():
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(16,)))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def update(state, batch, key):
        return disc.update(state, batch, key)

    state = disc.init(jax.random.PRNGKey(0))
    for i in range(5):
        state, _ = update(state, _batch(jax.random.PRNGKey(i)), jax.random.PRNGKey(i))
    assert int(state.steps) == 5


def test_spectral_norm_bounds_layer_norms():
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(32, 32), spectral_norm=True,
                                                        learning_rate=1e-2))
    state = disc.init(jax.random.PRNGKey(0))
    update = jax.jit(disc.update)
    for i in range(30):
        state, _ = update(state, _batch(jax.random.PRNGKey(i)), jax.random.PRNGKey(i))
    stats = state.params["batch_stats"]
    for layer in ["sn_0", "sn_1", "sn_2"]:
        leaf = stats["MLP_0"][layer]
        kernel = state.params["params"]["MLP_0"]["dense_" + layer[-1]]["kernel"]
        sigma_true = np.linalg.svd(np.asarray(kernel), compute_uv=False)[0]
        sigma_est = float(leaf[f"dense_{layer[-1]}/kernel/sigma"])
        # The running power iteration tracks the top singular value.
        assert abs(sigma_est - sigma_true) / sigma_true < 0.05


def test_bad_batch_shape_is_reported():
    disc = make_discriminator(3, 2, DiscriminatorConfig(hidden_sizes=(16,)))
    state = disc.init(jax.random.PRNGKey(0))
    bad = _batch(jax.random.PRNGKey(1), obs=4)
    with pytest.raises(AssertionError, match=r"`batch.policy_obs` must have shape \[16, 3\]"):
        disc.update(state, bad, jax.random.PRNGKey(2))
