"""The rollout path of the PPO trainer: same-step autoreset, final observations and the
time-limit bootstrap, on a tiny environment whose values are known; and the vectorised
CartPole against gymnasium's own."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from course.envs import CartPoleSameStep, make_vector_env
from course.impl import Implementation
from course.rollout import RolloutCollector
from course.runlog import RunLog


class Alternating(gym.Env):
    """Counts steps: the observation is [t]. Odd-numbered episodes terminate after 2 steps;
    even-numbered ones run until the time limit (4 steps) truncates them."""

    observation_space = gym.spaces.Box(0.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.episode = 0
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = self.episode % 2 == 1 and self.t == 2
        return np.array([float(self.t)], np.float32), 1.0, terminated, False, {}


class LinearValue(torch.nn.Module):
    """V(s) = 10 s + 1, always action 0."""

    def get_value(self, obs):
        return 10.0 * obs[:, 0] + 1.0

    def get_action_and_value(self, obs, action=None):
        batch = obs.shape[0]
        action = torch.zeros(batch, dtype=torch.long) if action is None else action
        zeros = torch.zeros(batch)
        return action, zeros, zeros, self.get_value(obs)


@pytest.fixture
def rollout(tmp_path):
    gym.register("Alternating-v0", entry_point=Alternating, max_episode_steps=4)
    try:
        envs = make_vector_env("Alternating-v0", 2, seed=0)
        log = RunLog(tmp_path, {"env": "Alternating-v0"}, None, 100, 2, progress=False)
        collector = RolloutCollector(envs, LinearValue(), 8, torch.device("cpu"), log)
        collector.reset(0)
        batch, steps = collector.collect(0)
        yield batch, steps, log
    finally:
        gym.registry.pop("Alternating-v0")


def test_the_rollout_records_what_happened(rollout):
    batch, steps, log = rollout
    assert steps == 16
    # observation at each step: episode 1 (terminates after 2), episode 2 (truncated at 4),
    # episode 3 (terminates after 2)
    expected_obs = torch.tensor([0.0, 1, 0, 1, 2, 3, 0, 1])
    assert torch.equal(batch.obs[:, 0, 0], expected_obs)
    assert torch.equal(batch.obs[:, 1, 0], expected_obs)
    assert batch.terminated[:, 0].tolist() == [0, 1, 0, 0, 0, 0, 0, 1]
    assert batch.truncated[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert torch.equal(batch.rewards, torch.ones(8, 2))
    assert log.episodes.returns == [2.0, 2.0, 4.0, 4.0, 2.0, 2.0]


def test_next_values_bootstrap_at_the_time_limit_only(rollout):
    batch, _, _ = rollout
    values = 10.0 * torch.tensor([0.0, 1, 0, 1, 2, 3, 0, 1]) + 1.0
    assert torch.equal(batch.values[:, 0], values)
    # V(s_{t+1}); 0 after a termination; V(final_obs = [4]) = 41 at the truncation; and
    # after the last step, V of the observation the env is in ([0] after the reset) = 1.
    expected = torch.tensor([11.0, 0.0, 11.0, 21.0, 31.0, 41.0, 11.0, 0.0])
    assert torch.equal(batch.next_values[:, 0], expected)
    assert torch.equal(batch.next_values[:, 1], expected)


def test_gae_on_the_rollout(rollout):
    batch, _, _ = rollout
    m06 = Implementation("solutions").module("m06")
    advantages, returns = m06.compute_gae(
        batch.rewards,
        batch.values,
        batch.next_values,
        batch.terminated,
        batch.truncated,
        1.0,
        1.0,
    )
    # With gamma = lambda = 1 the return is the rewards left in the episode, plus, for the
    # truncated episode, the bootstrap V(final_obs) = 41; the last step of the rollout is
    # a termination, so nothing is bootstrapped there.
    expected = torch.tensor([2.0, 1.0, 45.0, 44.0, 43.0, 42.0, 2.0, 1.0])
    assert torch.allclose(returns[:, 0], expected)
    assert torch.allclose(advantages[:, 0], expected - batch.values[:, 0])


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit:
    while not isinstance(env, gym.wrappers.TimeLimit):
        env = env.env
    return env


def test_vectorised_cartpole_matches_gymnasium():
    """Same states and actions in, same observations, rewards and ends out, including the
    final observation of an episode that ends and the 500-step time limit."""
    n = 6
    ours = CartPoleSameStep(num_envs=n)
    theirs = gym.make_vec(
        "CartPole-v1",
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    ours.reset(seed=0)
    theirs.reset(seed=0)
    rng = np.random.default_rng(0)
    ended = truncations = 0
    for step in range(600):
        states = rng.uniform(-0.2, 0.2, size=(n, 4))
        states[0, 2] = 0.2095  # this one falls (|theta| > 12 degrees) right away
        counters = rng.integers(0, 500, size=n)
        counters[1] = 499  # this one reaches the time limit
        ours.state = states.T.copy()
        ours.steps = counters.astype(np.int32)
        for i, env in enumerate(theirs.envs):
            env.unwrapped.state = states[i].copy()
            _time_limit(env)._elapsed_steps = int(counters[i])
        actions = rng.integers(0, 2, size=n)
        o1, r1, te1, tr1, i1 = ours.step(actions)
        o2, r2, te2, tr2, i2 = theirs.step(actions)
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_allclose(r1, r2)
        done = te1 | tr1
        np.testing.assert_allclose(o1[~done], o2[~done], rtol=1e-6)
        for i in np.flatnonzero(done):
            np.testing.assert_allclose(i1["final_obs"][i], i2["final_obs"][i], rtol=1e-6)
            assert np.all(np.abs(o1[i]) <= 0.05)  # a fresh episode's start
        ended += int(te1.sum())
        truncations += int(tr1.sum())
        if step > 5 and ended and truncations:
            break
    assert ended and truncations
