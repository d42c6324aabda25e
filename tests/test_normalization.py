import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import init_statistics, normalize, update_statistics


def test_batched_updates_match_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(300, 4)).astype(np.float32)
    stats = init_statistics(4)
    for chunk in np.split(x, [7, 100, 101, 250]):
        stats = update_statistics(stats, jnp.asarray(chunk))
    assert float(stats.count) == 300
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.std, x.std(0), rtol=1e-4)


def test_weights_mask_rows():
    x = jnp.array([[1.0], [3.0], [100.0]])
    stats = update_statistics(init_statistics(1), x, weights=jnp.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(stats.mean, [2.0])
    np.testing.assert_allclose(stats.std, [1.0])


def test_normalize_clips_and_identity():
    stats = update_statistics(init_statistics(1), jnp.array([[0.0], [2.0]]))
    np.testing.assert_allclose(normalize(stats, jnp.array([[3.0], [1e6]])), [[2.0], [10.0]])
    x = jnp.ones((2, 1))
    assert normalize(None, x) is x


def test_update_is_jittable_and_checks_size():
    stats = jax.jit(update_statistics)(init_statistics(2), jnp.ones((5, 2)))
    assert float(stats.count) == 5
    with pytest.raises(AssertionError):
        update_statistics(init_statistics(2), jnp.ones((5, 3)))
