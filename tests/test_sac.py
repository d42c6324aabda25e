import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import (
    NAILConfig,
    SACConfig,
    Transition,
    actor_loss,
    alpha_loss,
    critic_loss,
    make_sac,
    take_snapshot,
    td_target,
)
from nail_jax.algorithms.nail import make_soft_term

# The jitted update fuses the critic loss differently from the eager ops that recompute it
# here (a mean of squared TD errors, so round-off cancels): measured relative differences
# are up to 8.9e-6 on a CPU and 2.1e-5 on an H200 GPU (TF32 matmuls). A 1% change of any
# soft-term weight moves these losses by 1.1-1.9%, so 1e-4 still catches a wrong term.
LOSS_RTOL = 1e-4


def test_td_target_hand_computed_with_terminal_and_truncation_masks():
    reward = jnp.array([1.0, 1.0, 2.0])
    # transition 0: ordinary; 1: true termination (discount 0); 2: time-limit truncation,
    # which keeps discount 1 and bootstraps from the true final observation.
    discount = jnp.array([1.0, 0.0, 1.0])
    next_q = jnp.array([[3.0, 5.0], [10.0, 20.0], [-1.0, 4.0]])
    next_log_prob = jnp.array([-1.0, 2.0, 0.5])
    got = td_target(reward, discount, next_q, next_log_prob, alpha=jnp.array(0.2), gamma=0.9,
                    reward_scale=2.0)
    want = [2 * 1 + 0.9 * (3.0 + 0.2), 2 * 1.0, 2 * 2 + 0.9 * (-1.0 - 0.1)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def _batch(key, n=32, obs=4, act=2):
    ks = jax.random.split(key, 5)
    return Transition(
        obs=jax.random.normal(ks[0], (n, obs)),
        action=jnp.tanh(jax.random.normal(ks[1], (n, act))),
        reward=jax.random.normal(ks[2], (n,)),
        discount=(jax.random.uniform(ks[3], (n,)) > 0.1).astype(jnp.float32),
        next_obs=jax.random.normal(ks[4], (n, obs)),
    )


SMALL = SACConfig(hidden_sizes=(32, 32))


def test_critic_loss_matches_manual_computation():
    sac = make_sac(4, 2, SMALL)
    state = sac.init(jax.random.PRNGKey(0))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    _, metrics = jax.jit(sac.update)(state, batch, key)
    k_critic, _ = jax.random.split(key)
    a2, lp2 = sac.sample_action(None, state.policy_params, batch.next_obs, k_critic)
    nq = sac.q_network.apply(None, state.target_q_params, batch.next_obs, a2)
    y = batch.reward + 0.99 * batch.discount * (nq.min(-1) - 1.0 * lp2)
    q = sac.q_network.apply(None, state.q_params, batch.obs, batch.action)
    want = 0.5 * np.mean(np.sum((np.asarray(q) - np.asarray(y)[:, None]) ** 2, -1))
    np.testing.assert_allclose(metrics["critic_loss"], want, rtol=LOSS_RTOL)


@pytest.mark.parametrize("alpha_config, alpha, weight, reward_scale", [
    ({"fixed_alpha": 0.5}, 0.5, 0.5, 1.0),
    # A learned temperature weighs the KL term too; reward_scale scales r alone.
    ({"init_alpha": 0.3}, 0.3, 0.3, 2.0),
    # A fixed weight on log pi_ref, apart from the temperature.
    ({"init_alpha": 0.3, "weight": 1.0}, 0.3, 1.0, 1.0),
])
def test_nail_soft_term_adds_log_pi_ref_to_the_soft_value(alpha_config, alpha, weight,
                                                          reward_scale):
    """Critic target s r + g d (min Q'(s',a') + w log pi_ref(a'|s') - alpha log pi(a'|s'))
    with NAIL's soft-value hook (nail_jax.algorithms.nail.make_soft_term)."""
    alpha_config = dict(alpha_config)
    nail = NAILConfig(weight=alpha_config.pop("weight", None))
    cfg = SACConfig(hidden_sizes=(32, 32), reward_scale=reward_scale, **alpha_config)
    sac = make_sac(4, 2, cfg, soft_term=make_soft_term(nail))
    state = sac.init(jax.random.PRNGKey(0))
    # A reference that differs from the current policy.
    other = make_sac(4, 2, SACConfig(hidden_sizes=(32, 32))).init(jax.random.PRNGKey(7))
    state = state.replace(reference=state.reference.replace(params=other.policy_params))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    new_state, metrics = jax.jit(sac.update)(state, batch, key)
    k_critic, _ = jax.random.split(key)
    a2, lp2 = sac.sample_action(None, state.policy_params, batch.next_obs, k_critic)
    ref_lp = sac.log_prob(None, other.policy_params, batch.next_obs, a2)
    nq = sac.q_network.apply(None, state.target_q_params, batch.next_obs, a2)
    y = reward_scale * batch.reward + 0.99 * batch.discount * (
        nq.min(-1) + weight * ref_lp - alpha * lp2)
    q = sac.q_network.apply(None, state.q_params, batch.obs, batch.action)
    want = 0.5 * np.mean(np.sum((np.asarray(q) - np.asarray(y)[:, None]) ** 2, -1))
    np.testing.assert_allclose(metrics["critic_loss"], want, rtol=LOSS_RTOL)
    # update never touches the reference; take_snapshot replaces it with the policy.
    chex.assert_trees_all_equal(new_state.reference, state.reference)
    snap = take_snapshot(new_state)
    chex.assert_trees_all_equal(snap.reference.params, new_state.policy_params)


def test_absorbing_states_earn_no_soft_terms():
    """With absorbing=True: no -alpha log pi or w log pi_ref in the target where s' is
    absorbing, and the actor and temperature losses average over live states only."""
    cfg = SACConfig(hidden_sizes=(32, 32), init_alpha=0.3)
    soft_term = make_soft_term(NAILConfig(weight=0.1))
    sac = make_sac(5, 2, cfg, absorbing=True, soft_term=soft_term)
    state = sac.init(jax.random.PRNGKey(0))
    other = make_sac(5, 2, cfg).init(jax.random.PRNGKey(7))
    state = state.replace(reference=state.reference.replace(params=other.policy_params))
    batch = _batch(jax.random.PRNGKey(1), obs=5)
    absorbing = jnp.zeros(5).at[-1].set(1.0)
    flag = lambda x, rows: x.at[..., -1].set(0.0).at[rows].set(absorbing)  # noqa: E731
    # rows 0-9 lead into the absorbing state, rows 5-14 are in it
    batch = batch.replace(obs=flag(batch.obs, slice(5, 15)),
                          next_obs=flag(batch.next_obs, slice(0, 10)))
    key = jax.random.PRNGKey(2)
    new_state, metrics = jax.jit(sac.update)(state, batch, key)
    k_critic, k_actor = jax.random.split(key)
    live_next = np.arange(32) >= 10
    a2, lp2 = sac.sample_action(None, state.policy_params, batch.next_obs, k_critic)
    ref_lp = sac.log_prob(None, other.policy_params, batch.next_obs, a2)
    nq = sac.q_network.apply(None, state.target_q_params, batch.next_obs, a2)
    soft = np.where(live_next, 0.1 * np.asarray(ref_lp) - 0.3 * np.asarray(lp2), 0.0)
    y = batch.reward + 0.99 * batch.discount * (nq.min(-1) + soft)
    q = sac.q_network.apply(None, state.q_params, batch.obs, batch.action)
    want = 0.5 * np.mean(np.sum((np.asarray(q) - np.asarray(y)[:, None]) ** 2, -1))
    np.testing.assert_allclose(metrics["critic_loss"], want, rtol=LOSS_RTOL)
    # actor and temperature: means over the 22 live states of batch.obs
    live = (np.arange(32) < 5) | (np.arange(32) >= 15)
    q_state = state.replace(q_params=new_state.q_params)
    a, lp = sac.sample_action(None, state.policy_params, batch.obs, k_actor)
    q_pi = sac.q_network.apply(None, q_state.q_params, batch.obs, a).min(-1)
    ref_pi = sac.log_prob(None, other.policy_params, batch.obs, a)
    per_state = 0.3 * np.asarray(lp) - (np.asarray(q_pi) + 0.1 * np.asarray(ref_pi))
    np.testing.assert_allclose(metrics["actor_loss"], per_state[live].mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["entropy"], -np.asarray(lp)[live].mean(), rtol=1e-4)
    want_alpha = -np.mean(np.log(0.3) * (np.asarray(lp)[live] - 2.0))
    np.testing.assert_allclose(metrics["alpha_loss"], want_alpha, rtol=1e-4)


def _np_kl(snapshot_p, snapshot_q, net, obs):
    """KL(p || q) of the two policies' pre-tanh Gaussians at ``obs``, in float64 by hand."""
    (mp, sp), (mq, sq) = (
        (np.asarray(x, np.float64) for x in net.apply(s.normalizer, s.params, obs))
        for s in (snapshot_p, snapshot_q))
    vp, vq = np.exp(2 * sp), np.exp(2 * sq)
    return 0.5 * np.sum(np.log(vq / vp) + (vp + (mp - mq) ** 2) / vq - 1.0, -1)


def _nail_sac(nail, absorbing=False, **sac_config):
    cfg = SACConfig(hidden_sizes=(32, 32), **sac_config)
    obs = 5 if absorbing else 4
    sac = make_sac(obs, 2, cfg, absorbing=absorbing, soft_term=make_soft_term(nail))
    state = sac.init(jax.random.PRNGKey(0))
    other = make_sac(obs, 2, cfg).init(jax.random.PRNGKey(7))
    return sac, state.replace(reference=state.reference.replace(params=other.policy_params))


@pytest.mark.parametrize("learned", [False, True])
def test_closed_form_kl_term_in_target_and_actor(learned):
    """``nail.kl=analytic``: target ``r + g d (min Q' - (alpha - w) log pi(a'|s') -
    w KL(pi(.|s') || pi_ref(.|s')))``, actor loss ``E[(alpha - w) log pi - min Q + w KL]``,
    KL in closed form, by hand; with ``kl_target`` the same at the learned ``w`` of the
    state (here 0.2, not the config's 0.05)."""
    nail = NAILConfig(weight=0.05, kl="analytic", kl_target=0.1 if learned else None)
    sac, state = _nail_sac(nail, init_alpha=0.3)
    w = 0.05
    if learned:
        w = 0.2
        state = state.replace(soft=state.soft.replace(weight=jnp.asarray(w)))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    new_state, metrics = jax.jit(sac.update)(state, batch, key)
    k_critic, k_actor = jax.random.split(key)
    current = take_snapshot(state).reference
    a2, lp2 = sac.sample_action(None, state.policy_params, batch.next_obs, k_critic)
    nq = sac.q_network.apply(None, state.target_q_params, batch.next_obs, a2)
    kl_next = _np_kl(current, state.reference, sac.policy_network, batch.next_obs)
    y = batch.reward + 0.99 * batch.discount * (
        np.asarray(nq).min(-1) - (0.3 - w) * np.asarray(lp2) - w * kl_next)
    q = sac.q_network.apply(None, state.q_params, batch.obs, batch.action)
    want = 0.5 * np.mean(np.sum((np.asarray(q) - y[:, None]) ** 2, -1))
    np.testing.assert_allclose(metrics["critic_loss"], want, rtol=LOSS_RTOL)
    a, lp = sac.sample_action(None, state.policy_params, batch.obs, k_actor)
    q_pi = sac.q_network.apply(None, new_state.q_params, batch.obs, a).min(-1)
    kl = _np_kl(current, state.reference, sac.policy_network, batch.obs)
    actor = (0.3 - w) * np.asarray(lp) - np.asarray(q_pi) + w * kl
    np.testing.assert_allclose(metrics["actor_loss"], actor.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["nail_kl"], kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["nail_weight"], w, rtol=1e-6)
    # the dual step, by hand: max(0, w - lr (1 - KL / eps))
    if learned:
        step = w - 1e-4 * (1.0 - kl.mean() / 0.1)
        np.testing.assert_allclose(new_state.soft.weight, max(step, 0.0), rtol=1e-6)
    else:
        assert new_state.soft is None


def test_kl_forms_train_the_same_expectation():
    """The single-sample term ``w log pi_ref(a|s)`` and the closed form ``w log pi(a|s) - w KL``
    differ by ``w (log pi - log pi_ref - KL)``, whose mean over actions is 0: their actor
    losses agree in expectation (over 2,000 sampled actions per state) though not per sample."""
    sample_term = make_soft_term(NAILConfig(weight=0.5, kl="sample"))
    analytic_term = make_soft_term(NAILConfig(weight=0.5, kl="analytic"))
    sac, state = _nail_sac(NAILConfig(weight=0.5))
    obs = jnp.tile(_batch(jax.random.PRNGKey(1)).obs[:4], (2000, 1))
    current = take_snapshot(state).reference
    _, log_pi, u = sac.policy.sample_pre_tanh(None, state.policy_params, obs,
                                              jax.random.PRNGKey(3))
    alpha = jnp.asarray(0.3)
    values = [np.asarray(t.value(None, sac.policy, current, state.reference, alpha, obs, u,
                                 log_pi)[0], np.float64).reshape(2000, 4)
              for t in (sample_term, analytic_term)]
    diff = values[0] - values[1]
    se = diff.std(0, ddof=1) / np.sqrt(2000)
    assert np.all(np.abs(diff.mean(0)) < 4 * se), (diff.mean(0), se)
    assert np.all(diff.std(0) > 0.01)  # per sample they differ
    # and the closed form has less variance across actions (the estimator's point)
    assert np.all(values[1].std(0) < values[0].std(0))


def test_dual_step_raises_the_weight_above_the_target_lowers_it_below_and_stops_at_zero():
    from nail_jax.algorithms.nail import dual_step
    w = jnp.asarray(0.5)
    np.testing.assert_allclose(dual_step(w, jnp.asarray(0.2), 0.1, 0.01), 0.51, rtol=1e-6)
    np.testing.assert_allclose(dual_step(w, jnp.asarray(0.05), 0.1, 0.01), 0.495, rtol=1e-6)
    np.testing.assert_allclose(dual_step(w, jnp.asarray(0.1), 0.1, 0.01), 0.5, rtol=1e-6)
    assert float(dual_step(jnp.asarray(0.001), jnp.asarray(0.0), 0.1, 0.01)) == 0.0
    # KLs whose mean is the target leave w where it was (no clipping on the way)
    for kl in (0.0, 0.3, 0.05, 0.05):
        w = dual_step(w, jnp.asarray(kl), 0.1, 0.01)
    np.testing.assert_allclose(w, 0.5, rtol=1e-5)


def test_trust_region_update_jit_equals_nojit_and_vmap_equals_separate_seeds():
    nail = NAILConfig(weight=0.05, kl="analytic", kl_target=0.01, weight_learning_rate=1e-2)
    sac, state = _nail_sac(nail)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    batch = _batch(jax.random.PRNGKey(1))
    s1, m1 = sac.update(state, batch, keys[0])
    s2, m2 = jax.jit(sac.update)(state, batch, keys[0])
    chex.assert_trees_all_close((s1, m1), (s2, m2), rtol=1e-5, atol=1e-6)
    assert float(s1.soft.weight) != 0.05  # it moved
    states = jax.tree.map(lambda x: jnp.stack([x] * 3), state)
    vs, vm = jax.jit(jax.vmap(sac.update, in_axes=(0, None, 0)))(states, batch, keys)
    for i in range(3):
        s, m = jax.jit(sac.update)(state, batch, keys[i])
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], (vs, vm)), (s, m),
                                    rtol=1e-5, atol=1e-6)


