"""Where AIL breaks (issue 23): a sweep over what decides between policy and discriminator.

    python experiments/stability.py                          # all cells, inverted_pendulum
    python experiments/stability.py --cells base demos1 gp0  # some cells
    python experiments/stability.py --analyse-only           # the table and figure from the runs
    python experiments/stability.py --task hopper --seeds 5 --cells base gp0   # confirm a cell
    python experiments/stability.py --steps 5120 --seeds 1 --out /tmp/s --results /tmp/r  # smoke
    python experiments/stability.py --task halfcheetah --seeds 3 --seed 2 --cells spectral \
        --out runs/more --results results/more --pool results/two_seeds  # seeds 2-4 beside 0-1
    python experiments/stability.py --task halfcheetah --seeds 3 --cells spectral_window_epoch \
        --algos nail_kl0.1                                   # a stronger NAIL term in one cell

Each cell changes one thing from the task's preset (``--task``, default ``inverted_pendulum``,
the cheapest Brax task: about 3 minutes a seed here) and trains AIL and NAIL on the same seeds
(``PRNGKey(seed + i)``, ``--seed``, default 0, vmapped in one run per algorithm) with the
preset's budget; cell ``base`` also trains NAIL at the bound of the note (``nail_bound``:
temperature 1, ``w = alpha``) beside the preset's weight 0.03. ``--algos`` trains the named
algorithms in every named cell instead, among them NAIL with a stronger ``log pi_ref`` term
(``nail_kl0.1``, ``nail_kl0.3``: eq. 8's weight ``w``). The factors (:data:`CELLS`):

- demonstration count: 1, 4 (the presets'), 16, 64 trajectories, the first K episodes of one
  dataset of 64 made by the task's bundled expert (``nail-jax collect --expert TASK --episodes
  64 --seed 0``, made once under ``OUT``; every cell uses it, so the cells differ only in K);
- the discriminator's regularisation and strength: gradient penalty 0 / 10 / 100, spectral
  norm, learning rate 3e-5 / 3e-4 / 1e-3, 4 updates per iteration;
- its data: the whole replay, or the last epoch only (``disc_window = epoch_steps``, the
  ``Q_t`` of eq. 5);
- DAC's absorbing state off (alone and with spectral norm): terminating is then worth 0, not
  the discriminator's reward for the absorbing state;
- the last epoch only together with a weaker discriminator (spectral norm, gradient penalty
  100, learning rate 3e-5): the window brings the rise and fall, the weaker discriminator
  may bring its BCE nearer ln 2.

Runs go to ``OUT/<task>/<cell>/<algo>``; a finished run is reused, an interrupted one resumed
(``study_runs.train_run``). Reported per cell and algorithm over the seeds (statistics of
``ail_vs_nail.py``): the final score (mean, IQM), the mean of the last ten evaluations, seeds
reaching 0.8, the **collapse rate** (after a seed first reaches 0.8, the fraction of its later
evaluations below 0.5; mean over the seeds that reached 0.8) and the seeds whose collapse rate
is at least 0.2, and the second half's discriminator BCE: mean, amplitude (std over epochs)
and mean distance from ln 2. Writes ``RESULTS/summary.csv`` (a row per cell and algorithm),
``RESULTS/per_seed.csv``, each run's files under ``RESULTS/<task>/<cell>/<algo>/`` and
``RESULTS/<task>_least_stable.png``: the BCE and score over time of the cell where AIL is
least stable (highest collapse rate, then BCE nearest ln 2), AIL and NAIL per seed, and the
same figure of each cell named by ``--figures`` (default ``window_epoch``) as
``RESULTS/<task>_<cell>.png``.

More seeds of a cell can be trained later, as a run of other seeds (``--seed``): ``--pool
DIR ...`` names the results folders of the earlier runs, and each cell and algorithm is then
reported over the seeds of all of them (``per_seed.csv`` gives each seed's number, its
``PRNGKey``; ``wall_time_s`` is the runs' sum; an algorithm some pooled folders lack, such as
a NAIL variant trained only later, is reported over the folders that have it, with a note, and
its ``seeds`` column says how many; the runs of ``OUT`` need not include every algorithm of
the pool). Pooled runs must agree in everything but their seeds and demonstration file's
path, and no seed may appear twice; a note says when the files'
bytes differ (their metadata records the path they were written to, and the same collection
on another machine may round differently), so compare their arrays before trusting the pool.
A seed of a pooled run differs from the same seed in one vmapped run of more seeds by float
rounding only (on the CPU here the BCE differs in the 8th digit after one epoch).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
from ail_vs_nail import iqm, per_seed_stats

from nail_jax.running.run_dir import read_metrics
from nail_jax.training.config import make_config, translate_saved_config

from study_runs import (
    NAIL_JAX,
    keep_results,
    parse_study_arguments,
    print_table,
    train_run,
    write_rows,
)

HERE = pathlib.Path(__file__).resolve().parent
DEMO_EPISODES = 64
LN2 = math.log(2.0)

# cell -> (factor, value, overrides); ``EPOCH`` stands for the preset's epoch_steps.
EPOCH = "epoch"
CELLS: dict[str, tuple[str, str, dict]] = {
    "base": ("base", "-", {}),
    "demos1": ("demo trajectories", "1", {"demo_trajectories": 1}),
    "demos16": ("demo trajectories", "16", {"demo_trajectories": 16}),
    "demos64": ("demo trajectories", "64", {"demo_trajectories": 64}),
    "gp0": ("gradient penalty", "0", {"disc.gradient_penalty": 0.0}),
    "gp100": ("gradient penalty", "100", {"disc.gradient_penalty": 100.0}),
    "spectral": ("spectral norm", "on", {"disc.spectral_norm": True}),
    "disc_lr3e-5": ("disc learning rate", "3e-5", {"disc.learning_rate": 3e-5}),
    "disc_lr1e-3": ("disc learning rate", "1e-3", {"disc.learning_rate": 1e-3}),
    "disc_updates4": ("disc updates / iteration", "4", {"disc_updates_per_iteration": 4}),
    "window_epoch": ("disc data", "last epoch", {"disc_window": EPOCH}),
    # Without DAC's absorbing state, terminating is worth 0 whatever the discriminator says;
    # with it, the discriminator's low reward for the absorbing state (policies fall, experts
    # do not) may hold a policy up even where the live states' reward is flat.
    "noabsorb": ("absorbing state", "off", {"absorbing": False}),
    "spectral_noabsorb": ("spectral norm, absorbing state", "on, off",
                          {"disc.spectral_norm": True, "absorbing": False}),
    "spectral_window_epoch": ("spectral norm, disc data", "on, last epoch",
                              {"disc.spectral_norm": True, "disc_window": EPOCH}),
    "gp100_window_epoch": ("gradient penalty, disc data", "100, last epoch",
                           {"disc.gradient_penalty": 100.0, "disc_window": EPOCH}),
    "disc_lr3e-5_window_epoch": ("disc learning rate, disc data", "3e-5, last epoch",
                                 {"disc.learning_rate": 3e-5, "disc_window": EPOCH}),
}
# algo name -> (--algo, extra overrides). A cell trains ``cell_algos`` unless ``--algos``
# names others; the NAIL variants with a stronger ``log pi_ref`` term than the presets' 0.03
# (eq. 8's weight ``w``) are trained only when named.
ALGOS: dict[str, tuple[str, dict]] = {
    "ail": ("ail", {}),
    "nail": ("nail", {}),
    "nail_bound": ("nail", {"sac.fixed_alpha": 1.0, "nail.weight": None}),
    "nail_kl0.1": ("nail", {"nail.weight": 0.1}),
    "nail_kl0.3": ("nail", {"nail.weight": 0.3}),
}
COLUMNS = ["task", "cell", "factor", "value", "algo", "seeds", "demo_trajectories",
           "gradient_penalty", "spectral_norm", "disc_learning_rate", "disc_updates",
           "disc_window", "absorbing", "final_mean", "iqm_final", "last10_mean", "reached_0.8",
           "collapse_rate", "seeds_collapsing", "bce_mean", "bce_amplitude", "bce_distance_ln2",
           "wall_time_s"]

SPECS = {"gradient_penalty": "g", "disc_learning_rate": "g", "wall_time_s": ".0f"}


def demo_file(task: str, out: pathlib.Path) -> pathlib.Path:
    """The sweep's 64-episode dataset of ``task``, made once with the bundled expert."""
    path = out / task / f"demos_{DEMO_EPISODES}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        args = ["collect", "--expert", task, "--episodes", str(DEMO_EPISODES), "--seed", "0",
                "--out", str(path)]
        print("$ nail-jax " + " ".join(args), flush=True)
        subprocess.run([*NAIL_JAX, *args], check=True)
    return path


