"""The four-task table: AIL against NAIL on halfcheetah, hopper, walker2d and ant (issue 22).

    python experiments/four_tasks.py --tasks walker2d          # train one task (resumable)
    python experiments/four_tasks.py --tasks ant               # the next
    python experiments/four_tasks.py --tasks ant --algos nail  # one algorithm (two processes)
    python experiments/four_tasks.py --analyse-only            # the table and the figure
    python experiments/four_tasks.py --tasks ant --seeds 10 --set eval_every=5 \\
        --out runs/gpu --results experiments/results/four_tasks_gpu   # on a GPU

Each task is its preset (``nail_jax.training.presets.PRESETS``: env, backend, bundled
demonstrations, 4 trajectories) with the preset's AIL and NAIL, spelled out as the variants
of ``experiments/ail_vs_nail.py`` in :data:`TASKS` so that a committed run keeps its meaning
when a preset changes. Runs go to ``OUT/<task>/<variant>`` (the same folders as
``ail_vs_nail.py``, whose committed 1M-step runs of halfcheetah and hopper are reused);
a finished run is reused, an interrupted one resumed. ``--set`` adds overrides to every
run trained now (``eval_every=K`` evaluates every K-th epoch: the sequential evaluation
dominates on a GPU); a run with another ``eval_every`` has fewer evaluations to summarise.

Reported per task and algorithm, over the epochs up to ``--steps`` (the statistics of
``ail_vs_nail.py``): final score (mean +- std over seeds), IQM of the final score with a 95%
bootstrap CI, the mean over the last ten evaluations, seeds reaching 0.8, the pooled
collapse rate (``dip_fraction``: after a seed first reaches 0.8, the fraction of its later
evaluations below 0.5, pooled over those seeds), the second half's
discriminator BCE (mean and amplitude, the std over epochs) and the wall time of the run (all
its seeds, vmapped). Then the numbers that say why an algorithm ends where it does
(:data:`DIAGNOSTICS`, means over seeds): the mean score in each quarter of the evaluations
(still rising, or fallen back?), the first env step at 0.8 (earliest and latest seed), SAC's
temperature and the policy's entropy over the last ten epochs, the mean evaluation episode
length over the last ten evaluations (runs logging ``eval_length``, since commit ``9fc90d6``;
below the time limit, episodes fell), and at the last epoch the fraction of policy and of
expert samples the discriminator classifies correctly. Writes
``RESULTS/summary.csv`` (both tables' columns), ``RESULTS/per_seed.csv`` and
``RESULTS/four_tasks.png`` (one panel of scores per task) and prints the two tables.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
from ail_vs_nail import ALGOS, per_seed_stats, summarize

from nail_jax.running.plotting import curves
from nail_jax.running.run_dir import read_metrics

from study_runs import keep_results, parse_study_arguments, report_tasks, score_panels, train_run

HERE = pathlib.Path(__file__).resolve().parent
STEPS = 1_003_520
# task (preset) -> (AIL variant, NAIL variant) of ail_vs_nail.ALGOS with the preset's settings.
TASKS: dict[str, tuple[str, str]] = {
    "halfcheetah": ("ail_rerun", "nail_kl0.03"),  # epochs of 10,240; NAIL weight 0.03
    "hopper": ("ail_epoch2560", "nail_kl0.03_epoch2560"),
    "walker2d": ("ail_epoch2560", "nail_kl0.03_epoch2560"),
    "ant": ("ail", "nail_kl0.03"),
}
COLUMNS = ["task", "algo", "variant", "seeds", "env_steps", "final_mean", "final_sd",
           "iqm_final", "iqm_ci_low", "iqm_ci_high", "last10_mean", "reached_0.8",
           "dip_fraction", "bce_mean", "bce_amplitude", "wall_time_s"]
DIAGNOSTICS = ["task", "algo", "score_q1", "score_q2", "score_q3", "score_q4",
               "first_0.8_min", "first_0.8_max", "alpha_last10", "entropy_last10",
               "length_last10", "disc_accuracy_policy", "disc_accuracy_expert"]


def diagnose(records: list[dict], seeds: list[dict]) -> dict:
    """The :data:`DIAGNOSTICS` of one run: means over seeds of each seed's mean score per
    quarter of its evaluations, of its temperature (``alpha_end``) and entropy over its last
    ten epochs, of its mean evaluation episode length over its last ten evaluations
    (``None`` for runs without ``eval_length``) and of its discriminator accuracies at its
    last epoch; the first env step at 0.8 of the earliest and the latest seed (``seeds``:
    ``per_seed_stats`` rows)."""
    quarters, alpha, entropy, lengths, acc_policy, acc_expert = [], [], [], [], [], []
    for seed in sorted({r["seed"] for r in records}):
        rows = sorted((r for r in records if r["seed"] == seed), key=lambda r: r["epoch"])
        scores = np.array([r["score"] for r in rows if r.get("score") is not None])
        quarters.append([q.mean() for q in np.array_split(scores, 4)])
        evaluated = [r["eval_length"] for r in rows if r.get("eval_length") is not None]
        lengths.append(np.mean(evaluated[-10:]) if evaluated else None)
        alpha.append(np.mean([r["alpha_end"] for r in rows[-10:]]))
        entropy.append(np.mean([r["entropy"] for r in rows[-10:]]))
        acc_policy.append(rows[-1]["disc_accuracy_policy"])
        acc_expert.append(rows[-1]["disc_accuracy_expert"])
    first = [s["reached_0.8_at"] for s in seeds if s["reached_0.8_at"] is not None]
    return {**{f"score_q{i + 1}": q for i, q in enumerate(np.mean(quarters, 0))},
            "first_0.8_min": min(first, default=None), "first_0.8_max": max(first, default=None),
            "alpha_last10": float(np.mean(alpha)), "entropy_last10": float(np.mean(entropy)),
            "length_last10": None if None in lengths else float(np.mean(lengths)),
            "disc_accuracy_policy": float(np.mean(acc_policy)),
            "disc_accuracy_expert": float(np.mean(acc_expert))}


def task_rows(task: str, out: pathlib.Path, results: pathlib.Path, steps: int):
    """``(summary rows, per-seed rows, {algo: run dir})`` of one task's finished runs."""
    summary, per_seed, runs = [], [], {}
    for algo, variant in zip(("ail", "nail"), TASKS[task], strict=True):
        src = keep_results(out / task / variant, results / task / variant)
        if src is None:
            src = keep_results(out / task / variant, HERE / "results" / "ail_vs_nail" / task
                               / variant)
        records = [r for r in (read_metrics(src) if src else []) if r["env_steps"] <= steps]
        epoch_steps = int(ALGOS[variant][1]["epoch_steps"])
        if not records or max(r["env_steps"] for r in records) + epoch_steps <= steps:
            print(f"{task}/{variant}: not trained to {steps} env steps yet, left out",
                  file=sys.stderr)
            continue
        num_seeds = json.loads((src / "config.json").read_text())["num_seeds"]
        seeds = [per_seed_stats(records, s) for s in range(num_seeds)]
        row = summarize(task, variant, seeds)
        last = max(records, key=lambda r: r["env_steps"])
        row.update(task=task, algo=algo, variant=variant, wall_time_s=last.get("wall_time"),
                   **diagnose(records, seeds))
        summary.append(row)
        per_seed += [{"env": task, "algo": variant, **s} for s in seeds]
        runs[algo] = src
    return summary, per_seed, runs


