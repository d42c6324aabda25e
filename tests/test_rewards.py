import jax.numpy as jnp
import numpy as np

from nail_jax import ail_reward, airl_reward, fairl_reward, gail_reward, nail_reward

LOGITS = jnp.array([-2.0, 0.0, 0.5, 3.0])


def test_ail_reward_is_negative_log_ratio():
    np.testing.assert_allclose(ail_reward(LOGITS), [2.0, 0.0, -0.5, -3.0])


def test_nail_reward_adds_reference_log_prob():
    ref = jnp.array([1.0, -1.0, 0.25, 0.0])
    # -(log r - log pi_ref), note eq. 8
    np.testing.assert_allclose(nail_reward(LOGITS, ref), [3.0, -1.0, -0.25, -3.0])


def test_nail_reduces_to_self_matching_when_ratio_flat():
    ref = jnp.array([0.3, -2.0])
    np.testing.assert_allclose(nail_reward(jnp.zeros(2), ref), ref)


def test_gail_reward_hand_values():
    # -log(1 - D) with D = sigmoid(-l): -log(sigmoid(l))
    want = [-np.log(1 / (1 + np.exp(-v))) for v in [-2.0, 0.0, 0.5, 3.0]]
    np.testing.assert_allclose(gail_reward(LOGITS), want, rtol=1e-6)
    assert np.isclose(float(gail_reward(jnp.array(0.0))), np.log(2.0))


def test_airl_reward_is_expert_logit():
    d = 1 / (1 + np.exp(np.asarray(LOGITS)))  # expert probability
    np.testing.assert_allclose(airl_reward(LOGITS), np.log(d) - np.log(1 - d), rtol=1e-5,
                               atol=1e-6)


def test_fairl_reward_hand_values():
    # -(P/Q) log(P/Q) with P/Q = exp(-l)
    ratio = np.exp(-np.asarray(LOGITS, np.float64))
    np.testing.assert_allclose(fairl_reward(LOGITS), -ratio * np.log(ratio), rtol=1e-5)