def test_update_jit_equals_nojit_and_targets_move_by_tau():
    sac = make_sac(4, 2, SMALL)
    state = sac.init(jax.random.PRNGKey(0))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    s1, m1 = sac.update(state, batch, key)
    s2, m2 = jax.jit(sac.update)(state, batch, key)
    chex.assert_trees_all_close((s1, m1), (s2, m2), rtol=1e-5, atol=1e-6)
    # Polyak: target' = tau * q' + (1 - tau) * target
    want = jax.tree.map(lambda q, t: 0.005 * q + 0.995 * t, s1.q_params, state.target_q_params)
    chex.assert_trees_all_close(s1.target_q_params, want, rtol=1e-6)
    assert int(s1.steps) == 1


def test_fixed_temperature_stays_fixed_and_auto_temperature_moves():
    fixed = make_sac(4, 2, SACConfig(hidden_sizes=(32,), fixed_alpha=1.0))
    auto = make_sac(4, 2, SACConfig(hidden_sizes=(32,), init_alpha=0.5))
    batch = _batch(jax.random.PRNGKey(1))
    sf = fixed.init(jax.random.PRNGKey(0))
    sa = auto.init(jax.random.PRNGKey(0))
    for i in range(3):
        sf, mf = fixed.update(sf, batch, jax.random.PRNGKey(i))
        sa, ma = auto.update(sa, batch, jax.random.PRNGKey(i))
    assert float(jnp.exp(sf.log_alpha)) == 1.0 and float(mf["alpha_loss"]) == 0.0
    assert float(jnp.exp(sa.log_alpha)) != 0.5


