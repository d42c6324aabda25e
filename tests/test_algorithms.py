"""The algorithm registry: each algorithm one definition, the only place that names it."""

import dataclasses
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax import cli
from nail_jax.algorithms import ALGORITHMS, Algorithm
from nail_jax.algorithms.ail import DISC_METRICS, SAC_METRICS, log_ratio, make_imitation_iteration
from nail_jax.training.config import ConfigError, make_config
from nail_jax.training.trainer import build

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = {
    "num_envs": 4, "epoch_steps": 40, "warmup_steps": 16, "total_steps": 96,
    "batch_size": 16, "replay_capacity": 400, "sac_updates_per_iteration": 2,
    "num_eval_episodes": 2, "sac.hidden_sizes": (16, 16), "disc.hidden_sizes": (16, 16),
}
# What every epoch logs besides its algorithm's iteration metrics.
EPOCH_METRICS = {"env_steps", "epoch", "eval_return", "eval_return_std", "eval_length",
                 "random_return", "alpha_end"}


def _one_epoch(algo):
    trainer, pairs = build(make_config(algo, "point_mass", TINY))
    state = trainer.init(jax.random.PRNGKey(0), pairs)
    return jax.jit(trainer.run_epoch)(state, pairs)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_each_algorithm_logs_exactly_the_metrics_it_declares(name):
    algorithm = ALGORITHMS[name]
    _, metrics = _one_epoch(name)
    expected = (set(algorithm.metrics) | EPOCH_METRICS
                | ({"score"} if algorithm.metric == "score" else set())
                | (set() if algorithm.steps_envs else {"grad_steps"}))
    assert set(metrics) == expected
    assert len(algorithm.metrics) == len(set(algorithm.metrics))


def test_ail_computes_no_log_pi_ref_it_does_not_use():
    """Only NAIL reads pi_ref in its iteration: AIL logs no log pi_ref (it computed one for a
    metric before), NAIL does."""
    assert "log_pi_ref" not in ALGORITHMS["ail"].metrics
    assert {"log_pi_ref", "reward_nail"} <= set(ALGORITHMS["nail"].metrics)


def test_the_cli_lists_every_registered_algorithm(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse re-wraps the help
    for name, algorithm in ALGORITHMS.items():
        assert f"{name}:{''.join(algorithm.summary.split())}" in text.replace("(default)", "")
    assert "{" + ",".join(ALGORITHMS) + "}" in text


def test_no_algorithm_is_named_outside_the_registry():
    """No ``config.algo == "x"`` or ``algo in ("x", ...)`` outside nail_jax/algorithms: what
    differs between algorithms is a field of their definition."""
    pattern = re.compile(r"algo\s*(==|!=|in|not in)\s*[\(\[\"']")
    found = [f"{path.relative_to(ROOT)}:{i}" for path in (ROOT / "nail_jax").rglob("*.py")
             if "algorithms" not in path.parts
             for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def _clipped_ail(parts):
    """AIL with its reward clipped to [-1, 1]: a new algorithm in a few lines."""

    def relabel(transitions, disc_state, reference):
        reward = jnp.clip(-log_ratio(parts, disc_state, transitions), -1.0, 1.0)
        return transitions.replace(reward=reward), {"reward_used": jnp.mean(reward)}

    return make_imitation_iteration(parts, relabel)


def test_a_new_algorithm_is_one_definition_and_one_registry_line(monkeypatch):
    """Registering a definition is all a new algorithm takes: config, trainer and CLI know it
    (its settings borrowed from AIL's preset tables), and its iteration is what it trains on."""
    ail = ALGORITHMS["ail"]
    clipped = dataclasses.replace(
        ail, name="ail_clipped", summary="AIL with its reward clipped to [-1, 1]",
        reward_forms=False, make_iteration=_clipped_ail, settings_of="ail",
        metrics=(*DISC_METRICS, "reward_used", *SAC_METRICS))
    monkeypatch.setitem(ALGORITHMS, "ail_clipped", clipped)
    config = make_config("ail_clipped", "point_mass", TINY)
    assert config.algo == "ail_clipped" and config.nail is None
    assert config.sac == make_config("ail", "point_mass", TINY).sac
    with pytest.raises(ConfigError, match="algo ail_clipped has its own reward"):
        make_config("ail_clipped", "point_mass", {"reward": "gail"})
    state, metrics = _one_epoch("ail_clipped")
    assert set(metrics) == set(clipped.metrics) | EPOCH_METRICS | {"score"}
    assert -1.0 <= float(metrics["reward_used"]) <= 1.0
    assert np.isfinite(float(metrics["critic_loss"])) and int(state.epoch) == 1
    assert isinstance(clipped, Algorithm)
