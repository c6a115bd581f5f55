"""m11: the reference statistics, observation normalisation and reward scaling against an
independent implementation, Stable-Baselines3's ``RunningMeanStd`` and ``VecNormalize``,
driven step by step by a scripted vector env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import engine
from course.modules import BY_ID

MODULE = BY_ID["m11"]

# SB3 starts its counts at a phantom sample (epsilon, mean 0, var 1); with 1e-12 instead
# of its default 1e-4 that sample weighs nothing at double precision, and the two agree
# to rounding.
PHANTOM = 1e-12


@pytest.fixture(scope="module")
def m11():
    return engine.reference(MODULE)


def _sb3_rms(shape):
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    return RunningMeanStd(epsilon=PHANTOM, shape=shape)


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_statistics_match_sb3_over_random_splits(m11, shape):
    g = torch.Generator().manual_seed(7)
    ours, theirs = m11.RunningMeanStd(shape), _sb3_rms(shape)
    data = []
    for _ in range(12):
        n = int(torch.randint(1, 30, (1,), generator=g))
        batch = 4.0 + 3.0 * torch.randn(n, *shape, generator=g, dtype=torch.float64)
        ours.update(batch)
        theirs.update(batch.numpy())
        data.append(batch)
    everything = torch.cat(data)
    assert ours.count == everything.shape[0]
    np.testing.assert_allclose(ours.mean.numpy(), theirs.mean, rtol=1e-12)
    np.testing.assert_allclose(ours.var.numpy(), theirs.var, rtol=1e-10)
    torch.testing.assert_close(ours.mean, everything.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.var, everything.var(0, correction=0), rtol=1e-10, atol=0)


def _scripted_vec_env(obs_steps, rewards, dones):
    """A VecEnv that replays given observations (the reset's, then one per step), rewards
    and episode ends."""
    from gymnasium import spaces
    from stable_baselines3.common.vec_env import VecEnv

    _, N, D = obs_steps.shape

    class Scripted(VecEnv):
        def __init__(self):
            box = spaces.Box(-np.inf, np.inf, (D,), dtype=np.float64)
            super().__init__(N, box, spaces.Box(-1.0, 1.0, (1,), dtype=np.float32))
            self.t = 0

        def reset(self):
            self.t = 0
            return obs_steps[0]

        def step_async(self, actions):
            pass

        def step_wait(self):
            t = self.t
            self.t += 1
            infos = [{} for _ in range(N)]
            return obs_steps[t + 1], rewards[t].copy(), dones[t].copy(), infos

        def close(self):
            pass

        def get_attr(self, name, indices=None):
            return [None] * N

        def set_attr(self, name, value, indices=None):
            pass

        def env_method(self, name, *args, indices=None, **kwargs):
            return [None] * N

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * N

        def seed(self, seed=None):
            return [None] * N

    return Scripted()


def test_normalisation_and_reward_scaling_match_vec_normalize(m11):
    """The trainer's order, which is VecNormalize's: update the statistics with the reset's
    observations, then with each step's observations and returns, and normalise and scale
    with them."""
    from stable_baselines3.common.vec_env import VecNormalize

    rng = np.random.default_rng(3)
    T, N, D, gamma = 40, 3, 4, 0.97
    obs_steps = rng.normal([1.0, -20.0, 5.0, 300.0], [0.5, 10.0, 2.0, 80.0], size=(T + 1, N, D))
    rewards = rng.normal(1.0, 0.7, size=(T, N)).astype(np.float32)
    terminated = rng.random((T, N)) < 0.08
    truncated = rng.random((T, N)) < 0.08
    dones = terminated | truncated

    venv = VecNormalize(
        _scripted_vec_env(obs_steps, rewards, dones),
        gamma=gamma,
        clip_obs=10.0,
        clip_reward=10.0,
        epsilon=1e-8,
    )
    venv.obs_rms = _sb3_rms((D,))
    venv.ret_rms = _sb3_rms(())
    first = venv.reset()

    obs_rms = m11.RunningMeanStd((D,))
    obs_rms.update(torch.from_numpy(obs_steps[0]))
    ours_first = m11.normalize_observation(torch.from_numpy(obs_steps[0]), obs_rms)
    np.testing.assert_allclose(ours_first.numpy(), first, rtol=1e-6, atol=1e-6)
    scaler = m11.RewardScaler(N, gamma, clip=10.0, eps=1e-8)
    for t in range(T):
        sb3_obs, sb3_rewards, _, _ = venv.step(np.zeros((N, 1), dtype=np.float32))
        obs = torch.from_numpy(obs_steps[t + 1])
        obs_rms.update(obs)
        ours_obs = m11.normalize_observation(obs, obs_rms, clip=10.0, eps=1e-8)
        ours_rewards = scaler(
            torch.from_numpy(rewards[t]),
            torch.from_numpy(terminated[t]),
            torch.from_numpy(truncated[t]),
        )
        # VecNormalize hands back float32 observations and rewards: compare at float32's
        # precision (ours are float64 for float64 observations, float32 for float32 rewards).
        assert sb3_obs.dtype == np.float32
        np.testing.assert_allclose(ours_obs.numpy(), sb3_obs, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ours_rewards.numpy(), sb3_rewards, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scaler.returns.numpy(), venv.returns, rtol=1e-12)


def test_normalising_leaves_obs_and_statistics_alone(m11):
    rms = m11.RunningMeanStd((2,))
    rms.update(torch.tensor([[0.0, 1.0], [2.0, 5.0], [4.0, 3.0]]))
    mean, var, count = rms.mean.clone(), rms.var.clone(), rms.count
    obs = torch.tensor([[1.0, 2.0]], dtype=torch.float32)
    before = obs.clone()
    out = m11.normalize_observation(obs, rms)
    assert out.dtype == torch.float32
    assert torch.equal(obs, before)
    assert torch.equal(rms.mean, mean) and torch.equal(rms.var, var) and rms.count == count
