"""Where an iteration's time goes: each piece of rl / AIL / NAIL timed on its own.

    python experiments/profile.py                 # halfcheetah/spring, benchmark settings
    python experiments/profile.py --quick         # tiny sizes: checks that it runs

One training iteration of the ``halfcheetah`` preset (64 envs, batch 256, 8 SAC updates,
1 discriminator update) is taken apart into jitted pieces, each timed after compilation
(median of ``--reps`` calls, ``block_until_ready``):

  env_step         one vectorised env step (64 envs) with a policy forward pass
  replay_sample    sampling the iteration's 8 x 256 SAC transitions from a full 1M buffer
  relabel          discriminator logits and ``log pi_ref`` of those 8 x 256 transitions
  disc_update      one discriminator step with gradient penalty (256 policy + 256 expert)
  sac_rl_plain     8 SAC updates as rl and AIL run them (learned temperature), one seed
  sac_nail_plain   8 SAC updates with NAIL's ``log pi_ref`` soft terms (``nail.mode=soft_value``)
  eval_per_iter    the epoch's evaluation (8 episodes x 1,000 steps) divided by the
                   iterations of a 10,240-step epoch

Then the same 8 NAIL SAC updates vmapped over 1, 4 and 8 seeds (time per seed, against the
plain one-seed function that the driver uses for a single seed), and, in a subprocess
pinned to one core (``taskset -c 0``), the plain one seed: how much of the two cores one
seed already uses. Writes ``experiments/results/profile.json`` and prints a
table.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _time(fn, *args, reps: int) -> float:
    import jax

    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _sizes(quick: bool) -> dict:
    if quick:
        return {"num_envs": 8, "batch": 32, "updates": 2, "replay": 10_000, "hidden": (32, 32),
                "eval_episodes": 2, "episode_length": 20, "iters_per_epoch": 32}
    return {"num_envs": 64, "batch": 256, "updates": 8, "replay": 1_000_000,
            "hidden": (256, 256), "eval_episodes": 8, "episode_length": 1000,
            "iters_per_epoch": 160}


def sac_timings(sz: dict, seeds: tuple[int, ...], reps: int) -> dict:
    """Time 8 SAC updates (rl and NAIL), vmapped over each number of ``seeds``.

    NAIL's are at the note's bound: temperature 1 and ``w = alpha`` (``nail.weight=none``)."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from nail_jax import SACConfig, Transition, make_sac
    from nail_jax.algorithms import ALGORITHMS
    from nail_jax.algorithms.nail import NAILConfig
    from nail_jax.training.config import TrainConfig

    obs, act, n, b = 18, 6, sz["updates"], sz["batch"]
    nail = dataclasses.replace(TrainConfig(), nail=NAILConfig(mode="soft_value", weight=None))
    soft_term = ALGORITHMS["nail"].make_soft_term(nail)
    out = {}
    for name, cfg, term in (
            ("sac_rl", SACConfig(hidden_sizes=sz["hidden"]), None),
            ("sac_nail", SACConfig(hidden_sizes=sz["hidden"], fixed_alpha=1.0), soft_term)):
        sac = make_sac(obs, act, cfg, soft_term=term)

        def updates(state, batches, keys, sac=sac):
            return jax.lax.scan(lambda st, x: sac.update(st, *x), state, (batches, keys))

        def batches(lead: tuple[int, ...]):
            """Random SAC batches and update keys with leading axes ``lead + (n,)``."""
            k = jax.random.split(jax.random.PRNGKey(1), 5)
            shape = (*lead, n, b)
            return Transition(
                jax.random.normal(k[0], (*shape, obs)),
                jax.random.uniform(k[1], (*shape, act), minval=-0.9, maxval=0.9),
                jax.random.normal(k[2], shape), jnp.ones(shape),
                jax.random.normal(k[3], (*shape, obs))), jax.random.split(k[4], (*lead, n))

        # One seed as the driver runs it: the plain function, no seed axis.
        out[f"{name}_plain"] = _time(jax.jit(updates), sac.init(jax.random.PRNGKey(0)),
                                     *batches(()), reps=reps)
        for s in seeds:
            state = jax.vmap(sac.init)(jax.random.split(jax.random.PRNGKey(0), s))
            out[f"{name}_x{s}"] = _time(jax.jit(jax.vmap(updates)), state, *batches((s,)),
                                        reps=reps)
    return out


