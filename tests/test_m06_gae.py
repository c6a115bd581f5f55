"""m06: the reference GAE against an independent implementation (Stable-Baselines3) and
against the closed-form sum, on synthetic rollouts and on a real vector-env rollout."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from autograder import engine
from autograder.checks.m06_gae import _rollout
from autograder.draw import generator
from course.envs import final_observations
from course.modules import BY_ID

MODULE = BY_ID["m06"]


@pytest.fixture(scope="module")
def compute_gae():
    return engine.reference(MODULE).compute_gae


def sb3_gae(inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The same rollout through SB3's RolloutBuffer, fed the way SB3's on-policy
    collection feeds it.

    SB3 has one ``dones`` flag and never drops the bootstrap for a truncation inside
    ``compute_returns_and_advantage``. Instead, ``collect_rollouts`` folds the time-limit
    bootstrap into the reward: at a step with ``TimeLimit.truncated`` (truncated and not
    terminated) it adds gamma * V(terminal_observation). The buffer stores
    ``episode_start[t]``, "the observation at step t begins an episode", which is
    done[t - 1] (all ones at the first rollout), and reads ``episode_starts[t + 1]`` as
    the done flag of step t; after the last step it takes ``dones`` and ``last_values``,
    the value of the observation the next rollout starts from.
    """
    from gymnasium import spaces
    from stable_baselines3.common.buffers import RolloutBuffer

    rewards = inputs["rewards"].numpy()
    values, next_values = inputs["values"], inputs["next_values"]
    terminated = inputs["terminated"].bool().numpy()
    truncated = inputs["truncated"].bool().numpy()
    done = terminated | truncated
    gamma = inputs["gamma"]
    T, N = rewards.shape
    box = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    buffer = RolloutBuffer(
        T, box, box, device="cpu", gae_lambda=inputs["gae_lambda"], gamma=gamma, n_envs=N
    )
    episode_start = np.ones(N, dtype=bool)
    for t in range(T):
        reward = rewards[t].copy()
        timeout = truncated[t] & ~terminated[t]
        reward[timeout] += gamma * next_values[t].numpy()[timeout]
        buffer.add(
            np.zeros((N, 1), dtype=np.float32),
            np.zeros((N, 1), dtype=np.float32),
            reward,
            episode_start,
            values[t].clone(),
            torch.zeros(N),
        )
        episode_start = done[t]
    buffer.compute_returns_and_advantage(last_values=next_values[-1].clone(), dones=done[-1])
    return torch.from_numpy(buffer.advantages), torch.from_numpy(buffer.returns)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_stable_baselines3_on_random_rollouts(compute_gae, seed):
    pytest.importorskip("stable_baselines3")
    g = generator(600 + seed)
    inputs = _rollout(g, T=12, N=4, gamma=0.99, gae_lambda=0.95, p_term=0.15, p_trunc=0.15)
    assert inputs["terminated"].any() and inputs["truncated"].any()
    advantages, returns = compute_gae(**inputs)
    sb3_advantages, sb3_returns = sb3_gae(inputs)
    torch.testing.assert_close(advantages, sb3_advantages, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(returns, sb3_returns, rtol=1e-5, atol=1e-6)


def _cartpole_rollout(T: int, N: int, seed: int, gamma: float, gae_lambda: float) -> dict:
    """A rollout of CartPole with a short time limit and a fixed, made-up critic, built the
    way the course's rollout builds it: SAME_STEP autoreset, next_values from
    ``info["final_obs"]`` where an episode ended."""
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=N,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        max_episode_steps=12,
    )
    envs.action_space.seed(seed)
    weights = torch.randn(4, generator=generator(seed))

    def critic(obs: np.ndarray) -> torch.Tensor:
        return 10.0 + 5.0 * torch.tanh(torch.as_tensor(obs, dtype=torch.float32) @ weights)

    obs, _ = envs.reset(seed=seed)
    rollout = {k: [] for k in ("rewards", "values", "next_values", "terminated", "truncated")}
    for _ in range(T):
        next_obs, reward, terminated, truncated, infos = envs.step(envs.action_space.sample())
        reached = final_observations(next_obs, infos, terminated | truncated)
        rollout["values"].append(critic(obs))
        rollout["next_values"].append(critic(reached))
        rollout["rewards"].append(torch.as_tensor(reward, dtype=torch.float32))
        rollout["terminated"].append(torch.as_tensor(terminated))
        rollout["truncated"].append(torch.as_tensor(truncated))
        obs = next_obs
    envs.close()
    inputs = {k: torch.stack(v) for k, v in rollout.items()}
    return {**inputs, "gamma": gamma, "gae_lambda": gae_lambda}


def test_agrees_with_stable_baselines3_on_a_vector_env_rollout(compute_gae):
    pytest.importorskip("stable_baselines3")
    inputs = _cartpole_rollout(T=40, N=4, seed=6, gamma=0.99, gae_lambda=0.95)
    # Both kinds of ending happen, and a truncation happens before the last step.
    assert inputs["terminated"].any()
    assert inputs["truncated"][:-1].any()
    advantages, returns = compute_gae(**inputs)
    sb3_advantages, sb3_returns = sb3_gae(inputs)
    torch.testing.assert_close(advantages, sb3_advantages, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(returns, sb3_returns, rtol=1e-5, atol=1e-6)


def _closed_form(inputs: dict) -> torch.Tensor:
    """A_t = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}, summed over the steps of the
    same episode up to the end of the rollout: a double loop, no recursion."""
    r, v, nv = (inputs[k].double() for k in ("rewards", "values", "next_values"))
    terminated = inputs["terminated"].bool()
    done = terminated | inputs["truncated"].bool()
    gamma, lam = inputs["gamma"], inputs["gae_lambda"]
    deltas = r + gamma * (~terminated).double() * nv - v
    T, N = r.shape
    advantages = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        for t in range(T):
            for k in range(t, T):
                advantages[t, n] += (gamma * lam) ** (k - t) * deltas[k, n]
                if done[k, n]:
                    break
    return advantages


@pytest.mark.parametrize("seed", range(4))
def test_recursion_equals_the_closed_form_sum(compute_gae, seed):
    inputs = _rollout(generator(700 + seed), T=9, N=3, gamma=0.97, gae_lambda=0.9)
    advantages, returns = compute_gae(**inputs)
    expected = _closed_form(inputs)
    # float32 recursion against a float64 double sum: atol 1e-5 covers the rounding.
    torch.testing.assert_close(advantages.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(returns, advantages + inputs["values"])


def test_time_limit_bootstrap_keeps_the_advantage_of_a_perfect_critic_at_zero(compute_gae):
    """Reward 1 per step forever, gamma 0.9: the true value of every state is 10. With a
    perfect critic every advantage is 0, also at the time limit; the shortcut
    done = terminated or truncated would give 1 - 10 = -9 there."""
    T, N = 5, 2
    truncated = torch.zeros(T, N, dtype=torch.bool)
    truncated[1, 0] = truncated[3, 1] = True
    advantages, returns = compute_gae(
        torch.ones(T, N),
        torch.full((T, N), 10.0),
        torch.full((T, N), 10.0),
        torch.zeros(T, N, dtype=torch.bool),
        truncated,
        0.9,
        0.95,
    )
    # 1 + 0.9 * 10 - 10 is 0 up to float32 rounding (0.9 is not exact): atol 1e-5.
    torch.testing.assert_close(advantages, torch.zeros(T, N), atol=1e-5, rtol=0.0)
    torch.testing.assert_close(returns, torch.full((T, N), 10.0), atol=1e-5, rtol=0.0)
