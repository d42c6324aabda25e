"""The statistics behind every study table (``experiments/``), on hand-made metrics records."""

import json
import math
import pathlib
import sys

import numpy as np
import pytest

from nail_jax.training.config import make_config

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "experiments"))

from ail_vs_nail import iqm, per_seed_stats, summarize  # noqa: E402
from four_tasks import diagnose  # noqa: E402
from stability import ALGOS, pooled_runs, pooled_seeds, run_overrides, seed_stats  # noqa: E402
from stability import summarize as cell_row  # noqa: E402

# One seed evaluated every other epoch (``eval_every=2``: the others log ``score: null``).
SCORES = [None, 0.2, None, 0.9, None, 0.4, None, 0.85]
BCE = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def _records(seed=0, scores=SCORES, **extra):
    return [{"seed": seed, "epoch": e + 1, "env_steps": 100 * (e + 1), "score": s,
             "disc_bce": BCE[e], **{k: v[e] for k, v in extra.items()}}
            for e, s in enumerate(scores)]


def test_per_seed_stats_reads_evaluated_epochs_for_scores_and_all_epochs_for_the_bce():
    other = _records(seed=1, scores=[0.0] * 8)  # another seed's rows are ignored
    s = per_seed_stats(other + _records()[::-1], 0)  # in any order
    assert (s["epochs"], s["env_steps"]) == (8, 800)
    assert (s["final_score"], s["best_score"]) == (0.85, 0.9)
    assert s["last10_mean_score"] == pytest.approx((0.2 + 0.9 + 0.4 + 0.85) / 4)
    # First >= 0.8 at the 4th epoch (the 2nd evaluation), then 0.4 and 0.85: one dip.
    assert (s["reached_0.8_at"], s["later_evals"], s["later_below_0.5"]) == (400, 2, 1)
    # Second half of all 8 epochs: 0.5, 0.6, 0.7, 0.8.
    assert s["bce_mean"] == pytest.approx(0.65)
    assert s["bce_amplitude"] == pytest.approx(math.sqrt(0.0125))
    # |ln 2 - x| summed: (ln2 - 0.5) + (ln2 - 0.6) + (0.7 - ln2) + (0.8 - ln2) = 0.4.
    assert s["bce_distance_ln2"] == pytest.approx(0.1)


def test_a_seed_that_never_reaches_0_8_and_a_run_without_a_discriminator():
    records = [{k: v for k, v in r.items() if k != "disc_bce"}
               for r in _records(scores=[0.1, 0.7, None, 0.79, 0.3, None, 0.2, 0.5])]
    s = per_seed_stats(records, 0)
    assert s["reached_0.8_at"] is None and (s["later_evals"], s["later_below_0.5"]) == (0, 0)
    assert s["bce_mean"] is s["bce_amplitude"] is s["bce_distance_ln2"] is None
    assert seed_stats(_records(scores=[0.1, 0.7, None, 0.79, 0.3, None, 0.2, 0.5]), 0)[
        "collapse_rate"] is None


def test_collapse_rate_is_the_fraction_of_later_evaluations_below_half():
    s = seed_stats(_records(scores=[0.9, 0.3, 0.6, 0.1, None, 0.49, 0.5, 0.95]), 0)
    assert s["reached"] and s["collapse_rate"] == pytest.approx(3 / 6)  # 0.3, 0.1, 0.49
    assert (s["final_score"], s["bce_mean"]) == (0.95, pytest.approx(0.65))
    assert s["last10"] == pytest.approx(np.mean([0.9, 0.3, 0.6, 0.1, 0.49, 0.5, 0.95]))


