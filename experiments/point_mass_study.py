"""NAIL vs AIL (and NAIL with the literal eq. 8 replay reward) on the point-mass preset.

    python experiments/point_mass_study.py [--seeds 4] [--out runs/point_mass_study]

Each variant trains all seeds in one vmapped run through the regular driver, then a CSV of
per-seed final/best scores goes to experiments/results/point_mass_study.csv and a table is
printed. Timing: about 1 minute per variant on the 2-core CPU machine.
"""

import argparse
import csv
import json
import pathlib

import numpy as np

from nail_jax.running.driver import run_training
from nail_jax.running.run_dir import read_metrics
from nail_jax.training.config import make_config

VARIANTS = {
    "nail": ("nail", {}),
    "ail": ("ail", {}),
    # eq. 8's log pi_ref in the replay reward (unweighted), not in SAC's soft value
    "nail_literal_reward": ("nail", {"nail.mode": "reward", "nail.weight": None}),
}
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "point_mass_study.csv"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default="runs/point_mass_study")
    args = parser.parse_args()
    rows = []
    for name, (algo, overrides) in VARIANTS.items():
        config = make_config(algo, "point_mass", overrides)
        run_dir = pathlib.Path(args.out) / name
        summary = run_training(config, run_dir, num_seeds=args.seeds, overwrite=True,
                               progress=False, command=f"experiments/point_mass_study.py {name}")
        records = read_metrics(run_dir)
        last = [r for r in records if r["epoch"] == config.num_epochs]
        for s in summary["seeds"]:
            rec = next(r for r in last if r["seed"] == s["seed"])
            rows.append({"variant": name, "seed": s["seed"], "final_score": s["final_score"],
                         "best_score": s["best_score"], "critic_loss": rec["critic_loss"],
                         "log_pi_ref": rec["log_pi_ref"], "disc_bce": rec["disc_bce"],
                         "env_steps": rec["env_steps"], "wall_time": summary["wall_time"]})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{'variant':<22} {'final score':>18} {'best score':>18} {'critic loss':>12} "
          f"{'log pi_ref':>11}")
    for name in VARIANTS:
        sel = [r for r in rows if r["variant"] == name]
        f = np.array([r["final_score"] for r in sel])
        b = np.array([r["best_score"] for r in sel])
        c = np.median([r["critic_loss"] for r in sel])
        lp = np.median([r["log_pi_ref"] for r in sel])
        print(f"{name:<22} {f.mean():>10.3f} +- {f.std():.3f} {b.mean():>10.3f} +- {b.std():.3f} "
              f"{c:>12.3g} {lp:>11.3g}")
    print(f"wrote {RESULTS}")
    print(json.dumps({"seeds": args.seeds}))


if __name__ == "__main__":
    main()
