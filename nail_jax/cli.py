"""The ``nail-jax`` command line.

    nail-jax train   [--algo nail|ail|bc|rl] [--env E] [--backend B] [--demos D] [--seeds N]
                     [--steps N] [--out DIR] [--preset P] [--set key=value ...]
                     [--overwrite | --resume [DIR]] [--devices N] [--env-shards K]
                     [--coordinator HOST:PORT --num-processes N --process-id I]
    nail-jax expert  [--env E | --preset P] [--steps N] [--out DIR] ...   (train --algo rl)
    nail-jax collect --expert NAME|FILE|DIR --episodes K --out FILE.npz [--stochastic]
    nail-jax eval    RUN_DIR [--episodes N] [--epoch E] [--seed S] [--stochastic]
    nail-jax export  RUN_DIR --out FILE.npz [--seed-index I] [--epoch E]
    nail-jax demos list
    nail-jax demos convert FILE.hdf5 --layout d4rl|minari --out FILE.npz [--env E [--backend B]]
    nail-jax plot RUN_DIR [RUN_DIR ...] --out FILE.png
    nail-jax compare RUN_DIR RUN_DIR [...] [--labels L ...] [--allow-diff KEY ...]
                     [--max-steps N] [--alternative two-sided|greater|less] [--json FILE]
    nail-jax smoke   [--seed S] [--iterations N]

Bad input (unknown env, backend, algo, preset or option; demonstrations that do not fit
the env; non-positive steps; an output directory that already holds a run) ends with a
one-line ``nail-jax: error: ...`` on stderr and exit code 2, before anything is written.
A training that diverges ends with one such line and exit code 3, a file or checkpoint
that cannot be written with exit code 1, and a run stopped by SIGTERM or SIGINT (after
checkpointing its epoch) with ``nail-jax: stopped by ...`` and exit code 128 + signal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"nail-jax: error: {message}\n")


def _parse_sets(items: list[str]) -> dict[str, str]:
    from nail_jax.training.config import ConfigError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _train_config(args, algo: str):
    from nail_jax.training.config import ConfigError, make_config
    from nail_jax.training.presets import PRESETS

    preset = args.preset
    if preset is None and args.env is None:
        preset = "default"  # the preset named by presets.DEFAULT_PRESET
    elif preset is None:  # --env NAME picks the preset of that name
        from nail_jax.envs.registry import check_env

        check_env(args.env, args.backend or "spring")
        if args.env not in PRESETS:
            raise ConfigError(
                f"no preset for env {args.env!r}; choose its settings with --preset NAME (one of: "
                f"{', '.join(PRESETS)}; halfcheetah's settings suit Brax locomotion) and --set")
        preset = args.env
    overrides = _parse_sets(args.set)
    if args.env is not None and preset != args.env and getattr(args, "demos", None) is None:
        overrides.setdefault("demos", args.env)  # the env's bundled demonstrations, if any
    for flag, key in (("env", "env"), ("backend", "backend"), ("demos", "demos"),
                      ("steps", "total_steps")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    return make_config(algo, preset, overrides)


def _command(args) -> str:
    """The command line this run was given (``main``'s argv, as a shell would need it)."""
    return "nail-jax " + " ".join(shlex.quote(a) for a in args.argv)


def _print_summary(summary: dict) -> None:
    key = summary["metric"]
    print(f"\n{summary['algo']} on {summary['env']} ({summary['backend']}), "
          f"{summary.get('budget') or str(summary['total_steps']) + ' env steps'}, "
          f"{summary['num_seeds']} seed(s), "
          f"{summary['wall_time']:.0f} s")
    print(f"{'seed':>4}  {'final ' + key:>18}  {'best ' + key:>18}  {'final return':>12}  "
          f"{'final length':>12}")
    for row in summary["seeds"]:
        seed = summary.get("seed", 0) + row["seed"]  # row["seed"] is the seed's index
        length = row.get("final_eval_length")
        print(f"{seed:>4}  {row['final_' + key]:>18.3f}  {row['best_' + key]:>18.3f}  "
              f"{row['final_eval_return']:>12.2f}  "
              f"{'-' if length is None else format(length, '.1f'):>12}")
    final, best = summary[f"final_{key}"], summary[f"best_{key}"]
    if final and final["sd"] is not None:
        print(f"mean  {final['mean']:>12.3f} +- {final['sd']:.3f}  "
              f"{best['mean']:>11.3f} +- {best['sd']:.3f}  (+- sample SD over seeds)")


def _resume_dir(args):
    """The run directory ``--resume [DIR]`` names (``--out`` when DIR is omitted)."""
    import pathlib

    run_dir = pathlib.Path(args.resume if isinstance(args.resume, str) else args.out or "")
    if not str(run_dir) or str(run_dir) == ".":
        raise ValueError("--resume needs a run directory: --resume DIR or --out DIR")
    return run_dir


def _print_config(args, algo: str) -> int:
    """``--print-config``: the resolved config as JSON (a resumed run's own), then exit."""
    import json

    from nail_jax.running.run_dir import load_run_config
    from nail_jax.training.config import config_to_dict

    if args.resume is not None:
        config = load_run_config(_resume_dir(args))["config"]
    else:
        config = _train_config(args, algo)
    print(json.dumps(config_to_dict(config), indent=2))
    return 0


def _train(args, algo: str | None = None) -> int:
    import pathlib

    from nail_jax.running import parallel as distributed
    from nail_jax.running.driver import run_training

    algo = algo or args.algo
    if args.print_config:
        return _print_config(args, algo)
    # Joining a multi-host run must come before anything touches a device.
    distributed.initialize(distributed.host_config_from_env(
        args.coordinator, args.num_processes, args.process_id, args.distributed_auto))
    if args.resume is not None:
        run_dir = _resume_dir(args)
        given = [f"--{k}" for k in ("env", "backend", "demos", "preset", "set")
                 if getattr(args, k, None)]
        if given:
            raise ValueError(f"--resume continues the run's saved config; drop {', '.join(given)} "
                             "(only --steps may be given, to extend the run)")
        config = None
    elif getattr(args, "allow_changed_demos", False):
        raise ValueError("--allow-changed-demos is for --resume DIR (a new run records the "
                         "demonstrations it starts on)")
    else:
        config = _train_config(args, algo)
        run_dir = pathlib.Path(args.out or f"runs/{algo}-{config.env}-"
                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    summary = run_training(
        config, run_dir, num_seeds=args.seeds, seed=args.seed, resume=args.resume is not None,
        overwrite=args.overwrite, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress,
        total_steps=args.steps if args.resume is not None else None,
        tensorboard=args.tensorboard, devices=args.devices, env_shards=args.env_shards,
        allow_changed_demos=getattr(args, "allow_changed_demos", False),
        command=_command(args))
    if not summary:  # not process 0 of a multi-host run: it writes nothing
        return 0
    _print_summary(summary)
    print(f"wrote {run_dir}/metrics.jsonl and {run_dir}/summary.json")
    return 0


def _load_expert(source: str, seed_index: int):
    """``(ExpertPolicy, env, description)`` of ``--expert``: a run directory (its seed
    ``seed_index``), an expert file, or a bundled expert's name."""
    import pathlib

    from nail_jax.data.experts import load_expert, resolve_expert, sha256
    from nail_jax.envs.registry import make_env
    from nail_jax.running.run_dir import restore_run

    if pathlib.Path(source).is_dir():
        run = restore_run(source, seed_index, score=False)  # acting needs no demos
        return run.expert(seed_index), run.trainer.env, {"expert_run": str(source),
                                                         "expert_seed_index": seed_index}
    path = resolve_expert(source)
    if seed_index != 0:
        raise ValueError(f"--seed-index picks a seed of a run directory; {source} is one policy")
    expert = load_expert(path)
    origin = {"expert": str(source), "expert_sha256": sha256(path)}
    return expert, make_env(expert.env, expert.backend), origin


def _collect(args) -> int:
    import jax
    import numpy as np

    from nail_jax.data.collect import collect_dataset
    from nail_jax.data.datasets import save_dataset
    from nail_jax.envs.episodes import make_episode_runner, random_policy_returns

    if args.episodes < 1:
        raise ValueError(f"--episodes must be positive, got {args.episodes}")
    expert, env, origin = _load_expert(args.expert, args.seed_index)
    policy = expert.policy()
    if args.stochastic:
        def policy_fn(obs, key):
            return policy(obs, key)
    else:
        def policy_fn(obs, key):
            return policy(obs)
    t0 = time.time()
    trained = {k: expert.metadata.get(k) for k in ("run_command", "env_steps", "eval_return",
                                                    "wall_time", "epoch", "seed")}
    data = collect_dataset(env, policy_fn, args.episodes, expert.episode_length,
                           jax.random.PRNGKey(args.seed), metadata={
                               "env": expert.env, "backend": expert.backend,
                               "episode_length": expert.episode_length, **origin,
                               "expert_training": trained,
                               "policy": "stochastic" if args.stochastic else "deterministic",
                               "made_by": _command(args)})
    evaluate = make_episode_runner(env, args.episodes, expert.episode_length, absorbing=False)
    random_returns = np.asarray(random_policy_returns(
        evaluate, env.action_size, jax.random.PRNGKey(args.seed + 1)), np.float64)
    data.metadata["random_return"] = float(np.mean(random_returns))
    data.metadata["random_episode_returns"] = [float(r) for r in random_returns]
    save_dataset(args.out, data)
    meta = data.metadata
    r = np.asarray(meta["episode_returns"])
    lengths = _episode_lengths(data)
    full = int(np.sum(lengths == expert.episode_length))
    print(f"wrote {args.out}: {data.num_episodes} episodes of {expert.env} ({expert.backend}), "
          f"{data.num_steps} steps, in {time.time() - t0:.1f} s")
    print(f"  return {r.mean():.2f} +- {r.std():.2f} (min {r.min():.2f}, max {r.max():.2f}); "
          f"uniform random policy {meta['random_return']:.2f}")
    line = (f"  episode length {lengths.min()}-{lengths.max()} (mean {lengths.mean():.1f}); "
            f"{full} of {data.num_episodes} reach the time limit {expert.episode_length}")
    if "forward_velocity" in meta:
        v = np.asarray(meta["episode_forward_velocities"])
        line += f"; forward velocity {v.mean():.2f} (min {v.min():.2f})"
    print(line)
    return 0


def _episode_lengths(data):
    import numpy as np

    from nail_jax.data.datasets import episode_bounds

    bounds = episode_bounds(data)
    return (bounds[:, 1] - bounds[:, 0]).astype(np.int64)


def _demos_convert(args) -> int:
    import pathlib

    import numpy as np

    from nail_jax.data.convert import read_hdf5
    from nail_jax.data.datasets import DemoError, episode_returns, save_dataset

    out = pathlib.Path(args.out)
    if out.exists():
        raise DemoError(f"{out}: already exists; pass another --out (nothing is overwritten).")
    data = read_hdf5(args.source, args.layout)
    meta = data.metadata
    if args.env is not None:
        from nail_jax.envs.registry import has_backends, make_env

        backend = args.backend or "spring"
        env = make_env(args.env, backend)
        if (data.obs_size, data.action_size) != (env.observation_size, env.action_size):
            raise DemoError(
                f"{args.source}: observation size {data.obs_size} and action size "
                f"{data.action_size}, but env {args.env!r} has {env.observation_size} and "
                f"{env.action_size}; the file was recorded in another env.")
        meta["env"] = args.env
        if has_backends(args.env):
            meta["backend"] = backend
    returns = episode_returns(data)
    meta.setdefault("episode_returns", [float(r) for r in returns])
    meta["made_by"] = _command(args)
    save_dataset(out, data)
    lengths = _episode_lengths(data)
    print(f"wrote {out}: {data.num_episodes} episodes, {data.num_steps} steps (lengths "
          f"{lengths.min()}-{lengths.max()}), observation size {data.obs_size}, action size "
          f"{data.action_size}, return {np.mean(returns):.2f} +- {np.std(returns, ddof=0):.2f} "
          f"(mean +- SD over episodes, from the file's rewards)")
    return 0


def _export(args) -> int:
    from nail_jax.data.experts import save_expert
    from nail_jax.running.run_dir import restore_run

    run = restore_run(args.run, args.seed_index, args.epoch, score=False)
    expert = run.expert(args.seed_index)
    expert.metadata["made_by"] = _command(args)
    path = save_expert(args.out, expert)
    meta = expert.metadata
    ret = meta["eval_return"]
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): the {meta['algo']} policy of "
          f"seed {meta['seed']} at epoch {meta['epoch']} ({meta['env_steps']} env steps"
          + (f", evaluation return {ret:.2f}" if isinstance(ret, (int, float)) else "")
          + f") for {meta['env']} ({meta['backend']})")
    return 0


