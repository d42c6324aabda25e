"""The committed runs rescored with the expert return of the episodes they trained on.

Until 2026-12-07 a run's normalised score used ``R_expert`` = the mean return over *all*
episodes of its demonstration file, not over the ``demo_trajectories`` it trained on. The
raw returns are logged per evaluation (``eval_return``, ``random_return``), so every score
can be recomputed without retraining:

    score = (eval_return - random_return) / (R_used - random_return)

For each committed run folder under ``experiments/results`` (``config.json`` and
``metrics.jsonl``; ``rl`` runs have no score) this script:

1. recovers the ``R_expert`` the run was scored with from its own records (``random_return +
   (eval_return - random_return) / score``, the median over records with ``|score| > 0.05``);
2. finds the demonstration file whose mean return is that number (within 1e-5 relative):
   the bundled file of the task, or one of ``--demos FILE ...`` (e.g. the stability studies'
   64-episode files, remade with ``nail-jax collect --expert TASK --episodes 64 --seed 0``);
3. takes ``R_used``, the mean return of its first ``demo_trajectories`` episodes.

Without ``--apply`` it writes ``experiments/results/rescore.csv``: per run folder the two
expert returns, their ratio and the final scores (mean over seeds) before and after. With
``--apply`` it also rewrites each matched run: ``metrics.jsonl``'s ``score`` becomes the
rescored value and the old one is kept as ``score_file_expert`` in the same record;
``config.json`` gains ``expert_return``, ``expert_return_file``, ``demo_episodes`` and
``rescored`` (what was done); ``summary.json``'s score statistics are recomputed. A run whose
``config.json`` already has ``expert_return`` was scored right and is left as it is; a run
whose file is not found is reported and left as it is.

    python experiments/rescore.py                       # the report only
    python experiments/rescore.py --demos F1.npz F2.npz # with remade files
    python experiments/rescore.py --apply
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys

import numpy as np

from nail_jax.data.datasets import episode_returns, load_dataset
from nail_jax.data.demonstrations import bundled_dir
from nail_jax.files import write_json_atomic, write_jsonl_atomic
from nail_jax.running.run_dir import read_metrics, summarize

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
MATCH = 1e-5  # relative tolerance between the implied and the file's expert return


def file_returns(path: pathlib.Path) -> np.ndarray:
    """Per-episode returns of a demonstration file (its metadata's, else reward sums)."""
    data = load_dataset(path)
    returns = episode_returns(data)
    stored = data.metadata.get("episode_returns")
    if stored is not None and len(stored) == len(returns):
        returns = np.asarray(stored, np.float64)
    return returns


def implied_expert_return(records: list[dict]) -> float | None:
    """The ``R_expert`` the records were scored with, or None (no usable record)."""
    values = [r["random_return"] + (r["eval_return"] - r["random_return"]) / r["score"]
              for r in records if r.get("score") is not None
              and r.get("random_return") is not None and abs(r["score"]) > 0.05]
    return float(np.median(values)) if values else None


def rescore_records(records: list[dict], used: float) -> list[dict]:
    """``records`` with ``score`` from ``used``, the old score kept as ``score_file_expert``."""
    out = []
    for r in records:
        r = dict(r)
        if r.get("score") is not None:
            r["score_file_expert"] = r["score"]
            r["score"] = (r["eval_return"] - r["random_return"]) / (used - r["random_return"])
        out.append(r)
    return out


def final_mean(records: list[dict]) -> float | None:
    finals = {}
    for r in sorted(records, key=lambda r: r["epoch"]):
        if r.get("score") is not None:
            finals[r["seed"]] = r["score"]
    return float(np.mean(list(finals.values()))) if finals else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demos", nargs="*", default=[],
                        help="demonstration files besides the bundled ones")
    parser.add_argument("--apply", action="store_true", help="rewrite the matched runs")
    parser.add_argument("--out", default=str(RESULTS / "rescore.csv"))
    args = parser.parse_args()
    files = {p: file_returns(p) for p in [*sorted(bundled_dir().glob("*.npz")),
                                          *map(pathlib.Path, args.demos)]}
    rows = []
    for metrics in sorted(RESULTS.rglob("metrics.jsonl")):
        run = metrics.parent
        info_path = run / "config.json"
        if not info_path.exists():
            continue
        info = json.loads(info_path.read_text())
        config = info["config"]
        if config["algo"] == "rl":
            continue
        row = {"run": str(run.relative_to(RESULTS)), "env": config["env"],
               "demo_trajectories": config["demo_trajectories"]}
        records = read_metrics(run)
        if "expert_return" in info:
            rows.append({**row, "status": "scored with the episodes' return"})
            continue
        implied = implied_expert_return(records)
        if implied is None:
            rows.append({**row, "status": "no evaluation to recover R_expert from"})
            continue
        k = config["demo_trajectories"]
        matches = [(p, r) for p, r in files.items()
                   if len(r) >= k and abs(r.mean() - implied) <= MATCH * max(1.0, abs(implied))]
        used_values = {float(r[:k].mean()) for _, r in matches}
        if len(used_values) != 1:
            status = ("no file with that mean return" if not matches else
                      f"files with that mean differ in their first {k} episodes")
            rows.append({**row, "expert_return_file": implied, "status": status})
            continue
        used = used_values.pop()
        rescored = rescore_records(records, used)
        rows.append({**row, "file": matches[0][0].name, "expert_return_file": implied,
                     "expert_return": used, "ratio": used / implied,
                     "final_before": final_mean(records), "final_after": final_mean(rescored),
                     "status": "rescored" if args.apply else "to rescore"})
        if args.apply:
            write_jsonl_atomic(metrics, rescored)
            write_json_atomic(info_path, {
                **info, "expert_return": used, "expert_return_file": implied,
                "demo_episodes": k,
                "rescored": "score recomputed from eval_return and random_return with the "
                            f"mean return of the {k} episodes trained on ({matches[0][0].name}) "
                            "by experiments/rescore.py; the old score is score_file_expert"})
            summary_path = run / "summary.json"
            if summary_path.exists():
                summary = json.loads(summary_path.read_text())
                summary.update(summarize(rescored, config["algo"], info["num_seeds"]))
                summary.update(expert_return=used, expert_return_file=implied,
                               demo_episodes=k)
                write_json_atomic(summary_path, summary)
    columns = ["run", "env", "demo_trajectories", "file", "expert_return_file",
               "expert_return", "ratio", "final_before", "final_after", "status"]
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    moved = [r for r in rows if r.get("ratio") is not None and abs(r["ratio"] - 1) > 1e-9]
    print(f"{len(rows)} run folders; {len(moved)} move; "
          f"{sum(r['status'].startswith('no') or r['status'].startswith('files') for r in rows)} "
          f"unmatched; wrote {args.out}")
    for r in rows:
        if r["status"] not in ("to rescore", "rescored") or r in moved:
            before, after = r.get("final_before"), r.get("final_after")
            change = "" if before is None else f"  final {before:.3f} -> {after:.3f}"
            print(f"  {r['run']}: {r['status']}{change}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