@pytest.mark.slow
def test_vmap_over_seeds_equals_separate_calls():
    sac = make_sac(4, 2, SMALL)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    states = jax.vmap(sac.init)(keys)
    batches = jax.vmap(_batch)(keys)
    upd = jax.random.split(jax.random.PRNGKey(9), 4)
    vs, vm = jax.jit(jax.vmap(sac.update))(states, batches, upd)
    for i in range(4):
        take = lambda t, i=i: jax.tree.map(lambda x: x[i], t)  # noqa: E731
        s, m = jax.jit(sac.update)(take(states), take(batches), upd[i])
        chex.assert_trees_all_close((s, m), take((vs, vm)), rtol=1e-5, atol=1e-5)


def test_scan_of_updates_does_not_retrace():
    sac = make_sac(4, 2, SMALL)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def many(state, batches, keys):
        return jax.lax.scan(lambda s, bk: sac.update(s, *bk), state, (batches, keys))

    state = sac.init(jax.random.PRNGKey(0))
    for i in range(3):
        batches = jax.vmap(_batch)(jax.random.split(jax.random.PRNGKey(i), 5))
        state, metrics = many(state, batches, jax.random.split(jax.random.PRNGKey(i), 5))
    assert int(state.steps) == 15 and metrics["critic_loss"].shape == (5,)


