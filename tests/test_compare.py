"""``nail-jax compare`` on hand-made run directories with known answers."""

import itertools
import json

import numpy as np
import pytest

from nail_jax import cli
from nail_jax.running.compare import compare
from nail_jax.running.run_dir import RunError
from nail_jax.training.config import config_to_dict, make_config

pytest.importorskip("rliable")  # the [test] extra installs it; CI runs these

STEPS = 1000  # env steps between evaluations


def _run(path, curves, algo="ail", seed=0, overrides=None, steps=STEPS, **recorded):
    """A run directory whose seed ``i`` logged the scores ``curves[i]``, one per epoch."""
    path.mkdir(parents=True)
    info = {"config": config_to_dict(make_config(algo, "inverted_pendulum", overrides or {})),
            "num_seeds": len(curves), "seed": seed, "demos_sha256": "ab12",
            "expert_return": -2.5, **recorded}
    (path / "config.json").write_text(json.dumps(info))
    records = [{"epoch": e + 1, "seed": i, "env_steps": (e + 1) * steps, "score": v}
               for e in range(len(curves[0])) for i, c in enumerate(curves) for v in [c[e]]]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "summary.json").write_text("{}")
    return path


def _curve(early, late, n=12):
    """``n - 10`` evaluations at ``early``, then ten at ``late``."""
    return [early] * (n - 10) + [late] * 10