def _eval(args) -> int:
    from nail_jax.files import write_json_atomic
    from nail_jax.running.evaluation import eval_file, evaluate_run

    t0 = time.time()
    result = evaluate_run(args.run, args.episodes, args.epoch, args.seed, args.stochastic)
    path = eval_file(args.run, result)
    path.parent.mkdir(exist_ok=True)
    write_json_atomic(path, result)
    print(f"{result['algo']} on {result['env']} ({result['backend']}), epoch {result['epoch']} "
          f"({result['env_steps']} env steps), {result['episodes']} episodes per seed, "
          f"{'sampled' if result['stochastic'] else 'deterministic'} actions, "
          f"{time.time() - t0:.0f} s")
    print(f"{'seed':>4}  {'return':>20}  {'score':>7}  {'length':>7}  ended early")
    for row in result["seeds"]:
        score = "-" if row["score"] is None else f"{row['score']:.3f}"
        print(f"{row['seed']:>4}  {row['return_mean']:>10.2f} +- {row['return_std']:<7.2f}  "
              f"{score:>7}  {row['length_mean']:>7.1f}  "
              f"{row['ended_early']} of {result['episodes']}")
    ret, score = result["return"], result["score"]
    if ret["sd"] is not None:  # one seed: its row says it all
        line = f"mean  {ret['mean']:>10.2f} +- {ret['sd']:<7.2f}"
        if score is not None:
            line += f"  {score['mean']:.3f} +- {score['sd']:.3f}"
        print(line + f" (+- sample SD over seeds; time limit {result['episode_length']} steps)")
    print(f"wrote {path}")
    return 0


