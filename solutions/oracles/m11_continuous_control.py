"""What the properties of m11 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _all_at_once(inputs: dict[str, Any]) -> dict[str, Any]:
    """The mean and population variance of every value of every batch, taken together."""
    data = torch.cat([b.to(torch.float64) for b in inputs["batches"]])
    return {
        "mean": data.mean(0),
        "var": data.var(0, correction=0),
        "count": float(data.shape[0]),
    }


def _tiny_variance(inputs: dict[str, Any]) -> torch.Tensor:
    """The definition, in float64: clip((obs - mean) / sqrt(var + eps), -clip, clip)."""
    obs = inputs["obs"]
    scaled = (obs.to(torch.float64) - inputs["mean"]) / torch.sqrt(inputs["var"] + inputs["eps"])
    return scaled.clamp(-inputs["clip"], inputs["clip"]).to(obs.dtype)


def _scaled_rewards(inputs: dict[str, Any]) -> dict[str, Any]:
    """The scaler's definition step by step, in float64, with the returns' statistics taken
    over every return so far (all at once, not merged)."""
    rewards = inputs["rewards"].to(torch.float64)
    done = inputs["terminated"].bool() | inputs["truncated"].bool()
    gamma, clip, eps = inputs["gamma"], inputs["clip"], inputs["eps"]
    running = torch.zeros(rewards.shape[1], dtype=torch.float64)
    seen, scaled = [], []
    for t in range(rewards.shape[0]):
        running = gamma * running + rewards[t]
        seen.append(running)
        var = torch.cat(seen).var(correction=0)
        scaled.append((rewards[t] / torch.sqrt(var + eps)).clamp(-clip, clip))
        running = torch.where(done[t], torch.zeros_like(running), running)
    every = torch.cat(seen)
    return {
        "scaled": torch.stack(scaled).to(inputs["rewards"].dtype),
        "returns": running,
        "return_var": every.var(correction=0),
        "count": float(every.shape[0]),
    }


ORACLES = {
    "all_at_once": _all_at_once,
    "tiny_variance": _tiny_variance,
    "scaled_rewards": _scaled_rewards,
}
