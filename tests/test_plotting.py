"""Learning curves read from metrics.jsonl: seeds by epochs, cut at a step budget."""

import json

import numpy as np
import pytest

from nail_jax.plotting import curves
from nail_jax.runner import RunError


def _write_run(run_dir, records):
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


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
