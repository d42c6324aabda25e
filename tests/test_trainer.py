import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from recording import record_learners

from nail_jax.algorithms.nail import NAILConfig
from nail_jax.data.collect import collect_dataset
from nail_jax.data.datasets import Dataset, DemoError, load_dataset, save_dataset
from nail_jax.data.demonstrations import subsample
from nail_jax.data.run_demos import ExpertPairs, load_run_demos, sample_expert_pairs
from nail_jax.distributions import tanh_gaussian_log_prob
from nail_jax.envs.toy import PointMass
from nail_jax.networks import make_policy_network
from nail_jax.normalization import init_statistics, update_statistics
from nail_jax.running.parallel import seed_keys
from nail_jax.training.config import ConfigError, make_config, validate_config
from nail_jax.training.trainer import EVALUATION_METRICS, build

TINY = {
    "num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": 96,
    "batch_size": 16, "replay_capacity": 400, "sac_updates_per_iteration": 2,
    "num_eval_episodes": 2, "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16),
}


def _tiny(algo="nail", **extra):
    return make_config(algo, "point_mass", {**TINY, **extra})


def _take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["nail", "ail", "bc", "rl"])
def test_driver_loop_equals_all_in_jit(algo):
    config = _tiny(algo)
    trainer, expert = build(config)
    key = jax.random.PRNGKey(0)
    state, scanned = jax.jit(trainer.train)(key, expert)
    loop_state = jax.jit(trainer.init)(key, expert)
    epoch = jax.jit(trainer.run_epoch)
    looped = []
    for _ in range(config.num_epochs):
        loop_state, m = epoch(loop_state, expert)
        looped.append(m)
    looped = jax.tree.map(lambda *x: jnp.stack(x), *looped)
    chex.assert_trees_all_close(looped, scanned, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(loop_state.sac.policy_params, state.sac.policy_params,
                                rtol=1e-5, atol=1e-6)
    assert int(state.epoch) == config.num_epochs == 2
    assert int(state.env_steps) == (0 if algo == "bc" else config.total_steps)


@pytest.mark.slow
def test_eval_every_skips_evaluations_and_changes_nothing_else():
    """``eval_every=2`` over 3 epochs evaluates epochs 2 and 3 (the last) only; training and
    the evaluations it keeps are those of ``eval_every=1`` (the evaluation has its own key)."""
    steps = TINY["warmup_steps"] + 3 * TINY["epoch_steps"]
    every, sparse = (build(_tiny(total_steps=steps, eval_every=k)) for k in (1, 2))
    key = jax.random.PRNGKey(0)
    s1, m1 = jax.jit(every[0].train)(key, every[1])
    s2, m2 = jax.jit(sparse[0].train)(key, sparse[1])
    chex.assert_trees_all_close(s1, s2, rtol=1e-6, atol=1e-7)
    evaluated = np.array([False, True, True])
    for name in m1:
        a, b = np.asarray(m1[name]), np.asarray(m2[name])
        if name in EVALUATION_METRICS:
            assert np.all(np.isnan(b[~evaluated])), name
            a, b = a[evaluated], b[evaluated]
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
    assert np.all(np.isfinite(np.asarray(m1["score"])))


@pytest.mark.slow
def test_skipped_evaluation_is_a_branch_not_a_select_under_vmap():
    """With the flag shared by all seeds, vmap keeps ``lax.cond``: a skipped evaluation is
    not computed and thrown away, which is what makes ``eval_every`` save time."""
    trainer, expert = build(_tiny())
    keys = seed_keys(0, 2)
    states = jax.vmap(trainer.init, in_axes=(0, None))(keys, expert)
    epoch = jax.vmap(trainer.run_epoch, in_axes=(0, None, None))
    jaxpr = jax.make_jaxpr(epoch)(states, expert, jnp.array(False))
    assert any(e.primitive.name == "cond" for e in jaxpr.jaxpr.eqns)
    _, metrics = jax.jit(epoch)(states, expert, jnp.array(False))
    assert np.all(np.isnan(np.asarray(metrics["score"])))
    assert np.all(np.isfinite(np.asarray(metrics["disc_bce"])))


@pytest.mark.slow
def test_vmap_over_four_seeds_equals_each_seed_alone():
    """4 seeds vmapped give each seed's metrics as run alone (``--seeds 1``).

    Initial states are bit-identical; after training, batched and unbatched CPU kernels
    round differently, so values agree to float32 round-off (measured: <= 2e-7 relative).
    """
    config = _tiny("nail")
    trainer, expert = build(config)
    keys = seed_keys(0, 4)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))
    epoch = jax.jit(jax.vmap(trainer.run_epoch, in_axes=(0, None)))
    states = init(keys, expert)
    chex.assert_trees_all_equal(_take(init(keys[1:2], expert), 0), _take(states, 1))
    for _ in range(2):
        states, metrics = epoch(states, expert)
    for i in range(4):
        s = init(keys[i : i + 1], expert)
        for _ in range(2):
            s, m = epoch(s, expert)
        chex.assert_trees_all_close(_take(m, 0), _take(metrics, i), rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(_take(s.sac.policy_params, 0),
                                    _take(states.sac.policy_params, i), rtol=1e-5, atol=1e-6)
    # Without vmap at all the numbers agree to float32 round-off (different CPU kernels).
    s = jax.jit(trainer.init)(keys[2], expert)
    s, m = jax.jit(trainer.run_epoch)(s, expert)
    first = epoch(init(keys, expert), expert)[1]
    chex.assert_trees_all_close(m, _take(first, 2), rtol=1e-3, atol=1e-4)


def test_epoch_acts_with_the_snapshot_taken_at_its_start():
    """Changing the learner's params mid-epoch must not change the sampled transitions."""
    config = _tiny("nail")
    trainer, expert = build(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0), expert)
    scrambled = state.replace(sac=state.sac.replace(policy_params=jax.tree.map(
        lambda x: x + 3.0, state.sac.policy_params)))
    epoch = jax.jit(trainer.run_epoch)
    after, _ = epoch(state, expert)
    after_scrambled, _ = epoch(scrambled, expert)
    # Same replay contents and env trajectory: actions came from pi_ref only ...
    chex.assert_trees_all_equal(after.replay, after_scrambled.replay)
    # ... while the learners did see different policies.
    assert not np.allclose(after.sac.policy_params["params"]["MLP_0"]["dense_0"]["kernel"],
                           after_scrambled.sac.policy_params["params"]["MLP_0"]["dense_0"][
                               "kernel"])
    # And at the epoch end pi_ref <- pi.
    chex.assert_trees_all_equal(after.sac.reference.params, after.sac.policy_params)