def test_summary_pools_dips_over_seeds_and_takes_the_iqm_of_final_scores():
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0])) == pytest.approx(1.5)  # mean of the middle two
    assert iqm(np.array([0.0, 0.5, 0.6, 0.7, 9.0, 10.0, 10.0, 0.55])) == pytest.approx(
        np.mean([0.55, 0.6, 0.7, 9.0]))
    seeds = [per_seed_stats(_records(), 0),  # 2 later evaluations, 1 dip
             per_seed_stats(_records(scores=[0.8, 0.1, 0.2, 0.3, 0.9, 0.9, 0.9, 0.6]), 0)]
    row = summarize("task", "algo", seeds)
    assert row["dip_fraction"] == pytest.approx((1 + 3) / (2 + 7))
    assert (row["reached_0.8"], row["final_mean"]) == (2, pytest.approx((0.85 + 0.6) / 2))
    assert row["iqm_ci_low"] <= row["iqm_final"] <= row["iqm_ci_high"]


def test_diagnose_quarters_last_ten_and_episode_lengths():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    extra = {"alpha_end": [1.0] * 6 + [0.2, 0.4], "entropy": [-1.0] * 8,
             "disc_accuracy_policy": [0.5] * 7 + [0.9], "disc_accuracy_expert": [0.7] * 8}
    runs = [_records(seed=s, scores=scores, **extra) for s in (0, 1)]
    runs[1][-1]["disc_accuracy_policy"] = 0.7
    records = runs[0] + runs[1]
    seeds = [per_seed_stats(records, s) for s in (0, 1)]
    d = diagnose(records, seeds)
    np.testing.assert_allclose([d[f"score_q{i}"] for i in (1, 2, 3, 4)],
                               [0.15, 0.35, 0.55, 0.75])
    assert d["alpha_last10"] == pytest.approx((6 * 1.0 + 0.2 + 0.4) / 8)
    assert (d["first_0.8_min"], d["first_0.8_max"]) == (800, 800)
    assert d["disc_accuracy_policy"] == pytest.approx(0.8)
    assert d["length_last10"] is None  # runs from before ``eval_length`` was logged
    lengths = [1000, 1000, 400, 1000, 200, 1000, 1000, 600]
    with_lengths = [dict(r, eval_length=float(lengths[r["epoch"] - 1])) for r in records]
    assert diagnose(with_lengths, seeds)["length_last10"] == pytest.approx(np.mean(lengths))


