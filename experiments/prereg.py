"""The preregistered analyses (docs/preregistration.md), exactly as committed before the runs.

    python experiments/prereg.py --part a            # reads experiments/results/prereg_a/
    python experiments/prereg.py --part b --set cpu  # reads experiments/results/prereg_b/cpu/
    python experiments/prereg.py --part b --set gpu  # the GPU seeds, reported apart
    python experiments/prereg.py --part a --results DIR   # another copy of the runs
    python experiments/prereg.py --calibrate         # part B's ail_slow learning rate

Part A: AIL against NAIL on the inverted pendulum preset, seeds 200-229; arms ``ail``,
``nail_sample``, ``nail_analytic``, each pooled from its three runs of 10 seeds
(``DIR/seed{200,210,220}/inverted_pendulum/<arm>/``). Part B: halfcheetah where AIL cycles
(``spectral_window_epoch``), arms ``ail``, ``nail_w0.1`` and the speed-matched ``ail_slow``,
seeds 300-309 on the CPU (two runs of 5, ``DIR/cpu/seed{300,305}/<arm>/``) or 400-415 on a
GPU (one run of 16, ``DIR/gpu/seed400/<arm>/``).

Per seed the two primary endpoints: **last-10** (the mean score over the last 10 evaluations)
and the **collapse rate** (after the seed first scores >= 0.8, the fraction of its later
evaluations below 0.5; a seed that never reaches 0.8 is left out of this endpoint and counted).
Then the part's four one-sided tests (:data:`PARTS`), each scipy's permutation test of the
difference of per-seed means (independent samples; exact up to 1,000,000 splits, else 100,000
random ones, seed 0, via :func:`nail_jax.running.compare.permutation_test`), Holm's step-down
over the family at 0.05 (statsmodels' ``multipletests``), and for each the reverse one-sided
test on the same splits ("contradicted" at unadjusted p < 0.05).

Beside them, descriptive only: rliable's IQM with its 95% stratified-bootstrap CI and the
probability of improvement for each pair, and per arm the final score, the AUC (the mean
of all evaluations), seeds ending at >= 0.9, the median first epoch at 0.8, the largest
critic loss and the mean KL to ``pi_ref``. The runs
must share one demonstration file (checked from their ``config.json``). Writes
``DIR/analysis.json`` (every per-seed value) and prints the tables.
Needs ``pip install -e ".[study]"`` (rliable, statsmodels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys

import numpy as np
from nail_kl import seed_stats

from nail_jax.running.compare import improvement_interval, iqm_interval, permutation_test
from nail_jax.running.run_dir import read_metrics

from study_runs import fmt, print_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
ALPHA = 0.05
REPS = 10_000  # bootstrap resamples of the descriptive CIs


@dataclasses.dataclass(frozen=True)
class Part:
    """One preregistered comparison: its arms, where each run's copy lies, its seeds and its
    family of hypotheses ``(name, first arm, second arm, endpoint, alternative)``."""

    arms: tuple[str, ...]
    folder: str  # under the results folder, with {run} (a run's --seed) and {arm}
    runs: tuple[int, ...]
    seeds: tuple[int, ...]
    hypotheses: tuple[tuple[str, str, str, str, str], ...]


PARTS = {
    "a": Part(
        arms=("ail", "nail_sample", "nail_analytic"),
        folder="seed{run}/inverted_pendulum/{arm}", runs=(200, 210, 220),
        seeds=tuple(range(200, 230)),
        hypotheses=(("H1", "nail_analytic", "ail", "collapse_rate", "less"),
                    ("H2", "nail_analytic", "ail", "last10", "greater"),
                    ("H3", "nail_analytic", "nail_sample", "collapse_rate", "less"),
                    ("H4", "nail_analytic", "nail_sample", "last10", "greater"))),
    "b-cpu": Part(
        arms=("ail", "nail_w0.1", "ail_slow"), folder="seed{run}/{arm}", runs=(300, 305),
        seeds=tuple(range(300, 310)),
        hypotheses=(("B1", "nail_w0.1", "ail", "collapse_rate", "less"),
                    ("B2", "nail_w0.1", "ail_slow", "collapse_rate", "less"),
                    ("B3", "nail_w0.1", "ail", "last10", "greater"),
                    ("B4", "nail_w0.1", "ail_slow", "last10", "greater"))),
}
PARTS["b-gpu"] = dataclasses.replace(PARTS["b-cpu"], runs=(400,), seeds=tuple(range(400, 416)))
REVERSE = {"less": "greater", "greater": "less"}


def arm_seeds(part: Part, results: pathlib.Path,
              arm: str) -> tuple[list[dict], list[dict]]:
    """``(per-seed stats, configs)`` of ``arm``'s runs, seeds in order."""
    stats, configs = [], []
    for run in part.runs:
        folder = results / part.folder.format(run=run, arm=arm)
        if not (folder / "metrics.jsonl").exists():
            raise SystemExit(f"prereg: {folder} has no metrics.jsonl; run the part first "
                             f"(docs/preregistration.md)")
        config = json.loads((folder / "config.json").read_text())
        configs.append(config)
        records = read_metrics(folder)
        for index in range(config["num_seeds"]):
            scores = [r["score"] for r in records
                      if r["seed"] == index and r.get("score") is not None]
            stats.append({**seed_stats(records, index), "seed": config["seed"] + index,
                          "auc": float(np.mean(scores))})
    found = tuple(s["seed"] for s in stats)
    if found != part.seeds:
        raise SystemExit(f"prereg: {arm} has seeds {found[0]}..{found[-1]} ({len(found)}), "
                         f"the preregistration says {part.seeds[0]}-{part.seeds[-1]}")
    return stats, configs


