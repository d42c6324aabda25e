"""Speed benchmark: nail_jax against brax's own SAC on the same env and settings.

    python experiments/benchmark.py                       # halfcheetah/spring, all cases
    python experiments/benchmark.py --cases raw_env nail  # a subset
    python experiments/benchmark.py --quick               # tiny sizes: checks that it runs

Cases (each in its own process, so that peak memory is its own):
  raw_env      jit(vmap(env.step)) with random actions: the ceiling for any trainer
  brax_sac     brax.training.agents.sac.train (with a shim for jax.device_put_replicated)
  rl, ail, nail    nail_jax's trainer, 1 seed
  nail_x4, nail_x8 nail with 4 and 8 seeds vmapped in one program
  nail_x32     nail with 32 seeds vmapped (not in the default list: for accelerators)
  nail_x4_4dev nail with 4 seeds sharded over 4 devices (on a CPU: 4 forced host devices)

All use the same env, backend, ``num_envs``, batch size, learning rate, discount and SAC
updates per env step (the ``halfcheetah`` preset: 64 envs, batch 256, 8 updates per 64 env
steps). Throughput is env steps per second after compilation: for nail_jax the median of
whole epochs after the first (an epoch includes its evaluation of 8 episodes of 1,000
steps), and "train-only" the median of further epochs run without the evaluation (the
program's ``evaluate`` flag off, as ``eval_every`` does between evaluations; same program,
no recompilation); for brax the ``training/sps`` of its second training epoch (brax times
its evaluation apart), so "train-only" is the like-for-like comparison.
"Startup" is everything before the steady state: compilation, warm-up, the first epoch's
excess. Seeds run one after another would each get the 1-seed throughput, so the 1-seed
rate is the sequential baseline of the vmapped rows. Peak memory: the process's maximum
resident set (host) and, on an accelerator, ``peak_bytes_in_use`` of device 0.

Writes a JSON file (``--out``) and prints a table with each row's ratio to brax's SAC.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_CASES = ("raw_env", "brax_sac", "rl", "ail", "nail", "nail_x4", "nail_x8", "nail_x4_4dev")
CASES = (*DEFAULT_CASES, "nail_x32")
SEEDS = {"nail_x4": 4, "nail_x8": 8, "nail_x4_4dev": 4, "nail_x32": 32}


def _settings(args) -> dict:
    if args.quick:
        return {"env": args.env, "backend": args.backend, "num_envs": 8, "batch_size": 32,
                "updates": 2, "epoch_steps": 256, "warmup_steps": 256, "epochs": 3,
                "replay": 10_000, "learning_rate": 6e-4, "discount": 0.99, "raw_steps": 50}
    return {"env": args.env, "backend": args.backend, "num_envs": 64, "batch_size": 256,
            "updates": 8, "epoch_steps": args.epoch_steps, "warmup_steps": 8_192,
            "epochs": 3, "replay": 1_000_000, "learning_rate": 6e-4, "discount": 0.99,
            "raw_steps": 500}


def _memory() -> dict:
    import jax

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["device_peak_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out


def run_raw_env(s: dict) -> dict:
    import jax

    from nail_jax.envs.registry import make_env

    env = make_env(s["env"], s["backend"])
    n, steps = s["num_envs"], s["raw_steps"]

    def rollout(state, key):
        def body(st, k):
            action = jax.random.uniform(k, (n, env.action_size), minval=-1.0, maxval=1.0)
            return jax.vmap(env.step)(st, action), None
        state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state

    t0 = time.time()
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))
    run = jax.jit(rollout)
    state = jax.block_until_ready(run(state, jax.random.PRNGKey(1)))
    startup = time.time() - t0
    times = []
    for i in range(3):
        t = time.time()
        state = jax.block_until_ready(run(state, jax.random.PRNGKey(2 + i)))
        times.append(time.time() - t)
    return {"steps_per_s": n * steps / statistics.median(times), "startup_s": startup}


def run_brax_sac(s: dict) -> dict:
    import functools

    import jax
    import jax.numpy as jnp
    from brax.training.agents.sac import train as sac_train

    from nail_jax.envs.registry import make_env

    if not hasattr(jax, "device_put_replicated"):  # removed from jax; brax 0.14 still calls it
        def device_put_replicated(x, devices):
            stacked = jax.tree.map(lambda a: jnp.stack([a] * len(devices)), x)
            return jax.device_put(stacked, devices[0]) if len(devices) == 1 else stacked
        jax.device_put_replicated = device_put_replicated

    env = make_env(s["env"], s["backend"])
    per_epoch = s["epoch_steps"] * 2
    records = []
    t0 = time.time()

    def progress(step, metrics):
        records.append((time.time() - t0, step, {k: float(v) for k, v in metrics.items()}))

    train = functools.partial(
        sac_train.train, num_timesteps=s["warmup_steps"] + 2 * per_epoch, num_evals=3,
        episode_length=1000, num_envs=s["num_envs"], num_eval_envs=8,
        learning_rate=s["learning_rate"], discounting=s["discount"],
        batch_size=s["batch_size"], grad_updates_per_step=s["updates"],
        min_replay_size=s["warmup_steps"], max_replay_size=s["replay"],
        normalize_observations=True, reward_scaling=1.0, seed=0, progress_fn=progress)
    train(environment=env)
    total = time.time() - t0
    sps = records[-1][2]["training/sps"]  # the second training epoch: compiled already
    return {"steps_per_s": sps, "startup_s": total - 2 * per_epoch / sps,
            "eval_return": records[-1][2].get("eval/episode_reward")}


def run_nail_jax(s: dict, algo: str, num_seeds: int, devices: int) -> dict:
    import jax

    from nail_jax.running import parallel as dist
    from nail_jax.running.parallel import make_sharded_functions, seed_keys
    from nail_jax.training.config import make_config
    from nail_jax.training.trainer import build

    overrides = {
        "env": s["env"], "backend": s["backend"], "num_envs": s["num_envs"],
        "batch_size": s["batch_size"], "sac_updates_per_iteration": s["updates"],
        "epoch_steps": s["epoch_steps"], "warmup_steps": s["warmup_steps"],
        "total_steps": s["warmup_steps"] + 2 * s["epochs"] * s["epoch_steps"],
        "replay_capacity": s["replay"], "sac.discount": s["discount"],
        "sac.policy_learning_rate": s["learning_rate"],
        "sac.critic_learning_rate": s["learning_rate"],
    }
    preset = s["env"] if s["env"] in ("halfcheetah", "hopper") else None
    if preset is None:
        overrides["demos"] = s["env"]
    config = make_config(algo, preset, overrides)
    t0 = time.time()
    trainer, expert = build(config)
    mesh = dist.make_mesh(num_seeds, devices, num_envs=config.num_envs)
    fns = make_sharded_functions(trainer, expert, mesh, seed_keys(0, num_seeds))
    state = jax.block_until_ready(fns.init(fns.keys, fns.pairs))

    def timed_epochs(evaluate: bool) -> list[float]:
        nonlocal state
        flag, times = fns.flag(evaluate), []
        for _ in range(s["epochs"]):
            t = time.time()
            state, metrics = fns.run_epoch(state, fns.pairs, flag)
            jax.block_until_ready(metrics)
            times.append(time.time() - t)
        return times

    times = timed_epochs(True)
    total = time.time() - t0
    train_times = timed_epochs(False)  # the same compiled program, evaluation skipped
    steady = statistics.median(times[1:])
    train = statistics.median(train_times)  # no compilation: no warm-up epoch to leave out
    return {"steps_per_s": num_seeds * s["epoch_steps"] / steady,
            "train_steps_per_s": num_seeds * s["epoch_steps"] / train,
            "eval_s": steady - train, "startup_s": total - sum(times[1:]) - (times[0] - steady),
            "epoch_s": times, "train_epoch_s": train_times, "layout": dist.describe(mesh)}


def run_case(name: str, s: dict) -> dict:
    if name == "raw_env":
        result = run_raw_env(s)
    elif name == "brax_sac":
        result = run_brax_sac(s)
    else:
        algo = name.split("_")[0]
        result = run_nail_jax(s, algo, SEEDS.get(name, 1), 4 if name.endswith("4dev") else 1)
    import jax

    machine = {"device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
               "jax": jax.__version__}
    return {**result, **_memory(), "machine": machine}


def _child(name: str, s: dict, timeout: int) -> dict:
    env = dict(os.environ)
    if name.endswith("4dev"):  # makes 4 CPU devices; a GPU/TPU host uses its own devices
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_force_host_platform_device_count=4").strip()
    cmd = [sys.executable, __file__, "--child", name, "--settings", json.dumps(s)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1][len("RESULT "):])


def _table(results: dict, s: dict) -> str:
    base = results.get("brax_sac", {}).get("steps_per_s")
    one = results.get("nail", {}).get("steps_per_s")
    rows = [f"{'case':<14}{'seeds':>6}{'env steps/s':>13}{'per seed':>10}{'vs brax SAC':>13}"
            f"{'train-only/s':>14}{'vs brax':>9}{'vs 1 seed':>11}{'startup s':>11}"
            f"{'peak RSS MB':>13}{'device MB':>11}"]
    for name, r in results.items():
        if "error" in r:
            rows.append(f"{name:<14} failed: {r['error']}")
            continue
        seeds = SEEDS.get(name, 1)
        sps = r["steps_per_s"]
        train = r.get("train_steps_per_s", sps) if name != "raw_env" else None
        ratio = f"{sps / base:.2f}x" if base else "-"
        train_ratio = f"{train / base:.2f}x" if base and train else "-"
        train_text = f"{train:,.0f}" if train else "-"
        vs_one = f"{sps / one:.2f}x" if one and name.startswith("nail") else "-"
        device = f"{r['device_peak_mb']:.0f}" if "device_peak_mb" in r else "-"
        rows.append(f"{name:<14}{seeds:>6}{sps:>13,.0f}{sps / seeds:>10,.0f}{ratio:>13}"
                    f"{train_text:>14}{train_ratio:>9}{vs_one:>11}{r['startup_s']:>11.1f}"
                    f"{r['peak_rss_mb']:>13,.0f}{device:>11}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--backend", default="spring")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(DEFAULT_CASES))
    parser.add_argument("--epoch-steps", type=int, default=5_120,
                        help="env steps per timed epoch (nail_jax) and per brax epoch / 2")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--out", default="experiments/results/benchmark.json")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per case")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_case(args.child, json.loads(args.settings))), flush=True)
        return 0

    # This process never touches JAX: on a GPU it would hold device memory the cases need.
    s = _settings(args)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count()}
    save = not args.quick or args.out != parser.get_default("out")
    results = {}
    for name in args.cases:
        t = time.time()
        results[name] = _child(name, s, args.timeout)
        print(f"{name}: {results[name]} ({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
        machine.update(results[name].pop("machine", {}))
        table = _table(results, s)
        if save:  # after every case, so that a run cut short keeps what it measured
            os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
            with open(args.out, "w") as f:
                json.dump({"settings": s, "machine": machine, "results": results,
                           "table": table}, f, indent=2)
    print(f"\n{s['env']} ({s['backend']}), {s['num_envs']} envs, batch {s['batch_size']}, "
          f"{s['updates']} SAC updates per {s['num_envs']} env steps, "
          f"{machine.get('device', '?')} x{os.cpu_count()} cpus\n{table}")
    if save:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