def _demos_list(args) -> int:
    import numpy as np

    from nail_jax.data.datasets import episode_returns, load_dataset
    from nail_jax.data.demonstrations import bundled_dir, list_bundled
    from nail_jax.data.experts import experts_dir, list_bundled_experts, load_expert, sha256

    experts = {name: experts_dir() / f"{name}.npz" for name in list_bundled_experts()}
    by_hash = {sha256(path): name for name, path in experts.items()}
    names = list_bundled()
    if not names:
        print("no bundled demonstrations")
    else:
        print(f"bundled demonstrations ({bundled_dir()}), each from its expert's "
              "deterministic episodes:")
        print(f"{'name':<18} {'env/backend':<30} {'episodes':>8} {'steps':>6} "
              f"{'expert return':>18} {'random':>8} {'lengths':>9} {'fwd vel':>7}  expert policy")
        made = []
        for name in names:
            data = load_dataset(bundled_dir() / f"{name}.npz")
            meta = data.metadata
            env = f"{meta.get('env', '?')}/{meta.get('backend', '?')}"
            returns = np.asarray(meta.get("episode_returns", episode_returns(data)), np.float64)
            rnd = meta.get("random_return")
            lengths = _episode_lengths(data)
            vel = meta.get("forward_velocity")
            print(f"{name:<18} {env:<30} {data.num_episodes:>8} {data.num_steps:>6} "
                  f"{f'{returns.mean():.2f} +- {returns.std():.2f}':>18} "
                  f"{f'{rnd:.2f}' if isinstance(rnd, (int, float)) else '?':>8} "
                  f"{f'{lengths.min()}-{lengths.max()}':>9} "
                  f"{f'{vel:.2f}' if isinstance(vel, (int, float)) else '-':>7}  "
                  f"{_dataset_expert(name, meta, by_hash, experts)}")
            trained = (meta.get("expert_training") or {}).get("run_command")
            made.append(f"  {name}: {meta.get('made_by', '?')}")
            if trained:
                made.append(f"  {'':<{len(name)}}  expert trained by: {trained}")
        print("how each was made:")
        print("\n".join(made))
    if experts:
        print(f"bundled expert policies ({experts_dir()}), for nail-jax collect --expert NAME:")
        print(f"{'name':<18} {'env/backend':<30} {'trained env steps':>17} {'eval return':>12}")
        for name, path in experts.items():
            meta = load_expert(path).metadata
            ret = meta.get("eval_return")
            print(f"{name:<18} {meta['env'] + '/' + meta['backend']:<30} "
                  f"{meta.get('env_steps') or '?':>17} "
                  f"{f'{ret:.2f}' if isinstance(ret, (int, float)) else '?':>12}")
    return 0


