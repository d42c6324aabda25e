"""The algorithms, by ``--algo`` name: each one small :class:`~nail_jax.algorithms.base.Algorithm`.

Adding one is a module with its iteration and definition, and a line here (docs/design.md).
"""

from nail_jax.algorithms.ail import AIL
from nail_jax.algorithms.base import Algorithm, Parts
from nail_jax.algorithms.bc import BC
from nail_jax.algorithms.nail import NAIL
from nail_jax.algorithms.rl import RL

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (NAIL, AIL, BC, RL)}
"""The registry, in ``--algo`` order (the first is the default)."""

__all__ = ["ALGORITHMS", "Algorithm", "Parts"]
