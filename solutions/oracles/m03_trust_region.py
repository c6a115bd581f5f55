"""What the properties of m03 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Categorical, kl_divergence


def _vanilla_policy_gradient(inputs: dict[str, Any]) -> dict[str, Any]:
    logits = inputs["logits"].detach().clone().requires_grad_(True)
    log_probs = Categorical(logits=logits).log_prob(inputs["actions"])
    (log_probs * inputs["advantages"]).mean().backward()
    return {"objective": inputs["advantages"].mean(), "grad": logits.grad}


def _torch_kl(inputs: dict[str, Any]) -> torch.Tensor:
    return kl_divergence(
        Categorical(logits=inputs["old_logits"]), Categorical(logits=inputs["new_logits"])
    )


def _both_exact_kl(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    exact = kl_divergence(
        Categorical(logits=inputs["old_logits"]), Categorical(logits=inputs["new_logits"])
    )
    return exact, exact


def _dense_solve(inputs: dict[str, Any]) -> torch.Tensor:
    return torch.linalg.solve(inputs["matrix"].double(), inputs["b"].double()).float()


def _expected_trace(inputs: dict[str, Any]) -> dict[str, Any]:
    """What the rule gives for a table, worked out from the rule itself."""
    tried = []
    for k in range(inputs["max_backtracks"]):
        f = 0.5**k
        tried.append(round(f, 6))
        improvement, kl = float(inputs["improvements"][k]), float(inputs["kls"][k])
        threshold = inputs["accept_ratio"] * f * inputs["expected_improve"]
        if kl <= inputs["max_kl"] and improvement > 0 and improvement >= threshold:
            return {"result": (True, f * inputs["full_step"]), "tried": tried}
    return {"result": (False, torch.zeros_like(inputs["full_step"])), "tried": tried}


def _kl_with_underflow(inputs: dict[str, Any]) -> torch.Tensor:
    """The sum over actions in float64, where none of the probabilities underflows."""
    old = torch.log_softmax(inputs["old_logits"].double(), -1)
    new = torch.log_softmax(inputs["new_logits"].double(), -1)
    return (old.exp() * (old - new)).sum(-1).float()


def _kl_gradient_old(inputs: dict[str, Any]) -> dict[str, Any]:
    """torch.distributions' KL differentiated with respect to the old logits."""
    old = inputs["old_logits"].detach().clone().requires_grad_(True)
    kl = kl_divergence(Categorical(logits=old), Categorical(logits=inputs["new_logits"]))
    kl.sum().backward()
    return {"output": kl.detach(), "grad": old.grad}


ORACLES = {
    "categorical_kl_gradient_old": _kl_gradient_old,
    "probability_ratio_gradient_through": lambda inputs: {
        "output": torch.exp(inputs["new_log_probs"] - inputs["old_log_probs"]),
        "grad": torch.exp(inputs["new_log_probs"] - inputs["old_log_probs"]),
    },
    "probability_ratio_no_gradient": lambda inputs: {
        "output": torch.exp(inputs["new_log_probs"] - inputs["old_log_probs"]),
        "grad": torch.zeros(5),
    },
    "vanilla_policy_gradient": _vanilla_policy_gradient,
    "surrogate_objective_gradient_with": lambda inputs: {
        "output": (inputs["ratio"] * inputs["advantages"]).mean(),
        "grad": inputs["advantages"] / 7,
    },
    "torch_kl": _torch_kl,
    "categorical_kl_gradient_with_respect": lambda inputs: {
        "output": _torch_kl(inputs),
        "grad": torch.softmax(inputs["new_logits"], -1) - torch.softmax(inputs["old_logits"], -1),
    },
    "both_exact_kl": _both_exact_kl,
    "dense_solve": _dense_solve,
    "conjugate_gradient_stops_after_one": lambda inputs: {"x": inputs["b"] / 3.0, "products": 1},
    "expected_trace": _expected_trace,
    "ratio_of_unlikely_actions": lambda inputs: torch.exp(
        inputs["new_log_probs"].double() - inputs["old_log_probs"].double()
    ).float(),
    "kl_with_underflow": _kl_with_underflow,
}
