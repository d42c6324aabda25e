"""The ``nail-jax`` command line."""

from __future__ import annotations

import argparse
import sys
import time


def _smoke(args: argparse.Namespace) -> int:
    """Runs SAC on the pure-JAX point-mass task and prints its return before and after."""
    import jax

    from nail_jax.smoke import run_point_mass_sac

    t0 = time.time()
    before, after = run_point_mass_sac(jax.random.PRNGKey(args.seed), iterations=args.iterations)
    print(f"SAC on point_mass: deterministic return {before:.2f} -> {after:.2f} "
          f"(optimum about -2.5, standing still about -23) in {time.time() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nail-jax", description="Non-adversarial and adversarial imitation learning in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    smoke = sub.add_parser("smoke", help="run the building blocks end to end on a toy task")
    smoke.add_argument("--seed", type=int, default=0)
    smoke.add_argument("--iterations", type=int, default=600,
                       help="environment steps per parallel env (each followed by 4 updates)")
    smoke.set_defaults(func=_smoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