def test_bc_trains_the_policy_on_the_demonstrations_alone():
    """``bc``: no env steps and an empty replay; as many policy updates per epoch as AIL/NAIL
    make (``iterations x sac_updates_per_iteration``); critics and discriminator untouched;
    observation statistics of the demonstrations' live states; ``pi_ref`` the policy at the
    epoch end; the likelihood of the demonstrated actions rises."""
    config = _tiny("bc", total_steps=TINY["warmup_steps"] + 4 * TINY["epoch_steps"])
    trainer, expert = build(config)
    key = jax.random.PRNGKey(0)
    start = jax.jit(trainer.init)(key, expert)
    state, m = jax.jit(trainer.train)(key, expert)
    assert np.all(np.asarray(m["env_steps"]) == 0) and int(state.replay.size) == 0
    assert int(start.env_steps) == 0  # no warm-up either
    per_epoch = config.iterations_per_epoch * config.sac_updates_per_iteration
    np.testing.assert_array_equal(m["grad_steps"], per_epoch * np.arange(1, 5))
    assert int(state.sac.steps) == config.gradient_steps == 4 * per_epoch
    chex.assert_trees_all_equal(state.sac.q_params, start.sac.q_params)
    chex.assert_trees_all_equal(state.disc.params, start.disc.params)
    chex.assert_trees_all_equal(state.sac.reference.params, state.sac.policy_params)
    obs = np.asarray(expert.obs, np.float64)
    live = obs[:, -1] == 0  # absorbing presets: the flag is the last feature
    stats = state.sac.normalizer
    assert float(stats.count) == live.sum() and np.array_equal(start.sac.normalizer.mean,
                                                               stats.mean)
    np.testing.assert_allclose(stats.mean, obs[live].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(stats.summed_variance) / live.sum(),
                               obs[live].var(0), rtol=1e-4, atol=1e-6)
    nll = np.asarray(m["bc_nll"])
    assert nll[-1] < nll[0] - 1.0, nll
    assert np.all(np.isfinite(np.asarray(m["score"])))
    for name in ("disc_bce", "critic_loss", "reward_ail"):  # no other learner's metrics
        assert name not in m


