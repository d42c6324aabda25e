"""Test-session settings: a persistent XLA compilation cache shared by the tests.

Many tests build the same small programs (each ``build(config)`` makes new closures, so
jit's in-memory cache misses); the on-disk cache keys on the compiled HLO and turns those
repeats into cache hits. It lives in a per-session temporary directory.
"""

import jax
import pytest


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    yield
