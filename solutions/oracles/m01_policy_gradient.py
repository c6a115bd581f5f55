"""What the properties of m01 expect, computed from the definitions (oracles)."""

from __future__ import annotations

import torch
from torch.distributions import Categorical


def _reverse_cumsum(inputs):
    return inputs["rewards"].flip(0).cumsum(0).flip(0)


def _torch_log_prob(inputs):
    return Categorical(logits=inputs["logits"]).log_prob(inputs["actions"])


def _log_prob_gradient(inputs):
    logits, actions = inputs["logits"], inputs["actions"]
    onehot = torch.nn.functional.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return {"output": _torch_log_prob(inputs), "grad": onehot - torch.softmax(logits, dim=-1)}


def _torch_entropy(inputs):
    return Categorical(logits=inputs["logits"]).entropy()


def _pg_gradient(inputs):
    log_probs, weights = inputs["log_probs"], inputs["weights"]
    return {
        "output": -(log_probs * weights).mean(),
        "grad": -weights / log_probs.shape[0],
    }


def _entropy_gradient(inputs):
    logits = inputs["logits"].detach().clone().requires_grad_(True)
    entropy = Categorical(logits=logits).entropy()
    entropy.sum().backward()
    return {"output": entropy.detach(), "grad": logits.grad}


ORACLES = {
    "entropy_gradient": _entropy_gradient,
    "reverse_cumsum": _reverse_cumsum,
    "torch_log_prob": _torch_log_prob,
    "log_prob_gradient": _log_prob_gradient,
    "torch_entropy": _torch_entropy,
    "pg_gradient": _pg_gradient,
}
