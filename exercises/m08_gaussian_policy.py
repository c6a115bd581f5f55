# Exercise m08: Continuous actions: Gaussian policy heads.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m08
# Generated from solutions/m08_gaussian_policy.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m08: continuous actions with a Gaussian policy head.

For an action a in R^A the policy is a diagonal Gaussian: each action dimension j is
drawn independently from N(mu_j(s), sigma_j^2). The network outputs the mean mu(s); the
spread is a learned vector log sigma of shape (A,), the same for every state (as in the
PPO paper's MuJoCo experiments). Learning log sigma instead of sigma keeps sigma
positive without any constraint.

Because the dimensions are independent, the log-density and the entropy of the joint
action are *sums* over the action dimensions:

    log pi(a|s) = sum_j [ -(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - 0.5 log 2pi ]
    H(pi(.|s))  = sum_j [ 0.5 log(2 pi e) + log sigma_j ]

An environment's action space has bounds; a Gaussian sample does not. The action sent
to the environment is clipped to the bounds, but the rollout stores the sample itself
and its log-probability: that is the action the policy took.

Shapes: B batch, A action dimensions.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal


# --8<-- [start:gaussian_log_prob]
def gaussian_log_prob(
    mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """Log-density of actions under a diagonal Gaussian policy, summed over action dims.

    log pi(a|s) = sum_j [ -0.5 * ((a_j - mu_j) / sigma_j)^2 - log sigma_j
                          - 0.5 * log(2 pi) ],
    with sigma_j = exp(log_std_j).

    Source: the normal density; the PPO paper (Schulman et al., 2017), section 6.1, uses
    this policy with a state-independent log_std. Compare
    ``torch.distributions.Normal(mean, log_std.exp()).log_prob(actions).sum(-1)``.

    Args:
        mean: (B, A) float, the policy's mean mu(s) for each state.
        log_std: (A,) float, one log sigma per action dimension shared by all states, or
            (B, A) for a state-dependent spread.
        actions: (B, A) float, the actions whose log-density is wanted.

    Returns:
        (B,) float: log pi(a_i|s_i), differentiable with respect to ``mean`` and
        ``log_std``.

    Trap: the A dimensions are independent, so the joint log-density is the *sum* over
    the last axis (not the mean, and not (B, A)). The parameter is a log: sigma =
    exp(log_std), the square goes on sigma, and the normaliser is log sigma (not log
    sigma^2). Write the formula; do not build ``torch.distributions`` here.
    """
    # YOUR CODE HERE (see docs/modules/m08_gaussian_policy.md#gaussian_log_prob)
    raise NotImplementedError("m08.gaussian_log_prob: not implemented yet")


# --8<-- [end:gaussian_log_prob]


# --8<-- [start:gaussian_entropy]
def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, from its log standard deviations.

    H = sum_j [ 0.5 * log(2 pi e) + log sigma_j ]   (the mean does not enter).

    Source: Cover & Thomas, *Elements of Information Theory* (2nd ed.), chapter 8 (the
    differential entropy of a normal vector); compare
    ``torch.distributions.Normal(mean, std).entropy().sum(-1)``.

    Args:
        log_std: (..., A) float, log sigma per action dimension: (A,) for a
            state-independent spread (gives a 0-dim tensor), (B, A) for one per state.

    Returns:
        (...) float: the entropy, the last dimension summed away.

    Trap: the constant 0.5 * log(2 pi e) belongs to every dimension, so it is added A
    times; ``0.5 * log(2 pi e) + log_std.sum()`` is right only when A = 1.
    """
    # YOUR CODE HERE (see docs/modules/m08_gaussian_policy.md#gaussian_entropy)
    raise NotImplementedError("m08.gaussian_entropy: not implemented yet")


# --8<-- [end:gaussian_entropy]


# --8<-- [start:GaussianActor]
class GaussianActor(nn.Module):
    """A Gaussian policy for continuous actions: a mean network and a learned log_std.

    pi(.|s) = N(mu(s), diag(exp(log_std))^2), where mu is an MLP and log_std is one
    parameter per action dimension, shared by all states.

    The attribute names and the architecture are part of the exercise (the checks load
    known weights into them):

    - ``self.mean_net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(),
      nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, act_dim))``, so the
      parameters are ``mean_net.0.weight``, ``mean_net.0.bias``, ``mean_net.2.*`` and
      ``mean_net.4.*``;
    - ``self.log_std = nn.Parameter(torch.full((act_dim,), initial_log_std))``.

    Source: Schulman et al. (2017), "Proximal Policy Optimization Algorithms", section
    6.1 (two tanh layers of 64 units, state-independent log standard deviations); the
    clipping of the env action follows Stable-Baselines3 and CleanRL.

    Args:
        obs_dim: size of a (flat) observation.
        act_dim: A, the number of action dimensions.
        hidden: width of the two hidden layers.
        initial_log_std: the starting value of every log sigma (0 gives sigma = 1).

    Trap: ``log_std`` must be an ``nn.Parameter``: a plain tensor attribute is not
    returned by ``parameters()``, so the optimiser never changes it and the policy never
    learns how much to explore.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 64, initial_log_std: float = 0.0
    ) -> None:
        super().__init__()
        # YOUR CODE HERE (see docs/modules/m08_gaussian_policy.md#GaussianActor)
        raise NotImplementedError("m08.GaussianActor.__init__: not implemented yet")

    def distribution(self, obs: torch.Tensor) -> Normal:
        """The policy at a batch of observations.

        Args:
            obs: (B, obs_dim) float.

        Returns:
            ``torch.distributions.Normal`` whose ``mean`` and ``stddev`` are (B, A); the
            stddev is exp(log_std) in every row.

        Trap: ``Normal`` takes the standard deviation, not its log: pass
        ``self.log_std.exp()``.
        """
        # YOUR CODE HERE (see docs/modules/m08_gaussian_policy.md#GaussianActor)
        raise NotImplementedError("m08.GaussianActor.distribution: not implemented yet")

    def act(
        self, obs: torch.Tensor, low: torch.Tensor, high: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions for a rollout: what to store, and what to send to the env.

        a ~ pi(.|s);  log_prob = log pi(a|s), summed over dims;
        env_action = clip(a, low, high)

        Args:
            obs: (B, obs_dim) float.
            low: (A,) float, the action space's lower bounds (``space.low``, a tensor).
            high: (A,) float, its upper bounds.

        Returns:
            ``(action, log_prob, env_action)``: the sample (B, A), unclipped; its
            log-probability (B,); the sample clipped to [low, high] (B, A), for the env.

        Trap: only the env's copy is clipped. The stored action and its log-probability
        must be the sample itself: the PPO ratio later evaluates pi_new at the stored
        action, and the log-density of a clipped action is not what the policy did (a
        clipped value sits on the bound for a whole range of samples).
        """
        # YOUR CODE HERE (see docs/modules/m08_gaussian_policy.md#GaussianActor)
        raise NotImplementedError("m08.GaussianActor.act: not implemented yet")


# --8<-- [end:GaussianActor]