def _exact_p(x, y, alternative):
    """The permutation p-value by enumerating every split of the pooled values."""
    pooled, n = np.concatenate([x, y]), len(x)
    observed = x.mean() - y.mean()
    diffs = []
    for chosen in itertools.combinations(range(len(pooled)), n):
        mask = np.zeros(len(pooled), bool)
        mask[list(chosen)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    diffs = np.array(diffs)
    if alternative == "greater":
        return np.mean(diffs >= observed - 1e-12)
    return min(1.0, 2 * min(np.mean(diffs >= observed - 1e-12),
                            np.mean(diffs <= observed + 1e-12)))


def test_numbers_statistics_and_tests_match_their_definitions(tmp_path):
    """Four seeds per group: final, last-10 and AUC per seed as defined; mean, sample SD
    (ddof 1), IQM (the mean of the middle two of four); P(X > Y) = 1 when every seed of X
    beats every seed of Y; the exact permutation p-value equals enumeration's, two-sided and
    one-sided. Catches a population SD, last-10 over all evaluations, AUC as the final."""
    x_late, y_late = [3.0, 4.0, 5.0, 10.0], [0.0, 1.0, 2.0, 2.5]
    ail = _run(tmp_path / "ail", [_curve(0.0, v) for v in x_late])
    nail = _run(tmp_path / "nail", [_curve(v, v) for v in y_late], algo="nail")
    result = compare([ail, nail], reps=200)
    assert result["metric"] == "score" and result["env_steps"] == 12 * STEPS
    g_ail, g_nail = result["groups"]
    assert (g_ail["label"], g_nail["label"]) == ("ail", "nail")
    x = np.array(x_late)
    assert g_ail["final"]["values"] == x_late and g_ail["last10"]["values"] == x_late
    np.testing.assert_allclose(g_ail["auc"]["values"], x * 10 / 12)
    assert g_ail["final"]["mean"] == pytest.approx(5.5)
    assert g_ail["final"]["sd"] == pytest.approx(np.std(x, ddof=1))
    assert g_ail["final"]["iqm"] == pytest.approx(4.5)  # (4 + 5) / 2
    low, high = g_ail["final"]["iqm_ci"]
    assert 3.0 <= low <= 4.5 <= high <= 10.0
    assert g_nail["auc"]["values"] == y_late
    (pair,) = result["pairs"]
    assert (pair["x"], pair["y"]) == ("ail", "nail")
    assert pair["final"]["probability_of_improvement"] == 1.0
    test = pair["final"]["permutation"]
    assert test["exact"] and test["splits"] == 70
    assert test["difference"] == pytest.approx(5.5 - np.mean(y_late))
    assert test["p"] == pytest.approx(_exact_p(x, np.array(y_late), "two-sided"))
    greater = compare([ail, nail], reps=200, alternative="greater")["pairs"][0]["final"]
    assert greater["permutation"]["p"] == pytest.approx(1 / 70)
    assert greater["permutation"]["p"] == pytest.approx(_exact_p(x, np.array(y_late), "greater"))


def test_runs_of_one_label_pool_their_seeds(tmp_path):
    """Seeds 0-1 and 2-3 in two directories labelled alike give the numbers of one
    four-seed directory; the same seeds twice in a group are refused."""
    curves = [_curve(0.0, v) for v in [3.0, 4.0, 5.0, 10.0]]
    whole = _run(tmp_path / "whole", curves)
    first, second = _run(tmp_path / "a", curves[:2]), _run(tmp_path / "b", curves[2:], seed=2)
    other = _run(tmp_path / "nail", [_curve(1.0, 1.0)] * 2, algo="nail")
    pooled = compare([first, second, other], ["ail", "ail", "nail"], reps=100)["groups"][0]
    alone = compare([whole, other], ["ail", "nail"], reps=100)["groups"][0]
    assert pooled["seeds"] == [0, 1, 2, 3]
    for number in ("final", "last10", "auc"):
        assert pooled[number]["values"] == alone[number]["values"]
    with pytest.raises(RunError, match=r"group 'ail' has seed\(s\) \[0, 1\] twice"):
        compare([first, first, other], ["ail", "ail", "nail"], reps=100)


def _cli(capsys, *argv):
    capsys.readouterr()
    code = cli.main(["compare", *map(str, argv), "--reps", "100"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_runs_that_differ_in_more_than_the_algorithm_are_refused(tmp_path, capsys):
    """One line and exit 2 for: a config key that differs (passes with --allow-diff), other
    demonstrations, other budgets (passes with --max-steps, which drops the later
    evaluations), a diverged run, a single group, labels that do not match the runs."""
    ail = _run(tmp_path / "ail", [_curve(0.0, 1.0)] * 2)
    nail = _run(tmp_path / "nail", [_curve(0.5, 0.5)] * 2, algo="nail")
    fast = _run(tmp_path / "fast", [_curve(0.5, 0.5)] * 2, algo="nail",
                overrides={"sac.critic_learning_rate": 1e-3})
    code, out, err = _cli(capsys, ail, fast)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "differ in more than the algorithm: sac.critic_learning_rate" in err
    assert "--allow-diff sac.critic_learning_rate" in err
    code, out, err = _cli(capsys, ail, fast, "--allow-diff", "sac.critic_learning_rate")
    assert code == 0 and "| ail vs fast | final | +0.500 | 1.000 |" in out, out
    other_demos = _run(tmp_path / "other_demos", [_curve(0.5, 0.5)] * 2, algo="nail",
                       demos_sha256="cd34")
    code, _, err = _cli(capsys, ail, other_demos)
    assert code == 2 and "demos_sha256 ('ab12' in ail, 'cd34' in other_demos)" in err, err
    longer = _run(tmp_path / "longer", [_curve(0.5, 0.5, n=14)] * 2, algo="nail",
                  overrides={"total_steps": 20_000})
    code, _, err = _cli(capsys, ail, longer)
    assert code == 2 and "end at different env steps" in err and "--max-steps" in err, err
    code, out, err = _cli(capsys, ail, longer, "--max-steps", 12 * STEPS)
    assert code == 0, err
    diverged = _run(tmp_path / "diverged", [_curve(0.5, 0.5)] * 2, algo="nail")
    (diverged / "summary.json").write_text(json.dumps({"diverged": {"epoch": 13,
                                                                "name": "critic_loss"}}))
    code, _, err = _cli(capsys, ail, diverged)
    assert code == 2 and "the run diverged at epoch 13 (critic_loss)" in err, err
    code, _, err = _cli(capsys, ail, nail, "--labels", "a")
    assert code == 2 and "gives 1 label(s) for 2 run directories" in err, err
    code, _, err = _cli(capsys, ail, nail, "--labels", "a", "a")
    assert code == 2 and "at least two groups" in err, err
    code, _, err = _cli(capsys, ail, tmp_path / "absent")
    assert code == 2 and "holds no run" in err, err


def test_the_json_keeps_every_seeds_values(tmp_path, capsys):
    ail = _run(tmp_path / "ail", [_curve(0.0, 1.0), _curve(0.0, 0.5)])
    nail = _run(tmp_path / "nail", [_curve(0.5, 0.5)] * 3, algo="nail", seed=10)
    code, out, _ = _cli(capsys, ail, nail, "--json", tmp_path / "c.json")
    assert code == 0 and "sample SD (ddof 1)" in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["groups"][0]["final"]["values"] == [1.0, 0.5]
    assert saved["groups"][1]["seeds"] == [10, 11, 12]


def test_without_rliable_compare_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    ail = _run(tmp_path / "ail", [_curve(0.0, 1.0)] * 2)
    nail = _run(tmp_path / "nail", [_curve(0.5, 0.5)] * 2, algo="nail")
    monkeypatch.setitem(__import__("sys").modules, "rliable", None)  # import raises
    code, _, err = _cli(capsys, ail, nail)
    assert code == 2 and err == "nail-jax: error: compare needs rliable: pip install " \
        "'nail_jax[study]'", err


def test_the_bootstrap_intervals_are_fixed_by_their_seed_and_leave_numpy_alone():
    """rliable's StratifiedBootstrap resamples with NumPy's global generator whatever
    ``random_state`` it gets: the same seed must still give the same interval, another seed
    (almost surely) another one, and the caller's global generator must be left as it was."""
    from nail_jax.running.compare import improvement_interval, iqm_interval

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, 7), rng.uniform(0, 1, 6)
    np.random.seed(123)  # noqa: NPY002 (rliable's generator)
    before = np.random.get_state()[1].copy()  # noqa: NPY002 (rliable's generator)
    first = iqm_interval(x, 500, seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002 (rliable's generator)
    np.random.random(10)  # a caller's own draws between the calls change nothing  # noqa: NPY002 (rliable's generator)
    assert iqm_interval(x, 500, seed=1) == first
    assert iqm_interval(x, 500, seed=2) != first
    assert improvement_interval(x, y, 500, seed=1) == improvement_interval(x, y, 500, seed=1)
