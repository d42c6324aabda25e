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
    """Each critic has its own layers: changing every parameter of critic 0 moves only
    output 0. Catches shared hidden layers (output 1 would move too) and a stack of one
    critic's output twice."""
    q = make_q_network(2, 1, (8, 8), n_critics=2)
    params = q.init(jax.random.PRNGKey(0))
    assert sorted(params["params"]) == ["q_0", "q_1"]
    obs, act = jax.random.normal(jax.random.PRNGKey(1), (5, 2)), jnp.ones((5, 1))
    out = q.apply(None, params, obs, act)
    assert not np.allclose(out[:, 0], out[:, 1])
    moved = {"params": {**params["params"], "q_0": jax.tree.map(
        lambda x: x + 0.5, params["params"]["q_0"])}}
    new = q.apply(None, moved, obs, act)
    np.testing.assert_array_equal(new[:, 1], out[:, 1])
    assert np.all(np.abs(new[:, 0] - out[:, 0]) > 1e-3)


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