def _run(path, first_seed, scores_per_seed, wall_time, **config_changes):
    """A run folder with ``config.json`` and ``metrics.jsonl``, as ``nail-jax train`` writes."""
    path.mkdir(parents=True)
    config = {"demo_trajectories": 4, "disc_window": 10, "absorbing": True,
              "disc_updates_per_iteration": 1, "demos": f"{path}/demos.npz",
              "disc": {"gradient_penalty": 10.0, "spectral_norm": True, "learning_rate": 3e-4},
              **config_changes}
    (path / "config.json").write_text(json.dumps({
        "config": config, "num_seeds": len(scores_per_seed), "seed": first_seed,
        "demos_sha256": "abc"}))
    records = [dict(r, wall_time=wall_time * r["epoch"] / 8)
               for i, scores in enumerate(scores_per_seed) for r in _records(i, scores)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_pooled_runs_label_seeds_by_their_key_and_report_over_all_of_them(tmp_path):
    never = [0.1, 0.7, None, 0.79, 0.3, None, 0.2, 0.5]  # never reaches 0.8
    collapsing = [0.9, 0.3, 0.6, 0.1, None, 0.49, 0.5, 0.95]  # rate 3/6
    two = _run(tmp_path / "two", 0, [SCORES, never], wall_time=100.0)
    three = _run(tmp_path / "three", 2, [collapsing, SCORES, collapsing], wall_time=50.0)
    config, seeds, wall = pooled_seeds([three, two])
    assert [s["seed"] for s in seeds] == [0, 1, 2, 3, 4] and wall == 150.0
    assert config["demos"] is None  # the path may differ between pooled runs
    assert seeds[2] == {**seed_stats(_records(scores=collapsing), 0), "seed": 2}
    row, per_seed = cell_row("task", "spectral_window_epoch", "ail", [two, three])
    # Rates of the seeds that reached 0.8: 1/2 (SCORES: 0.4 after 0.9), 1/2, 1/2, 1/2.
    assert (row["seeds"], row["reached_0.8"]) == (5, 4)
    assert row["collapse_rate"] == pytest.approx(0.5) and row["seeds_collapsing"] == 4
    assert row["final_mean"] == pytest.approx((0.85 + 0.5 + 0.95 + 0.85 + 0.95) / 5)
    assert row["wall_time_s"] == 150.0 and [r["seed"] for r in per_seed] == [0, 1, 2, 3, 4]


def test_pooling_refuses_a_seed_twice_and_runs_of_another_setting(tmp_path):
    two = _run(tmp_path / "two", 0, [SCORES, SCORES], wall_time=1.0)
    overlap = _run(tmp_path / "overlap", 1, [SCORES], wall_time=1.0)
    with pytest.raises(ValueError, match="seed 1 .* already in the pool"):
        pooled_seeds([two, overlap])
    other = _run(tmp_path / "other", 2, [SCORES], wall_time=1.0, disc_window=20)
    with pytest.raises(ValueError, match="configs differ in disc_window"):
        pooled_seeds([two, other])


def test_pooling_reads_runs_saved_before_nails_options_had_their_own_group(tmp_path):
    """A run whose config.json names ``sac.reference_kl``/``sac.kl_weight`` pools with a
    later one naming ``nail.mode``/``nail.weight`` for the same settings, and not with one
    of another weight."""
    sac = {"fixed_alpha": None, "discount": 0.99}
    old = _run(tmp_path / "old", 0, [SCORES, SCORES], wall_time=1.0, algo="nail",
               sac={**sac, "reference_kl": True, "kl_weight": 0.1})
    new = _run(tmp_path / "new", 2, [SCORES], wall_time=1.0, algo="nail", sac=sac,
               nail={"mode": "soft_value", "weight": 0.1})
    config, seeds, _ = pooled_seeds([old, new])
    assert [s["seed"] for s in seeds] == [0, 1, 2]
    assert (config["nail"], config["sac"]) == ({"mode": "soft_value", "weight": 0.1}, sac)
    other = _run(tmp_path / "other", 2, [SCORES], wall_time=1.0, algo="nail", sac=sac,
                 nail={"mode": "soft_value", "weight": 0.03})
    with pytest.raises(ValueError, match="configs differ in nail"):
        pooled_seeds([old, other])
    ail_old = _run(tmp_path / "ail_old", 0, [SCORES], wall_time=1.0, algo="ail",
                   sac={**sac, "reference_kl": False, "kl_weight": None})
    ail_new = _run(tmp_path / "ail_new", 1, [SCORES], wall_time=1.0, algo="ail", sac=sac,
                   nail=None)
    assert len(pooled_seeds([ail_old, ail_new])[1]) == 2


def test_pooling_notes_demonstration_files_of_other_bytes(tmp_path, capsys):
    two = _run(tmp_path / "two", 0, [SCORES, SCORES], wall_time=1.0)
    more = _run(tmp_path / "more", 2, [SCORES], wall_time=1.0)
    pooled_seeds([two, more])
    assert "differ in bytes" not in capsys.readouterr().out
    (more / "config.json").write_text(json.dumps(
        {**json.loads((more / "config.json").read_text()), "demos_sha256": "xyz"}))
    assert len(pooled_seeds([two, more])[1]) == 3
    assert "demonstration files differ in bytes" in capsys.readouterr().out


def test_each_study_algorithm_sets_the_nail_weight_it_is_named_for():
    """The ``--set`` strings of a stability run parse into the config each name promises:
    the presets' NAIL (``w`` 0.03), the note's bound (temperature 1, ``w = alpha``), and the
    stronger ``log pi_ref`` terms, in a cell that changes the discriminator as well."""
    soft = "soft_value"
    expected = {"ail": (None, None), "nail": ((soft, 0.03), None),
                "nail_bound": ((soft, None), 1.0), "nail_kl0.1": ((soft, 0.1), None),
                "nail_kl0.3": ((soft, 0.3), None)}
    assert set(ALGOS) == set(expected)
    for algo, (nail, fixed_alpha) in expected.items():
        sets = run_overrides("halfcheetah", "spectral_window_epoch", algo,
                             pathlib.Path("demos.npz"), {})
        config = make_config(ALGOS[algo][0], "halfcheetah", sets)
        got = None if config.nail is None else (config.nail.mode, config.nail.weight)
        assert (got, config.sac.fixed_alpha) == (nail, fixed_alpha), algo
        assert config.disc.spectral_norm and config.disc_window == config.epoch_steps == 10240
        assert config.demos == "demos.npz"


def test_pool_skips_folders_without_the_algorithm_and_leaves_unfinished_runs_out(
        tmp_path, capsys):
    done = _run(tmp_path / "a" / "task" / "cell" / "ail", 0, [SCORES], wall_time=1.0)
    (done / "summary.json").write_text("{}")
    (tmp_path / "b" / "task" / "cell" / "ail").mkdir(parents=True)  # started, not finished
    a, b, c = (str(tmp_path / name) for name in "abc")
    assert pooled_runs([a], "task", "cell", "ail") == [done]
    assert pooled_runs([a, c], "task", "cell", "ail") == [done]
    assert f"{c} has no cell ail run" in capsys.readouterr().out
    assert pooled_runs([a], "task", "cell", "nail_kl0.1") == []
    assert capsys.readouterr().out == ""  # nowhere: no note
    assert pooled_runs([a], "task", "cell", "nail_kl0.1", beside=True) == []
    assert "has no cell nail_kl0.1 run" in capsys.readouterr().out
    assert pooled_runs([a, b], "task", "cell", "ail") is None
    assert "no finished run" in capsys.readouterr().err


def test_a_diverged_run_is_kept_but_left_out_of_the_tables(tmp_path, monkeypatch, capsys):
    """A run whose summary.json records a divergence is neither reused as finished nor
    retrained: train_run starts nothing, keep_results copies its files (its record is kept)
    and gives no folder to read, saying why; a finished run is read as before."""
    import study_runs

    run, dest = tmp_path / "run", tmp_path / "results"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"epoch": 1, "seed": 0, "score": 0.5}\n')
    (run / "config.json").write_text("{}")
    (run / "summary.json").write_text(json.dumps({"diverged": {"epoch": 2,
                                                               "name": "critic_loss"}}))
    monkeypatch.setattr(study_runs.subprocess, "run",
                        lambda *a, **k: pytest.fail("a diverged run was retrained"))
    study_runs.train_run(run, "nail", "point_mass", 1, 100)
    assert study_runs.keep_results(run, dest) is None
    assert (dest / "summary.json").read_text() == (run / "summary.json").read_text()
    assert capsys.readouterr().out.count("diverged at epoch 2 (critic_loss)") == 2
    assert study_runs.keep_results(tmp_path / "gone", dest) is None  # the committed copy
    (run / "summary.json").write_text("{}")
    assert study_runs.keep_results(run, dest) == run


