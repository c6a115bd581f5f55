"""m02: inputs as they arrive in training. The critic's values carry its gradient, so a
version that calls ``.numpy()`` on them (fine on plain tensors, a crash in training) loses
most of its points in ``ppo-course grade``, whatever the hidden seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder.core import CORE_CAP
from tests.helpers import grade_version

SEEDS = (1, 2, 3)


def numpy_explained_variance(values, returns):
    v, r = values.numpy().astype(np.float64), returns.numpy().astype(np.float64)
    var = r.var(ddof=1)
    return math.nan if var == 0 else float(1.0 - (r - v).var(ddof=1) / var)


def numpy_advantages(returns, values):
    return torch.from_numpy(returns.numpy() - values.numpy())


def numpy_value_loss(values, returns):
    return torch.tensor(0.5 * ((values.numpy() - returns.numpy()) ** 2).mean())


@pytest.mark.parametrize(
    ("function", "version"),
    [
        ("explained_variance", numpy_explained_variance),
        ("advantages_from_baseline", numpy_advantages),
        ("value_mse_loss", numpy_value_loss),
    ],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_numpy_version_loses_most_points(function, version, seed):
    torch.set_num_threads(1)
    result = grade_version("m02", function, version, seed)
    assert result.score <= round(result.max_score * CORE_CAP, 2), [
        c.case.name for c in result.cases if c.passed and c.case.kind != "known"
    ]
    # on tensors without a gradient the numpy version computes the right numbers
    plain = [c for c in result.cases if c.case.kind == "known" and c.passed]
    assert plain, "the numpy version should agree with the reference on plain tensors"
