"""AIL against NAIL on Brax tasks: the same seeds, demonstrations and budget; stability stats.

    python experiments/ail_vs_nail.py --envs halfcheetah --seeds 5 --steps 501760
    python experiments/ail_vs_nail.py --envs halfcheetah --analyse-only   # tables from runs
    python experiments/ail_vs_nail.py --envs hopper_spring --algos ail nail nail_alpha0.1

``--envs`` names presets (``nail_jax.training.presets.PRESETS``): each fixes an env, its backend and
its bundled demonstrations (``hopper_spring`` is the hopper study's task: the spring backend
and the demonstrations of the lunging expert that was bundled as ``hopper`` then). For each
of them and each algorithm (or variant, see ``ALGOS``) one vmapped run of ``--seeds`` seeds
goes to ``OUT/<env>/<algo>`` through ``nail-jax train --preset <env>`` (4 demonstration
trajectories). A finished run (``summary.json``) is reused and an interrupted
one resumed, so the command can be re-run until everything is done.

Reported per env and algorithm (computed from ``metrics.jsonl``):
  final, best        normalised score at the last epoch, best over epochs (mean over seeds)
  final SD           the sample standard deviation (ddof 1) of the final score over seeds
  IQM [95% CI]       interquartile mean over seeds of the final score with a percentile
                     stratified-bootstrap interval over seeds (rliable, 10,000 resamples,
                     fixed seed: ``nail_jax.running.compare.iqm_interval``); tables made
                     before 2026-12-07 used a hand-written bootstrap and the population SD
  reached 0.8        seeds whose score ever reached 0.8
  collapse (pooled)  after a seed first reaches 0.8, the fraction of its later evaluations
                     below 0.5 (pooled over those seeds)
  BCE |ln2 - BCE|    over the second half of training: the mean distance of the
                     discriminator BCE from ln 2, and the oscillation amplitude, the standard
                     deviation of the per-epoch BCE (mean over seeds)

Statistics use the epochs up to ``--steps`` env steps, so a run extended past the study's
budget (``--steps 1003520 --algos nail``) still enters the 500k tables at 500k; a call with
another budget writes ``summary_<steps>.csv``, ``per_seed_<steps>.csv`` and
``<env>_<steps>.png`` instead. A run not yet trained to within one epoch of ``--steps``
is left out of that budget's tables and figure (it says so on stderr).

A variant of ``SEED_DRAWS`` (the same settings on other seeds) also gets a summary row
``<base>+<draw>`` that pools its seeds with its base variant's, when both have results.

Writes ``experiments/results/ail_vs_nail/`` (per-seed and summary CSVs, whose rows for other
envs are kept; the runs' config/metrics/summary files; one figure per env) and prints the
tables. Tables and figures cover every variant of ``ALGOS`` with results for the env, not
only those trained now. A run missing from ``--out`` (a fresh checkout) is read from its
committed copy there, so ``--analyse-only`` rebuilds every table.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np

from nail_jax.running.compare import iqm, iqm_interval
from nail_jax.running.plotting import plot_runs
from nail_jax.running.run_dir import read_metrics
from nail_jax.training.presets import PRESETS

from study_runs import fmt, keep_results, train_run, write_rows

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "ail_vs_nail"
STUDY_STEPS = 501_760
BOOTSTRAP_REPS = 10_000
# name -> (algo, --set overrides). Every NAIL setting is spelled out, so that a name keeps
# its meaning when a preset changes (each run's config.json records every setting).
ALGOS: dict[str, tuple[str, dict[str, str]]] = {
    # Epochs of 10,240 env steps (the halfcheetah preset's) unless the name says otherwise.
    "ail": ("ail", {"epoch_steps": "10240"}),
    # "ail" again, same settings and seeds, trained to 1M steps by the code of commit
    # 186fd33: the same AIL, but the code changed since "ail" was trained (1306a95) and
    # its numbers differ from the first evaluations on; a second draw, kept apart so that
    # "ail"'s tables stay as they are.
    "ail_rerun": ("ail", {"epoch_steps": "10240"}),
    # NAIL with log pi_ref at weight 0.1 and SAC's learned temperature, which holds the
    # entropy at -|A| as in AIL: the Brax presets' NAIL when these runs were made (the
    # presets take weight 0.03 since; see nail_kl0.03). (Made as nail_kl0.1_alpha_auto.)
    "nail": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "0.1", "epoch_steps": "10240"}),
    # A KL to pi_ref of weight (temperature) 0.1 and no other entropy term: the bound of
    # eq. 7 for the reward -log r / 0.1; the halfcheetah preset's NAIL until the 5-seed
    # halfcheetah run of "nail" (these runs were made as "nail" then).
    "nail_alpha0.1": ("nail", {"sac.fixed_alpha": "0.1", "nail.weight": "none",
                               "epoch_steps": "10240"}),
    # The same at weight 1, the note's bound as written: NAIL's default before the sweep.
    "nail_alpha1": ("nail", {"sac.fixed_alpha": "1", "nail.weight": "none",
                             "epoch_steps": "10240"}),
    # Epochs of 2,560 env steps (pi_ref swapped 4x as often), both algorithms: the hopper
    # presets' since these runs (made with hopper_spring, then called hopper).
    "ail_epoch2560": ("ail", {"epoch_steps": "2560"}),
    "nail_epoch2560": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "0.1",
                                "epoch_steps": "2560"}),
    # As nail_epoch2560 with log pi_ref at weight 0.03: a looser trust region. On hopper the
    # learned temperature of nail_epoch2560 settles ~0.1 (the KL weight) above AIL's, i.e. the
    # entropy bonus is the same and the KL to pi_ref is what slows it.
    "nail_kl0.03_epoch2560": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "0.03",
                                       "epoch_steps": "2560"}),
    # The same looser trust region with the halfcheetah preset's epochs of 10,240.
    "nail_kl0.03": ("nail", {"sac.fixed_alpha": "none", "nail.weight": "0.03",
                             "epoch_steps": "10240"}),
}
# A second draw of seeds: name -> (variant in ALGOS, first seed). Seed i of such a run uses
# PRNGKey(first seed + i), so seeds 5-9 never share a key with the first draw's 0-4.
SEED_DRAWS: dict[str, tuple[str, int]] = {
    "ail_epoch2560_seed5": ("ail_epoch2560", 5),
    "nail_kl0.03_epoch2560_seed5": ("nail_kl0.03_epoch2560", 5),
}
ALGOS.update({name: ALGOS[base] for name, (base, _) in SEED_DRAWS.items()})




def per_seed_stats(records: list[dict], seed: int) -> dict:
    """One seed's statistics over its ``records`` (a run's ``metrics.jsonl`` rows).

    Scores are those of the evaluated epochs (``score`` not ``None``; with ``eval_every=K``
    every K-th): the final and best score, the mean of the last ten, the env step of the
    first score >= 0.8 (``None`` if never), and after it the number of evaluations
    (``later_evals``) and of those below 0.5 (``later_below_0.5``: collapses). The
    discriminator's BCE over the second half of all epochs: mean, amplitude (std) and mean
    distance from ln 2 (``None`` without a discriminator, e.g. ``bc``).
    """
    rows = sorted((r for r in records if r["seed"] == seed), key=lambda r: r["epoch"])
    scored = [r for r in rows if r.get("score") is not None]
    score = np.array([r["score"] for r in scored], np.float64)
    reached = np.flatnonzero(score >= 0.8)
    later = score[reached[0] + 1:] if len(reached) else np.array([])
    if "disc_bce" in rows[0]:
        bce = np.array([r["disc_bce"] for r in rows], np.float64)
        second = bce[len(bce) // 2:]
        bce_stats = {"bce_distance_ln2": float(np.mean(np.abs(math.log(2.0) - second))),
                     "bce_amplitude": float(np.std(second)), "bce_mean": float(np.mean(second))}
    else:
        bce_stats = dict.fromkeys(("bce_distance_ln2", "bce_amplitude", "bce_mean"))
    return {
        "seed": seed, "epochs": len(rows), "env_steps": rows[-1]["env_steps"],
        "final_score": score[-1], "best_score": score.max(),
        "last10_mean_score": score[-10:].mean(),
        "reached_0.8_at": scored[reached[0]]["env_steps"] if len(reached) else None,
        "later_evals": len(later), "later_below_0.5": int((later < 0.5).sum()),
        **bce_stats,
    }


def summarize(env: str, algo: str, seeds: list[dict]) -> dict:
    final = np.array([s["final_score"] for s in seeds])
    _, lo, hi = iqm_interval(final, BOOTSTRAP_REPS, seed=0)
    later = sum(s["later_evals"] for s in seeds)
    below = sum(s["later_below_0.5"] for s in seeds)
    return {
        "env": env, "algo": algo, "seeds": len(seeds), "env_steps": seeds[0]["env_steps"],
        "final_mean": final.mean(), "final_sd": final.std(ddof=1) if len(final) > 1 else None,
        "best_mean": np.mean([s["best_score"] for s in seeds]),
        "last10_mean": np.mean([s["last10_mean_score"] for s in seeds]),
        "iqm_final": iqm(final), "iqm_ci_low": lo, "iqm_ci_high": hi,
        "reached_0.8": sum(s["reached_0.8_at"] is not None for s in seeds),
        "dip_fraction": below / later if later else None,
        **{k: None if seeds[0][k] is None else np.mean([s[k] for s in seeds])
           for k in ("bce_distance_ln2", "bce_amplitude", "bce_mean")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["halfcheetah", "hopper"],
                        choices=sorted(PRESETS),
                        help="presets to study, each an env, backend and demonstrations")
    parser.add_argument("--algos", nargs="+", choices=sorted(ALGOS), default=["ail", "nail"],
                        help="algorithms and variants to train (default: ail nail)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=STUDY_STEPS,
                        help="env steps per seed: the training budget and the statistics' cut")
    parser.add_argument("--out", default="runs/ail_vs_nail")
    parser.add_argument("--analyse-only", action="store_true",
                        help="only the tables and figures, from runs that exist")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    suffix = "" if args.steps == STUDY_STEPS else f"_{args.steps}"
    per_seed_rows, summary_rows = [], []
    RESULTS.mkdir(parents=True, exist_ok=True)
    for env in args.envs:
        if not args.analyse_only:
            for algo in args.algos:
                name, overrides = ALGOS[algo]  # every variant spells out its epoch_steps
                first_seed = SEED_DRAWS.get(algo, (algo, 0))[1]
                train_run(out / env / algo, name, env, args.seeds, args.steps, overrides,
                          checkpoint_every=None, seed=first_seed)
        run_dirs, stats = [], {}
        for algo in ALGOS:
            src = keep_results(out / env / algo, RESULTS / env / algo)
            records = [r for r in (read_metrics(src) if src else [])
                       if r["env_steps"] <= args.steps]
            if not records:
                if algo in args.algos:
                    print(f"{out / env / algo}: no metrics yet, skipped", file=sys.stderr)
                continue
            reached = max(r["env_steps"] for r in records)
            if reached + int(ALGOS[algo][1]["epoch_steps"]) <= args.steps:
                print(f"{src}: trained to {reached} of {args.steps} env steps so far, not in "
                      "this budget's tables", file=sys.stderr)
                continue
            num_seeds = json.loads((src / "config.json").read_text())["num_seeds"]
            seeds = [per_seed_stats(records, s) for s in range(num_seeds)]
            per_seed_rows += [{"env": env, "algo": algo, **s} for s in seeds]
            summary_rows.append(summarize(env, algo, seeds))
            run_dirs.append(src)
            stats[algo] = seeds
        for draw, (base, _) in SEED_DRAWS.items():  # both draws pooled: one summary row
            if base in stats and draw in stats:
                summary_rows.append(summarize(env, f"{base}+{draw}", stats[base] + stats[draw]))
        if run_dirs:
            plot_runs(run_dirs, RESULTS / f"{env}{suffix}.png",
                      labels=[d.name.upper() for d in run_dirs], max_steps=args.steps)
    for name, rows in (("per_seed", per_seed_rows), ("summary", summary_rows)):
        if rows:
            write_rows(RESULTS / f"{name}{suffix}.csv", rows)
    cols = ["env", "algo", "seeds", "env_steps", "final_mean", "final_sd", "best_mean",
            "iqm_final", "iqm_ci_low", "iqm_ci_high", "reached_0.8", "dip_fraction",
            "bce_mean", "bce_distance_ln2", "bce_amplitude"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in summary_rows:
        print("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    print(f"\nwrote {RESULTS}/summary{suffix}.csv, per_seed{suffix}.csv and one figure per env")
    return 0


if __name__ == "__main__":
    sys.exit(main())