def _dataset_expert(name: str, meta: dict, by_hash: dict, experts: dict) -> str:
    """The bundled expert that made a dataset (by its recorded SHA-256), or the bundled expert
    of the same name retrained with the same command (the one that made it was not kept)."""
    if meta.get("expert_sha256") in by_hash:
        return by_hash[meta["expert_sha256"]]
    return f"{name} (retrained)" if name in experts else "-"


def _plot(args) -> int:
    from nail_jax.running.plotting import plot_runs

    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ValueError("plotting needs matplotlib: pip install 'nail_jax[plot]'") from e
    if args.max_steps is not None and args.max_steps <= 0:
        raise ValueError(f"--max-steps must be positive, got {args.max_steps}")
    out = plot_runs(args.runs, args.out, args.labels, args.max_steps)
    print(f"wrote {out}")
    return 0


def _compare(args) -> int:
    from nail_jax.files import write_json_atomic
    from nail_jax.running.compare import compare, format_comparison

    result = compare(args.runs, args.labels, args.allow_diff or (), args.max_steps,
                     args.alternative, args.reps, args.seed)
    print(format_comparison(result))
    if args.json:
        write_json_atomic(args.json, result)
        print(f"\nwrote {args.json}")
    return 0


def _smoke(args) -> int:
    import jax

    from nail_jax.smoke import run_smoke

    t0 = time.time()
    random_return, eval_returns = run_smoke(jax.random.PRNGKey(args.seed), args.iterations)
    print(f"rl (SAC) on point_mass, {len(eval_returns)} epochs: uniform random policy "
          f"{random_return:.2f}, deterministic return {eval_returns[0]:.2f} -> "
          f"{eval_returns[-1]:.2f} (optimum about -2.5, standing still about -23) "
          f"in {time.time() - t0:.1f} s")
    return 0


