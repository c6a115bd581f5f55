"""PPO (m09): the whole loop, in the order of the pseudocode.

    for update = 1 .. num_updates:
        anneal the learning rate                      m09 linear_annealing
        collect T steps of N envs                     course.rollout (SAME_STEP autoreset)
        bootstrap: next_values from final_obs         course.rollout
        advantages and returns                        m06 compute_gae
        flatten (T, N) -> (B,)
        epochs x minibatches                          m09 ppo_update (m02-m05, m07 inside)
        log the diagnostics

Every graded function comes from the implementation chosen with ``--impl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from course.envs import MUJOCO_ENVS
from course.rollout import RolloutCollector
from course.runlog import RunLog
from course.train import Algorithm


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of PPO (names as in the paper and the single-file implementations)."""

    total_steps: int = 200_000
    """Environment steps at most, over all environments."""
    num_envs: int = 8
    """N: environments stepped together."""
    num_steps: int = 128
    """T: steps per environment in each rollout; a batch holds B = T * N samples."""
    lr: float = 2.5e-4
    """Adam's learning rate at the first update."""
    anneal_lr: bool = True
    """Decay the learning rate linearly over the step budget, to lr / num_updates at the
    last update (m09)."""
    adam_eps: float = 1e-5
    """Adam's epsilon (PPO implementations use 1e-5 rather than PyTorch's 1e-8)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE's lambda (m06)."""
    update_epochs: int = 4
    """Passes over each batch."""
    minibatch_size: int = 256
    """Samples per gradient step (the last minibatch of an epoch may be smaller)."""
    norm_adv: bool = True
    """Normalise the advantages of each minibatch (m02)."""
    clip_coef: float = 0.2
    """PPO's epsilon, for the policy ratio and the value clipping (m04, m05)."""
    clip_vloss: bool = False
    """Use the clipped value loss (m05). Off by default: on the course's tasks it slowed
    learning, as Andrychowicz et al. (2021) report for value clipping in general."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient (m05)."""
    vf_coef: float = 0.5
    """Value loss coefficient (m05)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    target_kl: float | None = None
    """Stop an update's epochs once the approximate KL exceeds this (m07); None: never."""
    hidden: int = 64
    """Width of the hidden layers of the actor and the critic."""
    normalize_obs: bool = False
    """Normalise observations with running statistics."""
    reward_scale: float = 1.0
    """Multiply the rewards the agent learns from (episode returns are logged unscaled)."""
    scale_rewards: bool = False
    """Divide the rewards the agent learns from by the running standard deviation of the
    discounted return (m11's RewardScaler; needs statistics=m11)."""
    statistics: Literal["course", "m11"] = "course"
    """Whose code keeps the running statistics of normalize_obs and scale_rewards:
    ``course`` (the course's own, for m09's tasks) or ``m11`` (the implementation's
    RunningMeanStd, normalize_observation and RewardScaler)."""


DEFAULTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "total_steps": 200_000,
        "num_envs": 32,
        "num_steps": 32,
        "lr": 5e-3,
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "update_epochs": 6,
        "minibatch_size": 512,
    },
    "Acrobot-v1": {
        "total_steps": 300_000,
        "num_envs": 8,
        "num_steps": 64,
        "lr": 1e-3,
        "gamma": 0.99,
        "gae_lambda": 0.94,
        "update_epochs": 4,
        "minibatch_size": 128,
        "normalize_obs": True,
    },
    "Pendulum-v1": {
        "total_steps": 300_000,
        "num_envs": 8,
        "num_steps": 256,
        "lr": 2e-3,
        "gamma": 0.9,
        "gae_lambda": 0.95,
        "update_epochs": 10,
        "minibatch_size": 256,
        "reward_scale": 0.1,
        "normalize_obs": True,
    },
}


#: The PPO paper's hyperparameters for MuJoCo (Schulman et al. 2017, Table 3: horizon
#: 2048, Adam 3e-4, 10 epochs, minibatch 64, gamma 0.99, lambda 0.95, clip 0.2, one
#: million steps), with the normalisation of m11 and the learning rate annealed to 0, as
#: Baselines' ppo2 and CleanRL's ppo_continuous_action run them.
MUJOCO = {
    "total_steps": 1_000_000,
    "num_envs": 1,
    "num_steps": 2048,
    "lr": 3e-4,
    "anneal_lr": True,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "update_epochs": 10,
    "minibatch_size": 64,
    "clip_coef": 0.2,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "hidden": 64,
    "normalize_obs": True,
    "scale_rewards": True,
    "statistics": "m11",
}
DEFAULTS.update({env_id: dict(MUJOCO) for env_id in MUJOCO_ENVS})


def _statistics(envs, impl, config: PPOConfig):
    """The collector's observation statistics and reward scaling: the course's own
    normaliser, or the implementation's m11 (None where a setting is off)."""
    if config.statistics != "m11":
        return None, None
    from course import normalization

    m11 = impl.module("m11")
    normalizer = reward_scaling = None
    if config.normalize_obs:
        shape = envs.single_observation_space.shape
        normalizer = normalization.ObservationNormalizer(m11, shape)
    if config.scale_rewards:
        reward_scaling = normalization.RewardScaling(m11, envs.num_envs, config.gamma)
    return normalizer, reward_scaling


def train(envs, impl, config: PPOConfig, device, log: RunLog, stop_when_solved: bool) -> int:
    """Train until ``config.total_steps`` or, if asked, until solved. Returns the steps."""
    m06 = impl.module("m06")
    m09 = impl.module("m09")
    seed = int(log.header.get("seed", 0))
    agent = m09.ActorCritic(
        envs.single_observation_space, envs.single_action_space, hidden=config.hidden
    ).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.lr, eps=config.adam_eps)
    generator = torch.Generator().manual_seed(seed)
    normalizer, reward_scaling = _statistics(envs, impl, config)
    collector = RolloutCollector(
        envs,
        agent,
        config.num_steps,
        device,
        log,
        normalize_obs=config.normalize_obs,
        reward_scale=config.reward_scale,
        normalizer=normalizer,
        reward_scaling=reward_scaling,
    )
    collector.reset(seed)
    log.keep_agent("actor_critic", agent, collector.normalizer)
    log.restart_clock()
    batch_size = config.num_steps * config.num_envs
    num_updates = max(1, config.total_steps // batch_size)
    global_step = 0
    # --8<-- [start:loop]
    for update in range(1, num_updates + 1):
        before = global_step
        lr = config.lr
        if config.anneal_lr:
            lr = m09.linear_annealing(optimizer, update, num_updates, config.lr)
        rollout, global_step = collector.collect(global_step)
        # (T, N) -> advantages and returns, bootstrapping at truncations only
        with torch.no_grad():
            advantages, returns = m06.compute_gae(
                rollout.rewards,
                rollout.values,
                rollout.next_values,
                rollout.terminated,
                rollout.truncated,
                config.gamma,
                config.gae_lambda,
            )
        batch = rollout.flatten()  # (T, N, ...) -> (B, ...)
        batch["advantages"] = advantages.reshape(-1)  # (B,)
        batch["returns"] = returns.reshape(-1)  # (B,)
        stats = m09.ppo_update(agent, optimizer, batch, config, generator)
        stats["learning_rate"] = lr
        log.log(global_step, stats, global_step - before)
        if stop_when_solved and log.solved:
            break
    # --8<-- [end:loop]
    return global_step


ALGORITHMS = [
    Algorithm(
        "ppo",
        "Proximal Policy Optimization (m01-m09)",
        PPOConfig,
        DEFAULTS,
        ("m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09"),
        train,
    ),
]