def pieces(sz: dict, reps: int) -> dict:
    import jax
    import jax.numpy as jnp

    from nail_jax import SACConfig, Transition, make_sac
    from nail_jax.envs.episodes import make_episode_runner
    from nail_jax.envs.loop import make_env_loop
    from nail_jax.envs.registry import make_env
    from nail_jax.learners.discriminator import (
        DiscriminatorBatch,
        DiscriminatorConfig,
        make_discriminator,
    )
    from nail_jax.replay import make_replay_buffer

    env = make_env("halfcheetah", "spring")
    loop = make_env_loop(env, sz["num_envs"], sz["episode_length"], True)
    obs, act, n, b = loop.obs_size, loop.action_size, sz["updates"], sz["batch"]
    sac = make_sac(obs, act, SACConfig(hidden_sizes=sz["hidden"]))
    disc = make_discriminator(obs, act, DiscriminatorConfig(hidden_sizes=sz["hidden"]))
    sac_state = sac.init(jax.random.PRNGKey(0))
    disc_state = disc.init(jax.random.PRNGKey(1))
    out = {}

    env_state = loop.reset(jax.random.PRNGKey(2))

    @jax.jit
    def env_step(env_state, key):
        action = sac.sample_action(None, sac_state.policy_params, loop.observe(env_state), key)[0]
        return loop.step(env_state, action)

    out["env_step"] = _time(env_step, env_state, jax.random.PRNGKey(3), reps=reps)

    buffer = make_replay_buffer(sz["replay"], b)
    example = Transition(jnp.zeros(obs), jnp.zeros(act), jnp.zeros(()), jnp.zeros(()),
                         jnp.zeros(obs))
    replay = buffer.init(example)
    replay = replay.replace(size=jnp.asarray(sz["replay"], replay.size.dtype))
    sample = jax.jit(lambda r, k: buffer.sample(r, k, batch_size=n * b))
    out["replay_sample"] = _time(sample, replay, jax.random.PRNGKey(4), reps=reps)

    k = jax.random.split(jax.random.PRNGKey(5), 4)
    o = jax.random.normal(k[0], (n * b, obs))
    a = jax.random.uniform(k[1], (n * b, act), minval=-0.9, maxval=0.9)

    @jax.jit
    def relabel(o, a):
        return (disc.log_ratio(disc_state, o, a),
                sac.log_prob(None, sac_state.policy_params, o, a))

    out["relabel"] = _time(relabel, o, a, reps=reps)
    d_batch = DiscriminatorBatch(o[:b], a[:b], o[b:2 * b], a[b:2 * b])
    out["disc_update"] = _time(jax.jit(disc.update), disc_state, d_batch, k[2], reps=reps)

    evaluator = make_episode_runner(env, sz["eval_episodes"], sz["episode_length"], True)
    params = sac_state.policy_params
    evaluate = jax.jit(lambda key: evaluator(
        lambda x, _: sac.deterministic_action(None, params, x), key).returns)
    out["eval_per_iter"] = _time(evaluate, k[3], reps=max(2, reps // 10)) / sz["iters_per_epoch"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", default=None,
                        help="JSON file (default: experiments/results/profile.json; with "
                             "--quick, runs/profile_quick.json, so a check never replaces "
                             "the measured results)")
    parser.add_argument("--sac-only-seeds", type=int, nargs="+", default=None,
                        help=argparse.SUPPRESS)  # used by the one-core subprocess
    args = parser.parse_args()
    sz = _sizes(args.quick)
    reps = 3 if args.quick else args.reps
    if args.sac_only_seeds:
        print(json.dumps(sac_timings(sz, tuple(args.sac_only_seeds), reps)))
        return 0

    result = {"settings": {**sz, "hidden": list(sz["hidden"])}, "reps": reps,
              "machine": f"{platform.machine()} x{os.cpu_count()} cpus"}
    times = pieces(sz, reps)
    times.update(sac_timings(sz, (1, 4, 8), reps))
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0", sys.executable, __file__, "--reps", str(reps),
               "--sac-only-seeds", "1"] + (["--quick"] if args.quick else [])
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        one_core = json.loads(line.strip().splitlines()[-1])
        times.update({f"{k}_one_core": v for k, v in one_core.items()})
    result["seconds"] = times

    t = times
    common = t["env_step"] + t["replay_sample"] + t["eval_per_iter"]
    model = {
        "rl": common + t["sac_rl_plain"],
        "ail": common + t["sac_rl_plain"] + t["disc_update"] + t["relabel"],
        "nail": common + t["sac_nail_plain"] + t["disc_update"] + t["relabel"],
    }
    result["iteration_seconds_model"] = model
    steps = sz["num_envs"]
    print(f"per-iteration pieces ({steps} envs, batch {sz['batch']}, {sz['updates']} SAC updates)")
    for name in ("env_step", "replay_sample", "relabel", "disc_update", "sac_rl_plain",
                 "sac_nail_plain", "eval_per_iter"):
        print(f"  {name:<16} {1e3 * t[name]:8.2f} ms")
    print("sum of pieces per iteration -> env steps/s")
    for name, sec in model.items():
        print(f"  {name:<16} {1e3 * sec:8.2f} ms  {steps / sec:8,.0f}/s  "
              f"({sec / model['rl']:.2f}x rl's time)")
    print("8 NAIL SAC updates, time per seed (throughput against one plain seed)")
    plain = t["sac_nail_plain"]
    print(f"  1 seed, plain    {1e3 * plain:8.2f} ms  (1.00x)")
    for s in (1, 4, 8):
        per = t[f"sac_nail_x{s}"] / s
        print(f"  {s} seed(s), vmap {1e3 * per:8.2f} ms  ({plain / per:.2f}x)")
    if "sac_nail_plain_one_core" in t:
        one = t["sac_nail_plain_one_core"]
        print(f"  1 seed, 1 core   {1e3 * one:8.2f} ms  (2 cores are {one / plain:.2f}x faster)")
    out = args.out or ("runs/profile_quick.json" if args.quick else RESULTS / "profile.json")
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