@pytest.mark.parametrize("algo", ["ail", "nail"])
def test_bc_warm_start_starts_the_policy_from_the_clone(algo):
    """``bc_warmstart_steps=N``: the policy and ``pi_ref`` start as N BC steps on the
    demonstrations (with the statistics it was cloned under, far likelier demonstrated actions
    than the cold start), SAC's Adam state and update count fresh, the statistics seeded with
    the demonstrations' states; critics and discriminator as in the cold start; the warm-up
    acts with the clone (its actions far likelier under the clone than the cold warm-up's)."""
    sizes = {"warmup_steps": 120, "total_steps": 160}
    cold_trainer, expert = build(_tiny(algo, **sizes))
    warm_trainer, _ = build(_tiny(algo, **sizes, bc_warmstart_steps=300))
    key = jax.random.PRNGKey(0)
    cold = jax.jit(cold_trainer.init)(key, expert)
    warm = jax.jit(warm_trainer.init)(key, expert)
    chex.assert_trees_all_equal(warm.sac.q_params, cold.sac.q_params)
    chex.assert_trees_all_equal(warm.disc.params, cold.disc.params)
    chex.assert_trees_all_equal(warm.sac.policy_opt_state, cold.sac.policy_opt_state)
    assert int(warm.sac.steps) == int(cold.sac.steps) == 0
    chex.assert_trees_all_equal(warm.sac.reference.params, warm.sac.policy_params)
    assert int(warm.env_steps) == int(cold.env_steps) == 120
    # point mass never terminates: every demonstration state is live and counted once more
    assert float(warm.sac.normalizer.count) == float(cold.sac.normalizer.count) + len(expert.obs)
    cloned_under = update_statistics(init_statistics(expert.obs.shape[1]), expert.obs)
    network = make_policy_network(expert.obs.shape[1], expert.action.shape[1], (16, 16))

    def log_likelihood(params, obs, action):  # [N] under the statistics of the cloning
        mean, log_std = network.apply(cloned_under, params, obs)
        return tanh_gaussian_log_prob(mean, log_std, action)

    def demo_ll(state):
        return float(jnp.mean(log_likelihood(state.sac.policy_params, expert.obs,
                                             expert.action)))

    assert demo_ll(warm) > demo_ll(cold) + 5.0, (demo_ll(warm), demo_ll(cold))

    def warmup_ll(state):  # the clone's log-likelihood of a warm-up's actions
        data = state.replay.data
        return float(jnp.mean(log_likelihood(warm.sac.policy_params, data.obs[:120],
                                             data.action[:120])))

    # the clone's own samples score about minus its entropy (12 nats here); the cold policy's
    # (and a warm-up that did not act with the clone: -3e4) fall where the clone has no mass
    assert warmup_ll(warm) > 0.0 > warmup_ll(cold), (warmup_ll(warm), warmup_ll(cold))
    _, m = jax.jit(warm_trainer.run_epoch)(warm, expert)
    assert np.isfinite(float(m["critic_loss"])) and np.isfinite(float(m["score"]))


def test_metrics_cover_the_issue_list():
    trainer, expert = build(_tiny("nail"))
    _, m = jax.jit(trainer.train)(jax.random.PRNGKey(0), expert)
    for key in ["env_steps", "eval_return", "score", "disc_bce", "disc_accuracy_policy",
                "disc_accuracy_expert", "disc_logit_policy", "disc_logit_expert", "reward_ail",
                "reward_nail", "log_pi_ref", "critic_loss", "actor_loss", "alpha", "eval_length"]:
        assert key in m and m[key].shape == (2,), key
    assert np.all(np.isfinite(np.asarray(m["score"])))
    # point_mass never ends an episode: every evaluation episode runs to the time limit.
    np.testing.assert_array_equal(m["eval_length"], trainer.config.episode_length)


