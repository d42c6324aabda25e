"""nail_jax: Non-Adversarial (NAIL) and Adversarial (AIL) Imitation Learning in JAX.

The building blocks are pure functions over pytree states; each update has the
signature ``(state, batch, key) -> (state, metrics)`` and composes under
``jax.jit``, ``jax.vmap`` and ``jax.lax.scan``.
"""

from nail_jax import third_party  # noqa: F401 (first: imports mujoco.mjx before brax does)
from nail_jax.algorithms import ALGORITHMS, Algorithm
from nail_jax.algorithms.nail import NAILConfig, nail_reward
from nail_jax.data.experts import ExpertPolicy, load_expert
from nail_jax.distributions import (
    tanh_gaussian_kl,
    tanh_gaussian_log_prob,
    tanh_gaussian_log_prob_pre_tanh,
    tanh_gaussian_mode,
    tanh_gaussian_sample,
    tanh_gaussian_sample_pre_tanh,
)
from nail_jax.envs.registry import register_env
from nail_jax.gradients import make_gradient_step
from nail_jax.learners.bc import BC, BCBatch, BCState, bc_loss, make_bc
from nail_jax.learners.discriminator import (
    Discriminator,
    DiscriminatorConfig,
    DiscriminatorState,
    bce_loss,
    classification_metrics,
    gradient_penalty,
    make_discriminator,
)
from nail_jax.learners.rewards import (
    ail_reward,
    airl_reward,
    fairl_reward,
    gail_reward,
)
from nail_jax.learners.sac import (
    SAC,
    SACConfig,
    SACState,
    actor_loss,
    alpha_loss,
    critic_loss,
    make_sac,
    take_snapshot,
    td_target,
)
from nail_jax.networks import (
    Network,
    make_discriminator_network,
    make_policy_network,
    make_q_network,
)
from nail_jax.normalization import RunningStatistics, init_statistics, normalize, update_statistics
from nail_jax.policy import Policy, PolicySnapshot, make_policy
from nail_jax.replay import ReplayBuffer, ReplayState, make_replay_buffer
from nail_jax.running.driver import run_training
from nail_jax.running.evaluation import evaluate_run
from nail_jax.running.run_dir import load_policy
from nail_jax.running.safety import DivergenceError, RunStopped, RunWriteError
from nail_jax.training.config import TrainConfig, make_config
from nail_jax.training.presets import PRESETS
from nail_jax.training.trainer import TrainState, make_train, make_trainer
from nail_jax.types import DiscriminatorBatch, Transition

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "NAILConfig",
    "Policy",
    "make_policy",
    "register_env",
    "actor_loss",
    "alpha_loss",
    "critic_loss",
    "DivergenceError",
    "PRESETS",
    "PolicySnapshot",
    "TrainConfig",
    "TrainState",
    "evaluate_run",
    "load_policy",
    "load_expert",
    "ExpertPolicy",
    "make_config",
    "make_train",
    "make_trainer",
    "run_training",
    "RunStopped",
    "RunWriteError",
    "take_snapshot",
    "SAC",
    "BC",
    "BCBatch",
    "BCState",
    "bc_loss",
    "make_bc",
    "Discriminator",
    "DiscriminatorBatch",
    "DiscriminatorConfig",
    "DiscriminatorState",
    "Network",
    "ReplayBuffer",
    "ReplayState",
    "RunningStatistics",
    "SACConfig",
    "SACState",
    "Transition",
    "ail_reward",
    "airl_reward",
    "bce_loss",
    "classification_metrics",
    "fairl_reward",
    "gail_reward",
    "gradient_penalty",
    "init_statistics",
    "make_discriminator",
    "make_discriminator_network",
    "make_gradient_step",
    "make_policy_network",
    "make_q_network",
    "make_replay_buffer",
    "make_sac",
    "nail_reward",
    "normalize",
    "tanh_gaussian_kl",
    "tanh_gaussian_log_prob",
    "tanh_gaussian_log_prob_pre_tanh",
    "tanh_gaussian_mode",
    "tanh_gaussian_sample",
    "tanh_gaussian_sample_pre_tanh",
    "td_target",
    "update_statistics",
]
