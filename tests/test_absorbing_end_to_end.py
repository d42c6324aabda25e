"""Absorbing states (DAC) in real AIL and NAIL runs on a task that terminates.

One short run per algorithm on a point mass that terminates within ``RADIUS`` of the goal
(most episodes end, some at the time limit), with demonstrations that both terminate and
time out. On the run's own replay, and on the batches its discriminator and SAC were given
(recorded from inside the jitted ``train``, see ``recording.py``), it checks:

- absorbing transitions appear exactly after terminations (recomputed from the dynamics),
  then one ``(s_abs, a, 0, 1, s_abs)`` step, then a fresh episode (not the old one going on);
- the discriminator sees zero actions in the absorbing state, on the policy and the
  expert side, while the replay holds the real (non-zero) actions taken there;
- the observation normaliser counted the live rows only;
- SAC's TD targets have no soft terms where ``s'`` is absorbing (and the soft terms are
  large enough there that keeping them would show);
- the expert data carries one absorbing pair per terminated demonstration episode;
- the rewards SAC trained on are the relabelled ones (eq. 3, or eq. 8 with
  ``nail.mode=reward``, its ``log pi_ref`` 0 in the absorbing state, or AIL's FAIRL
  form), row by row;
- a state-only discriminator sees ``(s, s')`` on both sides, ``s'`` absorbing after a
  termination and in the absorbing state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from recording import record_learners

from nail_jax.data.collect import collect_dataset
from nail_jax.data.datasets import Dataset, save_dataset
from nail_jax.data.run_demos import load_run_demos
from nail_jax.distributions import tanh_gaussian_log_prob_pre_tanh, tanh_gaussian_sample_pre_tanh
from nail_jax.envs.toy import PointMass
from nail_jax.learners.discriminator import make_discriminator
from nail_jax.learners.rewards import REWARDS
from nail_jax.learners.sac import make_sac
from nail_jax.training.config import make_config
from nail_jax.training.trainer import make_trainer

RADIUS, SPEED, EPISODE = 0.5, 0.1, 20
NUM_ENVS, WARMUP, EPOCH, EPOCHS = 4, 16, 40, 3
TOTAL = WARMUP + EPOCHS * EPOCH


def _concat(*datasets):
    keys = ("observations", "actions", "next_observations", "rewards", "terminals", "timeouts")
    return Dataset(**{k: np.concatenate([getattr(d, k) for d in datasets]) for k in keys},
                   metadata={"env": "point_mass_terminating"})


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """6 episodes towards the goal (terminate) and 4 standing still (time out, unless they
    start inside the radius)."""
    env = PointMass(terminate_radius=RADIUS)
    towards = collect_dataset(env, lambda obs, k: jnp.clip(-10.0 * obs[:, :2], -1, 1), 6,
                              EPISODE, jax.random.PRNGKey(0))
    still = collect_dataset(env, lambda obs, k: jnp.zeros((obs.shape[0], 2)), 4, EPISODE,
                            jax.random.PRNGKey(1))
    data = _concat(towards, still)
    assert 6 <= data.terminals.sum() < data.num_episodes == 10  # both kinds of ending
    path = tmp_path_factory.mktemp("demos") / "terminating.npz"
    save_dataset(path, data)
    return path, data


def _config(algo, demos_path, **extra):
    overrides = {
        "env": "point_mass_terminating", "demos": str(demos_path), "demo_trajectories": 10,
        "episode_length": EPISODE, "num_envs": NUM_ENVS, "epoch_steps": EPOCH,
        "warmup_steps": WARMUP, "total_steps": TOTAL, "batch_size": 32,
        "replay_capacity": TOTAL, "sac_updates_per_iteration": 2, "num_eval_episodes": 2,
        "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16), **extra}
    return make_config(algo.split("_")[0], "point_mass", overrides)


def _run(config, monkeypatch):
    records = record_learners(monkeypatch)
    env = PointMass(terminate_radius=RADIUS)
    demonstrations = load_run_demos(config, 4, 2)
    trainer = make_trainer(config, demonstrations, env)
    expert = demonstrations.pairs
    state, _ = jax.jit(trainer.train)(jax.random.PRNGKey(0), expert)
    return trainer, expert, jax.tree.map(np.asarray, state), records


ALGOS = {"ail": {}, "nail": {}, "nail_literal": {"nail.mode": "reward", "nail.weight": "none"},
         "nail_trust_region": {"nail.kl": "analytic", "nail.weight": "0.3",
                               "nail.kl_target": "0.02", "nail.weight_learning_rate": "0.01"},
         "ail_fairl_state_only": {"reward": "fairl", "disc.state_only": True}}


@pytest.fixture(scope="module", params=[
    pytest.param(a, marks=[pytest.mark.slow] if a != "nail" else []) for a in ALGOS])
def run(request, demos):
    with pytest.MonkeyPatch.context() as mp:
        config = _config(request.param, demos[0], **ALGOS[request.param])
        return (request.param, config, *_run(config, mp))


def _flag(x):
    return x[..., -1]


def test_absorbing_transitions_follow_exactly_the_terminations(run):
    *_, state, _ = run
    data = state.replay.data
    assert int(state.replay.size) == TOTAL  # nothing overwritten: rows in insertion order
    obs, act, nxt = (np.asarray(x).reshape(-1, NUM_ENVS, x.shape[-1])
                     for x in (data.obs, data.action, data.next_obs))
    reward = np.asarray(data.reward).reshape(-1, NUM_ENVS)
    np.testing.assert_array_equal(data.discount, 1.0)  # bootstrapping is never masked
    abs_obs = np.array([0, 0, 0, 0, 1], np.float32)
    # The dynamics, recomputed: a live step terminates iff it lands inside the radius.
    landed = np.clip(obs[..., :2] + SPEED * np.clip(act, -1, 1), -1, 1)
    terminates = (_flag(obs) == 0) & (np.linalg.norm(landed, axis=-1) < RADIUS)
    np.testing.assert_array_equal(_flag(nxt) == 1, terminates | (_flag(obs) == 1))
    t_idx, e_idx = np.nonzero(terminates[:-2])
    assert len(t_idx) >= 8, "too few terminations to test"
    for t, e in zip(t_idx, e_idx, strict=True):
        np.testing.assert_array_equal(nxt[t, e], abs_obs)
        # One step in the absorbing state, rewarded 0, then a fresh episode.
        np.testing.assert_array_equal(obs[t + 1, e], abs_obs)
        np.testing.assert_array_equal(nxt[t + 1, e], abs_obs)
        assert reward[t + 1, e] == 0.0 and _flag(obs[t + 2, e]) == 0
        # A reset point mass has no previous action; one that went on would show its own.
        np.testing.assert_array_equal(obs[t + 2, e, 2:4], 0.0)
    # ... and the absorbing state is entered no other way.
    after = np.zeros_like(terminates)
    after[1:] = terminates[:-1]
    np.testing.assert_array_equal(_flag(obs) == 1, after)


def test_discriminator_sees_zero_actions_in_the_absorbing_state_on_both_sides(run):
    *_, state, records = run
    absorbing = _flag(state.replay.data.obs) == 1
    # The replay keeps the action the policy took there; zeroing is the trainer's job.
    assert np.all(np.abs(state.replay.data.action[absorbing]).sum(-1) > 0)
    seen = {"policy": 0, "expert": 0}
    for batch, _ in records.disc:
        for side in seen:
            obs, action = getattr(batch, f"{side}_obs"), getattr(batch, f"{side}_action")
            rows = _flag(obs) == 1
            seen[side] += int(rows.sum())
            np.testing.assert_array_equal(action[rows], 0.0)
            assert np.all(np.isin(_flag(obs), (0.0, 1.0)))
    assert seen["policy"] > 0 and seen["expert"] > 0, seen


def test_expert_side_has_one_absorbing_pair_per_terminated_episode(run, demos):
    _, _, _, expert, _, _ = run
    data = demos[1]
    obs, action = np.asarray(expert.obs), np.asarray(expert.action)
    absorbing = _flag(obs) == 1
    assert absorbing.sum() == data.terminals.sum()
    assert obs.shape[0] == data.num_steps + data.terminals.sum()
    np.testing.assert_array_equal(obs[absorbing], np.tile([0, 0, 0, 0, 1], (absorbing.sum(), 1)))
    np.testing.assert_array_equal(action[absorbing], 0.0)
    np.testing.assert_array_equal(obs[~absorbing, :4], data.observations)
    # The states that follow, for a state-only discriminator: the absorbing state after a
    # termination and after itself, the recorded next observation otherwise.
    nxt = np.asarray(expert.next_obs)
    ends = np.zeros(len(obs), bool)
    ends[:data.num_steps] = data.terminals
    np.testing.assert_array_equal(nxt[absorbing | ends],
                                  np.tile([0, 0, 0, 0, 1], ((absorbing | ends).sum(), 1)))
    live = ~(absorbing | ends)
    np.testing.assert_array_equal(nxt[live, :4], data.next_observations[live[:data.num_steps]])
    np.testing.assert_array_equal(_flag(nxt[live]), 0.0)


def test_state_only_discriminator_sees_next_states_on_both_sides(run, demos):
    """State-only: every policy ``(s, s')`` is a replay row's, every expert one a
    demonstration pair's (``s'`` absorbing after a termination); an ``(s, a)``
    discriminator is given no next states."""
    _, config, _, expert, state, records = run
    if not config.disc.state_only:
        assert all(b.policy_next_obs is None and b.expert_next_obs is None
                   for b, _ in records.disc)
        return
    replay = np.concatenate([state.replay.data.obs, state.replay.data.next_obs], -1)
    demo = np.concatenate([np.asarray(expert.obs), np.asarray(expert.next_obs)], -1)
    after_absorbing = 0
    for batch, _ in records.disc:
        for pairs, known in (((batch.policy_obs, batch.policy_next_obs), replay),
                             ((batch.expert_obs, batch.expert_next_obs), demo)):
            rows = np.concatenate(pairs, -1)
            assert np.all(np.any(np.all(rows[:, None] == known[None], -1), 1))
            after_absorbing += int((_flag(pairs[1]) == 1).sum())
    assert after_absorbing > 0


def test_normaliser_counts_live_rows_only(run):
    *_, state, _ = run
    rows = np.asarray(state.replay.data.obs, np.float64)
    live = rows[_flag(rows) == 0]
    assert len(live) < len(rows)
    for stats in (state.sac.normalizer, state.disc.normalizer):
        assert float(stats.count) == len(live)
        np.testing.assert_allclose(stats.mean, live.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats.summed_variance / stats.count, live.var(0),
                                   rtol=1e-4, atol=1e-6)
    assert stats.mean[-1] == 0.0


def _expected_targets(config, sac, state, batch, key):
    """SAC's TD target (the module docstring of ``nail_jax.learners.sac``) with and without the
    soft terms at absorbing ``s'``."""
    k_critic, _ = jax.random.split(key)
    mean, log_std = sac.policy_network.apply(state.normalizer, state.policy_params,
                                             batch.next_obs)
    a_next, log_pi, u = tanh_gaussian_sample_pre_tanh(k_critic, mean, log_std)
    next_q = sac.q_network.apply(state.normalizer, state.target_q_params, batch.next_obs,
                                 a_next).min(-1)
    alpha = np.exp(state.log_alpha)
    soft = -alpha * log_pi
    if config.nail is not None and config.nail.mode == "soft_value":
        ref = state.reference
        r_mean, r_log_std = sac.policy_network.apply(ref.normalizer, ref.params, batch.next_obs)
        w = alpha if config.nail.weight is None else config.nail.weight
        if config.nail.kl_target is not None:  # the learned w of the state
            w = np.asarray(state.soft.weight)
        if config.nail.kl == "analytic":  # w log pi - w KL(pi || pi_ref), KL by hand
            var, r_var = np.exp(2.0 * log_std), np.exp(2.0 * r_log_std)
            kl = 0.5 * np.sum(np.log(r_var / var) + (var + (mean - r_mean) ** 2) / r_var - 1.0,
                              -1)
            soft = soft + w * log_pi - w * kl
        else:
            soft = soft + w * tanh_gaussian_log_prob_pre_tanh(r_mean, r_log_std, u)
    live = 1.0 - _flag(batch.next_obs)
    gamma = config.sac.discount
    masked = batch.reward + gamma * batch.discount * (next_q + live * soft)
    unmasked = batch.reward + gamma * batch.discount * (next_q + soft)
    return np.asarray(masked), np.asarray(unmasked)