@pytest.mark.slow
def test_short_nail_run_learns_well_above_random():
    """NAIL on the point-mass preset (40k steps, 2 seeds): normalised score far above 0."""
    config = make_config("nail", "point_mass")
    trainer, expert = build(config)
    _, m = jax.jit(jax.vmap(trainer.train, in_axes=(0, None)))(seed_keys(0, 2), expert)
    final = np.asarray(m["score"][:, -5:]).mean(1)
    first = np.asarray(m["score"][:, 0])
    print(f"score first epoch {first}, mean of last 5 epochs {final}")
    assert np.all(final > 0.6) and np.all(final > first + 0.4)


def test_bad_configs_are_reported():
    with pytest.raises(ConfigError, match="unknown algo 'gan'"):
        make_config("gan")
    with pytest.raises(ConfigError, match="total_steps must be positive"):
        make_config("nail", "point_mass", {"total_steps": 0})
    with pytest.raises(ConfigError, match="unknown option 'lr'"):
        make_config("nail", "point_mass", {"lr": "1"})
    with pytest.raises(ConfigError, match="unknown option 'sac.lr'.*discount"):
        make_config("nail", "point_mass", {"sac.lr": "1"})
    with pytest.raises(ConfigError, match="cannot parse num_envs='many'"):
        make_config("nail", "point_mass", {"num_envs": "many"})
    with pytest.raises(ConfigError, match="unknown preset 'x'"):
        make_config("nail", "x")
    with pytest.raises(ConfigError, match="multiple of num_envs"):
        make_config("nail", "point_mass", {"epoch_steps": 801})
    with pytest.raises(ConfigError, match="nail.weight is an option of algo nail; algo ail"):
        make_config("ail", "point_mass", {"nail.weight": "1"})
    with pytest.raises(ConfigError, match="nail.weight must be a finite number >= 0"):
        make_config("nail", "point_mass", {"nail.weight": "-1"})
    with pytest.raises(ConfigError, match="nail.weight belongs to nail.mode=soft_value; .* "
                                          "set nail.weight=none"):
        make_config("nail", "point_mass", {"nail.mode": "reward", "nail.weight": "0.1"})
    with pytest.raises(ConfigError, match="nail.kl belongs to .* set nail.kl=sample"):
        make_config("nail", "point_mass", {"nail.mode": "reward", "nail.weight": "none",
                                           "nail.kl": "analytic"})
    with pytest.raises(ConfigError, match="unknown nail.kl 'exact'; choose one of: sample, "
                                          "analytic"):
        make_config("nail", "point_mass", {"nail.kl": "exact"})
    with pytest.raises(ConfigError, match="nail.kl_target must be a number > 0"):
        make_config("nail", "point_mass", {"nail.weight": "0.1", "nail.kl_target": "0"})
    with pytest.raises(ConfigError, match="nail.kl_target learns w from its initial value "
                                          "nail.weight: set nail.weight"):
        make_config("nail", "point_mass", {"nail.kl_target": "0.1"})  # the preset's w = alpha
    with pytest.raises(ConfigError, match="nail.weight_learning_rate must be a number > 0"):
        make_config("nail", "point_mass", {"nail.weight_learning_rate": "-1"})
    with pytest.raises(ConfigError, match="unknown nail.mode 'kl'; choose one of: soft_value"):
        make_config("nail", "point_mass", {"nail.mode": "kl"})
    with pytest.raises(ConfigError, match="sac.kl_weight is now nail.weight"):
        make_config("nail", "point_mass", {"sac.kl_weight": "0.1"})