def _prereg_runs(root, arm, scores_of_seed):
    """Part A's layout: three runs of 10 seeds (200, 210, 220) of ``arm``."""
    for run in (200, 210, 220):
        folder = root / f"seed{run}" / "inverted_pendulum" / arm
        folder.mkdir(parents=True)
        config = {"num_seeds": 10, "seed": run, "demos_sha256": "ab12",
                  "command": f"nail-jax train --seed {run}"}
        (folder / "config.json").write_text(json.dumps(config))
        rows = [{"seed": i, "epoch": e + 1, "env_steps": 100 * (e + 1), "score": s,
                 "critic_loss": 1.0}
                for i in range(10) for e, s in enumerate(scores_of_seed(run + i))]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_preregistered_analysis_gives_the_verdicts_its_rules_say(tmp_path, monkeypatch):
    """Hand-made part A runs: AIL collapses after reaching 0.9; the closed form dips once per
    seed and recovers (before its last ten evaluations); the single sample never falls. By the
    preregistration's rules H1 and H2 (closed form beats AIL) are supported, H3 (it collapses
    less than the single sample) is contradicted, H4 (equal last-10) is not supported, and
    every per-seed endpoint is the hand value."""
    import prereg

    monkeypatch.setattr(prereg, "REPS", 200)
    _prereg_runs(tmp_path, "ail", lambda s: [0.9] + [0.1 + 0.001 * s % 0.2] * 11)
    _prereg_runs(tmp_path, "nail_analytic",
                 lambda s: [0.9, 0.3 + 0.001 * s % 0.1] + [1.0] * 10)
    _prereg_runs(tmp_path, "nail_sample", lambda s: [0.9] + [1.0] * 11)
    out = prereg.analyse(prereg.PARTS["a"], tmp_path)
    verdicts = {t["hypothesis"]: t["verdict"] for t in out["tests"]}
    assert verdicts == {"H1": "supported", "H2": "supported", "H3": "contradicted",
                        "H4": "not supported"}
    assert out["tests"][3]["difference"] == 0.0
    h1 = out["tests"][0]
    assert h1["n"] == [30, 30] and not h1["exact"] and h1["splits"] == 100_000
    assert h1["difference"] == pytest.approx(1 / 11 - 1.0)  # one of 11 later evals vs all
    assert h1["p"] < 1e-4 and h1["p_holm"] == pytest.approx(min(1.0, 4 * h1["p"]), rel=0.5)
    analytic = out["per_seed"]["nail_analytic"]
    assert [s["seed"] for s in analytic] == list(range(200, 230))
    assert analytic[0]["last10"] == pytest.approx(1.0) and analytic[0]["final"] == 1.0
    _prereg_runs(tmp_path / "short", "ail", lambda s: [0.9] * 3)  # seeds 200-229, one arm
    with pytest.raises(SystemExit, match="nail_sample.*has no metrics.jsonl|run the part"):
        prereg.analyse(prereg.PARTS["a"], tmp_path / "short")


