"""What the properties of m06 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _td_errors(inputs: dict[str, Any]) -> torch.Tensor:
    not_terminated = 1.0 - inputs["terminated"].float()
    return (
        inputs["rewards"]
        + inputs["gamma"] * not_terminated * inputs["next_values"]
        - inputs["values"]
    )


def _lambda_zero(inputs: dict[str, Any]):
    deltas = _td_errors(inputs)
    return deltas, deltas + inputs["values"]


def _monte_carlo(inputs: dict[str, Any]):
    """G_t = r_t + gamma * G_{t+1} inside an episode, 0 after a termination, and
    next_values[T - 1] after the last step: the bootstrapped Monte-Carlo return."""
    rewards, gamma = inputs["rewards"], inputs["gamma"]
    not_terminated = 1.0 - inputs["terminated"].float()
    following = inputs["next_values"][-1]
    returns = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        following = rewards[t] + gamma * not_terminated[t] * following
        returns[t] = following
    return returns - inputs["values"], returns


def _gamma_zero(inputs: dict[str, Any]):
    return inputs["rewards"] - inputs["values"], inputs["rewards"]


ORACLES = {
    "lambda_zero": _lambda_zero,
    "monte_carlo": _monte_carlo,
    "gamma_zero": _gamma_zero,
}
