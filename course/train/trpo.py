"""TRPO (m03) on discrete-action tasks, with a learned baseline (m02).

Each update collects ``num_steps`` steps from every environment and computes the
reward-to-go, bootstrapped with the critic where the data stops but the episode does not.
The advantages G - V(s) weight one TRPO step of the policy (``course/trpo.py``); then the
critic regresses on the returns for a few epochs.

The math is the chosen implementation's: ``discounted_returns``, ``categorical_log_prob``
and ``categorical_entropy`` from m01; ``advantages_from_baseline``,
``normalize_advantages``, ``value_mse_loss`` and ``explained_variance`` from m02; the
ratio, surrogate, KL, conjugate gradient and line search from m03.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course.envs import final_observations
from course.runlog import RunLog
from course.train import Algorithm
from course.train.common import mlp
from course.trpo import TrpoFunctions, trpo_update


@dataclass(frozen=True)
class TrpoConfig:
    """Hyperparameters of TRPO with a learned baseline."""

    total_steps: int = 500_000
    """Environment steps at most, over all environments."""
    num_envs: int = 8
    """Environments stepped together."""
    num_steps: int = 256
    """Steps per environment per update: a batch holds num_envs * num_steps steps."""
    gamma: float = 0.99
    """Discount factor of the reward-to-go."""
    max_kl: float = 0.01
    """The trust region's radius delta: the mean KL(pi_old || pi_new) an update may reach."""
    damping: float = 0.1
    """Added to the Fisher matrix (times the identity) in the Fisher-vector products."""
    cg_iters: int = 10
    """Conjugate-gradient iterations (Fisher-vector products) per update."""
    max_backtracks: int = 10
    """Fractions 1, 1/2, 1/4, ... of the full step the line search tries."""
    accept_ratio: float = 0.1
    """Share of the predicted improvement a step must achieve to be accepted."""
    normalize_advantages: bool = True
    """Normalise the advantages of each batch (m02)."""
    hidden: int = 64
    """Width of the two hidden layers of each network."""
    vf_lr: float = 0.001
    """Adam learning rate of the critic."""
    vf_epochs: int = 10
    """Passes of the critic over each batch."""
    vf_minibatches: int = 8
    """Minibatches per critic pass."""


DEFAULTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {},
    "Acrobot-v1": {},
}


def _collect(envs, obs, policy, device, log: RunLog, global_step: int, num_steps: int):
    """Step every env ``num_steps`` times. Returns the (T, N) rollout, the next observation
    and the new global step. ``reached[t]`` is the observation env n reached after step t:
    the next one, or the final one of an episode that ended there."""
    rows: dict[str, list] = {
        k: [] for k in ("obs", "actions", "rewards", "term", "trunc", "reached")
    }
    for _ in range(num_steps):
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
        with torch.inference_mode():
            actions = torch.distributions.Categorical(logits=policy(obs_t)).sample()
        actions_np = actions.cpu().numpy()
        next_obs, rewards, terminated, truncated, infos = envs.step(actions_np)
        dones = terminated | truncated
        global_step += envs.num_envs
        log.step(rewards, dones, global_step)
        rows["obs"].append(obs)
        rows["actions"].append(actions_np)
        rows["rewards"].append(rewards)
        rows["term"].append(terminated)
        rows["trunc"].append(truncated)
        rows["reached"].append(final_observations(next_obs, infos, dones))
        obs = next_obs
    batch = {k: torch.as_tensor(np.stack(v), device=device) for k, v in rows.items()}
    for key in ("obs", "rewards", "reached"):
        batch[key] = batch[key].float()
    return batch, obs, global_step


