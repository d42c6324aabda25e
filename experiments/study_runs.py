"""What the study scripts share: launch or resume a ``nail-jax train`` run, keep its results.

``train_run`` starts a run, resumes an interrupted one (``--resume`` with the wanted
``--steps``, so a budget can also be extended), starts over one that was stopped before its
first checkpoint (``--overwrite``: the old files are moved aside, not deleted) or reuses a
finished one. ``keep_results`` copies a run's ``config.json``, ``metrics.jsonl`` and
``summary.json`` into the committed results folder and says where to read them from: the run
when it exists here, else the committed copy, so that tables and figures can be rebuilt on a
fresh checkout (where ``runs/`` is empty) without losing a row.
"""

from __future__ import annotations

import csv
import pathlib
import shutil
import subprocess
import sys

from nail_jax.running.checkpoint import latest_epoch
from nail_jax.running.run_dir import diverged, has_run

RUN_FILES = ("config.json", "metrics.jsonl", "summary.json")
CHECKPOINT_STEPS = 51_200  # about one checkpoint per this many env steps
# The CLI through this interpreter: works in a venv that is not activated.
NAIL_JAX = [sys.executable, "-m", "nail_jax"]
DIVERGED_EXIT = 3  # nail-jax train: training diverged (docs/guide.md, "When a run fails")


def train_run(run_dir: pathlib.Path, algo: str, preset: str, seeds: int, steps: int,
              overrides: dict[str, str] | None = None, checkpoint_every: int | None = 5,
              seed: int = 0) -> None:
    """Train ``run_dir`` to ``steps`` env steps: reuse if finished, resume if interrupted
    (from its last checkpoint; a run stopped before its first is started over).

    ``preset`` names the task (env, backend, demonstrations) and its settings, see
    ``nail_jax.training.presets.PRESETS``. A checkpoint is written every
    ``checkpoint_every`` epochs (``None``: about every :data:`CHECKPOINT_STEPS` env steps, from
    ``overrides["epoch_steps"]``); seed i of the run uses ``PRNGKey(seed + i)``."""
    if checkpoint_every is None:
        checkpoint_every = max(1, CHECKPOINT_STEPS // int(overrides["epoch_steps"]))
    where = diverged(run_dir)
    if where:
        print(f"{run_dir}: {where}; kept, not retrained, left out of the tables", flush=True)
        return
    if (run_dir / "summary.json").exists():
        print(f"{run_dir}: done, reusing it", flush=True)
        return
    if latest_epoch(run_dir) is not None:
        args = ["train", "--resume", str(run_dir), "--steps", str(steps),
                "--checkpoint-every", str(checkpoint_every)]
    else:
        args = ["train", "--algo", algo, "--preset", preset, "--seeds", str(seeds),
                "--steps", str(steps), "--seed", str(seed), "--out", str(run_dir),
                "--checkpoint-every", str(checkpoint_every)]
        for key, value in (overrides or {}).items():
            args += ["--set", f"{key}={value}"]
        if has_run(run_dir):
            args.append("--overwrite")  # stopped before its first checkpoint
    print("$ nail-jax " + " ".join(args), flush=True)
    done = subprocess.run([*NAIL_JAX, *args, "--no-progress"])
    if done.returncode == DIVERGED_EXIT:  # its summary.json says where; the study goes on
        print(f"{run_dir}: {diverged(run_dir)}; left out of the tables", flush=True)
    elif done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args)


def keep_results(run_dir: pathlib.Path, dest: pathlib.Path) -> pathlib.Path | None:
    """Copy a run's files to ``dest``; return the folder to read metrics from, or None.

    The run is read when it has metrics; otherwise ``dest``, the copy committed by an
    earlier session, when that has them. A diverged run (``run_dir.diverged``) is copied, so
    its record is kept, but None is returned: tables leave it out, and say so.
    """
    if (run_dir / "metrics.jsonl").exists():
        dest.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, dest / name)
        folder = run_dir
    elif (dest / "metrics.jsonl").exists():
        print(f"{run_dir}: not here, using the committed copy in {dest}", flush=True)
        folder = dest
    else:
        return None
    where = diverged(folder)
    if where:
        print(f"{folder}: {where}; left out of the tables", flush=True)
        return None
    return folder


def fmt(value, spec: str = ".3f") -> str:
    """A table cell: ``-`` for None, floats with ``spec``."""
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def parse_study_arguments(parser, out: str, results: pathlib.Path):
    """Adds the flags every study script takes, ``--out`` (runs), ``--results`` (committed
    copies, tables, figures), ``--set KEY=VALUE`` (repeatable) and ``--analyse-only``, and
    parses: ``(args, out path, results path, {key: value} of --set)``."""
    parser.add_argument("--out", default=out)
    parser.add_argument("--results", default=str(results))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for the runs trained now (repeatable)")
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    return args, pathlib.Path(args.out), pathlib.Path(args.results), extra


def print_table(rows: list[dict], columns: list[str], specs: dict[str, str] | None = None):
    """``rows`` as a markdown table of ``columns`` (cells by :func:`fmt`, ``specs`` per column)."""
    specs = specs or {}
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(c), specs.get(c, ".3f")) for c in columns) + " |")


def write_rows(path: pathlib.Path, rows: list[dict]) -> None:
    """Write ``rows`` to the CSV ``path``, keeping its rows of other envs."""
    done = {r["env"] for r in rows}
    kept = []
    if path.exists():
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["env"] not in done]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept + rows)


def report_tasks(tasks, rows_of, make_figure, figure_name: str, results: pathlib.Path,
                 columns: list[str], specs: dict[str, str] | None = None,
                 more_tables: tuple = ()) -> int:
    """A study's outputs over ``tasks``: ``rows_of(task) -> (summary rows, per-seed rows,
    runs)`` (a task without ``runs`` is left out); writes ``RESULTS/summary.csv`` (each row's
    ``task`` also as ``env``), ``RESULTS/per_seed.csv`` and ``make_figure({task: runs})`` as
    ``RESULTS/figure_name``, and prints the summary as a markdown table of ``columns``, then
    one more table of it per ``(title, columns, specs)`` of ``more_tables``.
    Returns the exit code: 1 when no task has runs."""
    summary, per_seed, task_runs = [], [], {}
    for task in tasks:
        rows, seeds, runs = rows_of(task)
        if runs:
            summary += rows
            per_seed += seeds
            task_runs[task] = runs
    if not summary:
        print("no finished runs to report", file=sys.stderr)
        return 1
    results.mkdir(parents=True, exist_ok=True)
    write_rows(results / "summary.csv", [{"env": r["task"], **r} for r in summary])
    write_rows(results / "per_seed.csv", per_seed)
    make_figure(task_runs).savefig(results / figure_name, dpi=110)
    print_table(summary, columns, specs)
    for title, more_columns, more_specs in more_tables:
        print(f"\n{title}")
        print_table(summary, more_columns, more_specs)
    print(f"\nwrote {results}/summary.csv, per_seed.csv and {figure_name}")
    return 0


def score_panels(panels: dict, draw, xlabel: str, ylabel: str, title=str):
    """A figure with one panel per item of ``panels``: ``draw(ax, key, value)`` draws its
    lines, then the panel gets ``title(key)``, ``xlabel``, a dotted line at the expert's score
    1, a grid and a legend; the first panel ``ylabel``."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * max(1, len(panels)), 3.8))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(panels))))
    for ax, (key, value) in zip(axes, panels.items(), strict=True):
        draw(ax, key, value)
        ax.set_title(title(key))
        ax.set_xlabel(xlabel)
        ax.axhline(1.0, color="k", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig
