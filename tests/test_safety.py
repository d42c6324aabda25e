"""Runs that fail safely (``nail_jax.running.safety`` and the driver): divergence, stop
signals, changed demonstrations on resume, failed writes.

The fault table of ``docs/guide.md`` ("When a run fails") is what these tests measure.
"""

import dataclasses
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from test_cli import STEPS_2, STEPS_4, TINY, _strip_times, _train

import nail_jax as nj
from nail_jax import cli
from nail_jax.data.datasets import load_dataset, save_dataset
from nail_jax.data.demonstrations import bundled_dir, select_episodes
from nail_jax.data.experts import sha256
from nail_jax.running import driver
from nail_jax.running.run_dir import demos_fingerprint, read_metrics
from nail_jax.running.safety import DivergenceError, find_divergence
from nail_jax.training.config import make_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def _checkpoints(out):
    return sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())


def _err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _inject(monkeypatch, at_call, change):
    """Wraps the driver's ``run_epoch`` so that its ``at_call``-th call (1-based) returns
    ``change(state, metrics)`` in place of its results."""
    real = driver.build_functions
    calls = []

    def build_functions(plan, mesh):
        fns, demos_record = real(plan, mesh)

        def run_epoch(state, demos, evaluate):
            state, metrics = fns.run_epoch(state, demos, evaluate)
            calls.append(1)
            return change(state, metrics) if len(calls) == at_call else (state, metrics)

        return dataclasses.replace(fns, run_epoch=run_epoch), demos_record

    monkeypatch.setattr(driver, "build_functions", build_functions)


# --------------------------------------------------------------------------- divergence


def test_find_divergence_order_evaluation_and_seed_numbering():
    """The check itself, on hand-made host values of 3 seeds: training metrics in the order
    an iteration computes them (critic before actor, whatever the alphabet says), then the
    learned parts, then the evaluation; evaluation metrics that are nan by design (no
    evaluation this epoch) are not divergence; seeds are numbered from the base seed.
    Catches an alphabetical or seed-first search, and a check that stops eval_every runs."""
    finite = {"policy_params": np.array([True, True, True])}
    base = {"actor_loss": np.array([0.1, np.nan, 0.2]), "critic_loss": np.array([1.0, 2.0, np.inf]),
            "eval_return": np.full(3, np.nan), "score": np.full(3, np.nan),
            "env_steps": np.array([56, 56, 56])}
    found = find_divergence(base, finite, False, 4, 10, 3, "run")
    assert (found.name, found.value, found.seed, found.seed_index) == ("critic_loss", "inf", 12, 2)
    assert found.seeds == (11, 12) and not found.environment
    assert str(found) == ("training diverged at epoch 4 (critic_loss is inf, seed 12); the last "
                          "good checkpoint is epoch 3 in run")
    ok = {"critic_loss": np.ones(3), "eval_return": np.full(3, np.nan)}
    assert find_divergence(ok, finite, False, 4, 0, 3, "run") is None  # skipped evaluation
    env = find_divergence(ok, finite, True, 4, 0, None, "run")
    assert (env.name, env.value, env.seed, env.environment) == ("eval_return", "nan", 0, True)
    assert "the environment gave a non-finite reward" in str(env)
    assert str(env).endswith("no checkpoint was saved before it in run")
    broken = {"q_params": np.array([True, False, True])}
    state = find_divergence({"critic_loss": np.ones(3)}, broken, True, 2, 0, 1, "run")
    assert (state.name, state.value, state.seed) == ("q_params", "not finite", 1)


def test_a_run_that_diverges_stops_with_exit_3_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                                   capsys):
    """A real divergence (a reward scale of 5e18 overflows the critic loss at epoch 3 of this
    run): exit 3 and one line naming the epoch, metric, seed and last good checkpoint; the
    diverged epoch is not checkpointed; metrics.jsonl keeps that epoch's record (the
    overflow as null) and nothing after; summary.json holds the epochs before it. Catches
    NaN scores being written for hours, and a saved diverged state."""
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_4, "--set", "sac.reward_scale=5e18") == 3
    err = _err_line(capsys)
    records = read_metrics(out)
    epoch = records[-1]["epoch"]
    assert records[-1]["critic_loss"] is None
    assert all(r["critic_loss"] is not None for r in records[:-1])
    assert epoch > 1, "the injected divergence should come after a checkpoint"
    assert err == (f"nail-jax: error: training diverged at epoch {epoch} (critic_loss is inf, "
                   f"seed 0); the last good checkpoint is epoch {epoch - 1} in {out}")
    assert _checkpoints(out) == list(range(1, epoch))[-2:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"] == {"epoch": epoch, "name": "critic_loss", "value": "inf",
                                   "seed": 0, "seeds": [0], "environment": False,
                                   "last_checkpoint": epoch - 1}
    (seed,) = summary["seeds"]
    assert seed["final_score"] == records[-2]["score"]


