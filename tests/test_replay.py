import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import Transition, make_replay_buffer


def _items(start, n):
    v = jnp.arange(start, start + n, dtype=jnp.float32)
    return Transition(obs=jnp.stack([v, -v], 1), action=v[:, None], reward=v,
                      discount=jnp.ones(n), next_obs=jnp.stack([v + 1, -v], 1))


EXAMPLE = jax.tree.map(lambda x: x[0], _items(0, 1))


def test_add_wraps_around():
    buf = make_replay_buffer(capacity=5, sample_batch_size=4)
    state = buf.init(EXAMPLE)
    state = buf.add(state, _items(0, 3))
    assert int(state.size) == 3 and int(state.position) == 3
    state = buf.add(state, _items(3, 4))  # writes 3, 4, then wraps to 0, 1
    assert int(state.size) == 5 and int(state.position) == 2
    np.testing.assert_array_equal(state.data.reward, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(state.data.obs[:, 1], [-5, -6, -2, -3, -4])


def test_sample_only_valid_items_before_full():
    buf = make_replay_buffer(capacity=100, sample_batch_size=1000)
    state = buf.add(buf.init(EXAMPLE), _items(0, 7))
    r = np.asarray(buf.sample(state, jax.random.PRNGKey(0)).reward)
    assert set(r.tolist()) == set(range(7))
    assert buf.can_sample(state, 7) and not buf.can_sample(state, 8)


def test_sample_keeps_fields_aligned():
    buf = make_replay_buffer(capacity=10, sample_batch_size=64)
    state = buf.add(buf.init(EXAMPLE), _items(0, 10))
    state = buf.add(state, _items(10, 4))
    s = buf.sample(state, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(s.obs[:, 0], s.reward)
    np.testing.assert_array_equal(s.next_obs[:, 0], s.reward + 1)
    assert s.reward.min() >= 4  # 0..3 were overwritten


def test_sample_recent_window_after_wrap():
    buf = make_replay_buffer(capacity=8, sample_batch_size=2000)
    state = buf.init(EXAMPLE)
    for start in range(0, 20, 4):  # 0..19 inserted; buffer holds 12..19
        state = buf.add(state, _items(start, 4))
    recent = np.asarray(buf.sample(state, jax.random.PRNGKey(2), window=3).reward)
    assert set(recent.tolist()) == {17, 18, 19}
    # a traced window works under jit, and a window larger than the contents is clipped
    sample = jax.jit(lambda s, k, w: buf.sample(s, k, window=w))
    big = np.asarray(sample(state, jax.random.PRNGKey(3), 100).reward)
    assert set(big.tolist()) == set(range(12, 20))
    all_items = np.asarray(buf.sample(state, jax.random.PRNGKey(4)).reward)
    assert set(all_items.tolist()) == set(range(12, 20))


def test_sampling_is_uniform():
    buf = make_replay_buffer(capacity=6, sample_batch_size=60000)
    state = buf.add(buf.init(EXAMPLE), _items(0, 6))
    counts = np.bincount(np.asarray(buf.sample(state, jax.random.PRNGKey(0)).reward, int))
    np.testing.assert_allclose(counts / 60000, 1 / 6, atol=0.01)


def test_donated_add_reuses_buffer():
    buf = make_replay_buffer(capacity=1000, sample_batch_size=4)
    add = jax.jit(buf.add, donate_argnums=0)
    state = buf.init(EXAMPLE)
    old = state.data.obs
    state = add(state, _items(0, 10))
    assert old.is_deleted()  # the input was donated, not copied
    state = add(state, _items(10, 10))
    assert int(state.size) == 20
    np.testing.assert_array_equal(state.data.reward[:20], np.arange(20))


def test_vmap_over_seeds_equals_separate_buffers():
    buf = make_replay_buffer(capacity=5, sample_batch_size=3)
    states = jax.vmap(lambda _: buf.init(EXAMPLE))(jnp.arange(4))
    items = jax.vmap(lambda s: _items(0, 3))(jnp.arange(4))
    items = items.replace(reward=items.reward + 100 * jnp.arange(4)[:, None])
    states = jax.jit(jax.vmap(buf.add))(states, items)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    samples = jax.jit(jax.vmap(buf.sample))(states, keys)
    for i in range(4):
        s = buf.add(buf.init(EXAMPLE), jax.tree.map(lambda x, i=i: x[i], items))
        chex.assert_trees_all_equal(buf.sample(s, keys[i]),
                                    jax.tree.map(lambda x, i=i: x[i], samples))


def test_bad_inputs():
    with pytest.raises(ValueError, match="capacity"):
        make_replay_buffer(0, 4)
    buf = make_replay_buffer(capacity=4, sample_batch_size=2)
    with pytest.raises(ValueError, match="cannot add 5 items"):
        buf.add(buf.init(EXAMPLE), _items(0, 5))
    bad = _items(0, 2).replace(obs=jnp.zeros((2, 3)))
    with pytest.raises(AssertionError, match=r"`items.obs` must have shape \[2, 2\]"):
        buf.add(buf.init(EXAMPLE), bad)