def check_same_setting(configs: dict[str, list[dict]]) -> dict:
    """One demonstration file and one code version (the package's files are not hashed, so
    the check is that every run's command ran the same script on one preset): returns
    what is shared."""
    shas = {c.get("demos_sha256") for runs in configs.values() for c in runs}
    if len(shas) != 1:
        raise SystemExit(f"prereg: the runs used {len(shas)} demonstration files: {shas}")
    return {"demos_sha256": shas.pop(),
            "commands": {arm: [c["command"] for c in runs] for arm, runs in configs.items()}}


def endpoint(stats: list[dict], name: str) -> np.ndarray:
    values = [s[name] for s in stats]
    return np.array([v for v in values if v is not None], np.float64)


def analyse(part: Part, results: pathlib.Path) -> dict:
    """The preregistered tests and the descriptive numbers of ``part``'s runs in ``results``."""
    per_arm, configs = {}, {}
    for arm in part.arms:
        per_arm[arm], configs[arm] = arm_seeds(part, results, arm)
    setting = check_same_setting(configs)
    tests = []
    for name, first, second, key, alternative in part.hypotheses:
        x, y = endpoint(per_arm[first], key), endpoint(per_arm[second], key)
        test = permutation_test(x, y, alternative, seed=0)
        reverse = permutation_test(x, y, REVERSE[alternative], seed=0)
        tests.append({"hypothesis": name, "endpoint": key, "first": first, "second": second,
                      "alternative": alternative, "n": [len(x), len(y)],
                      "difference": test["difference"], "p": test["p"],
                      "p_reverse": reverse["p"], "splits": test["splits"],
                      "exact": test["exact"]})
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests([t["p"] for t in tests], alpha=ALPHA, method="holm")
    for test, rejected, p_holm in zip(tests, reject, adjusted, strict=True):
        test["p_holm"] = float(p_holm)
        test["verdict"] = ("supported" if rejected else
                           "contradicted" if test["p_reverse"] < ALPHA else "not supported")
    descriptive = []
    for arm in part.arms:
        stats = per_arm[arm]
        row = {"arm": arm, "seeds": len(stats),
               "never_0.8": sum(s["collapse_rate"] is None for s in stats)}
        for key in ("last10", "collapse_rate", "final", "auc"):
            values = endpoint(stats, key)
            mid, low, high = iqm_interval(values, REPS, seed=0)
            row.update({f"{key}_mean": float(values.mean()),
                        f"{key}_sd": float(values.std(ddof=1)),
                        f"{key}_iqm": mid, f"{key}_ci": [low, high]})
        row["seeds_ending_0.9"] = sum(s["final"] >= 0.9 for s in stats)
        firsts = [s["first_0.8_epoch"] for s in stats if s["first_0.8_epoch"] is not None]
        row["first_0.8_epoch_median"] = float(np.median(firsts)) if firsts else None
        row["critic_loss_max"] = max(s["critic_loss_max"] for s in stats)
        kl = [s["kl_mean"] for s in stats if s["kl_mean"] is not None]
        row["kl_mean"] = float(np.mean(kl)) if kl else None
        descriptive.append(row)
    pairs = []
    for name, first, second, key, _ in part.hypotheses:
        x, y = endpoint(per_arm[first], key), endpoint(per_arm[second], key)
        if key == "collapse_rate":  # lower is better: P(first improves) = P(first < second)
            x, y = -x, -y
        p, low, high = improvement_interval(x, y, REPS, seed=0)
        pairs.append({"hypothesis": name, "probability_of_improvement": p, "ci": [low, high]})
    return {"setting": setting, "tests": tests, "descriptive": descriptive,
            "improvement": pairs, "per_seed": per_arm}