def test_td_targets_drop_soft_terms_where_next_state_is_absorbing(run):
    _, config, _, _, _, records = run
    sac = make_sac(5, 2, config.sac, absorbing=True)
    assert len(records.targets) == len(records.sac) > 0
    absorbing_rows = 0
    for (state, batch, key), target in zip(records.sac, records.targets, strict=True):
        masked, unmasked = _expected_targets(config, sac, state, batch, key)
        np.testing.assert_allclose(target, masked, rtol=1e-5, atol=1e-5)
        rows = _flag(batch.next_obs) == 1
        absorbing_rows += int(rows.sum())
        # Not vacuous: keeping the soft terms there would change those targets.
        assert np.all(np.abs(unmasked - masked)[rows] > 1e-3)
    assert absorbing_rows > 0


@pytest.mark.parametrize("run", ["nail_trust_region"], indirect=True)
def test_the_trust_region_weight_takes_one_dual_step_per_update(run):
    """With ``nail.kl_target``: between consecutive SAC updates ``w`` becomes
    ``max(0, w - lr (1 - KL / eps))``, ``KL`` the closed-form ``KL(pi || pi_ref)`` averaged
    over the live states of the update's batch, under the params before its actor step; it
    is carried across epoch ends (the snapshot swap leaves it). Row by row over the run."""
    algo, config, _, _, state, records = run
    nail = config.nail
    sac = make_sac(5, 2, config.sac, absorbing=True)
    weights = [float(s.soft.weight) for s, _, _ in records.sac] + [float(state.sac.soft.weight)]
    assert weights[0] == pytest.approx(0.3)
    rose = fell = 0
    for i, (s, batch, _) in enumerate(records.sac):
        mean, log_std = sac.policy_network.apply(s.normalizer, s.policy_params, batch.obs)
        ref = s.reference
        r_mean, r_log_std = sac.policy_network.apply(ref.normalizer, ref.params, batch.obs)
        var, r_var = np.exp(2.0 * log_std), np.exp(2.0 * r_log_std)
        kl = 0.5 * np.sum(np.log(r_var / var) + (var + (mean - r_mean) ** 2) / r_var - 1.0, -1)
        live = 1.0 - _flag(batch.obs)
        kl = np.sum(live * kl) / max(live.sum(), 1.0)
        want = max(weights[i] - nail.weight_learning_rate * (1.0 - kl / nail.kl_target), 0.0)
        np.testing.assert_allclose(weights[i + 1], want, rtol=1e-4, atol=1e-7, err_msg=str(i))
        rose += kl > nail.kl_target
        fell += kl < nail.kl_target
    assert rose > 0 and fell > 0  # both directions were exercised


