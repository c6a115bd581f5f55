"""REINFORCE (m01) and REINFORCE with a learned baseline (m02), on discrete-action tasks.

Each update collects one complete episode from every environment, so no return is cut
by the end of a rollout, then takes one policy-gradient step. The math is the chosen
implementation's: ``discounted_returns``, ``categorical_log_prob``,
``categorical_entropy`` and ``policy_gradient_loss`` from m01; with the baseline also
``advantages_from_baseline``, ``normalize_advantages``, ``value_mse_loss`` and
``explained_variance`` from m02.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course.runlog import RunLog
from course.train import Algorithm
from course.train.common import mlp


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyperparameters of REINFORCE, with or without a learned baseline."""

    total_steps: int = 500_000
    """Environment steps at most, over all environments (idle steps of environments
    that already finished their episode included)."""
    num_envs: int = 8
    """Environments, hence complete episodes, per update."""
    gamma: float = 0.99
    """Discount factor of the reward-to-go."""
    lr: float = 0.01
    """Adam learning rate of the policy."""
    hidden: int = 64
    """Width of the two hidden layers of each network."""
    baseline: bool = False
    """Learn a critic V(s) and weight the log-probabilities by advantages G - V(s)."""
    normalize_advantages: bool = True
    """With a baseline: normalise the advantages of each batch (m02)."""
    vf_lr: float = 0.005
    """Adam learning rate of the critic."""
    vf_iters: int = 10
    """Critic gradient steps per update, on the whole batch."""
    max_episode_steps: int = 1000
    """Safety cap on an update's rollout length, in vector steps."""


DEFAULTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {},
    "Acrobot-v1": {"gamma": 0.99, "lr": 0.005},
}


def _collect_episodes(envs, policy, device, log: RunLog, global_step: int, max_steps: int):
    """Run every env until it finishes one episode (from a fresh reset).

    Returns (T, N) tensors obs, actions, rewards, dones, valid and the new global step.
    ``valid[t, n]`` marks the steps of env n's first episode; after it, env n keeps
    stepping (vector envs step together) but its steps are not used.
    """
    obs, _ = envs.reset()
    log.episodes.reset_partial()
    num_envs = obs.shape[0]
    active = np.ones(num_envs, dtype=bool)
    rows: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "dones": [], "valid": []}
    while active.any() and len(rows["obs"]) < max_steps:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
        with torch.inference_mode():
            logits = policy(obs_t)
            actions = torch.distributions.Categorical(logits=logits).sample()
        actions_np = actions.cpu().numpy()
        next_obs, rewards, terminated, truncated, _ = envs.step(actions_np)
        dones = terminated | truncated
        global_step += num_envs
        log.step(rewards * active, dones & active, global_step)
        rows["obs"].append(obs)
        rows["actions"].append(actions_np)
        rows["rewards"].append(rewards)
        rows["dones"].append(dones)
        rows["valid"].append(active.copy())
        active &= ~dones
        obs = next_obs
    stacked = {k: torch.as_tensor(np.stack(v), device=device) for k, v in rows.items()}
    stacked["obs"] = stacked["obs"].float()
    stacked["rewards"] = stacked["rewards"].float()
    return stacked, global_step


def train(envs, impl, config: ReinforceConfig, device, log: RunLog, stop_when_solved: bool) -> int:
    """Train until ``config.total_steps`` or, if asked, until solved. Returns the steps."""
    m01 = impl.module("m01")
    m02 = impl.module("m02") if config.baseline else None
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    num_actions = int(envs.single_action_space.n)
    policy = mlp(obs_dim, num_actions, config.hidden, out_scale=0.01).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    log.keep_agent("categorical_mlp", policy)
    critic = vf_optimizer = None
    if m02 is not None:
        critic = mlp(obs_dim, 1, config.hidden).to(device)
        vf_optimizer = torch.optim.Adam(critic.parameters(), lr=config.vf_lr)

    global_step = 0
    log.restart_clock()
    while global_step < config.total_steps:
        before = global_step
        batch, global_step = _collect_episodes(
            envs, policy, device, log, global_step, config.max_episode_steps
        )
        # (T, N) -> reward-to-go, cut where each episode ends
        returns = m01.discounted_returns(batch["rewards"], batch["dones"], config.gamma)
        valid = batch["valid"]
        obs_b = batch["obs"][valid]  # (B, obs_dim): the steps of complete episodes
        actions_b = batch["actions"][valid].long()  # (B,)
        returns_b = returns[valid]  # (B,)

        logits = policy(obs_b)  # (B, A)
        log_probs = m01.categorical_log_prob(logits, actions_b)  # (B,)
        metrics: dict[str, float] = {}
        if m02 is None:
            weights = returns_b
        else:
            values = critic(obs_b).squeeze(-1)  # (B, 1) -> (B,)
            weights = m02.advantages_from_baseline(returns_b, values)
            if config.normalize_advantages:
                weights = m02.normalize_advantages(weights)
            metrics["explained_variance"] = m02.explained_variance(values, returns_b)
        pg_loss = m01.policy_gradient_loss(log_probs, weights)
        optimizer.zero_grad()
        pg_loss.backward()
        optimizer.step()

        if m02 is not None:
            for _ in range(config.vf_iters):
                v_loss = m02.value_mse_loss(critic(obs_b).squeeze(-1), returns_b)
                vf_optimizer.zero_grad()
                v_loss.backward()
                vf_optimizer.step()
            metrics["value_loss"] = v_loss.item()
        with torch.no_grad():
            entropy = m01.categorical_entropy(logits.detach()).mean()
        metrics.update(
            policy_loss=pg_loss.item(), entropy=entropy.item(), batch_size=int(valid.sum())
        )
        log.log(global_step, metrics, global_step - before)
        if stop_when_solved and log.solved:
            break
    return global_step


ALGORITHMS = [
    Algorithm(
        "reinforce",
        "REINFORCE, the vanilla policy gradient (m01)",
        ReinforceConfig,
        DEFAULTS,
        ("m01",),
        train,
        discrete_only=True,
        unused=("baseline", "normalize_advantages", "vf_lr", "vf_iters"),
    ),
    Algorithm(
        "reinforce-baseline",
        "REINFORCE with a learned baseline (m01, m02)",
        ReinforceConfig,
        DEFAULTS,
        ("m01", "m02"),
        train,
        base={"baseline": True},
        discrete_only=True,
        unused=("baseline",),
    ),
]