def run_overrides(task: str, cell: str, algo: str, demos: pathlib.Path, extra: dict) -> dict:
    """``--set`` values of one run: the cell's change, the algorithm's, the sweep's dataset."""
    overrides = {"demos": str(demos)}
    for key, value in {**CELLS[cell][2], **ALGOS[algo][1]}.items():
        if value == EPOCH:
            value = make_config(ALGOS[algo][0], task).epoch_steps
        overrides[key] = "none" if value is None else str(value).lower()
    return {**overrides, **extra}


def cell_algos(cell: str) -> list[str]:
    """The algorithms a cell trains when ``--algos`` is not given."""
    return ["ail", "nail", "nail_bound"] if cell == "base" else ["ail", "nail"]


def seed_stats(records: list[dict], seed: int) -> dict:
    """One seed's final score, last ten, whether it reached 0.8, collapse rate (the
    fraction of its evaluations after first reaching 0.8 that fall below 0.5; ``None`` if
    none follow) and second-half BCE, from ``ail_vs_nail.per_seed_stats``."""
    s = per_seed_stats(records, seed)
    later = s["later_evals"]
    return {"seed": seed, "final_score": s["final_score"], "last10": s["last10_mean_score"],
            "reached": s["reached_0.8_at"] is not None,
            "collapse_rate": s["later_below_0.5"] / later if later else None,
            **{k: s[k] for k in ("bce_mean", "bce_amplitude", "bce_distance_ln2")}}


