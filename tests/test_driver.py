"""The driver's file handling and its refusals (``nail_jax.running.driver``)."""

import io
import json

import pytest
from test_cli import STEPS_2, STEPS_4, _train

from nail_jax import cli
from nail_jax.running import driver
from nail_jax.running.driver import Progress, run_training
from nail_jax.running.run_dir import RunError, read_metrics
from nail_jax.training.config import make_config

TINY_CONFIG = {"num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": 96,
               "batch_size": 16, "replay_capacity": 400, "num_eval_episodes": 2,
               "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16)}


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    """A crash mid-write leaves half a JSON line; the records before it are kept. Catches a
    reader that raises on it, or one that drops good records with it."""
    good = [{"epoch": 1, "seed": 0, "score": 0.5}, {"epoch": 1, "seed": 1, "score": None}]
    text = "".join(json.dumps(r) + "\n" for r in good)
    (tmp_path / "metrics.jsonl").write_text(text + '{"epoch": 2, "seed": 0, "sco')
    assert read_metrics(tmp_path) == good
    (tmp_path / "metrics.jsonl").write_text(text)
    assert read_metrics(tmp_path) == good
    assert read_metrics(tmp_path / "absent") == []


def test_zero_seeds_are_refused_before_anything_is_written(tmp_path):
    config = make_config("nail", "point_mass", TINY_CONFIG)
    with pytest.raises(RunError, match="num_seeds must be at least 1, got 0"):
        run_training(config, tmp_path / "run", num_seeds=0, progress=False, log=lambda _: None)
    assert not (tmp_path / "run").exists()


def test_resume_refuses_fewer_steps_and_keeps_the_run(tmp_path, capsys):
    out, fewer = tmp_path / "run", str(int(STEPS_2) - 40)
    assert _train(out, "--steps", STEPS_2) == 0
    before = (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", fewer, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--steps {fewer} is below the run's {STEPS_2}" in err, err
    assert len(err.splitlines()) == 1
    assert (out / "metrics.jsonl").read_bytes() == before


def test_resume_with_a_seed_count_that_the_checkpoint_lacks_is_refused(tmp_path, capsys):
    """config.json edited to 2 seeds over a 1-seed checkpoint: a one-line error naming both
    counts (checked from the checkpoint's metadata before its arrays), and the checkpoint
    and metrics stay as they were."""
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_2) == 0
    saved = json.loads((out / "config.json").read_text())
    saved["num_seeds"] = 2
    (out / "config.json").write_text(json.dumps(saved))
    before = sorted(p.name for p in (out / "checkpoints").rglob("*"))
    metrics = (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nail-jax: error:") and len(err.splitlines()) == 1, err
    assert "holds 1 seed(s) but" in err and "config.json says 2" in err, err
    assert sorted(p.name for p in (out / "checkpoints").rglob("*")) == before
    assert (out / "metrics.jsonl").read_bytes() == metrics



class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_plain_lines_give_the_eta_of_this_processs_pace(monkeypatch):
    """Off a terminal: a line per ``every_s`` and the last one, with the ETA from the epochs
    run by this process (a resumed run from epoch 2: 2 epochs in 20 s, 6 left -> 60 s)."""
    clock = [100.0, 120.0, 120.0, 121.0, 121.0, 200.0]  # the reads, in order; then 200 on
    monkeypatch.setattr(driver.time, "time", lambda: clock.pop(0) if len(clock) > 1 else clock[0])
    stream = _Stream(tty=False)
    with Progress(10, stream=stream, every_s=30.0, start=2) as bar:  # t0 = 100
        bar.update(4, "score 0.5", 20.0)  # at 120: printed (first line)
        bar.update(5, "score 0.6", 21.0)  # at 121: within every_s, not printed
        bar.update(10, "score 0.9", 100.0)  # the last epoch is always printed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("epoch 4/10 score 0.5     20s eta 60s"), lines[0]
    assert lines[1].startswith("[########################] epoch 10/10") and "eta 0s" in lines[1]


def test_progress_on_a_terminal_is_a_live_bar():
    stream = _Stream(tty=True)
    with Progress(4, stream=stream) as bar:
        bar.update(1, "score 0.25", 1.0)
        bar.update(4, "score 0.75", 2.0)
    out = stream.getvalue()
    assert "epoch" in out and "4/4" in out and "score 0.75" in out and "eta" in out, out
    assert Progress(4, stream=_Stream(tty=True), enabled=False).live is None


def test_a_checkpoint_written_before_sac_state_had_its_soft_field_restores(tmp_path):
    """Runs checkpointed before SACState gained ``soft`` (2026-12-07) resume: their layout is
    restored and read as ``soft=None``; a run whose soft term learns (NAIL's trust region)
    cannot take such a checkpoint and says so in one line."""
    import chex
    import jax
    import pytest

    from nail_jax import NAILConfig, SACConfig, make_sac
    from nail_jax.algorithms.nail import make_soft_term
    from nail_jax.running import checkpoint as ckpt

    state = make_sac(4, 2, SACConfig(hidden_sizes=(8,))).init(jax.random.PRNGKey(0))
    old = ckpt._before_soft({"sac": state})
    assert "soft" not in type(old["sac"]).__dataclass_fields__
    manager = ckpt.make_manager(tmp_path, keep=2)
    ckpt.save(manager, 1, old, {"num_seeds": 1})
    manager.close()
    epoch, restored, meta = ckpt.restore(tmp_path, {"sac": state})
    assert (epoch, meta) == (1, {"num_seeds": 1}) and restored["sac"].soft is None
    chex.assert_trees_all_equal(restored, {"sac": state})
    learning = make_sac(4, 2, SACConfig(hidden_sizes=(8,)), soft_term=make_soft_term(
        NAILConfig(weight=0.1, kl="analytic", kl_target=0.05))).init(jax.random.PRNGKey(0))
    with pytest.raises(ckpt.CheckpointError, match="does not match this run or is corrupt"):
        ckpt.restore(tmp_path, {"sac": learning})


def test_a_run_from_before_the_episodes_expert_return_resumes_with_a_note(tmp_path, capsys):
    """A run whose config.json lacks ``expert_return`` (written before the score used the
    episodes trained on) resumes, says that its earlier epochs were scored with the file's
    expert return and from where the episodes' is used, and records both from then on."""
    out = tmp_path / "run"
    assert _train(out, "--steps", STEPS_2) == 0
    saved = json.loads((out / "config.json").read_text())
    used, whole = saved.pop("expert_return"), saved.pop("expert_return_file")
    del saved["demo_episodes"]
    (out / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", STEPS_4, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (f"earlier epochs were scored with the file's {whole:.6g}, the epochs from here "
            f"with the episodes' {used:.6g}") in printed, printed
    resumed = json.loads((out / "config.json").read_text())
    assert (resumed["expert_return"], resumed["expert_return_file"]) == (used, whole)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", str(int(STEPS_4) + 40),
                     "--no-progress"]) == 0
    assert "earlier epochs were scored" not in capsys.readouterr().out
