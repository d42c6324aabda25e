"""Same numbers before and after a refactor: fixed-seed short runs of every algorithm.

    python experiments/bit_identity.py run --src ../old-worktree --out /tmp/before
    python experiments/bit_identity.py run --src . --out /tmp/after
    python experiments/bit_identity.py compare /tmp/before /tmp/after

``run`` trains, with the ``nail_jax`` package found in ``--src`` (a checkout or worktree of
any commit), ``nail``, ``ail``, ``rl`` and ``bc`` on the ``point_mass`` preset (2 seeds, 4
epochs) and ``nail`` on the default preset (``inverted_pendulum``, 1 seed, 2 epochs), each
with ``nail-jax train``. ``compare`` reads their ``metrics.jsonl`` and says, per run, whether
every metric both name is bit-identical (the timing fields aside) and which metrics only one
of them logs. Run it from outside both trees' ``experiments/`` folders' concerns: it only
starts processes and reads their files.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

RUNS = {  # name: nail-jax train arguments
    **{f"point_mass-{algo}": ["--preset", "point_mass", "--algo", algo, "--seeds", "2",
                              "--steps", "3520"] for algo in ("nail", "ail", "rl", "bc")},
    "inverted_pendulum-nail": ["--preset", "inverted_pendulum", "--algo", "nail", "--seeds",
                               "1", "--steps", "9216"],
}
TIMING = {"epoch_time", "wall_time"}


def run(src: pathlib.Path, out: pathlib.Path) -> int:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    for name, args in RUNS.items():
        with open(out / f"{name}.log", "w") as log:
            code = subprocess.run(
                [sys.executable, "-m", "nail_jax", "train", *args, "--seed", "0", "--out",
                 str(out / name), "--no-progress"], env=env, cwd=out, stdout=log,
                stderr=subprocess.STDOUT, check=False).returncode
        print(f"{name}: exit {code}", flush=True)
        if code:
            return code
    return 0


def _records(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def compare(before: pathlib.Path, after: pathlib.Path) -> int:
    differ = 0
    print("| run | records | metrics compared | result | logged only before | only after |")
    print("|---|---|---|---|---|---|")
    for name in RUNS:
        a, b = _records(before / name / "metrics.jsonl"), _records(after / name / "metrics.jsonl")
        keys_a = set().union(*a) - TIMING
        keys_b = set().union(*b) - TIMING
        common = keys_a & keys_b
        diff = [(i, k) for i, (x, y) in enumerate(zip(a, b, strict=False)) for k in sorted(common)
                if x.get(k) != y.get(k)]
        same = len(a) == len(b) and not diff
        differ += not same
        result = "bit-identical" if same else f"{len(diff)} differ, first {diff[:2]}"
        print(f"| {name} | {len(a)} / {len(b)} | {len(common)} | {result} | "
              f"{', '.join(sorted(keys_a - keys_b)) or '-'} | "
              f"{', '.join(sorted(keys_b - keys_a)) or '-'} |")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train the fixed runs with the package in --src")
    r.add_argument("--src", type=pathlib.Path, required=True)
    r.add_argument("--out", type=pathlib.Path, required=True)
    c = sub.add_parser("compare", help="compare two run folders' metrics")
    c.add_argument("before", type=pathlib.Path)
    c.add_argument("after", type=pathlib.Path)
    args = parser.parse_args()
    if args.command == "run":
        return run(args.src, args.out)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
