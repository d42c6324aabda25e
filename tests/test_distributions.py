import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import (
    tanh_gaussian_kl,
    tanh_gaussian_log_prob,
    tanh_gaussian_log_prob_pre_tanh,
    tanh_gaussian_mode,
    tanh_gaussian_sample,
    tanh_gaussian_sample_pre_tanh,
)
from nail_jax.distributions import log_one_minus_tanh_sq


def reference_log_prob(mean, log_std, action):
    """float64 log-density of a = tanh(u), u ~ N(mean, std^2), written from the definition."""
    mean, log_std, a = (np.asarray(x, np.float64) for x in (mean, log_std, action))
    u = np.arctanh(a)
    std = np.exp(log_std)
    log_n = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.sum(log_n - np.log(1.0 - a**2), axis=-1)


@pytest.mark.parametrize(
    "action",
    [
        [0.0, 0.5, -0.3],
        [0.9, -0.99, 0.999],
        [0.9999, -0.9995, 0.99],
    ],
)
def test_log_prob_matches_float64_reference(action):
    mean = jnp.array([0.1, -0.4, 1.5])
    log_std = jnp.array([-0.5, 0.2, 0.0])
    got = tanh_gaussian_log_prob(mean, log_std, jnp.array(action))
    want = reference_log_prob(mean, log_std, action)
    # float32 atanh near 1 loses digits in u; the density stays within a small relative error.
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def test_log_one_minus_tanh_sq_stable_for_large_u():
    u = jnp.array([0.0, 1.0, 5.0, 20.0, 50.0, -50.0])
    got = log_one_minus_tanh_sq(u)
    u64 = np.asarray(u, np.float64)
    # exact identity: 1 - tanh(u)^2 = 4 / (e^u + e^-u)^2, taken in log space
    want = np.log(4.0) - 2.0 * np.logaddexp(u64, -u64)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_sample_log_prob_consistent_with_log_prob():
    mean = jnp.array([[0.2, -0.1], [0.0, 0.3]])
    log_std = jnp.array([[-1.0, -0.5], [-0.2, -1.5]])
    action, logp = tanh_gaussian_sample(jax.random.PRNGKey(0), mean, log_std)
    assert action.shape == (2, 2) and logp.shape == (2,)
    np.testing.assert_allclose(logp, tanh_gaussian_log_prob(mean, log_std, action), rtol=1e-4)


def test_sample_log_prob_finite_when_tanh_saturates():
    mean = jnp.array([12.0, -12.0])
    log_std = jnp.array([-5.0, -5.0])
    action, logp = tanh_gaussian_sample(jax.random.PRNGKey(1), mean, log_std)
    assert np.all(np.abs(action) <= 1.0)
    assert np.isfinite(logp)


def test_pre_tanh_log_prob_exact_where_atanh_is_not():
    """At saturated actions the density of the pre-tanh sample u stays exact (float64
    reference from u), and its gradient in u is the analytic one; the atanh route clips."""
    mean = jnp.array([9.0, -0.5])
    log_std = jnp.array([-3.0, -1.0])
    _, logp, u = tanh_gaussian_sample_pre_tanh(jax.random.PRNGKey(2), mean, log_std)
    m, s, u64 = (np.asarray(x, np.float64) for x in (mean, log_std, u))
    std = np.exp(s)
    log_n = -0.5 * ((u64 - m) / std) ** 2 - s - 0.5 * np.log(2 * np.pi)
    want = np.sum(log_n - (np.log(4.0) - 2.0 * np.logaddexp(u64, -u64)))
    np.testing.assert_allclose(logp, want, rtol=1e-5)
    np.testing.assert_allclose(tanh_gaussian_log_prob_pre_tanh(mean, log_std, u), want, rtol=1e-5)
    grad = jax.grad(lambda x: tanh_gaussian_log_prob_pre_tanh(mean, log_std, x))(u)
    # d/du [log N(u) - log(1 - tanh^2 u)] = -(u - m) / std^2 + 2 tanh(u)
    np.testing.assert_allclose(grad, -(u64 - m) / std**2 + 2 * np.tanh(u64), rtol=1e-4)
    # The action route cannot recover u = 9 from tanh(u) in float32.
    via_action = tanh_gaussian_log_prob(mean, log_std, jnp.tanh(u))
    assert abs(float(via_action) - want) > 100.0


def test_density_integrates_to_one():
    # 1-D numerical integration of exp(log pi(a)) over (-1, 1).
    a = jnp.linspace(-1 + 1e-6, 1 - 1e-6, 200001)[:, None]
    mean = jnp.full_like(a, 0.7)
    log_std = jnp.full_like(a, -0.3)
    p = np.exp(np.asarray(tanh_gaussian_log_prob(mean, log_std, a), np.float64))
    assert abs(np.trapezoid(p, np.asarray(a[:, 0], np.float64)) - 1.0) < 1e-3


