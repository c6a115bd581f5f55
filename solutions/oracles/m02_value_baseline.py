"""What the properties of m02 expect, computed from the definitions (oracles)."""

from __future__ import annotations


def _mse_gradient(inputs):
    values, returns = inputs["values"], inputs["returns"]
    return {
        "output": 0.5 * ((values - returns) ** 2).mean(),
        "grad": (values - returns) / values.shape[0],
    }


def _eps_added_to_std(inputs):
    advantages = inputs["advantages"].double()
    return ((advantages - advantages.mean()) / (advantages.std() + 1e-8)).float()


ORACLES = {
    "advantages_from_baseline_carries_no": lambda inputs: {
        "output": inputs["returns"] - inputs["values"],
        "carries_gradient": False,
    },
    "mse_gradient": _mse_gradient,
    "eps_added_to_std": _eps_added_to_std,
}
