"""Records what the learners of a real training run are given, for end-to-end checks.

``record_learners(monkeypatch)`` wraps the discriminator and SAC factories the trainer
uses, and SAC's TD target, so that every ``update`` inside a jitted ``train`` sends its
inputs (state, batch, key) and the TD targets it regressed on back to Python through
ordered ``jax.debug.callback`` s. Build the trainer after calling it; run it unbatched
(ordered callbacks do not go through ``vmap``).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import nail_jax.learners.sac
import nail_jax.training.trainer


def _host(tree):
    return jax.tree.map(np.asarray, tree)


@dataclasses.dataclass
class Records:
    """In call order: ``disc`` (batch, state after the update), ``sac`` (state before the
    update, batch, key), ``targets`` (the ``[B]`` TD targets of each SAC update)."""

    disc: list = dataclasses.field(default_factory=list)
    sac: list = dataclasses.field(default_factory=list)
    targets: list = dataclasses.field(default_factory=list)


def record_learners(monkeypatch) -> Records:
    records = Records()
    trainer, sac_module = nail_jax.training.trainer, nail_jax.learners.sac
    make_disc, make_sac, td_target = (trainer.make_discriminator, trainer.make_sac,
                                      sac_module.td_target)

    def recording_disc(*args, **kwargs):
        disc = make_disc(*args, **kwargs)

        def update(state, batch, key):
            new_state, metrics = disc.update(state, batch, key)
            jax.debug.callback(lambda b, s: records.disc.append(_host((b, s))), batch,
                               new_state, ordered=True)
            return new_state, metrics

        return dataclasses.replace(disc, update=update)

    def recording_sac(*args, **kwargs):
        sac = make_sac(*args, **kwargs)

        def update(state, batch, key):
            jax.debug.callback(lambda *x: records.sac.append(_host(x)), state, batch, key,
                               ordered=True)
            return sac.update(state, batch, key)

        return dataclasses.replace(sac, update=update)

    def recording_target(*args, **kwargs):
        target = td_target(*args, **kwargs)
        jax.debug.callback(lambda y: records.targets.append(np.asarray(y)), target,
                           ordered=True)
        return target

    monkeypatch.setattr(nail_jax.training.trainer, "make_discriminator", recording_disc)
    monkeypatch.setattr(nail_jax.training.trainer, "make_sac", recording_sac)
    monkeypatch.setattr(nail_jax.learners.sac, "td_target", recording_target)
    return records
