"""What the study scripts share: launch or resume a ``nail-jax train`` run, keep its results.

``train_run`` starts a run, resumes an interrupted one (``--resume`` with the wanted
``--steps``, so a budget can also be extended) or reuses a finished one. ``keep_results``
copies a run's ``config.json``, ``metrics.jsonl`` and ``summary.json`` into the committed
results folder and says where to read them from: the run when it exists here, else the
committed copy, so that tables and figures can be rebuilt on a fresh checkout (where
``runs/`` is empty) without losing a row.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

RUN_FILES = ("config.json", "metrics.jsonl", "summary.json")
# The CLI through this interpreter: works in a venv that is not activated.
NAIL_JAX = [sys.executable, "-m", "nail_jax"]


def train_run(run_dir: pathlib.Path, algo: str, preset: str, seeds: int, steps: int,
              overrides: dict[str, str] | None = None, checkpoint_every: int = 5,
              seed: int = 0) -> None:
    """Train ``run_dir`` to ``steps`` env steps: reuse if finished, resume if interrupted.

    ``preset`` names the task (env, backend, demonstrations) and its settings, see
    ``nail_jax.training.presets.PRESETS``. A checkpoint is written every
    ``checkpoint_every`` epochs; seed i of the run uses ``PRNGKey(seed + i)``."""
    if (run_dir / "summary.json").exists():
        print(f"{run_dir}: done, reusing it", flush=True)
        return
    if (run_dir / "checkpoints").exists():
        args = ["train", "--resume", str(run_dir), "--steps", str(steps),
                "--checkpoint-every", str(checkpoint_every)]
    else:
        args = ["train", "--algo", algo, "--preset", preset, "--seeds", str(seeds),
                "--steps", str(steps), "--seed", str(seed), "--out", str(run_dir),
                "--checkpoint-every", str(checkpoint_every)]
        for key, value in (overrides or {}).items():
            args += ["--set", f"{key}={value}"]
    print("$ nail-jax " + " ".join(args), flush=True)
    subprocess.run([*NAIL_JAX, *args, "--no-progress"], check=True)


def keep_results(run_dir: pathlib.Path, dest: pathlib.Path) -> pathlib.Path | None:
    """Copy a run's files to ``dest``; return the folder to read metrics from, or None.

    The run is read when it has metrics; otherwise ``dest``, the copy committed by an
    earlier session, when that has them.
    """
    if (run_dir / "metrics.jsonl").exists():
        dest.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, dest / name)
        return run_dir
    if (dest / "metrics.jsonl").exists():
        print(f"{run_dir}: not here, using the committed copy in {dest}", flush=True)
        return dest
    return None


def fmt(value, spec: str = ".3f") -> str:
    """A table cell: ``-`` for None, floats with ``spec``."""
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def add_study_arguments(parser, out: str, results: pathlib.Path) -> None:
    """The flags every study script takes: ``--out`` (runs), ``--results`` (committed
    copies, tables, figures), ``--set KEY=VALUE`` (repeatable) and ``--analyse-only``."""
    parser.add_argument("--out", default=out)
    parser.add_argument("--results", default=str(results))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override for the runs trained now (repeatable)")
    parser.add_argument("--analyse-only", action="store_true")


def print_table(rows: list[dict], columns: list[str], specs: dict[str, str] | None = None):
    """``rows`` as a markdown table of ``columns`` (cells by :func:`fmt`, ``specs`` per column)."""
    specs = specs or {}
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(c), specs.get(c, ".3f")) for c in columns) + " |")