def _add_run_args(p: argparse.ArgumentParser, with_algo: bool) -> None:
    from nail_jax.algorithms import ALGORITHMS

    if with_algo:
        default = next(iter(ALGORITHMS))
        p.add_argument("--algo", choices=tuple(ALGORITHMS), default=default,
                       help="; ".join(f"{name}{' (default)' if name == default else ''}: "
                                      f"{a.summary}" for name, a in ALGORITHMS.items()))
    p.add_argument("--env", help="task name (brax env or point_mass); default: the preset's")
    p.add_argument("--backend", help="brax backend: spring, positional, generalized, mjx")
    if with_algo:
        p.add_argument("--demos", help="demonstration .npz file or bundled name")
    p.add_argument("--seeds", type=int, default=1, help="seeds trained at once (vmapped)")
    p.add_argument("--seed", type=int, default=0, help="seed i uses PRNGKey(seed + i)")
    p.add_argument("--steps", type=int, help="environment steps per seed")
    p.add_argument("--out", help="run directory (default runs/ALGO-ENV-TIME)")
    p.add_argument("--preset", help="named config (default: the one named like --env, or "
                                     "'default' without --env)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, e.g. --set sac.discount=0.98 (repeatable)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true",
                       help="start over in a directory holding a run (the old run is moved aside)")
    group.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                       help="continue the run in DIR (or --out) from its latest checkpoint")
    if with_algo:
        p.add_argument("--allow-changed-demos", action="store_true",
                       help="with --resume: continue although the demonstration file is not "
                            "the one the run started on (its SHA-256 differs)")
    p.add_argument("--checkpoint-every", type=int, metavar="K",
                   help="save a checkpoint every K epochs (default 1; a resumed run keeps "
                        "its own)")
    p.add_argument("--keep-checkpoints", type=int, metavar="M",
                   help="keep the M most recent checkpoints (default 2; a resumed run keeps "
                        "its own)")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config as JSON and exit (nothing is trained)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to DIR/tensorboard/seed_<i>")
    scale = p.add_argument_group("devices and hosts")
    scale.add_argument("--devices", type=int, metavar="N",
                       help="devices to shard the seeds over (default: the most of all devices "
                            "that split the seeds evenly)")
    scale.add_argument("--env-shards", type=int, default=1, metavar="K",
                       help="also split each seed's envs over K devices (one big run)")
    scale.add_argument("--coordinator", metavar="HOST:PORT",
                       help="multi-host: process 0's address (or JAX_COORDINATOR_ADDRESS)")
    scale.add_argument("--num-processes", type=int, metavar="N",
                       help="multi-host: number of processes (or JAX_NUM_PROCESSES)")
    scale.add_argument("--process-id", type=int, metavar="I",
                       help="multi-host: this process's id, 0..N-1 (or JAX_PROCESS_ID)")
    scale.add_argument("--distributed-auto", action="store_true",
                       help="multi-host: let JAX detect the cluster (TPU pod, SLURM, Open MPI)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nail-jax",
                     description="Non-adversarial and adversarial imitation learning in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train NAIL, AIL, BC or SAC (rl) on a task")
    _add_run_args(train, with_algo=True)
    train.set_defaults(func=_train)

    expert = sub.add_parser("expert", help="train an SAC expert on the environment reward")
    _add_run_args(expert, with_algo=False)
    expert.set_defaults(func=lambda a: _train(a, algo="rl"))

    collect = sub.add_parser("collect", help="roll out a trained policy into a dataset")
    collect.add_argument("--expert", required=True,
                         help="a bundled expert's name (see nail-jax demos list), an expert "
                              "file (nail-jax export), or a run directory")
    collect.add_argument("--episodes", type=int, required=True)
    collect.add_argument("--out", required=True, help="output .npz file")
    collect.add_argument("--stochastic", action="store_true",
                         help="sample actions instead of the deterministic tanh(mean)")
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--seed-index", type=int, default=0,
                         help="which seed of the expert run to use")
    collect.set_defaults(func=_collect)

    export = sub.add_parser("export", help="write a run's policy to a small expert file")
    export.add_argument("run", help="run directory")
    export.add_argument("--out", required=True, help="output .npz file")
    export.add_argument("--seed-index", type=int, default=0, help="which seed of the run")
    export.add_argument("--epoch", type=int, help="checkpoint epoch (default: the latest)")
    export.set_defaults(func=_export)

    evaluate = sub.add_parser(
        "eval", help="re-evaluate a run's checkpoint on many episodes per seed")
    evaluate.add_argument("run", help="run directory")
    evaluate.add_argument("--episodes", type=int, default=64,
                          help="episodes per seed (default 64)")
    evaluate.add_argument("--epoch", type=int,
                          help="checkpoint epoch (default: the latest)")
    evaluate.add_argument("--seed", type=int, default=0, help="PRNG seed of the episodes")
    evaluate.add_argument("--stochastic", action="store_true",
                          help="sample actions from the policy (default: its mean action)")
    evaluate.set_defaults(func=_eval)
    demos = sub.add_parser(
        "demos", help="bundled demonstration datasets; convert D4RL or Minari files")
    demos_sub = demos.add_subparsers(dest="demos_command", required=True, parser_class=_Parser)
    demos_sub.add_parser("list", help="list bundled datasets").set_defaults(func=_demos_list)
    convert = demos_sub.add_parser(
        "convert", help="convert a D4RL or Minari HDF5 file to this project's .npz",
        description="Convert demonstrations from HDF5 (needs h5py): the D4RL layout (flat "
                    "per-step arrays) or the Minari layout (episode_<i> groups, as in a "
                    "Minari dataset's main_data.hdf5). Observation layouts are not checked: "
                    "only sizes, against --env when given.")
    convert.add_argument("source", help="the .hdf5 file")
    convert.add_argument("--layout", required=True, choices=["d4rl", "minari"])
    convert.add_argument("--out", required=True, help="output .npz file (must not exist)")
    convert.add_argument("--env", help="check sizes against this env and record it")
    convert.add_argument("--backend", help="the env's backend (default spring)")
    convert.set_defaults(func=_demos_convert)

    plot = sub.add_parser("plot", help="plot score and discriminator BCE of runs")
    plot.add_argument("runs", nargs="+", help="run directories")
    plot.add_argument("--out", required=True, help="output image, e.g. curves.png")
    plot.add_argument("--labels", nargs="+", help="one label per run (default: algo and dir)")
    plot.add_argument("--max-steps", type=int,
                      help="draw each run up to this many env steps (default: all)")
    plot.set_defaults(func=_plot)

    comp = sub.add_parser(
        "compare", help="compare groups of runs: final, last-10, AUC; IQM, CIs, tests",
        description="Compare groups of runs from their run directories: per seed the final "
                    "evaluation, the mean of the last 10 and of all (AUC); per group the mean, "
                    "sample SD, IQM with a 95%% bootstrap CI (rliable); per pair of groups the "
                    "probability of improvement and, for two groups, an exact permutation "
                    "test. Refuses runs that differ in more than the algorithm.")
    comp.add_argument("runs", nargs="+", help="run directories")
    comp.add_argument("--labels", nargs="+",
                      help="one label per run directory; runs with the same label form one "
                           "group (default: each directory's name)")
    comp.add_argument("--allow-diff", nargs="+", metavar="KEY",
                      help="config keys the groups may differ in besides algo (e.g. nail.kl)")
    comp.add_argument("--max-steps", type=int,
                      help="compare at this many env steps (evaluations after it are left out)")
    comp.add_argument("--alternative", default="two-sided",
                      choices=["two-sided", "greater", "less"],
                      help="the permutation test's alternative, for the first group against "
                           "the second (default two-sided)")
    comp.add_argument("--json", help="also write the comparison, with per-seed values, here")
    comp.add_argument("--reps", type=int, default=5_000,
                      help="bootstrap resamples (default 5000)")
    comp.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    comp.set_defaults(func=_compare)

    smoke = sub.add_parser("smoke", help="the trainer's rl (SAC) on the point mass (~15 s)")
    smoke.add_argument("--seed", type=int, default=0)
    smoke.add_argument("--iterations", type=int, default=600,
                       help="vectorised env steps after warm-up, in epochs of 50 (default 600)")
    smoke.set_defaults(func=_smoke)
    return parser


