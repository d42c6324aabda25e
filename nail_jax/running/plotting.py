"""Learning curves of runs: normalised score and discriminator BCE against env steps.

Each run directory is drawn as one line per panel (mean over its seeds) with a shaded
band (min to max over seeds); the BCE panel marks ``ln 2``, the BCE of a discriminator at
chance, around which AIL's BCE cycles (note section 1).
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence

import numpy as np

from nail_jax.algorithms import ALGORITHMS
from nail_jax.running.run_dir import RunError, read_metrics, run_metric


def curves(run_dir: str | pathlib.Path, key: str, max_steps: int | None = None,
           x: str = "env_steps") -> tuple[np.ndarray, np.ndarray]:
    """``(x [E], values [S, E])`` of one metric over epochs and seeds; ``x`` is the record's
    ``env_steps`` (or another key, such as ``epoch`` for ``bc``, which steps no env).

    ``max_steps`` keeps the epochs that end at or before that many env steps (a run
    trained further, cut at the budget of a comparison)."""
    records = [r for r in read_metrics(run_dir) if r.get(key) is not None
               and (max_steps is None or r["env_steps"] <= max_steps)]
    if not records:
        cut = "" if max_steps is None else f" up to {max_steps} env steps"
        raise RunError(f"{run_dir}: no {key!r} in metrics.jsonl{cut}")
    seeds = sorted({r["seed"] for r in records})
    epochs = sorted({r["epoch"] for r in records})
    table = {(r["seed"], r["epoch"]): r for r in records}
    steps = np.array([next(table[s, e][x] for s in seeds if (s, e) in table)
                      for e in epochs], np.float64)
    values = np.array([[table[s, e][key] if (s, e) in table else np.nan for e in epochs]
                       for s in seeds], np.float64)
    return steps, values


def make_figure(run_dirs: Sequence[str | pathlib.Path], labels: Sequence[str] | None = None,
                max_steps: int | None = None):
    """A matplotlib figure with two panels for ``run_dirs``: score (``eval_return`` for rl
    runs), and discriminator BCE with a ``ln 2`` line. Each run is one line per panel (the
    mean over its seeds) over a band from the min to the max over seeds.

    ``max_steps`` cuts every run at that many env steps (see :func:`curves`). A run that
    steps no env (``bc``) is drawn against its epochs when every run is one; beside runs
    that step envs, as a dashed level at the mean of its seeds' final scores."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure list

    labels = list(labels) if labels else []
    fig = Figure(figsize=(11, 4))
    ax_score, ax_bce = fig.subplots(1, 2)
    score_key = "score"
    envs = []
    configs = [json.loads((pathlib.Path(d) / "config.json").read_text())["config"]
               for d in run_dirs]
    by_epoch = not any(ALGORITHMS[c["algo"]].steps_envs for c in configs)
    for i, (run_dir, cfg) in enumerate(zip(run_dirs, configs, strict=True)):
        run_dir = pathlib.Path(run_dir)
        algo, env = cfg["algo"], cfg["env"]
        label = labels[i] if i < len(labels) else f"{algo} ({run_dir.name})"
        key = run_metric(algo)
        if key != "score":
            score_key = key
        steps, values = curves(run_dir, key, max_steps,
                               x="epoch" if by_epoch else "env_steps")
        seeds = f"{len(values)} seed" + ("s" if len(values) != 1 else "")
        envs.append(env)
        if not by_epoch and not ALGORITHMS[algo].steps_envs:
            finals = [row[~np.isnan(row)][-1] for row in values]
            ax_score.axhline(float(np.mean(finals)), linestyle="--", linewidth=1,
                             label=f"{label}, {seeds} (final, no env steps)")
            continue
        line = ax_score.plot(steps, np.nanmean(values, 0), label=f"{label}, {seeds}")
        ax_score.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.2,
                              color=line[0].get_color())
        if ALGORITHMS[algo].needs_discriminator:
            steps, values = curves(run_dir, "disc_bce", max_steps)
            ax_bce.plot(steps, np.nanmean(values, 0), color=line[0].get_color(), label=label)
            ax_bce.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.2,
                                color=line[0].get_color())
    ax_score.set_title(", ".join(sorted(set(envs))))
    ax_score.set_xlabel("epochs" if by_epoch else "env steps")
    ax_score.set_ylabel("normalised score" if score_key == "score" else "eval return")
    ax_score.legend(fontsize=8)
    ax_bce.axhline(math.log(2.0), color="k", linestyle="--", linewidth=1, label="ln 2 (chance)")
    ax_bce.set_xlabel("env steps")
    ax_bce.set_ylabel("discriminator BCE")
    ax_bce.legend(fontsize=8)
    for ax in (ax_score, ax_bce):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_runs(run_dirs: Sequence[str | pathlib.Path], out: str | pathlib.Path,
              labels: Sequence[str] | None = None,
              max_steps: int | None = None) -> pathlib.Path:
    """Draws :func:`make_figure` of ``run_dirs`` into the image file ``out``; returns it."""
    fig = make_figure(run_dirs, labels, max_steps)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