CALIBRATION_RATES = (3e-4, 1.5e-4, 7.5e-5)  # ail_slow's candidates (the preset's: 6e-4)
CALIBRATION_SEEDS = (500, 501)
NEVER = 991_232  # part B's budget: a seed that never reaches 0.8 counts as reaching it here


def first_08_step(folder: pathlib.Path, num_seeds: int) -> list[int]:
    """Per seed of the run in ``folder``: the env step of its first evaluation >= 0.8."""
    records = read_metrics(folder)
    steps = []
    for index in range(num_seeds):
        hits = [r["env_steps"] for r in sorted(records, key=lambda r: r["epoch"])
                if r["seed"] == index and (r.get("score") or 0.0) >= 0.8]
        steps.append(hits[0] if hits else NEVER)
    return steps


def calibrate(folder: pathlib.Path) -> dict:
    """Part B's ``ail_slow`` rate: of :data:`CALIBRATION_RATES`, the one whose run's mean
    first step at 0.8 over seeds 500-501 is nearest to ``nail_w0.1``'s (the larger rate on a
    tie). ``folder`` holds ``nail_w0.1/`` and ``ail_lr<rate>/`` (rates as ``{:g}``)."""
    def mean_step(name):
        run = folder / name
        if not (run / "metrics.jsonl").exists():
            raise SystemExit(f"prereg: {run} has no metrics.jsonl; run "
                             f"`experiments/prereg_b.sh calibrate` first")
        config = json.loads((run / "config.json").read_text())
        if config["seed"] != CALIBRATION_SEEDS[0] or config["num_seeds"] != 2:
            raise SystemExit(f"prereg: {run} is not seeds 500-501")
        return float(np.mean(first_08_step(run, config["num_seeds"])))

    target = mean_step("nail_w0.1")
    means = {rate: mean_step(f"ail_lr{rate:g}") for rate in CALIBRATION_RATES}
    chosen = min(CALIBRATION_RATES, key=lambda rate: (abs(means[rate] - target), -rate))
    return {"nail_w0.1_first_0.8_step": target,
            "ail_first_0.8_step": {f"{rate:g}": means[rate] for rate in CALIBRATION_RATES},
            "policy_learning_rate": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b"])
    parser.add_argument("--calibrate", action="store_true",
                        help="part B: choose ail_slow's policy learning rate from the runs in "
                             "experiments/results/prereg_b/calibration (or --results)")
    parser.add_argument("--set", choices=["cpu", "gpu"],
                        help="part b: the CPU seeds 300-309 or the GPU seeds 400-415")
    parser.add_argument("--results", help="the part's folder (default: "
                        "experiments/results/prereg_a, or prereg_b/<set>)")
    args = parser.parse_args()
    if args.calibrate:
        folder = pathlib.Path(args.results or RESULTS / "prereg_b" / "calibration")
        chosen = calibrate(folder)
        (folder / "calibration.json").write_text(json.dumps(chosen, indent=1) + "\n")
        print(json.dumps(chosen, indent=1))
        return
    if args.part is None:
        parser.error("give --part a, --part b --set cpu|gpu, or --calibrate")
    if args.part == "b" and args.set is None:
        parser.error("part b needs --set cpu or --set gpu (their seeds are reported apart)")
    name = args.part if args.part == "a" else f"b-{args.set}"
    default = RESULTS / ("prereg_a" if args.part == "a" else f"prereg_b/{args.set}")
    results = pathlib.Path(args.results or default)
    out = analyse(PARTS[name], results)
    print_table([{**t, "n": "+".join(map(str, t["n"]))} for t in out["tests"]],
                ["hypothesis", "endpoint", "first", "second", "alternative", "n", "difference",
                 "p", "p_holm", "p_reverse", "verdict"],
                {"difference": "+.3f", "p": ".4f", "p_holm": ".4f", "p_reverse": ".4f"})
    rows = [{"arm": r["arm"], "seeds": r["seeds"], "never 0.8": r["never_0.8"],
             "last10": f"{fmt(r['last10_mean'])} +- {fmt(r['last10_sd'])}",
             "last10 IQM": f"{fmt(r['last10_iqm'])} [{fmt(r['last10_ci'][0])}, "
                           f"{fmt(r['last10_ci'][1])}]",
             "collapse": f"{fmt(r['collapse_rate_mean'])} +- {fmt(r['collapse_rate_sd'])}",
             "final": fmt(r["final_mean"]), "AUC": fmt(r["auc_mean"]),
             ">= 0.9": r["seeds_ending_0.9"],
             "first 0.8 (epoch)": fmt(r["first_0.8_epoch_median"], ".1f"),
             "critic max": fmt(r["critic_loss_max"], ".1f")} for r in out["descriptive"]]
    print_table(rows, list(rows[0]))
    path = results / "analysis.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
