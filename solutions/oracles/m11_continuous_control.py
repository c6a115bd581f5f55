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


ORACLES = {"all_at_once": _all_at_once, "tiny_variance": _tiny_variance}
