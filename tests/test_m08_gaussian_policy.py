"""m08: the reference Gaussian policy in use: on a real continuous-action env, consistent
with its own closed forms, and trainable (log_std learns)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from autograder import engine
from course.modules import BY_ID

MODULE = BY_ID["m08"]


@pytest.fixture(scope="module")
def m08():
    return engine.reference(MODULE)


def test_act_on_pendulum_clips_only_what_the_env_gets(m08):
    """Pendulum's torque is bounded by +-2; sigma = e = 2.7 puts many samples outside."""
    envs = gym.make_vec("Pendulum-v1", num_envs=4, vectorization_mode="sync")
    space = envs.single_action_space
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    torch.manual_seed(0)
    actor = m08.GaussianActor(envs.single_observation_space.shape[0], space.shape[0], 16, 1.0)
    obs, _ = envs.reset(seed=0)
    outside = 0
    for _ in range(25):
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            action, log_prob, env_action = actor.act(obs_t, low, high)
            dist = actor.distribution(obs_t)
        assert action.shape == env_action.shape == (4, 1) and log_prob.shape == (4,)
        assert torch.equal(env_action, torch.clamp(action, low, high))
        assert space.contains(env_action[0].numpy())
        outside += int(((action < low) | (action > high)).sum())
        # The stored log-probability is the closed form's, at the unclipped sample.
        expected = m08.gaussian_log_prob(dist.mean, actor.log_std, action)
        torch.testing.assert_close(log_prob, expected)
        obs, *_ = envs.step(env_action.numpy())
    envs.close()
    assert outside > 0, "no sample fell outside the bounds: the test would prove nothing"


def test_entropy_of_the_actor_matches_the_closed_form(m08):
    torch.manual_seed(1)
    actor = m08.GaussianActor(5, 3, 8, initial_log_std=-0.3)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([-1.0, 0.0, 0.7]))
    dist = actor.distribution(torch.randn(6, 5))
    per_state = dist.entropy().sum(-1)
    torch.testing.assert_close(per_state, m08.gaussian_entropy(actor.log_std).expand(6))
    torch.testing.assert_close(
        per_state, m08.gaussian_entropy(dist.stddev.log()), rtol=1e-5, atol=1e-6
    )


def test_maximum_likelihood_fits_the_mean_and_the_spread(m08):
    """Gradient ascent on gaussian_log_prob through the actor recovers the mean and the
    standard deviation of the data: the gradient reaches both the network and log_std.
    One observation for all the data, so the maximum-likelihood answer is the sample's
    own mean and (biased) standard deviation."""
    torch.manual_seed(2)
    target_mean = torch.tensor([1.5, -0.5])
    target_std = torch.tensor([0.3, 2.0])
    actor = m08.GaussianActor(3, 2, 16)
    optimizer = torch.optim.Adam(actor.parameters(), lr=0.03)
    obs = torch.tensor([[0.5, -1.0, 0.2]]).expand(256, 3)
    actions = target_mean + target_std * torch.randn(256, 2)
    for _ in range(500):
        mean = actor.distribution(obs).mean
        loss = -m08.gaussian_log_prob(mean, actor.log_std, actions).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fitted_std = actor.log_std.detach().exp()
    sample_std = actions.std(0, unbiased=False)
    # 500 Adam steps reach the optimum to about 1e-4; 1e-3 leaves room for rounding.
    assert torch.allclose(fitted_std, sample_std, rtol=1e-3), (fitted_std, sample_std)
    fitted_mean = actor.distribution(obs[:1]).mean.detach()[0]
    assert torch.allclose(fitted_mean, actions.mean(0), atol=1e-3), fitted_mean


def test_log_std_parameter_is_state_independent(m08):
    actor = m08.GaussianActor(4, 2, 8, initial_log_std=np.log(0.5))
    assert dict(actor.named_parameters())["log_std"].shape == (2,)
    dist = actor.distribution(torch.randn(7, 4))
    torch.testing.assert_close(dist.stddev, torch.full((7, 2), 0.5))