@pytest.mark.parametrize("algo, overrides, message", [
    ("nail", {"env": "nope"}, "unknown env 'nope'"),
    ("nail", {"backend": "warp"}, "unknown backend 'warp'"),
    *[("nail", {name: 0}, f"{name} must be positive, got 0") for name in (
        "epoch_steps", "num_envs", "batch_size", "replay_capacity", "episode_length",
        "num_eval_episodes", "eval_every", "demo_trajectories", "demo_subsample",
        "sac_updates_per_iteration")],
    ("nail", {"warmup_steps": -16}, "warmup_steps must be >= 0"),
    ("nail", {"disc_window": -1}, "disc_window must be >= 0"),
    ("nail", {"disc_updates_per_iteration": -1}, "disc_updates_per_iteration must be >= 0"),
    ("nail", {"warmup_steps": 328}, "warmup_steps=328 must be a multiple of num_envs=16"),
    ("nail", {"warmup_steps": 0}, "warmup_steps=0 must be at least num_envs=16"),
    ("nail", {"total_steps": 1000}, "leaves no full epoch .* at least 1120"),
    ("ail", {"disc_updates_per_iteration": 0}, "algo ail needs disc_updates_per_iteration"),
    ("nail", {"replay_capacity": 8}, "replay_capacity must hold at least one step"),
    *[("nail", {f"sac.{name}": float("nan")}, f"sac.{name} must be a finite number, got nan")
      for name in ("policy_learning_rate", "critic_learning_rate", "alpha_learning_rate",
                   "discount", "tau", "reward_scale", "init_alpha", "fixed_alpha",
                   "target_entropy")],
    ("nail", {"nail.weight": float("nan")}, "nail.weight must be a finite number >= 0"),
    *[("nail", {f"disc.{name}": float("inf")}, f"disc.{name} must be a finite number, got inf")
      for name in ("learning_rate", "gradient_penalty")],
    *[("nail", {name: -1e-4}, f"{name} must be >= 0, got -0.0001") for name in (
        "sac.policy_learning_rate", "sac.critic_learning_rate", "sac.alpha_learning_rate",
        "disc.learning_rate", "disc.gradient_penalty")],
    ("nail", {"sac.discount": 1.5}, r"sac.discount must be in \[0, 1\], got 1.5"),
    ("nail", {"sac.tau": 0.0}, r"sac.tau must be in \(0, 1\], got 0.0"),
    ("nail", {"sac.init_alpha": -1.0}, "sac.init_alpha must be positive"),
    ("nail", {"sac.n_critics": 0}, "sac.n_critics must be at least 1"),
    ("nail", {"sac.hidden_sizes": (16, 0)}, "sac.hidden_sizes must be positive layer sizes"),
    ("ail", {"reward": "wgan"}, "unknown reward form 'wgan'; choose one of: ail, gail, fairl"),
    ("ail", {"reward": "airl"}, "reward=airl is AIRL's .* the form ail itself: use reward=ail"),
    ("nail", {"reward": "gail"}, "reward=gail is a reward form of AIL.*algo nail has its own"),
    ("rl", {"reward": "fairl"}, "reward=fairl .* algo rl has its own reward"),
    ("bc", {"reward": "gail"}, "algo bc has its own reward \\(none: it clones"),
    ("ail", {"bc_warmstart_steps": -1}, "bc_warmstart_steps must be >= 0, got -1"),
    ("bc", {"bc_warmstart_steps": 10}, "bc_warmstart_steps warm-starts .* algo bc takes none"),
    ("rl", {"bc_warmstart_steps": 10}, "algo rl takes none \\(SAC on the env reward"),
])
def test_each_invalid_config_names_its_field(algo, overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config(algo, "point_mass", overrides)
    make_config("rl", "point_mass", {"disc_updates_per_iteration": 0})  # rl has no disc


def test_nails_options_belong_to_nail_alone():
    ail, nail = make_config("ail", "point_mass"), make_config("nail", "point_mass")
    with pytest.raises(ConfigError, match=r"nail\.\* options set NAIL's own term; algo ail"):
        validate_config(dataclasses.replace(ail, nail=NAILConfig()))
    with pytest.raises(ConfigError, match="algo nail needs its nail.* options"):
        validate_config(dataclasses.replace(nail, nail=None))


@pytest.mark.slow
def test_demos_that_do_not_fit_the_env_are_reported():
    config = make_config("nail", "halfcheetah", {"demos": "point_mass"})
    with pytest.raises(DemoError, match="observation size 4 .* env 'halfcheetah' has 17"):
        build(config)


def test_demos_recorded_on_another_backend_warn():
    """Sizes match across brax backends, dynamics do not: the bundled hopper demonstrations
    (generalized backend) on spring warn, naming the backend to pass; where they were
    recorded, nothing is said."""
    import warnings


    message = (r"recorded in 'hopper' on backend 'generalized'.*"
               r"trains 'hopper' on backend 'spring'.*--backend generalized")
    with pytest.warns(UserWarning, match=message):
        load_run_demos(make_config("nail", "hopper", {"backend": "spring"}), 11, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_demos = load_run_demos(make_config("nail", "hopper"), 11, 3)
    assert run_demos.num_episodes == 4 and run_demos.expert_return > 3000


def test_expert_sampling_follows_the_weights():
    """With ``weighted`` the pairs are drawn by ``prob`` (a bug drawing uniformly would give
    each of the 4 rows ~0.25), without it uniformly whatever ``prob`` says."""
    prob = jnp.array([0.5, 0.3, 0.15, 0.05])
    expert = ExpertPairs(jnp.arange(4.0)[:, None], -jnp.arange(4.0)[:, None],
                         jnp.arange(4.0)[:, None] + 1, prob)
    n = 40_000
    obs, action, next_obs = sample_expert_pairs(expert, jax.random.PRNGKey(0), n, weighted=True)
    np.testing.assert_array_equal(action, -obs)  # rows stay aligned
    np.testing.assert_array_equal(next_obs, obs + 1)
    freq = np.bincount(np.asarray(obs[:, 0], int), minlength=4) / n
    np.testing.assert_allclose(freq, prob, atol=0.01)  # 4 sigma of the binomial is < 0.01
    obs, _, _ = sample_expert_pairs(expert, jax.random.PRNGKey(1), n, weighted=False)
    freq = np.bincount(np.asarray(obs[:, 0], int), minlength=4) / n
    np.testing.assert_allclose(freq, 0.25, atol=0.01)


def test_subsampled_terminating_demonstrations_get_the_unbiased_weights(tmp_path):
    """Every 3rd step kept: each kept ordinary step stands for 3, a terminal step and an
    absorbing pair for 1, so ``prob`` is ``3 p`` and ``p`` with ``p = 1 / (3 n + 2 t)``.
    Catches weights not applied (all equal), or the absorbing pairs weighted like steps."""
    env = PointMass(terminate_radius=0.3)
    data = collect_dataset(env, lambda obs, k: jnp.clip(-10.0 * obs[:, :2], -1, 1) * 0.3, 8,
                           30, jax.random.PRNGKey(0), metadata={"env": "point_mass_terminating"})
    path = tmp_path / "d.npz"
    save_dataset(path, data)
    config = make_config("nail", "point_mass", {"env": "point_mass_terminating",
                                                "demos": str(path), "demo_trajectories": 8,
                                                "demo_subsample": 3})
    expert = load_run_demos(config, 4, 2).pairs
    obs, prob = np.asarray(expert.obs), np.asarray(expert.prob, np.float64)
    absorbing = obs[:, -1] == 1
    # The kept steps' own flags (subsampling itself is tested in test_demos).
    kept = subsample(load_dataset(path), 3, rng=0)
    terminal = np.concatenate([kept.terminals, np.zeros(absorbing.sum(), bool)])
    np.testing.assert_array_equal(obs[~absorbing, :4], kept.observations)
    t, n = int(absorbing.sum()), int((~absorbing & ~terminal).sum())
    assert t == int(data.terminals.sum()) >= 4 and terminal.sum() == t and n > 3 * t
    p = 1.0 / (3 * n + 2 * t)
    np.testing.assert_allclose(prob[absorbing | terminal], p, rtol=1e-6)
    np.testing.assert_allclose(prob[~absorbing & ~terminal], 3 * p, rtol=1e-6)


def test_the_score_uses_the_expert_return_of_the_episodes_trained_on(tmp_path):
    """Four hand-made episodes with returns 1, 2, 10, 20, two of them trained on: the
    score's expert end is 1.5 (not the file's 8.25); per-episode returns stored in the
    metadata win over the reward sums (5.5); a metadata ``expert_return`` is the file's
    only (99), never the score's."""
    steps, returns = 5, np.array([1.0, 2.0, 10.0, 20.0])
    n = steps * len(returns)
    timeouts = np.zeros(n, bool)
    timeouts[steps - 1::steps] = True
    data = Dataset(np.zeros((n, 4), np.float32), np.zeros((n, 2), np.float32),
                   np.zeros((n, 4), np.float32),
                   np.repeat(returns / steps, steps).astype(np.float32), np.zeros(n, bool),
                   timeouts, {"env": "point_mass"})

    def load(metadata):
        path = tmp_path / "d.npz"
        save_dataset(path, dataclasses.replace(data, metadata={**data.metadata, **metadata}))
        return load_run_demos(_tiny(demos=str(path), demo_trajectories=2), 4, 2)

    run_demos = load({})
    assert run_demos.expert_return == pytest.approx(1.5)
    assert run_demos.describe() == {"expert_return": pytest.approx(1.5), "demo_episodes": 2,
                                    "expert_return_file": pytest.approx(8.25)}
    assert load({"episode_returns": [5.0, 6.0, 7.0, 8.0]}).describe() == {
        "expert_return": 5.5, "demo_episodes": 2, "expert_return_file": 6.5}
    run_demos = load({"expert_return": 99.0})
    assert (run_demos.expert_return, run_demos.file_expert_return) == (pytest.approx(1.5), 99.0)
    trainer, _ = build(_tiny(demos=str(tmp_path / "d.npz"), demo_trajectories=2))
    assert trainer.expert_return == pytest.approx(1.5)
    assert trainer.demos_record["expert_return_file"] == 99.0


def test_preset_settings_for_one_algorithm_apply_before_user_overrides():
    weights = {"halfcheetah": (0.03, "sample"), "hopper": (0.03, "sample"),
               "hopper_spring": (0.1, "sample"), "default": (0.03, "analytic")}
    for preset, (weight, kl) in weights.items():
        config = make_config("nail", preset)
        assert config.sac.fixed_alpha is None
        assert config.nail == NAILConfig("soft_value", weight, kl=kl)
        assert make_config("ail", preset).nail is None
    assert make_config("ail", "halfcheetah").sac.fixed_alpha is None
    # hopper's shorter epochs are a preset setting, the same for both imitation algorithms
    for preset in ("hopper", "hopper_spring"):
        assert {make_config(a, preset).epoch_steps for a in ("nail", "ail")} == {2560}
    assert make_config("rl", "hopper_spring").epoch_steps == 2560
    # hopper's rl settings are those that trained its bundled expert (README)
    rl = make_config("rl", "hopper")
    assert (rl.backend, rl.epoch_steps, rl.sac.discount) == ("generalized", 10_240, 0.997)
    assert make_config("nail", "hopper").sac.discount == 0.99
    assert (make_config("ail", "hopper_spring").backend, make_config("ail", "hopper").backend) \
        == ("spring", "generalized")
    assert make_config("nail", "halfcheetah").epoch_steps == 10_240
    assert make_config("nail", "point_mass").sac.fixed_alpha == 1.0
    config = make_config("nail", "halfcheetah", {"sac.fixed_alpha": "1"})
    assert config.sac.fixed_alpha == 1.0 and config.nail.mode == "soft_value"


@pytest.mark.slow
def test_one_seed_runs_unbatched_with_the_numbers_of_vmap():
    """The driver's one-seed path (no vmap, faster on a CPU) equals vmap over one seed."""
    from nail_jax.running.parallel import over_seeds

    trainer, expert = build(_tiny("nail"))
    keys = seed_keys(0, 1)
    single_init = jax.jit(over_seeds(trainer.init, 1))
    vmap_init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))
    s1, s2 = single_init(keys, expert), vmap_init(keys, expert)
    chex.assert_trees_all_close(s1, s2, rtol=1e-5, atol=1e-6)
    s1, m1 = jax.jit(over_seeds(trainer.run_epoch, 1))(s1, expert)
    s2, m2 = jax.jit(jax.vmap(trainer.run_epoch, in_axes=(0, None)))(s2, expert)
    chex.assert_trees_all_equal_shapes(m1, m2)
    chex.assert_trees_all_close(m1, m2, rtol=1e-4, atol=1e-5)


