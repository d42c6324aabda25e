"""The env boundary: every suite's envs meet the protocol of ``nail_jax.envs.base``, the
registry dispatches over the suites with its old messages, and only the brax adapter names
brax."""

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nail_jax.envs import brax_suite, registry, toy
from nail_jax.envs.base import Env, EnvState, Suite
from nail_jax.envs.registry import (
    BACKENDS,
    SUITES,
    TOY_ENVS,
    available_envs,
    check_env,
    has_backends,
    make_env,
    suite_of,
)

ENVS_DIR = pathlib.Path(registry.__file__).parent


@pytest.fixture(scope="module")
def pendulum():
    """One brax env, built once."""
    return make_env("inverted_pendulum", "generalized")


def _meets_protocol(env):
    """Traces (without compiling) ``reset`` and ``step``, also vmapped, and checks the
    protocol's attributes and shapes."""
    assert isinstance(env, Env)
    assert isinstance(env.observation_size, int) and isinstance(env.action_size, int)
    obs_size, action_size = env.observation_size, env.action_size
    action = jax.ShapeDtypeStruct((action_size,), jnp.float32)
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    nxt = jax.eval_shape(env.step, state, action)
    for s in (state, nxt):
        assert isinstance(s, EnvState)
        assert s.obs.shape == (obs_size,) and s.reward.shape == () and s.done.shape == ()
        assert isinstance(dict(s.metrics), dict)
    keys = jax.ShapeDtypeStruct((3, 2), jnp.uint32)
    states = jax.eval_shape(jax.vmap(env.reset), keys)
    batch = jax.eval_shape(jax.vmap(env.step), states,
                           jax.ShapeDtypeStruct((3, action_size), jnp.float32))
    assert batch.obs.shape == (3, obs_size) and batch.done.shape == (3,)
    assert all(leaf.shape[0] == 3 for leaf in jax.tree.leaves(batch))


@pytest.mark.parametrize("name", TOY_ENVS)
def test_toy_envs_meet_the_protocol(name):
    _meets_protocol(make_env(name))


def test_a_brax_env_meets_the_protocol(pendulum):
    _meets_protocol(pendulum)
    assert pendulum.backend == "generalized"


def test_every_env_belongs_to_exactly_one_registered_suite():
    names = available_envs()
    assert len(set(names)) == len(names)
    assert names == tuple(n for suite in SUITES for n in suite.tasks())
    assert [s.name for s in SUITES] == ["brax", "toy", "user"]
    assert registry.USER_SUITE.tasks() == ()  # none registered in this process yet
    for suite in SUITES[:2]:
        assert isinstance(suite, Suite) and suite.tasks()
        assert all(suite_of(n) is suite for n in suite.tasks())
    assert toy.SUITE.tasks() == TOY_ENVS == ("point_mass", "point_mass_terminating")
    assert names[-2:] == TOY_ENVS and "inverted_pendulum" in brax_suite.SUITE.tasks()
    assert BACKENDS == brax_suite.BACKENDS == ("spring", "positional", "generalized", "mjx")
    assert toy.SUITE.backends == ()


def test_unknown_env_and_backend_errors_are_unchanged():
    """The one-line messages the CLI prints; a toy env, which ignores the backend, still
    accepts only a known backend name."""
    env_error = f"unknown env 'nope'; choose one of: {', '.join(available_envs())}"
    backend_error = "unknown backend 'warp'; choose one of: spring, positional, generalized, mjx"
    for call in (lambda: make_env("nope"), lambda: check_env("nope", "warp"),
                 lambda: suite_of("nope"), lambda: has_backends("nope")):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == env_error and "\n" not in env_error
    assert "halfcheetah" in env_error and env_error.endswith("point_mass, point_mass_terminating")
    for name in ("hopper", "point_mass"):
        for call in (lambda n=name: make_env(n, backend="warp"),
                     lambda n=name: check_env(n, "warp")):
            with pytest.raises(ValueError) as err:
                call()
            assert str(err.value) == backend_error
    for backend in BACKENDS:
        check_env("hopper", backend)
        check_env("point_mass", backend)


def test_a_toy_suite_ignores_the_backend():
    """Every backend gives the same point mass, step for step."""
    key, action = jax.random.PRNGKey(4), jnp.array([0.3, -0.7])
    runs = []
    for backend in BACKENDS:
        env = make_env("point_mass_terminating", backend)
        state = env.reset(key)
        runs.append([state] + [state := env.step(state, action) for _ in range(3)])
    for run in runs[1:]:
        for got, want in zip(run, runs[0], strict=True):
            jax.tree.map(np.testing.assert_array_equal, got, want)
    assert toy.make("point_mass", "no backend at all").observation_size == 4


def test_has_backends():
    """Demonstrations recorded on another backend matter for brax envs, never for toy ones."""
    assert not has_backends("point_mass") and not has_backends("point_mass_terminating")
    assert has_backends("hopper") and has_backends("halfcheetah")
    assert all(has_backends(n) for n in brax_suite.SUITE.tasks())


def _imported_modules(path: pathlib.Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_brax_is_imported_only_by_its_adapter():
    """No module of ``nail_jax/envs`` but ``brax_suite.py`` imports brax, at the top or
    inside a function; the loop and the episodes see only ``nail_jax.envs.base``."""
    files = sorted(ENVS_DIR.glob("*.py"))
    assert {"base.py", "brax_suite.py", "loop.py", "episodes.py"} <= {f.name for f in files}
    importers = {f.name for f in files
                 if any(m == "brax" or m.startswith("brax.") for m in _imported_modules(f))}
    assert importers == {"brax_suite.py"}


def test_a_registered_env_trains_as_the_same_bundled_env_does(monkeypatch):
    """``register_env``: a user's env is accepted by configs and the trainer; registered as
    the point mass, it gives the bundled ``point_mass`` run's numbers exactly."""
    from nail_jax.training.config import make_config
    from nail_jax.training.trainer import make_train

    monkeypatch.setattr(registry, "_USER_ENVS", {})
    registry.register_env("my_point", toy.PointMass)
    assert "my_point" in available_envs() and suite_of("my_point") is registry.USER_SUITE
    assert not has_backends("my_point") and isinstance(make_env("my_point"), toy.PointMass)
    metrics = {}
    for env in ("point_mass", "my_point"):
        config = make_config("ail", "point_mass", {"env": env, "total_steps": 320 + 800,
                                                   "num_eval_episodes": 2})
        _, metrics[env] = jax.jit(make_train(config))(jax.random.PRNGKey(3))
    for key, value in metrics["point_mass"].items():
        np.testing.assert_array_equal(metrics["my_point"][key], value, err_msg=key)
    with pytest.raises(ValueError, match="already a toy env"):
        registry.register_env("point_mass", toy.PointMass)
    with pytest.raises(ValueError, match="must be callable"):
        registry.register_env("other", toy.PointMass())
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register_env("", toy.PointMass)