def test_bad_batch_is_reported():
    sac = make_sac(4, 2, SMALL)
    state = sac.init(jax.random.PRNGKey(0))
    bad = _batch(jax.random.PRNGKey(1), act=3)
    with pytest.raises(AssertionError, match=r"`batch.action` must have shape \[32, 2\]"):
        sac.update(state, bad, jax.random.PRNGKey(0))
    ints = _batch(jax.random.PRNGKey(1)).replace(reward=jnp.ones(32, jnp.int32))
    with pytest.raises(AssertionError, match="`batch.reward` must be a floating-point"):
        sac.update(state, ints, jax.random.PRNGKey(0))




def test_losses_are_pure_functions_a_test_can_call_alone():
    """critic_loss, actor_loss and alpha_loss at top level give the update's losses; the
    temperature loss by hand: -sum_live log alpha (log pi + H) / n_live."""
    sac = make_sac(4, 2, SMALL)
    state = sac.init(jax.random.PRNGKey(0))
    batch, key = _batch(jax.random.PRNGKey(1)), jax.random.PRNGKey(2)
    new_state, metrics = sac.update(state, batch, key)
    k_critic, k_actor = jax.random.split(key)
    alpha = jnp.exp(state.log_alpha)
    c_loss, c_metrics = critic_loss(state.q_params, state, alpha, batch, k_critic,
                                    policy=sac.policy, q_apply=sac.q_network.apply, gamma=0.99)
    np.testing.assert_allclose(c_loss, metrics["critic_loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(c_metrics["target_mean"], metrics["target_mean"], rtol=1e-5)
    # the actor step sees the critic after its step, as in the update
    a_loss, (log_pi, stat) = actor_loss(
        state.policy_params, state.replace(q_params=new_state.q_params), alpha, batch.obs,
        jnp.ones(32), k_actor, policy=sac.policy, q_apply=sac.q_network.apply)
    assert stat is None  # no soft term, no statistics of one
    np.testing.assert_allclose(a_loss, metrics["actor_loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(-jnp.mean(log_pi), metrics["entropy"], rtol=1e-5)
    loss, _ = alpha_loss(jnp.log(0.5), jnp.array([-1.0, 2.0, 0.5]), jnp.array([1.0, 0.0, 1.0]),
                         target_entropy=-2.0)
    want = -np.log(0.5) * ((-1.0 - 2.0) + (0.5 - 2.0)) / 2
    np.testing.assert_allclose(loss, want, rtol=1e-6)