# The Python names of the arguments that errors name (nail_jax.checks.ArgumentError), and
# the flags they are given by here.
FLAGS = {"num_seeds": "--seeds", "total_steps": "--steps", "run_dir": "--out",
         "resume": "--resume", "overwrite": "--overwrite",
         "checkpoint_every": "--checkpoint-every", "keep_checkpoints": "--keep-checkpoints",
         "num_devices": "--devices", "env_shards": "--env-shards",
         "num_episodes": "--episodes", "coordinator": "--coordinator",
         "num_processes": "--num-processes", "process_id": "--process-id",
         "allow_changed_demos": "--allow-changed-demos"}


def main(argv: list[str] | None = None) -> int:
    from nail_jax.checks import ArgumentError
    from nail_jax.data.datasets import DemoError
    from nail_jax.running.checkpoint import CheckpointError
    from nail_jax.running.run_dir import RunError
    from nail_jax.running.safety import DivergenceError, RunStopped, RunWriteError
    from nail_jax.training.config import ConfigError

    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["train"]
    args = build_parser().parse_args(argv)
    args.argv = list(argv)
    try:
        return args.func(args)
    except DivergenceError as e:  # summary.json holds the epochs before
        print(f"nail-jax: error: {e}", file=sys.stderr)
        return 3
    except RunStopped as e:  # its epoch is checkpointed
        print(f"nail-jax: {e}", file=sys.stderr)
        return e.exit_code
    except RunWriteError as e:
        print(f"nail-jax: error: {e}", file=sys.stderr)
        return 1
    except (ConfigError, DemoError, RunError, CheckpointError, ValueError) as e:
        message = e.worded(FLAGS) if isinstance(e, ArgumentError) else str(e)
        print(f"nail-jax: error: {message}", file=sys.stderr)
        return 2
    except OSError as e:  # a write outside a run's files (eval, collect, export, plot)
        print(f"nail-jax: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
