"""Sharding seeds and envs over devices (``nail_jax.running.parallel``).

The multi-device checks run in a subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``: the flag must be set before JAX
starts, and this test process already has its single CPU device.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from nail_jax import cli
from nail_jax.running import parallel as dist

TINY_SETS = [
    "num_envs=4", "epoch_steps=40", "warmup_steps=16", "batch_size=16", "replay_capacity=400",
    "sac_updates_per_iteration=2", "num_eval_episodes=2", "sac.hidden_sizes=16,16",
    "disc.hidden_sizes=16,16",
]

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax
    import numpy as np
    from jax.sharding import PartitionSpec as P
    from nail_jax.running import parallel as dist
    from nail_jax.training.config import make_config
    from nail_jax.running.parallel import make_sharded_functions, seed_keys
    from nail_jax.running.run_dir import read_metrics
    from nail_jax.running.driver import run_training
    from nail_jax.training.trainer import build

    out = sys.argv[1]
    sets = json.loads(sys.argv[2])
    # Repeated layouts compile the same programs: let the on-disk cache serve them.
    jax.config.update("jax_compilation_cache_dir", f"{out}/xla_cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    tiny = dict(s.split("=", 1) for s in sets)

    def config(steps):
        return make_config("nail", "point_mass", {**tiny, "total_steps": str(steps)})

    def metrics(run_dir):
        return [{k: v for k, v in r.items() if k not in ("epoch_time", "wall_time")}
                for r in read_metrics(run_dir)]

    def run(name, steps=96, **kw):
        run_training(config(steps), f"{out}/{name}", progress=False, log=lambda _: None, **kw)
        return metrics(f"{out}/{name}")

    result = {"devices": len(jax.devices())}
    result["one_device"] = run("one", num_seeds=4, devices=1)
    result["four_devices"] = run("four", num_seeds=4, devices=4)
    result["default_devices"] = json.load(open(f"{out}/four/config.json"))["layout"]
    from nail_jax.envs.registry import make_env
    from nail_jax.running.run_dir import load_policy
    policy, _ = load_policy(f"{out}/four", seed_index=3)  # saved on 4 devices, loaded on 1
    obs = np.zeros((2, make_env("point_mass", "spring").observation_size), np.float32)
    result["policy_action_shape"] = list(np.asarray(policy(obs)).shape)
    result["env_sharded"] = run("envs", num_seeds=2, devices=4, env_shards=2)
    # 2 epochs on 4 devices, then resumed to 4 epochs on 2 devices, against 4 straight.
    result["straight"] = run("straight", steps=176, num_seeds=4, devices=1)
    run("part", steps=96, num_seeds=4, devices=4)
    run_training(None, f"{out}/part", resume=True, total_steps=176, devices=2,
                 progress=False, log=lambda _: None)
    result["resumed"] = metrics(f"{out}/part")

    # Where the state lives.
    trainer, expert = build(config(96))
    mesh = dist.make_mesh(4, 4, num_envs=4)
    fns = make_sharded_functions(trainer, expert, mesh, seed_keys(0, 4))
    state = fns.init(fns.keys, fns.pairs)
    leaf = state.sac.policy_params["params"]["MLP_0"]["dense_0"]["kernel"]
    replay = jax.tree.leaves(state.replay)[0]
    result["param_spec"] = list(leaf.sharding.spec)
    result["param_shards"] = sorted((s.device.id, s.data.shape[0]) for s in leaf.addressable_shards)
    result["replay_spec"] = list(replay.sharding.spec)
    result["replay_shard_rows"] = sorted(s.data.shape[0] for s in replay.addressable_shards)
    state, m = fns.run_epoch(state, fns.pairs, fns.evaluates(1))
    result["after_epoch_spec"] = list(state.replay.size.sharding.spec)
    result["metrics_spec"] = list(m["score"].sharding.spec)
    mesh_e = dist.make_mesh(2, 4, env_shards=2, num_envs=4)
    fns_e = make_sharded_functions(trainer, expert, mesh_e, seed_keys(0, 2))
    state_e = fns_e.init(fns_e.keys, fns_e.pairs)
    result["env_spec"] = list(state_e.env.steps.sharding.spec)
    result["env_shard_shape"] = list(state_e.env.steps.addressable_shards[0].data.shape)
    errors = {}
    for name, kw in {"too_many": dict(num_seeds=4, devices=8),
                     "not_dividing": dict(num_seeds=3, devices=2)}.items():
        try:
            run_training(config(96), f"{out}/err_{name}", progress=False, log=lambda _: None, **kw)
        except ValueError as e:
            errors[name] = str(e)
    result["errors"] = errors
    import pathlib
    result["error_dirs_exist"] = [pathlib.Path(f"{out}/err_{n}").exists() for n in errors]
    json.dump(result, open(f"{out}/result.json", "w"))
""")


