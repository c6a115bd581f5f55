"""What the properties of m08 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Normal


def _policy(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the stddev (B, A) that the fixed architecture gives with these weights."""
    p, x = inputs["params"], inputs["obs"]
    h = torch.tanh(x @ p["mean_net.0.weight"].T + p["mean_net.0.bias"])
    h = torch.tanh(h @ p["mean_net.2.weight"].T + p["mean_net.2.bias"])
    mean = h @ p["mean_net.4.weight"].T + p["mean_net.4.bias"]
    return mean, p["log_std"].exp().expand_as(mean)


def _torch_log_prob(inputs: dict[str, Any]) -> torch.Tensor:
    dist = Normal(inputs["mean"], inputs["log_std"].exp())
    return dist.log_prob(inputs["actions"]).sum(-1)


def _mean_gradient(inputs: dict[str, Any]) -> dict[str, Any]:
    var = (2.0 * inputs["log_std"]).exp()
    grad = (inputs["actions"] - inputs["mean"]) / var.expand_as(inputs["mean"])
    return {"output": _torch_log_prob(inputs), "grad": grad}


def _log_std_gradient(inputs: dict[str, Any]) -> dict[str, Any]:
    z = (inputs["actions"] - inputs["mean"]) / inputs["log_std"].exp()
    per_sample = z.pow(2) - 1.0
    grad = per_sample if inputs["log_std"].dim() == 2 else per_sample.sum(0)
    return {"output": _torch_log_prob(inputs), "grad": grad}


def _torch_entropy(inputs: dict[str, Any]) -> torch.Tensor:
    log_std = inputs["log_std"]
    mean = inputs.get("mean", torch.zeros_like(log_std))
    return Normal(mean, log_std.exp()).entropy().sum(-1)


def _expected_distribution(inputs: dict[str, Any]) -> dict[str, Any]:
    mean, std = _policy(inputs)
    return {"type": "Normal", "mean": mean, "stddev": std}


def _expected_structure(inputs: dict[str, Any]) -> dict[str, Any]:
    obs_dim, act_dim, hidden = inputs["obs_dim"], inputs["act_dim"], inputs["hidden"]
    shapes = {
        "mean_net.0.weight": [hidden, obs_dim],
        "mean_net.0.bias": [hidden],
        "mean_net.2.weight": [hidden, hidden],
        "mean_net.2.bias": [hidden],
        "mean_net.4.weight": [act_dim, hidden],
        "mean_net.4.bias": [act_dim],
        "log_std": [act_dim],
    }
    return {
        "log_std_is_parameter": True,
        "log_std": torch.full((act_dim,), -0.5),
        "parameters": sorted([name, shape] for name, shape in shapes.items()),
    }


def _expected_gradients(inputs: dict[str, Any]) -> dict[str, Any]:
    mean, std = _policy(inputs)
    z = (inputs["actions"] - mean) / std
    return {
        "log_std": (z.pow(2) - 1.0).sum(0),
        "mean_net.4.bias": (z / std).sum(0),
    }


ORACLES = {
    "torch_log_prob": _torch_log_prob,
    "mean_gradient": _mean_gradient,
    "log_std_gradient": _log_std_gradient,
    "gaussian_entropy_gradient_with": lambda inputs: {
        "output": _torch_entropy(inputs),
        "grad": torch.ones_like(inputs["log_std"]),
    },
    "torch_entropy": _torch_entropy,
    "expected_structure": _expected_structure,
    "expected_gradients": _expected_gradients,
    "expected_distribution": _expected_distribution,
}
