"""Learning curves read from metrics.jsonl: seeds by epochs, cut at a step budget."""

import json

import numpy as np
import pytest

from nail_jax.running.plotting import curves, make_figure, plot_runs
from nail_jax.running.run_dir import RunError


def _write_run(run_dir, records, algo="nail"):
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    config = {"config": {"algo": algo, "env": "point_mass"}}
    (run_dir / "config.json").write_text(json.dumps(config))


def test_curves_table_seeds_by_epochs_and_cut_at_max_steps(tmp_path):
    # 2 seeds x 3 epochs of 100 env steps; seed 1 lacks its last epoch (a run cut short).
    records = [{"epoch": e, "seed": s, "env_steps": 100 * e, "score": 10 * e + s}
               for e in (1, 2, 3) for s in (0, 1) if (e, s) != (3, 1)]
    _write_run(tmp_path / "run", records)
    steps, values = curves(tmp_path / "run", "score")
    np.testing.assert_array_equal(steps, [100, 200, 300])
    np.testing.assert_array_equal(values, [[10, 20, 30], [11, 21, np.nan]])
    steps, values = curves(tmp_path / "run", "score", max_steps=250)
    np.testing.assert_array_equal(steps, [100, 200])
    np.testing.assert_array_equal(values, [[10, 20], [11, 21]])
    with pytest.raises(RunError, match="no 'score' in metrics.jsonl up to 50 env steps"):
        curves(tmp_path / "run", "score", max_steps=50)


def test_figure_draws_each_runs_seed_mean_band_and_the_chance_line(tmp_path):
    """The lines are the means over seeds of the metrics files (score, BCE), the bands
    span min to max, the BCE panel marks ln 2, an rl run is drawn by its return and has no
    BCE line. Catches a plot of one seed, of the wrong metric, or a cut that is ignored."""
    nail = [{"epoch": e, "seed": s, "env_steps": 100 * e, "score": e + 2 * s,
             "disc_bce": 0.1 * e + s} for e in (1, 2, 3) for s in (0, 1)]
    rl = [{"epoch": e, "seed": 0, "env_steps": 100 * e, "eval_return": -10.0 * e}
          for e in (1, 2)]
    _write_run(tmp_path / "a", nail)
    _write_run(tmp_path / "b", rl, algo="rl")
    fig = make_figure([tmp_path / "a", tmp_path / "b"], labels=["mine"], max_steps=250)
    ax_score, ax_bce = fig.axes
    (score_a, score_b) = ax_score.get_lines()
    np.testing.assert_array_equal(score_a.get_xdata(), [100, 200])
    np.testing.assert_array_equal(score_a.get_ydata(), [2.0, 3.0])  # mean of seeds 0 and 1
    np.testing.assert_array_equal(score_b.get_ydata(), [-10.0, -20.0])
    assert score_a.get_label() == "mine, 2 seeds" and score_b.get_label() == "rl (b), 1 seed"
    band = ax_score.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 1.0 and band.max() == 4.0  # min and max over seeds
    lines = ax_bce.get_lines()
    assert len(lines) == 2  # nail's BCE and the ln 2 line; none for rl
    np.testing.assert_allclose(lines[0].get_ydata(), [0.6, 0.7])
    np.testing.assert_allclose(lines[1].get_ydata(), np.log(2.0))
    assert ax_score.get_ylabel() == "eval return"  # an rl run among them
    png = plot_runs([tmp_path / "a"], tmp_path / "sub" / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert make_figure([tmp_path / "a"]).axes[0].get_ylabel() == "normalised score"


def test_a_bc_run_is_drawn_by_epoch_alone_and_as_a_level_beside_runs_with_env_steps(tmp_path):
    """bc steps no env (its records say env_steps 0): alone it is drawn against its epochs;
    beside a NAIL run, as a dashed level at the mean of its seeds' final scores. Catches
    every bc point piled at x = 0."""
    bc = [{"epoch": e, "seed": s, "env_steps": 0, "score": 0.1 * e + s} for e in (1, 2, 3)
          for s in (0, 1)]
    nail = [{"epoch": e, "seed": 0, "env_steps": 100 * e, "score": 0.2 * e, "disc_bce": 0.6}
            for e in (1, 2)]
    _write_run(tmp_path / "bc", bc, algo="bc")
    _write_run(tmp_path / "nail", nail)
    ax_score, ax_bce = make_figure([tmp_path / "bc"]).axes
    (line,) = ax_score.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(line.get_ydata(), [0.6, 0.7, 0.8])
    assert ax_score.get_xlabel() == "epochs"
    ax_score, _ = make_figure([tmp_path / "nail", tmp_path / "bc"]).axes
    nail_line, level = ax_score.get_lines()
    np.testing.assert_array_equal(nail_line.get_xdata(), [100, 200])
    np.testing.assert_allclose(level.get_ydata(), 0.8)  # final 0.3 and 1.3
    assert level.get_linestyle() == "--" and "no env steps" in level.get_label()
    assert ax_score.get_xlabel() == "env steps"
