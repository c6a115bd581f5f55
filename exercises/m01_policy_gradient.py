# Exercise m01: Vanilla policy gradient (REINFORCE).
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m01
# Generated from solutions/m01_policy_gradient.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m01: the vanilla policy gradient (REINFORCE).

A stochastic policy pi_theta(a|s) is improved by gradient ascent on the expected return.
The policy gradient theorem turns that gradient into an expectation we can sample:

    grad J(theta) = E[ sum_t grad log pi_theta(a_t|s_t) * G_t ],

where G_t is the reward-to-go from step t. This module builds the four pieces that
REINFORCE needs: the reward-to-go, the log-probability and entropy of a categorical
policy, and the loss whose gradient is the (negated) policy gradient.

Shapes: T rollout steps, N parallel environments, B batch, A actions.
"""

from __future__ import annotations

import torch


# --8<-- [start:discounted_returns]
def discounted_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Reward-to-go of every step, cut where an episode ends.

    G_t = r_t + gamma * (1 - done_t) * G_{t+1}, with G_T = 0 after the last step.

    Source: Williams (1992), "Simple statistical gradient-following algorithms";
    Sutton & Barto, *Reinforcement Learning* (2nd ed.), section 13.3.

    Args:
        rewards: (T, N) float, r_t received after the action at step t.
        dones: (T, N) bool or float, True/1 where the episode ended right after step t
            (terminated or truncated).
        gamma: discount factor in [0, 1].

    Returns:
        (T, N) float, same dtype as ``rewards``: G_t for every step and environment.

    Trap: ``done_t`` cuts the sum *after* r_t (the reward of the last step still
    counts), and nothing is bootstrapped past the end of the rollout. Go backwards in
    time and do not write into ``rewards``.
    """
    # YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#discounted_returns)
    raise NotImplementedError("m01.discounted_returns: not implemented yet")


# --8<-- [end:discounted_returns]


# --8<-- [start:categorical_log_prob]
def categorical_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Log-probability of the taken actions under a categorical policy.

    log pi(a|s) = logits[a] - log sum_b exp(logits[b])   (a log-softmax, then a gather).

    Source: any softmax policy; compare ``torch.distributions.Categorical.log_prob``.

    Args:
        logits: (B, A) float, unnormalised action preferences.
        actions: (B,) int64, the index of the action taken in each row.

    Returns:
        (B,) float: log pi(a_i|s_i), differentiable with respect to ``logits``.

    Trap: ``torch.log(torch.softmax(logits))`` underflows to -inf for large logits; use
    ``torch.log_softmax``. Do not build a ``torch.distributions`` object here: write it.
    """
    # YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#categorical_log_prob)
    raise NotImplementedError("m01.categorical_log_prob: not implemented yet")


# --8<-- [end:categorical_log_prob]


# --8<-- [start:categorical_entropy]
def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of a categorical policy, per row.

    H(pi) = - sum_a pi(a) log pi(a), with pi = softmax(logits).

    Source: Shannon (1948); compare ``torch.distributions.Categorical.entropy``.

    Args:
        logits: (B, A) float.

    Returns:
        (B,) float, between 0 (deterministic) and log A (uniform).

    Trap: a probability that underflows to 0 makes ``0 * log 0 = 0 * -inf = nan``;
    use the log-softmax, whose values stay finite.
    """
    # YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#categorical_entropy)
    raise NotImplementedError("m01.categorical_entropy: not implemented yet")


# --8<-- [end:categorical_entropy]


# --8<-- [start:policy_gradient_loss]
def policy_gradient_loss(
    log_probs: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """The loss whose gradient is the negated policy gradient estimate.

    L(theta) = -(1/B) sum_i log pi_theta(a_i|s_i) * w_i

    Source: Williams (1992); Spinning Up, "Vanilla Policy Gradient".

    Args:
        log_probs: (B,) float, log pi(a_i|s_i), carrying the gradient.
        weights: (B,) float, the weight of each sample: the reward-to-go G_t here,
            an advantage in later modules. The caller passes them without gradient.

    Returns:
        A scalar (0-dim) tensor to minimise.

    Trap: the minus sign. Optimisers minimise, and we want to *raise* the probability of
    actions with positive weight.
    """
    # YOUR CODE HERE (see docs/modules/m01_policy_gradient.md#policy_gradient_loss)
    raise NotImplementedError("m01.policy_gradient_loss: not implemented yet")


# --8<-- [end:policy_gradient_loss]
