"""The discriminator: a classifier whose logit estimates ``log r(s,a) = log Q_pi(s,a) / P(s,a)``.

State-only (``DiscriminatorConfig.state_only``, imitation from observations) it sees
``(s, s')`` instead of ``(s, a)`` and estimates the ratio of the policy's and the
demonstrations' state-transition distributions, ``log r(s, s')``; everything below holds
with ``a`` read as ``s'``.

Labels (note eq. 2): policy samples are the positive class ("fake", label 1) and
demonstrations the negative class ("real", label 0). With balanced batches the
Bayes-optimal logit is exactly the log density ratio, so

    P(fake | s, a) = sigmoid(logit),   logit* = log Q_pi(s, a) - log P(s, a).

The gradient penalty follows DAC (Kostrikov et al. 2018, after Gulrajani et al. 2017):
``E[(||grad_x logit(x)|| - 1)^2]`` at random interpolates ``x`` between policy and
expert inputs, taken in normalised-observation space (``s'`` normalised like ``s``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import flax.struct
import jax
import jax.numpy as jnp
import optax

from nail_jax.checks import check_shape
from nail_jax.gradients import make_gradient_step
from nail_jax.networks import DiscriminatorNetwork, make_discriminator_network
from nail_jax.normalization import RunningStatistics, normalize
from nail_jax.types import DiscriminatorBatch


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """Static discriminator settings.

    Attributes:
      hidden_sizes: MLP hidden layer sizes.
      spectral_norm: spectral normalisation on every dense layer.
      learning_rate: Adam learning rate.
      gradient_penalty: coefficient of the gradient penalty; 0 turns it off.
      state_only: classify ``(s, s')`` pairs instead of ``(s, a)``: the batches'
        ``*_next_obs`` are used and the actions ignored.
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    spectral_norm: bool = False
    learning_rate: float = 3e-4
    gradient_penalty: float = 10.0
    state_only: bool = False


@flax.struct.dataclass
class DiscriminatorState:
    """Everything the discriminator learns.

    Attributes:
      params: flax variables ``{"params", ["batch_stats"]}`` of the network.
      opt_state: optimiser state of ``params["params"]``.
      normalizer: observation statistics used by the network (not updated here;
        whoever collects data keeps them current), or ``None``.
      steps: ``[]`` int32 number of updates done.
    """

    params: Any
    opt_state: optax.OptState
    normalizer: RunningStatistics | None
    steps: jax.Array


def bce_loss(policy_logits: jax.Array, expert_logits: jax.Array) -> jax.Array:
    """Balanced binary cross-entropy, policy = label 1, expert = label 0 (note eq. 2).

    ``0.5 * (mean softplus(-l_policy) + mean softplus(l_expert))``; at chance
    (all logits 0) it equals ``ln 2``.

    Args:
      policy_logits: ``[B]`` logits of policy samples.
      expert_logits: ``[B']`` logits of demonstration samples.
    """
    chex.assert_rank([policy_logits, expert_logits], 1)
    return 0.5 * (
        jnp.mean(jax.nn.softplus(-policy_logits)) + jnp.mean(jax.nn.softplus(expert_logits))
    )


def gradient_penalty(
    logit_fn: Callable[[jax.Array, jax.Array], jax.Array],
    policy_obs: jax.Array,
    policy_action: jax.Array,
    expert_obs: jax.Array,
    expert_action: jax.Array,
    key: jax.Array,
) -> jax.Array:
    """DAC gradient penalty ``mean_i (||grad_x logit(x_i)||_2 - 1)^2``.

    ``x_i = eps_i * x_expert_i + (1 - eps_i) * x_policy_i`` with ``eps_i ~ U[0, 1]`` and
    ``x = (s, a)``; the gradient is taken with respect to both ``s`` and ``a``. (State-only,
    pass ``s'`` as the action: ``[B, O]``.)

    Args:
      logit_fn: ``(obs [B, O], action [B, A]) -> logits [B]``.
      policy_obs, policy_action: ``[B, O]``, ``[B, A]``.
      expert_obs, expert_action: ``[B, O]``, ``[B, A]``.
      key: PRNG key for the interpolation weights.
    Returns:
      ``[]`` the penalty.
    """
    chex.assert_equal_shape([policy_obs, expert_obs])
    chex.assert_equal_shape([policy_action, expert_action])
    eps = jax.random.uniform(key, (policy_obs.shape[0], 1))
    obs = eps * expert_obs + (1.0 - eps) * policy_obs
    action = eps * expert_action + (1.0 - eps) * policy_action

    def single_logit(o, a):
        return logit_fn(o[None], a[None])[0]

    g_obs, g_act = jax.vmap(jax.grad(single_logit, argnums=(0, 1)))(obs, action)
    norm = jnp.sqrt(jnp.sum(g_obs**2, axis=-1) + jnp.sum(g_act**2, axis=-1) + 1e-12)
    return jnp.mean((norm - 1.0) ** 2)


def classification_metrics(policy_logits: jax.Array, expert_logits: jax.Array) -> dict:
    """BCE, per-class accuracy and mean logit of each class (scalars)."""
    return {
        "bce": bce_loss(policy_logits, expert_logits),
        "accuracy_policy": jnp.mean(policy_logits > 0.0),
        "accuracy_expert": jnp.mean(expert_logits < 0.0),
        "logit_policy": jnp.mean(policy_logits),
        "logit_expert": jnp.mean(expert_logits),
    }


@dataclasses.dataclass(frozen=True)
class Discriminator:
    """A discriminator learner: pure functions over :class:`DiscriminatorState`.

    Attributes:
      network: the ``(init, apply)`` pair.
      init: ``init(key, normalizer=None) -> DiscriminatorState``.
      update: ``update(state, batch: DiscriminatorBatch, key) -> (state, metrics)``.
      log_ratio: ``log_ratio(state, obs [..., O], action [..., A], next_obs=None) -> [...]``
        estimated ``log r(s, a)``; state-only ``log r(s, s')`` of ``next_obs [..., O]``
        (required then), the action ignored.
      state_only: whether it classifies ``(s, s')`` pairs.
    """

    network: DiscriminatorNetwork
    init: Callable[..., DiscriminatorState]
    update: Callable[..., tuple[DiscriminatorState, dict]]
    log_ratio: Callable[..., jax.Array]
    state_only: bool = False


def make_discriminator(
    obs_size: int, action_size: int, config: DiscriminatorConfig = DiscriminatorConfig()
) -> Discriminator:
    """Builds the discriminator learner for ``[obs_size]`` states and ``[action_size]`` actions.

    With ``config.state_only`` it classifies ``(s, s')`` (``obs_size`` both) and its
    batches must carry ``policy_next_obs`` and ``expert_next_obs``. The update minimises
    ``bce_loss + config.gradient_penalty * gradient_penalty`` with Adam.
    Metrics: ``loss``, ``bce``, ``gradient_penalty``, ``accuracy_policy``,
    ``accuracy_expert``, ``logit_policy``, ``logit_expert``.
    """
    state_only = config.state_only
    network = make_discriminator_network(
        obs_size, action_size, config.hidden_sizes, config.spectral_norm, state_only
    )
    optimizer = optax.adam(config.learning_rate)

    def init(key: jax.Array, normalizer: RunningStatistics | None = None) -> DiscriminatorState:
        variables = dict(network.init(key))
        return DiscriminatorState(
            params=variables,
            opt_state=optimizer.init(variables["params"]),
            normalizer=normalizer,
            steps=jnp.zeros((), jnp.int32),
        )

    def loss_fn(weights, batch_stats, normalizer, batch: DiscriminatorBatch, key):
        p_obs = normalize(normalizer, batch.policy_obs)
        e_obs = normalize(normalizer, batch.expert_obs)
        if state_only:  # the second input: s' (normalised like s) or a
            p_in, e_in = (normalize(normalizer, batch.policy_next_obs),
                          normalize(normalizer, batch.expert_next_obs))
        else:
            p_in, e_in = batch.policy_action, batch.expert_action
        n = p_obs.shape[0]
        variables = {"params": weights, **({"batch_stats": batch_stats} if batch_stats else {})}
        logits, new_stats = network.apply_and_update(
            None,
            variables,
            jnp.concatenate([p_obs, e_obs]),
            jnp.concatenate([p_in, e_in]),
        )
        policy_logits, expert_logits = logits[:n], logits[n:]
        metrics = classification_metrics(policy_logits, expert_logits)
        loss = metrics["bce"]
        if config.gradient_penalty > 0.0:
            new_vars = {"params": weights, **({"batch_stats": new_stats} if new_stats else {})}
            gp = gradient_penalty(
                lambda o, a: network.apply(None, new_vars, o, a),
                p_obs, p_in, e_obs, e_in, key,
            )
            loss = loss + config.gradient_penalty * gp
        else:
            gp = jnp.zeros(())
        metrics["gradient_penalty"] = gp
        metrics["loss"] = loss
        return loss, (metrics, new_stats)

    step = make_gradient_step(loss_fn, optimizer)

    def update(state: DiscriminatorState, batch: DiscriminatorBatch, key: jax.Array):
        n = batch.policy_obs.shape[0] if batch.policy_obs.ndim else 0
        check_shape(batch.policy_obs, (n, obs_size), "batch.policy_obs", floating=True)
        check_shape(batch.policy_action, (n, action_size), "batch.policy_action", floating=True)
        check_shape(batch.expert_obs, (n, obs_size), "batch.expert_obs", floating=True)
        check_shape(batch.expert_action, (n, action_size), "batch.expert_action", floating=True)
        if state_only:
            for name in ("policy_next_obs", "expert_next_obs"):
                value = getattr(batch, name)
                if value is None:
                    raise ValueError(f"batch.{name} is None, but a state-only discriminator "
                                     "classifies (s, s'): pass the next observations")
                check_shape(value, (n, obs_size), f"batch.{name}", floating=True)
        batch_stats = state.params.get("batch_stats", {})
        weights, opt_state, _, (metrics, new_stats) = step(
            state.params["params"], state.opt_state, batch_stats, state.normalizer, batch, key
        )
        params = {"params": weights, **({"batch_stats": new_stats} if new_stats else {})}
        new_state = state.replace(params=params, opt_state=opt_state, steps=state.steps + 1)
        return new_state, metrics

    def log_ratio(state: DiscriminatorState, obs: jax.Array, action: jax.Array,
                  next_obs: jax.Array | None = None) -> jax.Array:
        if not state_only:
            return network.apply(state.normalizer, state.params, obs, action)
        if next_obs is None:
            raise ValueError("a state-only discriminator scores (s, s'): pass next_obs")
        return network.apply(state.normalizer, state.params, obs, next_obs)

    return Discriminator(network, init, update, log_ratio, state_only)
