"""What the properties of m09 expect, computed from the definitions (oracles)."""

from __future__ import annotations

import math
from typing import Any

import torch


def _linear_schedule(inputs):
    n, lr = int(inputs["num_updates"]), inputs["initial_lr"]
    return torch.tensor([(1.0 - (u - 1.0) / n) * lr for u in range(1, n + 1)], dtype=torch.float64)


def _init_facts(inputs: dict[str, Any]) -> dict[str, Any]:
    facts = {
        "actor biases are zero": True,
        "actor gains": torch.tensor([math.sqrt(2), math.sqrt(2), 0.01]),
        "critic biases are zero": True,
        "critic gains": torch.tensor([math.sqrt(2), math.sqrt(2), 1.0]),
    }
    if inputs["kind"] == "continuous":
        facts["log_std"] = torch.zeros(int(inputs["actions"]))
    return facts


ORACLES = {
    "linear_schedule": _linear_schedule,
    "init_facts": _init_facts,
}