def pooled_seeds(runs: list[pathlib.Path]) -> tuple[dict, list[dict], float]:
    """The seeds of ``runs`` (run folders of one cell and algorithm with different seeds):
    ``(config of the first, seed_stats of every seed labelled by its PRNGKey number, summed
    wall time)``. Configs are compared in today's option names (runs from before NAIL's
    options moved to ``nail.*`` pool with later ones). Raises ``ValueError`` if the runs'
    configs differ in more than the demonstration file's path, or a seed appears twice;
    prints a note when the files' bytes (``demos_sha256``) differ."""
    seeds, wall, first, hashes = [], 0.0, None, {}
    for run in runs:
        config = json.loads((run / "config.json").read_text())
        hashes.setdefault(config.get("demos_sha256"), run)
        same = {**translate_saved_config(config["config"]), "demos": None}
        if first is None:
            first = same
        elif same != first:
            diff = sorted(k for k in same.keys() | first.keys() if same.get(k) != first.get(k))
            raise ValueError(f"cannot pool {run} with {runs[0]}: their configs differ in "
                             f"{', '.join(diff)}; pool only runs of the same cell and budget")
        records = read_metrics(run)
        for index in range(config["num_seeds"]):
            seed = config.get("seed", 0) + index
            if any(s["seed"] == seed for s in seeds):
                raise ValueError(f"seed {seed} of {run} is already in the pool; train the "
                                 "extra seeds with another --seed")
            seeds.append({**seed_stats(records, index), "seed": seed})
        wall += max(records, key=lambda r: (r["epoch"], r["seed"])).get("wall_time") or 0.0
    if len(hashes) > 1:
        print("note: the pooled runs' demonstration files differ in bytes: " + ", ".join(
            f"{run} sha256 {str(h)[:12]}" for h, run in hashes.items()), flush=True)
    return first, sorted(seeds, key=lambda s: s["seed"]), wall


