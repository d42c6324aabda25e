"""Mutation check: does each risk-focused test fail for the bug it names?

Each entry below plants one plausible bug in a copy of the package and runs the tests that
claim to catch it; a test that still passes is reported ``MISSED``. Run from the repository
root (a few minutes; about 15 s per entry on a 2-core CPU):

    python tests/mutation_check.py            # all entries
    python tests/mutation_check.py 3 12       # entries by number

The working tree is not touched: the tracked (and new, not ignored) files are copied to a
temporary directory and imported from there. Not a pytest module (no ``test_`` prefix): CI
does not run it.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
E2E = "tests/test_absorbing_end_to_end.py::"
SAFE = "tests/test_safety.py::"

# (number and bug, file, text, replacement, tests that must fail)
MUTATIONS = [
    ('1 no absorbing action mask', 'nail_jax/absorbing.py',
     'return action * live_weight(obs)[..., None]',
     'return action',
     [E2E + 'test_discriminator_sees_zero_actions_in_the_absorbing_state_on_both_sides']),
    ('2 normaliser counts absorbing rows', 'nail_jax/training/trainer.py',
     'weights = live_weight(transition.obs) if config.absorbing else None',
     'weights = None',
     [E2E + 'test_normaliser_counts_live_rows_only']),
    ("3 live mask on s not s'", 'nail_jax/learners/sac.py',
     'live = live_mask(batch.next_obs, absorbing)  # no soft terms',
     'live = live_mask(batch.obs, absorbing)  # no soft terms',
     [E2E + 'test_td_targets_drop_soft_terms_where_next_state_is_absorbing']),
    ('4 rewards not relabelled', 'nail_jax/algorithms/nail.py',
     'return transitions.replace(reward=reward), metrics',
     'return transitions, metrics',
     [E2E + 'test_sac_trains_on_the_relabelled_rewards']),
    ('5 absorbing step keeps env reward', 'nail_jax/envs/loop.py',
     'reward = jnp.where(was_abs, 0.0, reward)',
     'pass',
     [E2E + 'test_absorbing_transitions_follow_exactly_the_terminations']),
    ('6 no reset after the absorbing step', 'nail_jax/envs/loop.py',
     'restart = was_abs | truncated',
     'restart = truncated',
     [E2E + 'test_absorbing_transitions_follow_exactly_the_terminations']),
    ('7 absorbing pair per episode, not per termination', 'nail_jax/data/demonstrations.py',
     'n_term = int(np.count_nonzero(dataset.terminals))',
     'n_term = int(np.count_nonzero(dataset.terminals | dataset.timeouts))',
     [E2E + 'test_expert_side_has_one_absorbing_pair_per_terminated_episode']),
    ('8 disc_window ignored', 'nail_jax/training/trainer.py',
     'window = config.disc_window if config.disc_window > 0 else None',
     'window = None',
     ['tests/test_trainer.py::test_disc_window_draws_policy_samples_from_the_latest_steps_only']),
    ('9 disc scan drops its carry', 'nail_jax/training/trainer.py',
     'lambda d, k: disc_step(d, replay, pairs, k)',
     'lambda d, k: disc_step(disc_state, replay, pairs, k)',
     ['tests/test_trainer.py::test_several_discriminator_updates_per_iteration_are_chained']),
    ('10 weighted sampling uniform', 'nail_jax/data/run_demos.py',
     '    if weighted:\n',
     '    if False:\n',
     ['tests/test_trainer.py::test_expert_sampling_follows_the_weights']),
    ('11 subsample weights all equal', 'nail_jax/data/demonstrations.py',
     'weights = np.where(terminals, 1.0, every).astype(np.float32)',
     'weights = np.full(len(terminals), every, np.float32)',
     ['tests/test_trainer.py::test_subsampled_terminating_demonstrations_get_the_unbiased_weights']),
    ('12 collect flags swapped', 'nail_jax/data/collect.py',
     '        if done[n - 1, e]:\n',
     '        if not done[n - 1, e]:\n',
     ['tests/test_collect.py']),
    ('13 collect keeps steps after done', 'nail_jax/data/collect.py',
     'return (nxt, alive & ~done), out',
     'return (nxt, alive), out',
     ['tests/test_collect.py']),
    ('14 collect ignores --stochastic', 'nail_jax/cli.py',
     '            return policy(obs, key)\n',
     '            return policy(obs)\n',
     ['tests/test_cli.py::test_collect_seed_index_stochastic_and_random_return']),
    ('15 collect random = expert', 'nail_jax/cli.py',
     'random_policy_returns(\n        evaluate, env.action_size,',
     'evaluate(\n        policy_fn,',
     ['tests/test_cli.py::test_collect_seed_index_stochastic_and_random_return']),
    ('16 collect always seed 0', 'nail_jax/cli.py',
     'return run.expert(seed_index), run.trainer.env',
     'return run.expert(0), run.trainer.env',
     ['tests/test_cli.py::test_collect_seed_index_stochastic_and_random_return']),
    ('17 torn line raises', 'nail_jax/running/run_dir.py',
     '            except json.JSONDecodeError:\n                break',
     '            except KeyError:\n                break',
     ['tests/test_driver.py::test_read_metrics_skips_a_torn_last_line']),
    ('18 plot one seed', 'nail_jax/running/plotting.py',
     'line = ax_score.plot(steps, np.nanmean(values, 0)',
     'line = ax_score.plot(steps, values[0]',
     ['tests/test_plotting.py']),
    ('19 non-absorbing discount never 0', 'nail_jax/envs/loop.py',
     'discount = 1.0 - terminated.astype(jnp.float32)',
     'discount = jnp.ones(num_envs)',
     ['tests/test_envs.py::test_termination_without_absorbing_masks_bootstrap']),
    ('20 normalisation flag ignored', 'nail_jax/training/trainer.py',
     'stats = init_statistics(obs_size) if config.normalize_observations else None',
     'stats = init_statistics(obs_size)',
     ['tests/test_trainer.py::test_without_observation_normalisation_nothing_is_normalised']),
    ('21 seed count not checked first', 'nail_jax/running/driver.py',
     '    if meta.get("num_seeds") != num_seeds:\n        raise RunError(f"checkpoint {'
     'saved_epoch}',
     '    if False:\n        raise RunError(f"checkpoint {saved_epoch}',
     ['tests/test_driver.py::test_resume_with_a_seed_count_that_the_checkpoint_lacks_is_refused']),
    ('22 literal NAIL reward without log pi_ref', 'nail_jax/algorithms/nail.py',
     'reward = r_nail = nail_reward(log_r, log_pi_ref)',
     'reward = r_nail = ail_reward(log_r)',
     [E2E + 'test_sac_trains_on_the_relabelled_rewards']),
    ('23 literal log pi_ref unmasked in the absorbing state', 'nail_jax/algorithms/nail.py',
     'return jnp.where(live_weight(obs) > 0, log_pi_ref, 0.0)',
     'return log_pi_ref',
     [E2E + 'test_sac_trains_on_the_relabelled_rewards']),
    ('24 evaluator adds 0 * nan (the old float mask)', 'nail_jax/envs/episodes.py',
     'ret = ret + jnp.where(alive, nxt.reward, 0.0)\n'
     '            length = length + alive.astype(jnp.int32)\n'
     '            alive = alive & ~(nxt.done > 0)\n'
     '            return t + 1, nxt, alive, ret, length\n\n'
     '        init = (jnp.zeros((), jnp.int32), state, jnp.ones(num_episodes, bool),',
     'ret = ret + alive * nxt.reward\n'
     '            length = length + alive.astype(jnp.int32)\n'
     '            alive = alive * (1.0 - (nxt.done > 0))\n'
     '            return t + 1, nxt, alive, ret, length\n\n'
     '        init = (jnp.zeros((), jnp.int32), state, jnp.ones(num_episodes),',
     ['tests/test_envs.py::test_ended_episodes_add_exactly_zero_even_when_the_env_returns_nan']),
    ('25 divergence check on seed 0 only', 'nail_jax/running/safety.py',
     'checks = [(k, ~np.isfinite(floating[k]), False) for k in training]',
     'checks = [(k, ~np.isfinite(floating[k][:1]), False) for k in training]',
     [SAFE + 'test_divergence_names_the_first_seed_of_vmapped_seeds']),
    ('26 stop waits for --checkpoint-every', 'nail_jax/running/driver.py',
     '                if stopping and not saved:\n',
     '                if False:\n',
     [SAFE + 'test_sigterm_checkpoints_the_epoch_in_flight_and_resume_is_bit_exact']),
    ('27 failed metrics append not cut back', 'nail_jax/running/driver.py',
     'os.ftruncate(fd, size)',
     'size',
     [SAFE + 'test_a_metrics_write_that_fails_halfway_is_cut_back']),
    ('28 demonstrations fingerprint not compared', 'nail_jax/running/driver.py',
     '    if recorded == now["demos_sha256"]:\n',
     '    if True:\n',
     [SAFE + 'test_resume_refuses_changed_demonstrations_naming_both_fingerprints']),
    ('29 AIL rewards not relabelled', 'nail_jax/algorithms/ail.py',
     'return transitions.replace(reward=reward), {',
     'return transitions, {',
     [E2E + 'test_sac_trains_on_the_relabelled_rewards[ail]']),
    ("30 NAIL's weight ignored (always alpha)", 'nail_jax/algorithms/nail.py',
     'return alpha if nail.weight is None else jnp.asarray(nail.weight, alpha.dtype)',
     'return alpha',
     ['tests/test_sac.py::test_nail_soft_term_adds_log_pi_ref_to_the_soft_value']),
    ('31 old reference_kl translated the wrong way', 'nail_jax/training/config.py',
     '"soft_value" if reference_kl else "reward"',
     '"reward" if reference_kl else "soft_value"',
     ['tests/test_config.py::'
      'test_a_run_directory_from_before_nails_own_options_reads_in_todays_names']),
    ('32 KL direction swapped (KL(pi_ref || pi))', 'nail_jax/policy.py',
     'return tanh_gaussian_kl(mean, log_std, other_mean, other_log_std)',
     'return tanh_gaussian_kl(other_mean, other_log_std, mean, log_std)',
     ['tests/test_sac.py::test_closed_form_kl_term_in_target_and_actor']),
    ("33 closed-form KL scaled by p's std, not q's", 'nail_jax/distributions.py',
     'mahalanobis = ((mean_p - mean_q) * jnp.exp(-log_std_q)) ** 2',
     'mahalanobis = ((mean_p - mean_q) * jnp.exp(-log_std_p)) ** 2',
     ['tests/test_distributions.py::test_closed_form_kl_matches_monte_carlo_of_squashed_samples']),
    ('34 trust-region weight not clipped at 0', 'nail_jax/algorithms/nail.py',
     'return jnp.maximum(weight - learning_rate * (1.0 - kl / kl_target), 0.0)',
     'return weight - learning_rate * (1.0 - kl / kl_target)',
     ['tests/test_sac.py::test_dual_step_raises_the_weight_above_the_target_lowers_it_below_'
      'and_stops_at_zero']),
    ('35 dual step sign flipped', 'nail_jax/algorithms/nail.py',
     'return jnp.maximum(weight - learning_rate * (1.0 - kl / kl_target), 0.0)',
     'return jnp.maximum(weight + learning_rate * (1.0 - kl / kl_target), 0.0)',
     [E2E + 'test_the_trust_region_weight_takes_one_dual_step_per_update']),
    ('36 closed-form term without its entropy part (w log pi)', 'nail_jax/algorithms/nail.py',
     'return weight * log_pi - weight * kl, stat',
     'return -weight * kl, stat',
     ['tests/test_sac.py::test_closed_form_kl_term_in_target_and_actor']),
    ('37 learned weight ignored (the initial w used)', 'nail_jax/algorithms/nail.py',
     '            return soft.weight\n',
     '            return jnp.asarray(nail.weight, alpha.dtype)\n',
     ['tests/test_sac.py::test_closed_form_kl_term_in_target_and_actor']),
    ('38 learned weight not carried to the next update', 'nail_jax/learners/sac.py',
     '            soft=soft,\n',
     '',
     ['tests/test_cli.py::test_resume_gives_the_uninterrupted_metrics_bit_for_bit']),
    ('39 nail_kl_max averaged, not maximised', 'nail_jax/training/trainer.py',
     'jnp.max(v) if k.endswith("_max")',
     'jnp.mean(v) if k.endswith("_max")',
     ['tests/test_trainer.py::test_metrics_named_max_are_reduced_by_max_the_others_by_mean']),
]


def _copy_tree(dest: pathlib.Path) -> None:
    # Tracked files and new ones not ignored: the working tree as it would be committed.
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def main(selected: list[str]) -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp)
        _copy_tree(tree)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        for name, path, old, new, tests in MUTATIONS:
            if selected and name.split()[0] not in selected:
                continue
            f = tree / path
            source = f.read_text()
            if source.count(old) != 1:
                print(f"STALE   {name}: the text to mutate is not in {path} exactly once")
                missed += 1
                continue
            f.write_text(source.replace(old, new))
            try:
                proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                                       "no:cacheprovider", *tests], cwd=tree, env=env,
                                      capture_output=True, text=True, check=False)
            finally:
                f.write_text(source)
            lines = [line for line in proc.stdout.splitlines() if line.strip()]
            verdict = "CAUGHT" if proc.returncode else "MISSED"
            missed += proc.returncode == 0
            print(f"{verdict}  {name}: {lines[-1] if lines else proc.stderr[-200:]}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
