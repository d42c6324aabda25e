"""The README's figure: AIL and NAIL learning curves on the results table's tasks, from the
committed runs (no training).

    python experiments/readme_figure.py          # writes experiments/results/readme_figure.png

One panel per task, the score over env steps of each algorithm as it is in the README's
table (the presets' settings): the interquartile mean over seeds per evaluation, with a 95%
stratified-bootstrap band (rliable, ``pip install -e ".[study]"``). The runs, the seeds and
the NAIL variant of each panel are in :data:`PANELS` and printed under each title.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from nail_jax.running.run_dir import read_metrics

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
# panel -> arm -> the committed run folders whose seeds the arm pools (same epochs)
PANELS: dict[str, dict[str, list[str]]] = {
    "inverted pendulum (default), seeds 0-9": {
        "AIL": ["nail_kl/inverted_pendulum/ail"],
        "NAIL, closed-form KL": ["nail_kl/inverted_pendulum/nail_analytic"]},
    "halfcheetah, seeds 0-4": {
        "AIL": ["ail_vs_nail/halfcheetah/ail_rerun"],
        "NAIL": ["ail_vs_nail/halfcheetah/nail_kl0.03"]},
    "hopper (generalized), seeds 0-9": {
        "AIL": ["ail_vs_nail/hopper/ail_epoch2560", "ail_vs_nail/hopper/ail_epoch2560_seed5"],
        "NAIL": ["ail_vs_nail/hopper/nail_kl0.03_epoch2560",
                 "ail_vs_nail/hopper/nail_kl0.03_epoch2560_seed5"]},
    "walker2d (generalized), seeds 0-4": {
        "AIL": ["four_tasks/walker2d/ail_epoch2560"],
        "NAIL": ["four_tasks/walker2d/nail_kl0.03_epoch2560"]},
    "ant, seeds 0-4": {
        "AIL": ["four_tasks/ant/ail"],
        "NAIL": ["four_tasks/ant/nail_kl0.03"]},
}
COLORS = {"AIL": "tab:blue"}


def curves(folders: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps [F], scores [seeds, F])`` at the evaluations every seed of ``folders``
    has."""
    per_seed = {}
    for folder in folders:
        for record in read_metrics(RESULTS / folder):
            if record.get("score") is not None:
                per_seed.setdefault((folder, record["seed"]), {})[record["env_steps"]] = \
                    record["score"]
    steps = np.array(sorted(set.intersection(*(set(s) for s in per_seed.values()))))
    scores = np.array([[s[x] for x in steps] for s in per_seed.values()], np.float64)
    return steps, scores


def iqm_band(scores: np.ndarray, reps: int, seed: int):
    """``(IQM [F], low [F], high [F])`` per evaluation over seeds (rliable)."""
    from rliable import library as rly
    from rliable import metrics

    frames = scores.shape[1]
    point, ci = rly.get_interval_estimates(
        {"arm": scores[:, None, :]},
        lambda s: np.array([metrics.aggregate_iqm(s[..., f]) for f in range(frames)]),
        reps=reps, random_state=np.random.RandomState(seed))
    return point["arm"], ci["arm"][0], ci["arm"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(RESULTS / "readme_figure.png"))
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2), sharey=True)
    for ax, (title, arms) in zip(axes, PANELS.items(), strict=True):
        for arm, folders in arms.items():
            steps, scores = curves(folders)
            mid, low, high = iqm_band(scores, args.reps, seed=0)
            color = COLORS.get(arm, "tab:orange")
            ax.plot(steps, mid, color=color, label=f"{arm} ({len(scores)} seeds)")
            ax.fill_between(steps, low, high, color=color, alpha=0.25, linewidth=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps")
        ax.axhline(1.0, color="grey", linewidth=0.6, linestyle=":")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("score (IQM, 95% CI)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
