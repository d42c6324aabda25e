"""What researchers expect beside AIL and NAIL (issue 25): reward forms, state-only
discriminators, behavioural cloning and the BC warm start, on the four-task study's seeds.

    python experiments/baselines.py --tasks hopper --variants gail fairl   # train (resumable)
    python experiments/baselines.py --tasks halfcheetah --variants ail_state_only
    python experiments/baselines.py --tasks hopper --variants bc
    python experiments/baselines.py --analyse-only                         # table and figure

Each RL variant (:data:`VARIANTS`) is a task's AIL or NAIL of the four-task study
(``four_tasks.TASKS``, whose settings ``ail_vs_nail.ALGOS`` spells out, so a committed run keeps
its meaning when a preset changes) with one change: the GAIL or FAIRL reward form
(``--set reward=...``; AIRL's logit reward is AIL's ``-log r``), a state-only discriminator on
``(s, s')`` (``disc.state_only``), or a BC warm start of 20,000 steps (``bc_warmstart_steps``).
``bc`` is behavioural cloning with the same epochs, i.e. the policy updates of the AIL/NAIL run
(``--algo bc``; no env steps), evaluated every ``BC_EVAL_EVERY[task]`` epochs. Seed ``i`` of every
run is ``PRNGKey(i)``, so the reference rows ``ail`` and ``nail`` are seeds ``0 .. --seeds - 1`` of
the committed four-task runs (``experiments/results/four_tasks`` or ``.../ail_vs_nail``): the
same seeds, not a new draw. Runs go to ``OUT/<task>/<variant>``; a finished run is reused, an
interrupted one resumed (``study_runs.train_run``).

Reported per task and variant over the first ``--seeds`` seeds (the statistics of
``ail_vs_nail.py``): final score (mean +- std), its IQM, the mean of the last ten evaluations,
seeds reaching 0.8, the pooled collapse rate (``dip_fraction``: after a seed first reaches
0.8, the fraction of its later evaluations below 0.5, pooled over those seeds), the second
half's discriminator BCE (none for ``bc``) and the run's wall time (a
reference row's is that of its whole run, with more seeds). Writes ``RESULTS/summary.csv``,
``RESULTS/per_seed.csv``, the runs' files under ``RESULTS/<task>/<variant>/`` and
``RESULTS/baselines.png``: one panel per task, each variant's mean score over the policy
updates (as AIL/NAIL env steps: ``bc`` at the env steps whose updates it has made).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np
from ail_vs_nail import ALGOS, per_seed_stats, summarize
from four_tasks import STEPS, TASKS

from nail_jax.running.run_dir import read_metrics

from study_runs import keep_results, parse_study_arguments, report_tasks, score_panels, train_run

HERE = pathlib.Path(__file__).resolve().parent
WARMSTART_STEPS = 20_000  # hopper's BC clones score 0.75-0.99 after 19-22k steps
# variant -> (the four-task algorithm it changes, --set changes); "bc" is --algo bc.
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "gail": ("ail", {"reward": "gail"}),
    "fairl": ("ail", {"reward": "fairl"}),
    "ail_state_only": ("ail", {"disc.state_only": "true"}),
    "nail_state_only": ("nail", {"disc.state_only": "true"}),
    "ail_bc_warmstart": ("ail", {"bc_warmstart_steps": str(WARMSTART_STEPS)}),
    "nail_bc_warmstart": ("nail", {"bc_warmstart_steps": str(WARMSTART_STEPS)}),
    "bc": ("bc", {}),
}
# bc's epochs take seconds: evaluating each would cost more than the training.
BC_EVAL_EVERY = {"halfcheetah": 5, "hopper": 10, "walker2d": 10, "ant": 5}
REFERENCES = ("ail", "nail")
ROWS = (*REFERENCES, *VARIANTS)  # table order; a row's index is its colour in every panel
COLUMNS = ["task", "variant", "algo", "seeds", "final_mean", "final_sd", "iqm_final",
           "last10_mean", "reached_0.8", "dip_fraction", "bce_mean", "wall_time_s"]


def run_settings(task: str, variant: str) -> tuple[str, dict[str, str]]:
    """``(--algo, --set overrides)`` of one variant on ``task``."""
    base, change = VARIANTS[variant]
    if base == "bc":  # the AIL run's epochs (the same policy updates), its own evaluation
        epoch_steps = ALGOS[TASKS[task][0]][1]["epoch_steps"]
        return "bc", {"epoch_steps": epoch_steps, "eval_every": str(BC_EVAL_EVERY[task])}
    algo, overrides = ALGOS[TASKS[task][REFERENCES.index(base)]]
    return algo, {**overrides, **change}


def source(task: str, variant: str, out: pathlib.Path, results: pathlib.Path):
    """The folder to read one row's metrics from (a reference's committed four-task run)."""
    if variant in REFERENCES:
        name = TASKS[task][REFERENCES.index(variant)]
        for folder in (HERE / "results" / "four_tasks", HERE / "results" / "ail_vs_nail"):
            if (folder / task / name / "metrics.jsonl").exists():
                return folder / task / name
        return None
    return keep_results(out / task / variant, results / task / variant)


def task_rows(task: str, out: pathlib.Path, results: pathlib.Path, seeds: int):
    """``(summary rows, per-seed rows, {variant: (run dir, epoch_steps, warmup_steps)})`` of
    one task; all empty until a variant beside the references has run."""
    summary, per_seed, runs = [], [], {}
    for variant in ROWS:
        src = source(task, variant, out, results)
        if src is None or not (src / "summary.json").exists():
            continue
        config = json.loads((src / "config.json").read_text())
        if config["num_seeds"] < seeds:
            print(f"{src}: {config['num_seeds']} seeds, fewer than {seeds}: left out",
                  file=sys.stderr)
            continue
        records = read_metrics(src)
        stats = [per_seed_stats(records, s) for s in range(seeds)]
        row = summarize(task, variant, stats)
        last = max(records, key=lambda r: (r["epoch"], r["seed"]))
        row.update(task=task, variant=variant, algo=config["config"]["algo"],
                   wall_time_s=last.get("wall_time"))
        summary.append(row)
        per_seed += [{"env": task, "variant": variant, **s} for s in stats]
        c = config["config"]
        runs[variant] = (src, c["epoch_steps"], c["warmup_steps"])
    if not set(runs) - set(REFERENCES):  # a task is reported once a variant has run
        return [], [], {}
    return summary, per_seed, runs


def make_figure(task_runs: dict[str, dict], seeds: int):
    """One panel per task: each variant's mean score over its first ``seeds`` seeds against
    the env steps of AIL/NAIL with as many policy updates (``warmup + epoch * epoch_steps``)."""

    def draw(ax, task, runs):
        for variant, (src, epoch_steps, warmup) in runs.items():
            rows = [r for r in read_metrics(src)
                    if r.get("score") is not None and r["seed"] < seeds]
            epochs = sorted({r["epoch"] for r in rows})
            mean = [np.mean([r["score"] for r in rows if r["epoch"] == e]) for e in epochs]
            x = [warmup + e * epoch_steps for e in epochs]
            ax.plot(x, mean, color=f"C{ROWS.index(variant)}",
                    linestyle="-" if variant in REFERENCES else "--", label=variant)

    return score_panels(task_runs, draw, "env steps (bc: of the run with its policy updates)",
                        "normalised score (mean over seeds)", lambda t: f"{t}, {seeds} seeds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=[],
                        help="tasks to train now (default none; all tasks with runs are "
                             "reported)")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        default=sorted(VARIANTS), help="variants to train now")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=STEPS)
    args, out, results, extra = parse_study_arguments(parser, "runs/baselines",
                                                      HERE / "results" / "baselines")
    to_train = [] if args.analyse_only else [(t, v) for t in args.tasks for v in args.variants]
    for task, variant in to_train:
        algo, overrides = run_settings(task, variant)
        train_run(out / task / variant, algo, task, args.seeds, args.steps,
                  {**overrides, **extra}, checkpoint_every=None)
    return report_tasks(TASKS, lambda task: task_rows(task, out, results, args.seeds),
                        lambda task_runs: make_figure(task_runs, args.seeds), "baselines.png",
                        results, COLUMNS, {"wall_time_s": ".0f"})


if __name__ == "__main__":
    sys.exit(main())
