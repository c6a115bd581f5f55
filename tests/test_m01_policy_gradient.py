"""m01: inputs as they arrive in training. Logits and log-probabilities come from the
policy and carry its gradient, so a version that calls ``.numpy()`` on them, or detaches
them, loses most of its points in ``ppo-course grade``, whatever the hidden seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.core import CORE_CAP
from tests.helpers import grade_version, with_a_cpu_buffer

SEEDS = (1, 2, 3)


def numpy_log_prob(logits, actions):
    z = logits.numpy()
    log_p = z - z.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return torch.from_numpy(np.take_along_axis(log_p, actions.numpy()[:, None], -1)[:, 0])


def detached_log_prob(logits, actions):
    log_p = torch.log_softmax(logits.detach(), dim=-1)
    return log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def numpy_entropy(logits):
    z = logits.numpy()
    log_p = z - z.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return torch.from_numpy(-(np.exp(log_p) * log_p).sum(-1))


def numpy_pg_loss(log_probs, weights):
    return torch.tensor(-(log_probs.numpy() * weights.numpy()).mean())


def detached_pg_loss(log_probs, weights):
    return -(log_probs.detach() * weights).mean()


@pytest.mark.parametrize(
    ("function", "version"),
    [
        ("categorical_log_prob", numpy_log_prob),
        ("categorical_log_prob", detached_log_prob),
        ("categorical_entropy", numpy_entropy),
        ("policy_gradient_loss", numpy_pg_loss),
        ("policy_gradient_loss", detached_pg_loss),
    ],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_version_without_the_gradient_loses_most_points(function, version, seed):
    torch.set_num_threads(1)
    result = grade_version("m01", function, version, seed)
    assert result.score <= round(result.max_score * CORE_CAP, 2), [
        c.case.name for c in result.cases if c.passed and c.case.kind != "known"
    ]


def test_a_buffer_made_without_device_costs_the_device_property():
    version = with_a_cpu_buffer("m01", "discounted_returns")
    result = grade_version("m01", "discounted_returns", version, 1)
    failing = [c.case.name for c in result.cases if not c.passed]
    assert failing == ["property: makes its buffers on the inputs' device"]
