"""The catalogued mistakes of m08: wrong versions of its graded functions."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_std_as_std(mean, log_std, actions):
    std = log_std
    return (-0.5 * ((actions - mean) / std).pow(2) - torch.log(std) - HALF_LOG_2PI).sum(-1)


def std_not_squared(mean, log_std, actions):
    std = log_std.exp()
    return (-((actions - mean).pow(2)) / (2.0 * std) - log_std - HALF_LOG_2PI).sum(-1)


def no_half_on_square(mean, log_std, actions):
    std = log_std.exp()
    return (-((actions - mean) / std).pow(2) - log_std - HALF_LOG_2PI).sum(-1)


def log_variance_normaliser(mean, log_std, actions):
    std = log_std.exp()
    return (-0.5 * ((actions - mean) / std).pow(2) - 2.0 * log_std - HALF_LOG_2PI).sum(-1)


def log_prob_not_summed(mean, log_std, actions):
    std = log_std.exp()
    return -0.5 * ((actions - mean) / std).pow(2) - log_std - HALF_LOG_2PI


def log_prob_averaged(mean, log_std, actions):
    std = log_std.exp()
    return (-0.5 * ((actions - mean) / std).pow(2) - log_std - HALF_LOG_2PI).mean(-1)


def entropy_not_summed(log_std):
    return 0.5 * math.log(2.0 * math.pi * math.e) + log_std


def entropy_constant_once(log_std):
    return 0.5 * math.log(2.0 * math.pi * math.e) + log_std.sum(-1)


def entropy_averaged(log_std):
    return (0.5 * math.log(2.0 * math.pi * math.e) + log_std).mean(-1)


def entropy_half_log_std(log_std):
    return (0.5 * math.log(2.0 * math.pi * math.e) + 0.5 * log_std).sum(-1)


class _MistakeActor(nn.Module):
    """The base of the wrong classes below (it has no ``act``): each adds or overrides the part
    it gets wrong."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 64, initial_log_std: float = 0.0
    ) -> None:
        super().__init__()
        self.mean_net = nn.Sequential(
            nn.Linear(obs_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, act_dim),
        )
        self.log_std = nn.Parameter(torch.full((act_dim,), float(initial_log_std)))

    def distribution(self, obs):
        mean = self.mean_net(obs)
        return Normal(mean, self.log_std.exp().expand_as(mean))


class LogStdNotExponentiated(_MistakeActor):
    def distribution(self, obs):
        mean = self.mean_net(obs)
        return Normal(mean, self.log_std.expand_as(mean))


class LogStdNotAParameter(_MistakeActor):
    def __init__(self, obs_dim, act_dim, hidden=64, initial_log_std=0.0):
        super().__init__(obs_dim, act_dim, hidden, initial_log_std)
        del self.log_std
        self.log_std = torch.full((act_dim,), float(initial_log_std))


class LogProbOfClippedAction(_MistakeActor):
    def act(self, obs, low, high):
        dist = self.distribution(obs)
        action = dist.sample()
        env_action = torch.clamp(action, low, high)
        return action, dist.log_prob(env_action).sum(-1), env_action


class StoresClippedAction(_MistakeActor):
    def act(self, obs, low, high):
        dist = self.distribution(obs)
        action = torch.clamp(dist.sample(), low, high)
        return action, dist.log_prob(action).sum(-1), action


class EnvActionNotClipped(_MistakeActor):
    def act(self, obs, low, high):
        dist = self.distribution(obs)
        action = dist.sample()
        return action, dist.log_prob(action).sum(-1), action


class MeanAsAction(_MistakeActor):
    def act(self, obs, low, high):
        dist = self.distribution(obs)
        action = dist.mean.detach()
        return action, dist.log_prob(action).sum(-1), torch.clamp(action, low, high)


class LogProbNotSummed(_MistakeActor):
    def act(self, obs, low, high):
        dist = self.distribution(obs)
        action = dist.sample()
        return action, dist.log_prob(action), torch.clamp(action, low, high)


WRONG = {
    ("gaussian_log_prob", "log-std-as-std"): log_std_as_std,
    ("gaussian_log_prob", "std-not-squared"): std_not_squared,
    ("gaussian_log_prob", "no-half"): no_half_on_square,
    ("gaussian_log_prob", "log-variance"): log_variance_normaliser,
    ("gaussian_log_prob", "not-summed"): log_prob_not_summed,
    ("gaussian_log_prob", "averaged"): log_prob_averaged,
    ("gaussian_entropy", "no-sum"): entropy_not_summed,
    ("gaussian_entropy", "constant-once"): entropy_constant_once,
    ("gaussian_entropy", "averaged"): entropy_averaged,
    ("gaussian_entropy", "half-log-std"): entropy_half_log_std,
    ("GaussianActor", "log-std-not-exponentiated"): LogStdNotExponentiated,
    ("GaussianActor", "log-std-not-a-parameter"): LogStdNotAParameter,
    ("GaussianActor", "log-prob-of-clipped-action"): LogProbOfClippedAction,
    ("GaussianActor", "stores-clipped-action"): StoresClippedAction,
    ("GaussianActor", "env-action-not-clipped"): EnvActionNotClipped,
    ("GaussianActor", "mean-as-action"): MeanAsAction,
    ("GaussianActor", "log-prob-not-summed"): LogProbNotSummed,
}

DERIVED = {}