def test_mode_is_tanh_mean():
    np.testing.assert_allclose(tanh_gaussian_mode(jnp.array([0.0, 1.0])), np.tanh([0.0, 1.0]))


def test_shape_mismatch_names_arguments():
    with pytest.raises(AssertionError, match=r"`action` must have shape \[3\], got \[2\]"):
        tanh_gaussian_log_prob(jnp.zeros(3), jnp.zeros(3), jnp.zeros(2))


# Two hand-made diagonal Gaussians (3 states x 2 action dimensions) whose KL is far from
# symmetric: p is narrower than q in some dimensions, wider in others, with shifted means.
KL_P = (np.array([[0.3, -0.5], [1.2, 0.0], [-0.4, 0.8]], np.float32),
        np.array([[-0.7, -0.2], [-1.0, -0.3], [0.1, -1.2]], np.float32))
KL_Q = (np.array([[0.0, -0.1], [0.6, 0.5], [-0.9, 0.7]], np.float32),
        np.array([[0.1, -0.4], [-0.2, -0.9], [-0.5, -0.6]], np.float32))


def test_closed_form_kl_matches_monte_carlo_of_squashed_samples():
    """KL(p || q) of two tanh-Gaussians in closed form equals ``E_p[log p(a) - log q(a)]``
    estimated from 400,000 squashed samples ``a = tanh(u)`` scored as actions (through
    ``atanh``, Jacobians and all), within 4 standard errors; the reverse direction
    KL(q || p) is far outside. (Measured: see the test's assertion message.)"""
    n = 400_000
    (mp, sp), (mq, sq) = KL_P, KL_Q
    u = mp + np.exp(sp) * np.asarray(jax.random.normal(jax.random.PRNGKey(0), (n, *mp.shape)))
    a = np.tanh(u)
    assert np.abs(a).max() < 1 - 1e-5  # no action is clipped at the bound
    wide = [np.broadcast_to(x, a.shape) for x in (mp, sp, mq, sq)]
    log_ratio = (np.asarray(tanh_gaussian_log_prob(wide[0], wide[1], a), np.float64)
                 - np.asarray(tanh_gaussian_log_prob(wide[2], wide[3], a), np.float64))
    mc = log_ratio.mean(0)
    se = log_ratio.std(0, ddof=1) / np.sqrt(n)
    kl = np.asarray(tanh_gaussian_kl(mp, sp, mq, sq), np.float64)
    reverse = np.asarray(tanh_gaussian_kl(mq, sq, mp, sp), np.float64)
    message = f"closed form {kl}, Monte Carlo {mc} +- {se} (1 SE), reverse {reverse}"
    assert np.all(np.abs(kl - mc) < 4 * se), message
    assert np.all(np.abs(reverse - mc) > 20 * se), message
    # the Gaussian formula, written out in float64
    var_p, var_q = np.exp(2.0 * sp.astype(np.float64)), np.exp(2.0 * sq.astype(np.float64))
    by_hand = 0.5 * np.sum(np.log(var_q / var_p) + (var_p + (mp - mq) ** 2) / var_q - 1.0, -1)
    np.testing.assert_allclose(kl, by_hand, rtol=1e-5)


def test_kl_of_a_distribution_to_itself_is_exactly_zero():
    mp, sp = KL_P
    np.testing.assert_array_equal(tanh_gaussian_kl(mp, sp, mp, sp), np.zeros(3))
    mq, sq = KL_Q
    assert np.all(np.asarray(tanh_gaussian_kl(mp, sp, mq, sq)) > 0)


def test_kl_gradients_match_finite_differences():
    """The gradient of sum KL in all four inputs against central differences in float64."""
    with jax.enable_x64(True):
        args = [np.asarray(x, np.float64) for x in (*KL_P, *KL_Q)]

        def total(*xs):
            return jnp.sum(tanh_gaussian_kl(*xs))

        grads = jax.grad(total, argnums=(0, 1, 2, 3))(*args)
        eps = 1e-6
        for i, grad in enumerate(grads):
            assert grad.dtype == np.float64
            numeric = np.zeros_like(args[i])
            for idx in np.ndindex(args[i].shape):
                up = [x.copy() for x in args]
                down = [x.copy() for x in args]
                up[i][idx] += eps
                down[i][idx] -= eps
                numeric[idx] = (float(total(*up)) - float(total(*down))) / (2 * eps)
            np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=str(i))