def pooled_runs(pool: list[str], task: str, cell: str, algo: str,
                beside: bool = False) -> list[pathlib.Path] | None:
    """The finished runs of ``cell`` and ``algo`` in the ``--pool`` folders.

    A folder without that cell and algorithm (an algorithm trained only in some runs, such as
    a NAIL variant) is skipped, with a note when another folder has it or ``beside`` (the
    run reported with the pool has it); ``None`` (the row is left out) when a folder has the
    run but not finished.
    """
    runs, lacking = [], []
    for folder in pool:
        run = pathlib.Path(folder) / task / cell / algo
        if not run.exists():
            lacking.append(folder)
        elif not (run / "summary.json").exists():
            print(f"--pool: no finished run {run}; leaving {cell} {algo} out", file=sys.stderr)
            return None
        else:
            runs.append(run)
    if lacking and (runs or beside):
        print(f"note: {', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no {cell} "
              f"{algo} run; reporting {algo} over the others", flush=True)
    return runs


def summarize(task: str, cell: str, algo: str,
              runs: list[pathlib.Path]) -> tuple[dict, list[dict]]:
    """One cell and algorithm's table row and per-seed rows, over the seeds of ``runs``."""
    c, seeds, wall = pooled_seeds(runs)
    final = np.array([s["final_score"] for s in seeds])
    rates = [s["collapse_rate"] for s in seeds if s["collapse_rate"] is not None]
    row = {
        "task": task, "cell": cell, "factor": CELLS[cell][0], "value": CELLS[cell][1],
        "algo": algo, "seeds": len(seeds), "demo_trajectories": c["demo_trajectories"],
        "gradient_penalty": c["disc"]["gradient_penalty"],
        "spectral_norm": c["disc"]["spectral_norm"],
        "disc_learning_rate": c["disc"]["learning_rate"],
        "disc_updates": c["disc_updates_per_iteration"], "disc_window": c["disc_window"],
        "absorbing": c["absorbing"],
        "final_mean": final.mean(), "iqm_final": iqm(final),
        "last10_mean": float(np.mean([s["last10"] for s in seeds])),
        "reached_0.8": sum(s["reached"] for s in seeds),
        "collapse_rate": float(np.mean(rates)) if rates else None,
        "seeds_collapsing": sum(r >= 0.2 for r in rates),
        "bce_mean": float(np.mean([s["bce_mean"] for s in seeds])),
        "bce_amplitude": float(np.mean([s["bce_amplitude"] for s in seeds])),
        "bce_distance_ln2": float(np.mean([s["bce_distance_ln2"] for s in seeds])),
        "wall_time_s": wall,
    }
    return row, [{"task": task, "cell": cell, "algo": algo, **s} for s in seeds]