def _without_times(records):
    return [{k: v for k, v in r.items() if k not in ("epoch_time", "wall_time")}
            for r in records]


def _close(a, b, rtol=1e-4, atol=1e-5):
    """Per-seed metric records equal up to float32 round-off of different kernels."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if isinstance(ra[k], float) and isinstance(rb[k], float):
                assert abs(ra[k] - rb[k]) <= atol + rtol * abs(rb[k]), (k, ra, rb)
            else:
                assert ra[k] == rb[k], (k, ra, rb)


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    script = out / "script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(script), str(out), json.dumps(TINY_SETS)],
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_four_forced_cpu_devices_exist(four_devices):
    assert four_devices["devices"] == 4
    assert four_devices["policy_action_shape"] == [2, 2]  # load_policy of a sharded run
    assert "4 cpu device(s) (mesh: seed 4 x env 1)" in four_devices["default_devices"]


@pytest.mark.slow
def test_seeds_sharded_over_four_devices_give_the_unsharded_metrics(four_devices):
    assert len(four_devices["one_device"]) == 4 * 2  # 2 epochs x 4 seeds
    _close(four_devices["four_devices"], four_devices["one_device"])


@pytest.mark.slow
def test_envs_sharded_too_give_the_same_per_seed_metrics(four_devices):
    first_two = [r for r in four_devices["one_device"] if r["seed"] < 2]
    _close(four_devices["env_sharded"], first_two)


@pytest.mark.slow
def test_resume_on_another_device_count_continues_the_run(four_devices):
    assert len(four_devices["straight"]) == 4 * 4
    # Per-device kernels round differently (batch 4 on one device vs 1 or 2 per device);
    # training amplifies the 1e-7 differences to ~2e-4 by epoch 4, as in the vmap test.
    _close(four_devices["resumed"], four_devices["straight"], rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_train_state_and_replay_really_are_sharded(four_devices):
    assert four_devices["param_spec"] == ["seed"]
    # one seed's row on each of the four devices
    assert four_devices["param_shards"] == [[0, 1], [1, 1], [2, 1], [3, 1]]
    assert four_devices["replay_spec"] == ["seed"]
    assert four_devices["replay_shard_rows"] == [1, 1, 1, 1]
    assert four_devices["after_epoch_spec"] == ["seed"]
    assert four_devices["metrics_spec"] == ["seed"]
    assert four_devices["env_spec"] == ["seed", "env"]
    assert four_devices["env_shard_shape"] == [1, 2]  # 1 seed x 2 of its 4 envs


@pytest.mark.slow
def test_bad_layouts_fail_before_anything_is_written(four_devices):
    errors = four_devices["errors"]
    assert "devices 8 asks for more devices than exist: 4 cpu" in errors["too_many"]
    assert "pass devices 4 or fewer" in errors["too_many"]  # run_training's argument
    assert "3 seed(s) do not divide over 2 device(s)" in errors["not_dividing"]
    assert four_devices["error_dirs_exist"] == [False, False]


def test_default_device_count_splits_the_seeds_evenly():
    assert dist.choose_devices(num_seeds=4, available=8) == 4
    assert dist.choose_devices(num_seeds=8, available=8) == 8
    assert dist.choose_devices(num_seeds=6, available=4) == 3
    assert dist.choose_devices(num_seeds=5, available=4) == 1
    assert dist.choose_devices(num_seeds=4, available=8, env_shards=2) == 8
    assert dist.choose_devices(num_seeds=1, available=8, env_shards=8) == 8


def test_mesh_errors_before_any_mesh_is_built():
    n = len(jax.devices())
    with pytest.raises(dist.DistributedError, match="asks for more devices than exist"):
        dist.make_mesh(num_seeds=4, num_devices=n + 1)
    fake = [jax.devices()[0]] * 4  # the checks run before the devices are used
    with pytest.raises(dist.DistributedError, match="3 seed.s. do not divide over 2 device"):
        dist.make_mesh(num_seeds=3, num_devices=2, devices=fake)
    with pytest.raises(dist.DistributedError, match="num_envs 6 does not divide"):
        dist.make_mesh(num_seeds=2, num_devices=4, env_shards=4, num_envs=6, devices=fake)
    with pytest.raises(dist.DistributedError, match="4 does not split into env_shards 3"):
        dist.make_mesh(num_seeds=2, num_devices=4, env_shards=3, devices=fake)
    mesh = dist.make_mesh(num_seeds=3)
    assert mesh.axis_names == ("seed", "env") and mesh.devices.size == 1


@pytest.mark.parametrize("kwargs, environ, message", [
    (dict(num_processes=2), {}, "needs the coordinator's address"),
    (dict(num_processes=2, coordinator="h:1"), {}, "needs each process's id"),
    (dict(num_processes=2, coordinator="h:1", process_id=2), {}, "out of range"),
    (dict(coordinator="h:1"), {}, "without the number of processes"),
    ({}, {"JAX_NUM_PROCESSES": "two"}, "JAX_NUM_PROCESSES='two' is not a valid int"),
    ({}, {"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}, "needs the coordinator's address"),
])
def test_multi_host_launch_errors(kwargs, environ, message):
    with pytest.raises(dist.DistributedError, match=message):
        dist.host_config_from_env(environ=environ, **kwargs)


def test_multi_host_config_from_environment():
    host = dist.host_config_from_env(environ={
        "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
        "JAX_PROCESS_ID": "1"})
    assert host == dist.HostConfig("10.0.0.1:1234", 2, 1)
    assert dist.host_config_from_env(environ={}) == dist.HostConfig()


@pytest.mark.parametrize("argv, message", [
    (["--devices", "64"], "--devices 64 asks for more devices than exist"),
    (["--env-shards", "0"], "--env-shards must be at least 1"),
    (["--num-processes", "2"], "needs the coordinator's address"),
])
def test_cli_rejects_bad_layouts_in_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    code = cli.main(["train", "--env", "point_mass", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("nail-jax: error:") and message in err
    assert not out.exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_one_run_and_only_process_zero_writes(tmp_path):
    """A 2-host launch on this machine (2 processes x 2 CPU devices, gloo collectives)
    gives the single-process metrics; a single process resumes its checkpoint."""
    sets = [a for s in TINY_SETS for a in ("--set", s)]
    common = ["train", "--env", "point_mass", "--seeds", "4", "--steps", "96", *sets,
              "--no-progress"]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "JAX_PLATFORMS": "cpu"}
    port = _free_port()
    launch = [sys.executable, "-m", "nail_jax.cli", *common, "--out", str(tmp_path / "multi"),
              "--coordinator", f"localhost:{port}", "--num-processes", "2"]
    procs = [subprocess.Popen([*launch, "--process-id", str(i)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert "wrote" in outs[0][0] and "wrote" not in outs[1][0]  # process 1 prints no summary
    config = json.loads((tmp_path / "multi" / "config.json").read_text())
    assert "4 cpu device(s) (mesh: seed 4 x env 1), 2 process(es)" in config["layout"]

    from nail_jax.running.run_dir import read_metrics

    # The one-process reference runs on the launch's platform (CPU): on a GPU host an
    # in-process run would compare GPU kernels with CPU ones (1e-3 apart on an H200).
    single = tmp_path / "single"
    proc = subprocess.run([sys.executable, "-m", "nail_jax.cli", *common, "--out", str(single)],
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _close(_without_times(read_metrics(tmp_path / "multi")),
           _without_times(read_metrics(single)))
    # The 2-host checkpoint resumes in one process on this one device.
    assert cli.main(["train", "--resume", str(tmp_path / "multi"), "--steps", "136",
                     "--no-progress"]) == 0
    assert len(read_metrics(tmp_path / "multi")) == 4 * 3
