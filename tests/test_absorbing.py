"""The one definition of DAC's absorbing-state layout (``nail_jax.absorbing``)."""

import jax.numpy as jnp
import numpy as np

from nail_jax.absorbing import absorbing_state, augment_obs, live_weight, zero_absorbing_action


def test_numpy_and_jax_views_agree():
    obs = np.arange(6, dtype=np.float32).reshape(2, 3)
    for xp in (np, jnp):
        state = absorbing_state(3, xp)
        assert state.dtype == np.float32
        np.testing.assert_array_equal(state, [0, 0, 0, 1])
        np.testing.assert_array_equal(augment_obs(obs, True, xp), [[0, 1, 2, 0], [3, 4, 5, 0]])
        assert augment_obs(obs, False, xp) is obs
    rows = np.stack([augment_obs(obs, True)[0], absorbing_state(3)])
    np.testing.assert_array_equal(live_weight(rows), [1, 0])
    np.testing.assert_array_equal(zero_absorbing_action(rows, np.ones((2, 2))), [[1, 1], [0, 0]])