def _recorded_run(monkeypatch, **extra):
    records = record_learners(monkeypatch)
    trainer, expert = build(_tiny("nail", **extra))
    state, metrics = jax.jit(trainer.train)(jax.random.PRNGKey(0), expert)
    return trainer.config, jax.tree.map(np.asarray, state), metrics, records


@pytest.mark.slow
def test_disc_window_draws_policy_samples_from_the_latest_steps_only(monkeypatch):
    """``disc_window = num_envs``: iteration k's discriminator batch holds only the 4
    transitions collected in iteration k. If the window were ignored, 16 draws from 20 to
    96 rows would almost surely (> 1 - 1e-9) include an older one."""
    config, state, _, records = _recorded_run(monkeypatch, disc_window=4)
    rows = state.replay.data.obs
    assert int(state.replay.size) == config.total_steps  # rows in insertion order
    assert len(records.disc) == config.num_epochs * config.iterations_per_epoch
    for k, (batch, _) in enumerate(records.disc):
        start = config.warmup_steps + config.num_envs * k
        latest = rows[start:start + config.num_envs]
        matches = np.all(batch.policy_obs[:, None, :] == latest[None], axis=-1)
        assert np.all(matches.any(axis=1)), k


@pytest.mark.slow
def test_several_discriminator_updates_per_iteration_are_chained(monkeypatch):
    """3 updates per iteration: 3 per iteration recorded, each continuing from the previous
    one (a step counter 1, 2, 3, ...), each on its own batch. Catches a scan that drops its
    carry (counters repeat) or reuses one key (identical batches)."""
    config, state, metrics, records = _recorded_run(monkeypatch,
                                                    disc_updates_per_iteration=3)
    iterations = config.num_epochs * config.iterations_per_epoch
    assert len(records.disc) == 3 * iterations and int(state.disc.steps) == 3 * iterations
    np.testing.assert_array_equal([int(s.steps) for _, s in records.disc],
                                  np.arange(1, 3 * iterations + 1))
    for i in range(0, len(records.disc), 3):
        a, b, c = (records.disc[j][0].policy_obs for j in range(i, i + 3))
        assert not np.array_equal(a, b) and not np.array_equal(b, c)
    assert np.all(np.isfinite(np.asarray(metrics["disc_bce"])))


