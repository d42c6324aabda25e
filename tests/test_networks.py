import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import (
    init_statistics,
    make_discriminator_network,
    make_policy_network,
    make_q_network,
    update_statistics,
)


def test_output_shapes_with_leading_axes():
    pi = make_policy_network(5, 3, (16,))
    q = make_q_network(5, 3, (16,), n_critics=2)
    d = make_discriminator_network(5, 3, (16,))
    obs, act = jnp.ones((4, 7, 5)), jnp.zeros((4, 7, 3))
    mean, log_std = pi.apply(None, pi.init(jax.random.PRNGKey(0)), obs)
    assert mean.shape == log_std.shape == (4, 7, 3)
    assert np.all((log_std >= -5.0) & (log_std <= 2.0))
    assert q.apply(None, q.init(jax.random.PRNGKey(0)), obs, act).shape == (4, 7, 2)
    assert d.apply(None, d.init(jax.random.PRNGKey(0)), obs, act).shape == (4, 7)


def test_twin_critics_are_independent():
    q = make_q_network(2, 1, (8,))
    out = q.apply(None, q.init(jax.random.PRNGKey(0)), jnp.ones((1, 2)), jnp.ones((1, 1)))
    assert out[0, 0] != out[0, 1]


def test_normalizer_is_applied():
    pi = make_policy_network(2, 1, (8,))
    params = pi.init(jax.random.PRNGKey(0))
    stats = update_statistics(init_statistics(2), jnp.array([[10.0, -4.0], [30.0, 4.0]]))
    raw = jnp.array([[20.0, 0.0]])  # normalises to zeros
    np.testing.assert_allclose(pi.apply(stats, params, raw)[0],
                               pi.apply(None, params, jnp.zeros((1, 2)))[0], atol=1e-6)


def test_wrong_sizes_raise_clear_errors():
    pi = make_policy_network(5, 3, (8,))
    with pytest.raises(AssertionError, match=r"`obs` must have shape \[\.\.\., 5\]"):
        pi.apply(None, pi.init(jax.random.PRNGKey(0)), jnp.ones((2, 4)))
    q = make_q_network(5, 3, (8,))
    with pytest.raises(AssertionError, match=r"`action` must have shape \[\.\.\., 3\]"):
        q.apply(None, q.init(jax.random.PRNGKey(0)), jnp.ones((2, 5)), jnp.ones((2, 2)))
    with pytest.raises(AssertionError, match="batch axes must agree"):
        q.apply(None, q.init(jax.random.PRNGKey(0)), jnp.ones((2, 5)), jnp.ones((4, 3)))