def test_sac_trains_on_the_relabelled_rewards(run):
    """Row by row: AIL and NAIL train SAC on ``-log r`` (eq. 3), AIL with ``reward=fairl``
    on ``l exp(-l)`` of the (state-only) logit; literal NAIL on eq. 8,
    ``-log r + log pi_ref(a|s)``, with ``log pi_ref`` 0 where ``s`` is the absorbing state:
    ``pi_ref`` is never trained there and no action is taken there in the task, so keeping
    it would add about ``E[log pi_ref] / (1 - gamma)`` to the value of terminating (the
    default path drops it the same way). Catches unrelabelled rewards and the unmasked
    ``log pi_ref`` (or one masked on ``s'``)."""
    algo, config, trainer, _, _, records = run
    n_sac = config.sac_updates_per_iteration
    assert len(records.sac) == n_sac * len(records.disc) > 0
    disc_net = make_discriminator(5, 2, config.disc).network
    sac = make_sac(5, 2, config.sac, absorbing=True)
    absorbing_rows = 0
    for i, (state, batch, _) in enumerate(records.sac):
        _, disc_state = records.disc[i // n_sac]  # the iteration's updated discriminator
        live = 1.0 - _flag(batch.obs)
        action = batch.action * live[:, None]
        second = batch.next_obs if config.disc.state_only else action
        log_r = disc_net.apply(disc_state.normalizer, disc_state.params, batch.obs, second)
        want = np.asarray(REWARDS[config.reward](log_r))  # eq. 3, or AIL's other forms
        if algo == "nail_literal":  # eq. 8: + log pi_ref(a|s) in the replayed reward
            ref = state.reference
            log_ref = np.asarray(sac.log_prob(ref.normalizer, ref.params, batch.obs,
                                              batch.action))
            want = want + np.where(live > 0, log_ref, 0.0)
            rows = live == 0
            absorbing_rows += int(rows.sum())
            # Not vacuous: the unmasked log pi_ref there would change those rewards.
            assert np.all(np.abs(log_ref[rows]) > 1e-3)
        np.testing.assert_allclose(batch.reward, want, rtol=1e-4, atol=1e-4)
    assert algo != "nail_literal" or absorbing_rows > 0
    # The env reward (-distance, <= 0) is gone: some relabelled rewards are positive.
    assert np.any(np.concatenate([b.reward for _, b, _ in records.sac]) > 0)