def _returns(m01, critic, batch: dict[str, torch.Tensor], gamma: float) -> torch.Tensor:
    """(T, N) reward-to-go, bootstrapped with the critic where the data stops early.

    An episode cut by the time limit, or by the end of the rollout, would go on: its
    reward-to-go there is r_t + gamma * V(s_{t+1}), with s_{t+1} the state it reached.
    Adding gamma * V(s_{t+1}) to those rewards lets m01's ``discounted_returns`` (which
    never looks past a done or past the last step) do the rest. m06 does this for GAE.
    """
    terminated, truncated = batch["term"], batch["trunc"]
    open_end = truncated.clone()
    open_end[-1] = True  # the rollout stops here, the episode does not
    open_end &= ~terminated  # a real terminal state has no future
    with torch.no_grad():
        next_values = critic(batch["reached"]).squeeze(-1)  # (T, N, obs) -> (T, N)
    rewards = batch["rewards"] + gamma * next_values * open_end.float()
    return m01.discounted_returns(rewards, terminated | truncated, gamma)


def train(envs, impl, config: TrpoConfig, device, log: RunLog, stop_when_solved: bool) -> int:
    """Train until ``config.total_steps`` or, if asked, until solved. Returns the steps."""
    m01, m02 = impl.module("m01"), impl.module("m02")
    fns = TrpoFunctions.from_impl(impl)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    num_actions = int(envs.single_action_space.n)
    policy = mlp(obs_dim, num_actions, config.hidden, out_scale=0.01).to(device)
    critic = mlp(obs_dim, 1, config.hidden).to(device)
    log.keep_agent("categorical_mlp", policy)
    vf_optimizer = torch.optim.Adam(critic.parameters(), lr=config.vf_lr)
    generator = torch.Generator().manual_seed(int(torch.initial_seed()) % 2**31)

    obs, _ = envs.reset()
    global_step = 0
    log.restart_clock()
    while global_step < config.total_steps:
        before = global_step
        batch, obs, global_step = _collect(
            envs, obs, policy, device, log, global_step, config.num_steps
        )
        returns = _returns(m01, critic, batch, config.gamma)  # (T, N)

        # flatten (T, N) -> (B,) with B = T * N
        obs_b = batch["obs"].reshape(-1, obs_dim)  # (B, obs_dim)
        actions_b = batch["actions"].reshape(-1).long()  # (B,)
        returns_b = returns.reshape(-1)  # (B,)
        with torch.no_grad():
            values_b = critic(obs_b).squeeze(-1)  # (B, 1) -> (B,)
        advantages = m02.advantages_from_baseline(returns_b, values_b)
        if config.normalize_advantages:
            advantages = m02.normalize_advantages(advantages)

        metrics = trpo_update(
            policy,
            obs_b,
            actions_b,
            advantages,
            fns,
            max_kl=config.max_kl,
            damping=config.damping,
            cg_iters=config.cg_iters,
            max_backtracks=config.max_backtracks,
            accept_ratio=config.accept_ratio,
        )

        batch_size = obs_b.shape[0]
        minibatch = max(1, batch_size // config.vf_minibatches)
        for _ in range(config.vf_epochs):
            order = torch.randperm(batch_size, generator=generator).to(device)
            for start in range(0, batch_size, minibatch):
                idx = order[start : start + minibatch]
                v_loss = m02.value_mse_loss(critic(obs_b[idx]).squeeze(-1), returns_b[idx])
                vf_optimizer.zero_grad()
                v_loss.backward()
                vf_optimizer.step()
        with torch.no_grad():
            entropy = m01.categorical_entropy(policy(obs_b)).mean()
        metrics.update(
            explained_variance=m02.explained_variance(values_b, returns_b),
            value_loss=float(v_loss.detach()),
            entropy=float(entropy),
        )
        log.log(global_step, metrics, global_step - before)
        if stop_when_solved and log.solved:
            break
    return global_step


ALGORITHMS = [
    Algorithm(
        "trpo",
        "TRPO: natural gradient in a KL trust region, with a learned baseline (m01-m03)",
        TrpoConfig,
        DEFAULTS,
        ("m01", "m02", "m03"),
        train,
        discrete_only=True,
    ),
]