@pytest.mark.parametrize("where", ["metric", "state"])
def test_divergence_names_the_first_seed_of_vmapped_seeds(tmp_path, monkeypatch, where):
    """Two vmapped seeds (base seed 5): a nan planted at epoch 2 in seed index 1 only, in
    the critic and actor losses, or in the policy parameters with every metric finite.
    The Python API raises DivergenceError naming seed 6 and the critic loss (before the
    actor's) or ``policy_params``; checkpoint 2 is not saved; summary.json has epoch 1.
    Catches a check on seed 0 only, a check of the metrics alone, and saving the epoch."""
    def plant(state, metrics):
        if where == "metric":
            for key in ("critic_loss", "actor_loss"):
                metrics = {**metrics, key: metrics[key].at[1].set(jnp.nan)}
            return state, metrics
        nan_policy = jax.tree.map(lambda x: x.at[1].set(jnp.nan), state.sac.policy_params)
        return state.replace(sac=state.sac.replace(policy_params=nan_policy)), metrics

    _inject(monkeypatch, 2, plant)
    config = make_config("nail", "point_mass", {
        "num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": int(STEPS_4),
        "batch_size": 16, "replay_capacity": 400, "num_eval_episodes": 2,
        "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16)})
    out = tmp_path / "run"
    with pytest.raises(DivergenceError) as caught:
        nj.run_training(config, out, num_seeds=2, seed=5, progress=False, log=lambda _: None)
    e = caught.value
    name, value = ("critic_loss", "nan") if where == "metric" else ("policy_params", "not finite")
    assert (e.epoch, e.name, e.value, e.seed, e.seed_index, e.seeds) == (2, name, value, 6, 1, (6,))
    assert e.last_checkpoint == 1 and _checkpoints(out) == [1]
    assert str(e) == (f"training diverged at epoch 2 ({name} is {value}, seed 6); the last good "
                      f"checkpoint is epoch 1 in {out}")
    assert [s["env_steps"] for s in e.summary["seeds"]] == [56, 56]
    assert json.loads((out / "summary.json").read_text()) == e.summary


class _NanReward:
    """An env whose reward is nan at every step: a physics engine that blew up."""

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, key):
        return self.env.reset(key)

    def step(self, state, action):
        return self.env.step(state, action).replace(reward=jnp.full((), jnp.nan))


def test_a_nan_return_of_live_evaluation_episodes_is_the_environment_diverging(tmp_path,
                                                                            monkeypatch):
    """NAIL trains on its relabelled rewards, so an env with nan rewards leaves the
    learners finite, but its evaluation returns (and the random policy's) are nan: that
    is divergence of the environment, named by the evaluation's return, at epoch 1.
    Catches nan scores averaged away or logged as null while training goes on."""
    import nail_jax.training.trainer as trainer_module

    real = trainer_module.make_env
    monkeypatch.setattr(trainer_module, "make_env", lambda *a: _NanReward(real(*a)))
    config = make_config("nail", "point_mass", {
        "num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": int(STEPS_4),
        "batch_size": 16, "replay_capacity": 400, "num_eval_episodes": 2,
        "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16)})
    with pytest.raises(DivergenceError) as caught:
        nj.run_training(config, tmp_path / "run", progress=False, log=lambda _: None)
    e = caught.value
    assert (e.epoch, e.name, e.value, e.environment) == (1, "eval_return", "nan", True)
    assert "the learners are finite: the environment gave a non-finite reward" in str(e)
    (record,) = read_metrics(tmp_path / "run")
    assert record["eval_return"] is None and record["random_return"] is None
    assert record["critic_loss"] is not None and record["reward_used"] is not None


# --------------------------------------------------------------------------- stop signals


def _kill_at_epoch(monkeypatch, epoch, signum=signal.SIGTERM):
    """Sends ``signum`` to this process while epoch ``epoch`` is in flight (once)."""
    def send(state, metrics):
        os.kill(os.getpid(), signum)
        return state, metrics

    _inject(monkeypatch, epoch, send)


def test_sigterm_checkpoints_the_epoch_in_flight_and_resume_is_bit_exact(tmp_path, capfd,
                                                                         monkeypatch):
    """SIGTERM during epoch 2 of 4, with --checkpoint-every 100 (no periodic checkpoint
    yet): the epoch finishes, is checkpointed anyway, the run prints how to continue and
    exits 143; resumed, its metrics equal an uninterrupted run's bit for bit; the previous
    SIGTERM handler is back. Catches a run killed with its work, a checkpoint that waits
    for --checkpoint-every, and a resume that drifts."""
    full, part = tmp_path / "full", tmp_path / "part"
    assert _train(full, "--steps", STEPS_4) == 0
    before = signal.getsignal(signal.SIGTERM)
    _kill_at_epoch(monkeypatch, 2)
    capfd.readouterr()
    assert _train(part, "--steps", STEPS_4, "--checkpoint-every", "100") == 143
    monkeypatch.undo()
    err = capfd.readouterr().err.splitlines()
    assert err == ["nail-jax: got SIGTERM: finishing epoch 2 and saving a checkpoint of it (send "
                   "it again to stop at once, losing epoch 2)",
                   f"nail-jax: stopped by SIGTERM at epoch 2; continue with: nail-jax train "
                   f"--resume {part}"]
    assert signal.getsignal(signal.SIGTERM) is before
    assert _checkpoints(part) == [2] and [r["epoch"] for r in read_metrics(part)] == [1, 2]
    assert not (part / "summary.json").exists()  # not finished: study scripts would reuse it
    assert cli.main(["train", "--resume", str(part), "--no-progress"]) == 0
    assert _strip_times(read_metrics(part)) == _strip_times(read_metrics(full))


def test_sigint_stops_the_python_api_with_run_stopped(tmp_path, monkeypatch):
    """In Python, SIGINT (Ctrl-C) in epoch 1 of 2 raises RunStopped after checkpointing
    epoch 1; the exit code it carries is 130. Catches a KeyboardInterrupt that loses the
    epoch, and SIGINT left out."""
    _kill_at_epoch(monkeypatch, 1, signal.SIGINT)
    # Python's own SIGINT handler, as in a terminal: a shell's background job (`pytest &`)
    # starts with SIGINT ignored, and an ignored signal stays ignored (StopSignals).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    config = make_config("nail", "point_mass", {
        "num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": int(STEPS_2),
        "batch_size": 16, "replay_capacity": 400, "num_eval_episodes": 2,
        "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16)})
    try:
        with pytest.raises(nj.RunStopped) as caught:
            nj.run_training(config, tmp_path / "run", checkpoint_every=5, progress=False,
                            log=lambda _: None)
    finally:
        signal.signal(signal.SIGINT, previous)
    e = caught.value
    assert (e.signal_name, e.epoch, e.exit_code) == ("SIGINT", 1, 130)
    assert _checkpoints(tmp_path / "run") == [1]


def _popen_train(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "nail_jax", "train", "--env", "point_mass", "--out", str(out),
         *TINY, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class _Lines:
    """Collects a pipe's lines in a thread (so that the child never blocks on it)."""

    def __init__(self, pipe):
        self.lines = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(pipe), daemon=True)
        self.thread.start()

    def wait_for(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if any(text in line for line in self.lines):
                return
            time.sleep(0.01)
        raise AssertionError(f"no {text!r} in {self.lines}")


def _wait_for_records(out, n, proc, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if len(read_metrics(out)) >= n:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    raise AssertionError("no metrics")


@pytest.mark.slow
def test_sigterm_from_outside_a_cli_process_resumes_bit_exact(tmp_path):
    """The honest version: ``python -m nail_jax train`` in a subprocess, SIGTERM sent once
    the first epoch's record appears, 300 short epochs and --checkpoint-every 1000. The
    process says at once that it is finishing the epoch, exits 143 naming the epoch it
    checkpointed (the last in metrics.jsonl), and the resumed run's metrics equal an
    uninterrupted run's bit for bit."""
    steps, full, part = str(16 + 300 * 40), tmp_path / "full", tmp_path / "part"
    proc = _popen_train(part, "--steps", steps, "--checkpoint-every", "1000")
    err = _Lines(proc.stderr)
    _wait_for_records(part, 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 143
    err.thread.join(10)
    epoch = read_metrics(part)[-1]["epoch"]
    assert 1 <= epoch < 300 and _checkpoints(part) == [epoch]
    assert any("nail-jax: got SIGTERM: finishing epoch" in line for line in err.lines)
    assert err.lines[-1].strip() == (f"nail-jax: stopped by SIGTERM at epoch {epoch}; continue "
                                     f"with: nail-jax train --resume {part}")
    assert cli.main(["train", "--resume", str(part), "--no-progress"]) == 0
    assert _train(full, "--steps", steps, "--checkpoint-every", "1000") == 0
    assert _strip_times(read_metrics(part)) == _strip_times(read_metrics(full))
    proc.stdout.close()
    proc.stderr.close()


@pytest.mark.slow
def test_a_second_sigterm_stops_at_once_losing_only_the_epoch_in_flight(tmp_path):
    """Epochs of 5,000 iterations (seconds each): SIGTERM once epoch 1 is checkpointed and
    epoch 2 runs, then a second one once the process has said it is finishing epoch 2. It
    exits 143 at once:
    epoch 2 never reaches metrics.jsonl or a checkpoint, epoch 1's checkpoint is intact,
    and the run resumes from it to the end. Catches a second signal that waits for the
    device (a Python-level handler), and a hard stop that corrupts the run."""
    out = tmp_path / "run"
    steps = str(16 + 3 * 20000)
    proc = _popen_train(out, "--steps", steps, "--set", "epoch_steps=20000")
    err = _Lines(proc.stderr)
    _wait_for_records(out, 1, proc)
    while not (out / "checkpoints").is_dir() or _checkpoints(out) != [1]:
        time.sleep(0.01)
    time.sleep(0.5)  # into epoch 2
    proc.send_signal(signal.SIGTERM)
    err.wait_for("nail-jax: got SIGTERM: finishing epoch 2", timeout=60)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    waited = time.time() - t0
    err.thread.join(10)
    assert err.lines[-1].strip() == ("nail-jax: stopped at once by a second SIGTERM in epoch 2, "
                                     "which is lost; continue from the latest checkpoint with: "
                                     f"nail-jax train --resume {out}")
    records = read_metrics(out)
    assert [r["epoch"] for r in records] == [1] and _checkpoints(out) == [1]
    assert waited < records[0]["epoch_time"], (waited, records[0]["epoch_time"])
    assert cli.main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2, 3]
    proc.stdout.close()
    proc.stderr.close()


def test_a_signal_inside_the_stop_check_does_not_deadlock_the_run():
    """SIGTERM arrives while the main thread is inside ``stop_requested``'s critical section
    (it holds the lock): Python runs the handler in that thread there, and a handler that
    takes the same lock hangs the run for good, later signals included (the watcher thread
    then blocks too). In a child process, killed if it hangs: the stop is seen, the notice
    written, and the process goes on."""
    child = (
        "import os, signal, time\n"
        "from nail_jax.running.safety import StopSignals\n"
        "with StopSignals('run') as stops:\n"
        "    with stops._lock:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        for _ in range(200):\n"
        "            time.sleep(0.001)\n"
        "    print('stop seen:', stops.stop_requested(2), stops.signum == signal.SIGTERM)\n"
        "    time.sleep(0.2)\n")
    try:
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a stop signal inside the stop check deadlocked the process")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stop seen: True True"
    assert "nail-jax: got SIGTERM: finishing epoch 0" in done.stderr, done.stderr


# --------------------------------------------------------------------------- demonstrations


def test_resume_refuses_changed_demonstrations_naming_both_fingerprints(tmp_path, capsys):
    """config.json records the demonstration file's SHA-256; the file replaced by other
    data of the same shape (what happened to hopper.npz once) is refused on --resume with
    exit 2 naming both fingerprints, nothing changed; --allow-changed-demos continues and
    records the new one. Catches a run resumed silently on other data."""
    demos = tmp_path / "demos.npz"
    shutil.copy(bundled_dir() / "point_mass.npz", demos)
    first = sha256(demos)
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_2, "--demos", str(demos)) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["demos_sha256"], saved["demos_file"]) == (first, str(demos))
    data = load_dataset(demos)
    other = dataclasses.replace(select_episodes(data, data.num_episodes),
                                actions=np.clip(data.actions[::-1].copy(), -1, 1))
    save_dataset(demos, other)
    second = sha256(demos)
    assert second != first
    config_before, metrics_before = (out / "config.json").read_bytes(), read_metrics(out)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress"]) == 2
    err = _err_line(capsys)
    assert err == (f"nail-jax: error: the demonstrations {demos} changed since the run started: "
                   f"sha256 {second}, but config.json recorded {first}; restore the file the "
                   "run trained on, or pass --allow-changed-demos to continue on the new data "
                   "on purpose")
    assert (out / "config.json").read_bytes() == config_before
    assert read_metrics(out) == metrics_before
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress",
                     "--allow-changed-demos"]) == 0
    assert "continuing on the new data (allow_changed_demos)" in capsys.readouterr().out
    saved = json.loads((out / "config.json").read_text())
    assert (saved["demos_sha256"], saved["demos_sha256_earlier"]) == (second, [first])
    assert cli.main(["train", "--out", str(tmp_path / "new"), "--allow-changed-demos"]) == 2
    assert "--allow-changed-demos is for --resume" in _err_line(capsys)


def test_a_run_without_a_fingerprint_resumes_and_gets_one(tmp_path, capsys):
    """A run directory from before fingerprints were kept (no demos_sha256 in config.json)
    still resumes, with one note, and records the fingerprint for the next resume; rl runs
    have no demonstrations and no fingerprint. Catches old runs refused."""
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_2) == 0
    saved = json.loads((out / "config.json").read_text())
    del saved["demos_sha256"], saved["demos_file"]
    (out / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("has no recorded fingerprint") == 1, printed
    point_mass = bundled_dir() / "point_mass.npz"
    assert json.loads((out / "config.json").read_text())["demos_sha256"] == sha256(point_mass)
    assert "demos_sha256" not in demos_fingerprint(make_config("rl", "point_mass"))


# --------------------------------------------------------------------------- failed writes


def _no_space(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_checkpoint_save_that_fails_keeps_the_earlier_ones(tmp_path, capsys, monkeypatch):
    """Orbax's save of checkpoint 2 fails after writing part of it (tensorstore's
    RESOURCE_EXHAUSTED, a full disk): exit 1 with one line naming the checkpoint, the
    cause and the kept epoch 1; the partial directory is removed; epoch 1 restores and the
    run resumes to the end. Catches a traceback, a lost earlier checkpoint, and a partial
    checkpoint left to fill the disk."""
    real = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        if step == 2:
            partial = pathlib.Path(self.directory) / "2.orbax-checkpoint-tmp-1"
            (partial / "state").mkdir(parents=True)
            (partial / "state" / "half").write_bytes(b"x" * 100)
            raise ValueError("RESOURCE_EXHAUSTED: Failed writing: No space left on device\nmore")
        return real(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_4) == 1
    err = _err_line(capsys)
    assert err == (f"nail-jax: error: could not save checkpoint 2 in {out.resolve()}/checkpoints "
                   "(ValueError: RESOURCE_EXHAUSTED: Failed writing: No space left on device); "
                   "the earlier checkpoints are kept (latest: epoch 1); continue after fixing "
                   f"it with: nail-jax train --resume {out}")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["1"]
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2, 3, 4]


def test_a_metrics_write_that_fails_halfway_is_cut_back(tmp_path, capsys, monkeypatch):
    """The disk fills while epoch 2's line is written to metrics.jsonl (half of it
    reaches the file): exit 1 with one line; the file holds epoch 1's record, whole, and
    nothing of epoch 2. Catches a torn metrics file and a traceback."""
    real = os.write
    writes = []

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("metrics.jsonl"):
            writes.append(len(data))
            if len(writes) == 2:
                real(fd, bytes(data[: len(data) // 2]))
                _no_space()
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_4) == 1
    monkeypatch.undo()
    assert _err_line(capsys) == (f"nail-jax: error: could not write {out}/metrics.jsonl "
                                 "(OSError: No space left on device); its earlier records are "
                                 "kept")
    text = (out / "metrics.jsonl").read_text()
    assert text.endswith("\n") and [json.loads(line)["epoch"] for line in text.splitlines()] == [1]


def test_a_summary_write_that_fails_keeps_the_previous_summary(tmp_path, capsys, monkeypatch):
    """Extending a finished run whose new summary.json cannot be written (the rename of
    the atomic writer fails): exit 1 with one line; the previous summary.json is as it
    was, no temporary file is left, the metrics and the final checkpoint are there.
    Catches a half-written or deleted summary."""
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_2) == 0
    summary = (out / "summary.json").read_bytes()
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith("summary.json"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress"]) == 1
    monkeypatch.undo()
    assert _err_line(capsys) == (f"nail-jax: error: could not write {out}/summary.json "
                                 "(PermissionError: Permission denied); the run's other files "
                                 "and its checkpoints are kept")
    assert (out / "summary.json").read_bytes() == summary
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert [r["epoch"] for r in read_metrics(out)] == [1, 2, 3, 4] and _checkpoints(out)[-1] == 4