def least_stable_figure(task: str, cell: str, runs: dict[str, list[pathlib.Path]]):
    """BCE (top) and score (bottom) over env steps, one line per seed (of all the pooled
    runs), a column per algorithm (AIL, NAIL and any NAIL variant trained in the cell)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(runs), 6))
    axes = fig.subplots(2, len(runs), sharex=True, squeeze=False)
    for col, (algo, algo_runs) in enumerate(runs.items()):
        for run in algo_runs:
            records = read_metrics(run)
            first = json.loads((run / "config.json").read_text()).get("seed", 0)
            for index in sorted({r["seed"] for r in records}):
                rows = sorted((r for r in records if r["seed"] == index),
                              key=lambda r: r["epoch"])
                x = [r["env_steps"] for r in rows]
                axes[0, col].plot(x, [r["disc_bce"] for r in rows],
                                  label=f"seed {first + index}")
                scored = [r for r in rows if r.get("score") is not None]
                axes[1, col].plot([r["env_steps"] for r in scored],
                                  [r["score"] for r in scored])
        axes[0, col].axhline(LN2, color="k", linestyle=":", linewidth=0.8)
        axes[0, col].set_title(f"{task}, cell {cell}: {algo.upper()}")
        axes[0, col].set_ylabel("discriminator BCE (ln 2 dotted)")
        axes[1, col].set_ylabel("normalised score")
        axes[1, col].set_xlabel("env steps")
        axes[1, col].axhline(0.8, color="k", linestyle=":", linewidth=0.8)
        axes[0, col].legend(fontsize=7)
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="inverted_pendulum",
                        help="a preset with a bundled expert (default inverted_pendulum)")
    parser.add_argument("--cells", nargs="+", choices=sorted(CELLS), default=list(CELLS))
    parser.add_argument("--algos", nargs="+", choices=list(ALGOS), default=None,
                        help="algorithms to train now in every named cell (default: AIL and "
                             "NAIL, and nail_bound in cell base)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed: seed i of the runs trained now uses PRNGKey(seed + i)")
    parser.add_argument("--pool", nargs="*", default=[], metavar="RESULTS_DIR",
                        help="results folders of earlier runs of the same cells with other "
                             "seeds, reported together with these")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps per run (default: the preset's budget)")
    parser.add_argument("--figures", nargs="*", choices=sorted(CELLS), default=["window_epoch"],
                        help="cells whose BCE-and-score figure to draw as well, as "
                             "RESULTS/<task>_<cell>.png (default: window_epoch)")
    args, out, results, extra = parse_study_arguments(parser, "runs/stability",
                                                      HERE / "results" / "stability")
    absent = [d for d in args.pool if not pathlib.Path(d).is_dir()]
    if absent:
        print(f"error: --pool {absent[0]}: no such folder; name results folders of earlier "
              "runs", file=sys.stderr)
        return 2
    if not args.analyse_only:
        demos = demo_file(args.task, out)
        steps = args.steps or make_config("nail", args.task).total_steps
        for cell in args.cells:
            for algo in args.algos or cell_algos(cell):
                train_run(out / args.task / cell / algo, ALGOS[algo][0], args.task,
                          args.seeds, steps, run_overrides(args.task, cell, algo, demos, extra),
                          seed=args.seed)
    rows, per_seed, runs = [], [], {}
    for cell in CELLS:
        for algo in ALGOS:
            run = keep_results(out / args.task / cell / algo,
                               results / args.task / cell / algo)
            if run is not None and not (run / "summary.json").exists():
                continue
            pool = pooled_runs(args.pool, args.task, cell, algo, beside=run is not None)
            if not pool and run is None:
                continue
            found = [*pool, *([run] if run else [])]
            try:
                row, seeds = summarize(args.task, cell, algo, found)
            except ValueError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            rows.append(row)
            per_seed += seeds
            runs[cell, algo] = found
    if not rows:
        print("no finished runs to report", file=sys.stderr)
        return 1
    results.mkdir(parents=True, exist_ok=True)
    write_rows(results / "summary.csv", [{"env": r["task"], **r} for r in rows])
    write_rows(results / "per_seed.csv", [{"env": r["task"], **r} for r in per_seed])
    # figure file -> cell, for the cells with both AIL and NAIL
    figures = {f"{args.task}_{cell}.png": cell for cell in args.figures
               if (cell, "ail") in runs and (cell, "nail") in runs}
    ail = [r for r in rows if r["algo"] == "ail" and (r["cell"], "nail") in runs]
    if ail:
        worst = max(ail, key=lambda r: (r["collapse_rate"] or 0.0, -r["bce_distance_ln2"]))
        figures[f"{args.task}_least_stable.png"] = worst["cell"]
        print(f"least stable AIL cell: {worst['cell']} -> {args.task}_least_stable.png")
    for name, cell in figures.items():
        fig = least_stable_figure(args.task, cell,
                                  {a: runs[cell, a] for a in ALGOS if (cell, a) in runs})
        fig.savefig(results / name, dpi=110)
    print_table(rows, COLUMNS, SPECS)
    print(f"\nwrote {results}/summary.csv and per_seed.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
