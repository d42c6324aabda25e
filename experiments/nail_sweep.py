"""Why does NAIL trail AIL on halfcheetah? Short runs of variants that change one thing.

    python experiments/nail_sweep.py                       # train missing variants, then report
    python experiments/nail_sweep.py --only nail_alpha0.3  # one variant
    python experiments/nail_sweep.py --analyse-only

Each variant is ``nail-jax train`` on the halfcheetah preset (4 bundled demonstration
trajectories) with ``--seeds 2`` (seeds 0 and 1, the same keys as seeds 0-1 of
``ail_vs_nail.py``) for ``--steps`` env steps, plus the variant's ``--set`` overrides. A
finished run (``summary.json``) is reused and an interrupted one resumed
(to ``--steps``); a variant not in ``--out`` is read from its committed copy.

The report gives, per variant, the mean normalised score over the 2 seeds at a few env
steps, the final temperature, policy entropy, ``log pi_ref`` and discriminator BCE, and
writes ``experiments/results/nail_sweep/summary.csv``, ``halfcheetah.png`` (the variants'
curves) and each run's metrics. The
reference rows ``study_ail`` and ``study_nail_alpha1`` are seeds 0-1 of the 5-seed study
(NAIL at temperature 1, the default before this sweep), read from
``experiments/results/ail_vs_nail/halfcheetah/{ail,nail_alpha1}/metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys

import numpy as np

from nail_jax.running.plotting import plot_runs
from nail_jax.running.run_dir import read_metrics

from study_runs import fmt, keep_results, train_run

ROOT = pathlib.Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "nail_sweep"
STUDY = ROOT / "results" / "ail_vs_nail" / "halfcheetah"

# name -> (algo, overrides). NAIL's soft term is w * log pi_ref - alpha * log pi; with
# nail.weight=none, w = alpha: a KL to pi_ref of weight alpha and no other entropy term.
# The sweep ran when the halfcheetah preset had NAIL at sac.fixed_alpha=1 and w = alpha;
# the preset now sets w = 0.1 with a learned temperature, so every NAIL variant spells out
# both settings.
# log pi_ref at weight 0.1 with SAC's learned temperature (the Brax presets' NAIL now).
_KL01 = {"sac.fixed_alpha": "none", "nail.weight": "0.1"}
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    # Control: AIL at NAIL's temperature 1. If it is as slow as NAIL, the temperature and
    # not the log pi_ref term is what holds NAIL back.
    "ail_alpha1": ("ail", {"sac.fixed_alpha": "1"}),
    # The KL weight follows SAC's learned temperature (target entropy -|A|), as in AIL.
    "nail_alpha_auto": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "none"}),
    # The bound of eq. 7 for the reward -log r / 0.1: a KL to pi_ref of weight 0.1.
    "nail_alpha0.1": ("nail", {"sac.fixed_alpha": "0.1", "nail.weight": "none"}),
    # The note's "SAC with the eq. 8 reward": log pi_ref at weight 1 and SAC's learned
    # temperature on the entropy.
    "nail_kl1_alpha_auto": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "1"}),
    # log pi_ref at weight 0.1 with SAC's learned temperature, which holds the entropy at
    # -|A| as in AIL (at a fixed temperature 0.1 the entropy keeps falling).
    "nail_kl0.1_alpha_auto": ("nail", _KL01),
    # The two knobs of the epoch structure (issue 6), each on top of nail_kl0.1_alpha_auto:
    # the discriminator fits only the last epoch's worth of policy samples (10,240
    # transitions) instead of the whole replay buffer ...
    "nail_kl0.1_window_epoch": ("nail", {**_KL01, "disc_window": "10240"}),
    # ... or pi_ref is swapped 4x as often (epochs of 2,560 env steps instead of 10,240).
    "nail_kl0.1_epoch2560": ("nail", {**_KL01, "epoch_steps": "2560"}),
}
REPORT_STEPS = (110_592, 182_272, 264_192)


def row_for(name: str, records: list[dict]) -> dict:
    records = [r for r in records if r["seed"] in (0, 1)]
    by_step: dict[int, list[dict]] = {}
    for r in records:
        by_step.setdefault(r["env_steps"], []).append(r)
    row: dict = {"variant": name}
    for s in REPORT_STEPS:
        rs = by_step.get(s, [])
        row[f"score@{s}"] = float(np.mean([r["score"] for r in rs])) if len(rs) == 2 else None
    last = max(s for s in by_step if s <= REPORT_STEPS[-1])
    rs = by_step[last]
    row["at_step"] = last
    row["score@at_step"] = float(np.mean([r["score"] for r in rs]))
    for key in ("alpha", "entropy", "log_pi_ref", "disc_bce", "reward_ail"):
        vals = [r[key] for r in rs if key in r]
        row[key] = float(np.mean(vals)) if vals else None
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=REPORT_STEPS[-1])
    parser.add_argument("--out", default="runs/nail_sweep")
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    if not args.analyse_only:
        for name in args.only:
            algo, overrides = VARIANTS[name]
            train_run(out / name, algo, "halfcheetah", 2, args.steps, overrides)

    rows = []
    for name, path in (("study_ail", STUDY / "ail"), ("study_nail_alpha1", STUDY / "nail_alpha1")):
        if (path / "metrics.jsonl").exists():
            rows.append(row_for(name, read_metrics(path)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    plotted = []
    for name in VARIANTS:
        src = keep_results(out / name, RESULTS / name)
        if src is None:
            continue
        plotted.append(src)
        rows.append(row_for(name, read_metrics(src)))
    if not rows:
        print("no runs found", file=sys.stderr)
        return 1
    keys = list(rows[0])
    with open(RESULTS / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    widths = [max(len(k), *(len(fmt(r.get(k), ".3g")) for r in rows)) for k in keys]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join(fmt(r.get(k), ".3g").rjust(w) for k, w in zip(keys, widths, strict=True)))
    if plotted:
        plot_runs(plotted, RESULTS / "halfcheetah.png", labels=[d.name for d in plotted])
    print(f"wrote {RESULTS / 'summary.csv'} and halfcheetah.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
