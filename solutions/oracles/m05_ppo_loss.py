"""What the properties of m05 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _value_terms(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    new, old, returns = inputs["new_values"], inputs["old_values"], inputs["returns"]
    eps = inputs["clip_coef"]
    unclipped = (new - returns) ** 2
    clipped = (old + torch.clamp(new - old, -eps, eps) - returns) ** 2
    return unclipped, clipped


def _value_gradient(inputs: dict[str, Any]) -> dict[str, Any]:
    """d L / d V: vf_coef (V - R) / B where the unclipped error counts, 0 where the clipped
    one is strictly larger (the clipped prediction does not depend on V there)."""
    new, returns, vf_coef = inputs["new_values"], inputs["returns"], inputs["vf_coef"]
    unclipped, clipped = _value_terms(inputs)
    if inputs["clip_vloss"]:
        squared = torch.max(unclipped, clipped)
        held = clipped > unclipped
    else:
        squared = unclipped
        held = torch.zeros_like(new, dtype=torch.bool)
    grad = torch.where(held, torch.zeros_like(new), vf_coef * (new - returns) / new.shape[0])
    return {"output": vf_coef * 0.5 * squared.mean(), "grad": grad}


def _expected_step_gradients(inputs: dict[str, Any]) -> dict[str, Any]:
    batch = inputs["batch"]
    B = inputs["entropy"].shape[0]
    ratio = torch.exp(inputs["new_log_probs"] - batch["log_probs"])
    eps = inputs["clip_coef"]
    assert bool(((ratio - 1).abs() < eps).all()), "the property needs ratios inside the band"
    adv = batch["advantages"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    error = inputs["new_values"] - batch["returns"]
    vf, ent = inputs["vf_coef"], inputs["ent_coef"]
    loss = -(adv * ratio).mean() + vf * 0.5 * (error**2).mean() - ent * inputs["entropy"].mean()
    return {
        "loss": loss,
        # d(-A' r / B)/d log pi = -A' r / B, since d r / d log pi = r
        "d loss / d new_log_probs": -adv * ratio / B,
        "d loss / d entropy": torch.full_like(inputs["entropy"], -ent / B),
        "d loss / d new_values": vf * error / B,
    }


ORACLES = {
    "value_gradient": _value_gradient,
    "value_loss_inside_the_band_clipping": lambda inputs: (
        0.5 * 0.5 * ((inputs["new_values"] - inputs["returns"]) ** 2).mean()
    ),
    "entropy_loss_gradient_ent_coef_b": lambda inputs: {
        "output": -0.05 * inputs["entropy"].mean(),
        "grad": torch.full_like(inputs["entropy"], -0.05 / 6),
    },
    "ppo_loss_gradient_1_with_respect_to": lambda inputs: {
        "output": inputs["pg_loss"] + inputs["v_loss"] + inputs["ent_loss"],
        "d/d pg_loss": torch.tensor(1.0),
        "d/d v_loss": torch.tensor(1.0),
        "d/d ent_loss": torch.tensor(1.0),
    },
    "expected_step_gradients": _expected_step_gradients,
}