@pytest.mark.slow
def test_without_observation_normalisation_nothing_is_normalised(monkeypatch):
    """``normalize_observations=False``: no statistics anywhere (learners, ``pi_ref``), and
    the policy acts on raw observations. Catches the flag being ignored."""
    config, state, metrics, records = _recorded_run(monkeypatch,
                                                    normalize_observations=False)
    assert state.sac.normalizer is None and state.disc.normalizer is None
    assert state.sac.reference.normalizer is None
    assert all(s.normalizer is None for s, _, _ in records.sac)
    assert np.all(np.isfinite(np.asarray(metrics["score"])))
    trainer, _ = build(config)
    obs = jnp.array([[5.0, -3.0, 0.5, 0.5, 0.0]])  # far from what normalisation would give
    net = make_policy_network(5, 2, config.sac.hidden_sizes)
    mean, _ = net.apply(None, state.sac.reference.params, obs)
    np.testing.assert_allclose(trainer.act(state.sac.reference, obs, None), jnp.tanh(mean),
                               rtol=1e-6)


def test_metrics_named_max_are_reduced_by_max_the_others_by_mean():
    """An iteration's SAC updates and an epoch's iterations reduce ``*_max`` metrics (NAIL's
    ``nail_kl_max``) by their largest value, every other by the mean."""
    from nail_jax.training.trainer import reduce_metrics

    got = reduce_metrics({"nail_kl": jnp.array([0.1, 0.4, 0.1]),
                          "nail_kl_max": jnp.array([0.1, 0.4, 0.1])})
    np.testing.assert_allclose([got["nail_kl"], got["nail_kl_max"]], [0.2, 0.4], rtol=1e-6)
    trainer, pairs = build(_tiny("nail"))
    _, metrics = jax.jit(trainer.run_epoch)(trainer.init(jax.random.PRNGKey(0), pairs), pairs)
    assert float(metrics["nail_kl_max"]) > float(metrics["nail_kl"]) > 0