def make_figure(task_runs: dict[str, dict[str, pathlib.Path]], steps: int):
    """One panel per task: each algorithm's mean score over seeds and its min-max band."""

    def draw(ax, task, runs):
        for algo, run_dir in runs.items():
            x, values = curves(run_dir, "score", steps)
            color = {"ail": "C0", "nail": "C1"}[algo]  # the same in every panel
            ax.plot(x, np.nanmean(values, 0), color=color,
                    label=f"{algo.upper()}, {len(values)} seeds")
            ax.fill_between(x, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.2,
                            color=color)

    return score_panels(task_runs, draw, "env steps", "normalised score")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=[],
                        help="tasks to train now (default: none; every task with runs is "
                             "reported)")
    parser.add_argument("--algos", nargs="+", choices=("ail", "nail"), default=["ail", "nail"],
                        help="algorithms to train now (default both, one after the other; "
                             "two processes with one each share a 2-core CPU better)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=STEPS)
    args, out, results, extra = parse_study_arguments(parser, "runs/ail_vs_nail",
                                                      HERE / "results" / "four_tasks")
    if not args.analyse_only:
        for task in args.tasks:
            for algo, variant in zip(("ail", "nail"), TASKS[task], strict=True):
                if algo not in args.algos:
                    continue
                name, overrides = ALGOS[variant]
                train_run(out / task / variant, name, task, args.seeds, args.steps,
                          {**overrides, **extra}, checkpoint_every=None)
    why = ("why (means over seeds; first 0.8 in env steps, earliest and latest seed):",
           DIAGNOSTICS, {"first_0.8_min": "d", "first_0.8_max": "d", "length_last10": ".1f"})
    return report_tasks(TASKS, lambda task: task_rows(task, out, results, args.steps),
                        lambda task_runs: make_figure(task_runs, args.steps), "four_tasks.png",
                        results, COLUMNS, {"wall_time_s": ".0f"}, more_tables=(why,))


if __name__ == "__main__":
    sys.exit(main())
