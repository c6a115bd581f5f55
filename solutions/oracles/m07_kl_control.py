"""What the properties of m07 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _objective(inputs: dict[str, Any]) -> torch.Tensor:
    return (inputs["ratio"] * inputs["advantages"]).mean() - inputs["beta"] * inputs["kl"]


ORACLES = {
    "kl_penalty_objective_gradient_a_b": lambda inputs: {
        "output": _objective(inputs),
        "grad": inputs["advantages"] / inputs["advantages"].shape[0],
    },
    "kl_penalty_objective_gradient_beta": lambda inputs: {
        "output": _objective(inputs),
        "grad": torch.tensor(-3.0),
    },
    "kl_penalty_objective_beta_0_gives": lambda inputs: (
        inputs["ratio"] * inputs["advantages"]
    ).mean(),
}
