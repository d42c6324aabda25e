"""One config story: a preset is one complete table per algorithm, read the same way by
TrainConfig, make_config and the CLI."""

import dataclasses
import json

import pytest

from nail_jax import cli
from nail_jax.algorithms.nail import NAILConfig
from nail_jax.learners.discriminator import DiscriminatorConfig
from nail_jax.learners.sac import SACConfig
from nail_jax.training import config as config_module
from nail_jax.training import presets
from nail_jax.training.config import (
    ALGOS,
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_keys,
    config_to_dict,
    make_config,
)
from nail_jax.training.presets import PRESETS


def _from_table(table):
    """A TrainConfig built from a flat table alone, without make_config."""
    top = {k: v for k, v in table.items() if "." not in k}
    sac = {k[4:]: v for k, v in table.items() if k.startswith("sac.")}
    disc = {k[5:]: v for k, v in table.items() if k.startswith("disc.")}
    nail = {k[5:]: v for k, v in table.items() if k.startswith("nail.")}
    return TrainConfig(**top, sac=SACConfig(**sac), disc=DiscriminatorConfig(**disc),
                       nail=NAILConfig(**nail) if nail else None)


def _cli_config(capsys, argv):
    assert cli.main([*argv, "--print-config"]) == 0
    return config_from_dict(json.loads(capsys.readouterr().out))


def test_every_table_names_every_key_once_and_nothing_else():
    for algo in ALGOS:
        keys = set(config_keys(algo))
        assert len(keys) == len(config_keys(algo))
        # nail.* belongs to NAIL's tables alone
        assert {k for k in keys if k.startswith("nail.")} == (
            {"nail.mode", "nail.weight", "nail.kl", "nail.kl_target",
             "nail.weight_learning_rate"} if algo == "nail" else set())
    for preset, tables in PRESETS.items():
        assert set(tables) == set(ALGOS), preset
        for algo, table in tables.items():
            assert set(table) == set(config_keys(algo)) and table["algo"] == algo, (preset, algo)


def test_a_part_given_twice_or_a_missing_key_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="names sac.discount twice"):
        presets._table({"sac.discount": 0.9}, {"sac.discount": 0.99})
    broken = {"p": {"nail": {k: v for k, v in PRESETS["default"]["nail"].items()
                             if k != "sac.tau"}}}
    monkeypatch.setattr(config_module, "PRESETS", broken)
    with pytest.raises(AssertionError, match=r"missing \['sac.tau'\]"):
        config_module._check_preset_tables()


def test_the_defaults_are_the_default_preset_for_nail(capsys):
    assert TrainConfig() == make_config() == make_config("nail", "default")
    assert TrainConfig() == _from_table(PRESETS["default"]["nail"])
    assert _cli_config(capsys, ["train"]) == TrainConfig()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_same_words_give_the_same_config(preset, capsys):
    for algo in ALGOS:
        config = make_config(algo, preset)
        assert config == _from_table(PRESETS[preset][algo])
        command = ["expert"] if algo == "rl" else ["train", "--algo", algo]
        assert _cli_config(capsys, [*command, "--preset", preset]) == config
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config


def test_overrides_come_last_and_env_names_its_preset(capsys):
    config = make_config("nail", "halfcheetah", {"sac.fixed_alpha": "1", "total_steps": 20_480})
    assert config == dataclasses.replace(
        make_config("nail", "halfcheetah"), total_steps=20_480,
        sac=dataclasses.replace(make_config("nail", "halfcheetah").sac, fixed_alpha=1.0))
    assert _cli_config(capsys, ["train", "--env", "hopper", "--algo", "ail", "--steps", "20480",
                                "--set", "sac.fixed_alpha=1"]) == make_config(
        "ail", "hopper", {"total_steps": 20_480, "sac.fixed_alpha": 1.0})


def test_an_env_without_a_preset_and_ail_with_nails_term_are_refused(capsys):
    assert cli.main(["train", "--env", "humanoid", "--print-config"]) == 2
    assert "no preset for env 'humanoid'; choose its settings with --preset" in \
        capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"algo ail has none \(make_config\('ail'\)"):
        config_module.validate_config(TrainConfig(algo="ail"))
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        make_config("nail", "nope")


def test_a_run_directory_from_before_nails_own_options_reads_in_todays_names():
    """config.json of runs from before ``nail.*``: sac.reference_kl/kl_weight translated once,
    when read, to the config the same words give today."""
    old = config_to_dict(make_config("nail", "halfcheetah"))
    old["sac"].update(reference_kl=True, kl_weight=old.pop("nail")["weight"])
    assert config_from_dict(json.loads(json.dumps(old))) == make_config("nail", "halfcheetah")
    literal = config_to_dict(make_config("nail", "point_mass",
                                         {"nail.mode": "reward", "nail.weight": "none"}))
    literal.pop("nail")
    literal["sac"].update(reference_kl=False, kl_weight=None)
    assert config_from_dict(literal).nail == NAILConfig("reward", None)
    ail = config_to_dict(make_config("ail", "hopper"))
    ail.pop("nail")
    ail["sac"].update(reference_kl=False, kl_weight=None)
    assert config_from_dict(ail) == make_config("ail", "hopper")
    # a config in today's names is read as it is
    assert config_from_dict(config_to_dict(make_config("bc"))) == make_config("bc")


def test_the_learners_defaults_are_the_default_presets_numbers():
    """One source for numbers: SACConfig(), DiscriminatorConfig() and NAILConfig() are the
    default preset's NAIL settings (the presets hold the numbers; TrainConfig reads them),
    but for ``nail.kl``: its class default is what a saved config without it means, the
    single-sample form runs had before it existed, while the default preset takes the
    closed form (docs/presets.md)."""
    config = TrainConfig()
    assert (SACConfig(), DiscriminatorConfig(), NAILConfig(kl="analytic")) == (
        config.sac, config.disc, config.nail)
    assert NAILConfig().kl == "sample"


def test_steps_round_down_to_whole_epochs_and_the_budget_says_so():
    """A seed takes the warm-up and whole epochs: ant's 1,000,000 are 8,192 + 96 x 10,240 =
    991,232 env steps (the 1M tables ran --steps 1003520: 1,001,472); the budget line says
    what runs, not what was asked for."""
    ant = make_config("nail", "ant")
    assert (ant.env_steps, ant.num_epochs) == (991_232, 96)
    assert ant.budget() == ("991232 env steps (1000000 rounded down to the warm-up and 96 "
                            "whole epochs of 10240)")
    assert make_config("nail", "ant", {"total_steps": 1_003_520}).env_steps == 1_001_472
    assert make_config("nail", "walker2d").env_steps == 998_912
    pendulum = make_config("nail", "inverted_pendulum")
    assert pendulum.env_steps == pendulum.total_steps == 99_328
    assert pendulum.budget() == "99328 env steps"
    assert make_config("bc", "inverted_pendulum").env_steps == 0
