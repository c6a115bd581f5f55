"""What the properties of m04 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _spinning_up_form(inputs: dict[str, Any]) -> torch.Tensor:
    """-mean(min(r A, g(eps, A))) with g = (1 + eps) A for A >= 0, (1 - eps) A for A < 0:
    the simplified form of the objective given by Spinning Up, a different formula."""
    advantages, ratio, eps = inputs["advantages"], inputs["ratio"], inputs["clip_coef"]
    g = torch.where(advantages >= 0, (1 + eps) * advantages, (1 - eps) * advantages)
    return -torch.min(ratio * advantages, g).mean()


def _unclipped_gradient(inputs: dict[str, Any]) -> dict[str, Any]:
    advantages = inputs["advantages"]
    return {
        "output": _spinning_up_form(inputs),
        "grad": -advantages / advantages.shape[0],
    }


ORACLES = {
    "unclipped_gradient": _unclipped_gradient,
    "spinning_up_form": _spinning_up_form,
    "clipped_surrogate_loss_ratio_1_gives": lambda inputs: -inputs["advantages"].mean(),
}