def test_part_b_calibration_picks_the_rate_nearest_nail_and_the_larger_on_a_tie(tmp_path):
    import prereg

    def run(folder, name, firsts):  # seeds 500-501 first reach 0.8 at these epochs
        run_dir = folder / name
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps({"seed": 500, "num_seeds": 2}))
        rows = [{"seed": i, "epoch": e, "env_steps": 1000 * e, "score": 0.9 if e >= f else 0.1}
                for i, f in enumerate(firsts) for e in range(1, 11)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    near, tie = tmp_path / "near", tmp_path / "tie"
    for folder, rates in ((near, ([2, 2], [5, 7], [9, 10])), (tie, ([2, 2], [6, 6], [8, 8]))):
        run(folder, "nail_w0.1", [6, 8])  # NAIL: 7,000 env steps on average
        for name, firsts in zip(("ail_lr0.0003", "ail_lr0.00015", "ail_lr7.5e-05"), rates,
                                strict=True):
            run(folder, name, firsts)
    chosen = prereg.calibrate(near)
    assert chosen["nail_w0.1_first_0.8_step"] == 7000.0
    assert chosen["ail_first_0.8_step"] == {"0.0003": 2000.0, "0.00015": 6000.0,
                                            "7.5e-05": 9500.0}
    assert chosen["policy_learning_rate"] == 1.5e-4
    assert prereg.calibrate(tie)["policy_learning_rate"] == 1.5e-4  # 6,000 and 8,000: a tie
    run(tmp_path / "never", "nail_w0.1", [11, 11])  # never reaches 0.8: counts as the budget
    assert prereg.first_08_step(tmp_path / "never" / "nail_w0.1", 2) == [991_232, 991_232]
