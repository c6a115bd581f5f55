"""Checks and known mistakes for m02, the critic: baselines and advantages."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder import draw
from autograder.checks import (
    HIDDEN_WEIGHT,
    batch_of_one_property,
    float64_property,
    reference_property,
)
from autograder.core import Check, Fixture, Hidden, Mistake, Property, call
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_first, output_type
from course.modules import BY_ID

MODULE = BY_ID["m02"]


def _pair(seed: int, B: int, noise: float = 1.0) -> dict[str, Any]:
    """Returns and values that are correlated, like a half-trained critic's."""
    g = draw.generator(seed)
    returns = draw.normal(g, B, scale=3.0) + 1.0
    values = returns + draw.normal(g, B, scale=noise)
    return {"returns": returns, "values": values}


def _draw_pairs(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 2, 12)
        returns = draw.normal(g, B, scale=3.0)
        values = returns + draw.normal(g, B)
        pair = {"returns": returns, "values": values}
        # values come straight from the critic, so they carry its gradient (a function that
        # calls .numpy() on them fails in training); batch 2 is float64, as a float64
        # rollout buffer holds the returns
        dtype = torch.float64 if i == 1 else None
        pair = _as_in_training(pair, dtype=dtype, grad=("values",))
        kind = ", float64" if i == 1 else ""
        cases.append((f"random batch {i + 1} (B={B}{kind}, values require grad)", pair))
    return cases


def _swap(inputs: dict[str, Any]) -> dict[str, Any]:
    """The same inputs in (values, returns) order."""
    return {"values": inputs["values"], "returns": inputs["returns"]}


def _as_in_training(
    inputs: dict[str, Any], dtype: torch.dtype | None = None, grad: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The inputs as they arrive in training: cast to ``dtype`` (float64 buffers), and
    ``grad`` the names that still carry the critic's gradient (requires_grad)."""
    out = {}
    for key, value in inputs.items():
        value = value.to(dtype) if dtype is not None else value.clone()
        out[key] = value.requires_grad_(True) if key in grad else value
    return out


# ==== advantages_from_baseline


def advantage_grad_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Call with ``values`` requiring grad; report whether the result carries a gradient."""
    values = inputs["values"].detach().clone().requires_grad_(True)
    out = getattr(ns, function)(inputs["returns"].clone(), values)
    return {"output": out, "carries_gradient": bool(getattr(out, "requires_grad", False))}


ADVANTAGES_FROM_BASELINE = Check(
    MODULE,
    "advantages_from_baseline",
    points=2,
    summary="A = G - V with no gradient into the critic",
    fixtures=[
        Fixture(
            "hand: three steps",
            {"returns": torch.tensor([3.0, 1.0, 2.0]), "values": torch.tensor([2.5, 1.5, 2.0])},
            note="3 - 2.5 = 0.5 (better than expected), 1 - 1.5 = -0.5 (worse), 2 - 2 = 0",
            expected=torch.tensor([0.5, -0.5, 0.0]),
        ),
        Fixture("random batch", lambda: _pair(41, B=7), note="seven steps"),
        Fixture(
            "float64 returns and values",
            lambda: _as_in_training(_pair(42, B=5), dtype=torch.float64),
            note="float64 in, float64 out",
        ),
    ],
    hidden=[Hidden(_draw_pairs, probe=advantage_grad_probe, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _pair(43, B=6)),
        batch_of_one_property(lambda: _pair(44, B=1)),
        Property(
            "carries no gradient into the critic",
            lambda: _pair(42, B=5),
            note="values requires grad (it comes from the critic); the advantage must not",
            probe=advantage_grad_probe,
            weight=3.0,
            expect=stored("advantages_from_baseline_carries_no"),
        ),
    ],
    mistakes=[
        Mistake(
            "no-detach",
            "the advantage still depends on the critic's parameters",
            "Backpropagating the policy loss through A = G - V(s) changes the critic to make "
            "the policy loss small, not to predict returns. Use values.detach().",
        ),
        Mistake(
            "reversed",
            "V - G instead of G - V",
            "The advantage is positive when the action did better than the critic expected: "
            "return minus value.",
        ),
        Mistake(
            "normalised",
            "the advantages are normalised here",
            "This function returns R - V as it is; normalising is a separate step "
            "(normalize_advantages), done per minibatch where a trainer wants it. Folded in here, "
            "the scale of the advantages is lost wherever they are used raw.",
        ),
        Mistake(
            "mean-return-baseline",
            "the baseline is the mean return, not the critic's value",
            "The mean of the returns is the simplest baseline of REINFORCE, but this function "
            "takes the critic's values V(s_t): each state gets its own baseline, R_t - V(s_t).",
        ),
    ],
)


# ==== normalize_advantages


def _advantages(seed: int, B: int, scale: float = 3.0, shift: float = 1.0) -> dict[str, Any]:
    return {"advantages": draw.normal(draw.generator(seed), B, scale=scale) + shift}


def _draw_advantages(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 2, 16)
        advantages = draw.normal(g, B, scale=draw.scalar(g, 0.1, 10.0)) + 2.0
        dtype = torch.float64 if i == 1 else torch.float32
        name = f"random batch {i + 1} (B={B}{', float64' if i == 1 else ''})"
        cases.append((name, {"advantages": advantages.to(dtype)}))
    return cases


def affine_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Normalise x and 7x - 3: the results must be the same."""
    x = inputs["advantages"]
    return {
        "plain": call(ns, function, {"advantages": x}),
        "scaled": call(ns, function, {"advantages": 7.0 * x - 3.0}),
    }


def _same_after_affine(received, inputs):
    a, b = received["plain"], received["scaled"]
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return "expected two tensors of the input's shape"
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        return "normalising 7 * A - 3 should give the same result as normalising A"
    return None


def _standardised(received, inputs):
    if not isinstance(received, torch.Tensor) or received.shape != inputs["advantages"].shape:
        return "expected a tensor of the input's shape"
    mean, std = float(received.mean()), float(received.std())
    if abs(mean) > 1e-5 or abs(std - 1.0) > 1e-5:
        return f"expected mean 0 and unbiased std 1, got mean {mean:.3g} and std {std:.6g}"
    return None


NORMALIZE_ADVANTAGES = Check(
    MODULE,
    "normalize_advantages",
    points=2,
    summary="mean 0, unbiased std 1",
    fixtures=[
        Fixture(
            "hand: 1, 2, 3",
            {"advantages": torch.tensor([1.0, 2.0, 3.0])},
            note="mean 2, unbiased std sqrt(((-1)^2 + 0^2 + 1^2) / 2) = 1, so -1, 0, 1",
            expected=torch.tensor([-1.0, 0.0, 1.0]),
        ),
        Fixture(
            "hand: a constant batch",
            {"advantages": torch.tensor([5.0, 5.0, 5.0, 5.0])},
            note="std 0: eps keeps the result at 0 instead of 0 / 0 = nan",
            expected=torch.tensor([0.0, 0.0, 0.0, 0.0]),
        ),
        Fixture("random batch", lambda: _advantages(51, B=9), note="nine advantages"),
        Fixture(
            "float64 advantages",
            lambda: _as_in_training(_advantages(54, B=6), dtype=torch.float64),
            note="float64 in, float64 out (eps does not force float32)",
        ),
        Fixture(
            "a large eps",
            lambda: {**_advantages(52, B=6, scale=0.5), "eps": 0.5},
            note="eps = 0.5 shows where eps goes: (A - mean) / (std + eps)",
        ),
    ],
    hidden=[Hidden(_draw_advantages, weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _advantages(55, B=6)),
        reference_property(
            "advantages with a tiny spread",
            lambda: {"advantages": 1e-4 * torch.tensor([1.0, -1.0, 2.0, 0.0, -2.0])},
            note="std 1.58e-4: std + eps and sqrt(var + eps) = 1.87e-4 differ by a sixth; "
            "the docstring divides by std + eps",
        ),
        Property(
            "mean 0 and unbiased std 1",
            lambda: _advantages(53, B=64, scale=4.0, shift=-2.0),
            predicate=_standardised,
        ),
        Property(
            "a constant batch gives zeros",
            lambda: {"advantages": torch.full((6,), -1.25)},
            note="std 0: eps keeps (A - mean) / (std + eps) at 0 instead of 0 / 0 = nan",
            expect=lambda inputs: torch.zeros(6),
        ),
        Property(
            "a tiny spread: eps is added to the standard deviation",
            lambda: _advantages(55, B=8, scale=1e-6, shift=0.0),
            note="std ~ 1e-6, comparable with eps = 1e-8: (A - mean) / (std + eps) is about "
            "+-1, while sqrt(var + eps) ~ 1e-4 would shrink it a hundredfold",
            expect=stored("eps_added_to_std"),
        ),
        Property(
            "unchanged by a positive affine map",
            lambda: _advantages(54, B=10),
            note="normalisation removes any shift and positive scale",
            probe=affine_probe,
            predicate=_same_after_affine,
        ),
    ],
    mistakes=[
        Mistake(
            "biased-std",
            "the biased standard deviation (divide by B instead of B - 1)",
            "torch.std's default is unbiased, as in the PPO implementations this course follows; "
            "std(unbiased=False) or numpy's np.std differ by sqrt(B / (B - 1)).",
        ),
        Mistake(
            "eps-in-sqrt",
            "eps inside the square root",
            "The formula adds eps to the standard deviation: (A - mean) / (std + eps), not "
            "(A - mean) / sqrt(var + eps).",
            kind="edge",
        ),
        Mistake(
            "no-centering",
            "the mean is not subtracted",
            "Normalising means both shifting to mean 0 and scaling to std 1.",
        ),
        Mistake(
            "no-eps",
            "eps is not added",
            "A batch of equal advantages has std 0, and 0 / 0 = nan, which then poisons every "
            "parameter. Add eps to the standard deviation.",
            kind="edge",
        ),
    ],
)


# ==== value_mse_loss


VALUE_MSE_LOSS = Check(
    MODULE,
    "value_mse_loss",
    points=2,
    summary="0.5 * mean((V - G)^2)",
    fixtures=[
        Fixture(
            "hand: three steps",
            {"values": torch.tensor([1.0, 2.0, 3.0]), "returns": torch.tensor([1.0, 0.0, 5.0])},
            note="errors 0, 2, -2; squares 0, 4, 4; mean 8/3; times 0.5 gives 4/3",
            expected=torch.tensor(4.0 / 3.0),
        ),
        Fixture("random batch", lambda: _swap(_pair(61, B=10)), note="ten steps"),
        Fixture(
            "values straight from the critic (they require grad)",
            lambda: _as_in_training(_swap(_pair(63, B=5)), grad=("values",)),
            note="the loss is computed on the critic's output, which carries a gradient",
        ),
        Fixture(
            "float64 values and returns",
            lambda: _as_in_training(_swap(_pair(64, B=4)), dtype=torch.float64),
            note="a float64 loss for float64 inputs",
        ),
        Fixture(
            "a minibatch of one",
            lambda: _swap(_pair(65, B=1)),
            note="B = 1: the loss is 0.5 (V - G)^2, a scalar of shape ()",
        ),
    ],
    hidden=[
        Hidden(
            lambda g: [(name, _swap(inputs)) for name, inputs in _draw_pairs(g)],
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        float64_property(lambda: _swap(_pair(66, B=6))),
        batch_of_one_property(lambda: _swap(_pair(67, B=1))),
        Property(
            "gradient is (V - G) / B",
            lambda: _swap(_pair(62, B=6)),
            note="the factor 0.5 cancels the 2 of the square; this gradient is what trains "
            "the critic, so a loss without it (detached values) trains nothing",
            probe=grad_wrt_first,
            expect=stored("mse_gradient"),
            core=True,
        ),
        Property(
            "zero for a perfect critic",
            lambda: {
                "values": torch.tensor([1.5, -2.0, 0.25]),
                "returns": torch.tensor([1.5, -2.0, 0.25]),
            },
            expect=lambda inputs: torch.tensor(0.0),
        ),
    ],
    mistakes=[
        Mistake(
            "no-half",
            "the factor 0.5 is missing",
            "The course follows the single-file PPO implementations: 0.5 * mean((V - G)^2). "
            "F.mse_loss alone has no 0.5; with it the loss is twice as large, and so is the "
            "critic's effective learning rate.",
        ),
        Mistake(
            "sum",
            "a sum over the batch instead of a mean",
            "The loss should not grow with the batch size: take the mean.",
        ),
        Mistake(
            "detached-values",
            "values is detached in the value loss",
            "The value loss is what trains the critic: its gradient must flow into values. "
            "Detach the values where they weight the policy (the advantage), never here.",
        ),
        Mistake(
            "huber",
            "a Huber (smooth L1) loss instead of the squared error",
            "Some implementations use smooth_l1_loss for the critic, but this function is 0.5 * "
            "mean((V - R)^2): for errors larger than 1 the Huber loss grows only linearly.",
        ),
    ],
)


# ==== explained_variance


EXPLAINED_VARIANCE = Check(
    MODULE,
    "explained_variance",
    points=2,
    summary="1 - Var[G - V] / Var[G], nan for constant returns",
    fixtures=[
        Fixture(
            "hand: a perfect critic",
            {
                "values": torch.tensor([1.0, 2.0, 3.0, 4.0]),
                "returns": torch.tensor([1.0, 2.0, 3.0, 4.0]),
            },
            note="G - V = 0, so EV = 1 - 0 = 1",
            expected=1.0,
        ),
        Fixture(
            "hand: a constant critic",
            {
                "values": torch.tensor([2.5, 2.5, 2.5, 2.5]),
                "returns": torch.tensor([1.0, 2.0, 3.0, 4.0]),
            },
            note="G - V has the same variance as G, so EV = 1 - 1 = 0",
            expected=0.0,
        ),
        Fixture(
            "hand: a rough critic",
            {
                "values": torch.tensor([2.0, 2.0, 4.0, 4.0]),
                "returns": torch.tensor([1.0, 2.0, 3.0, 4.0]),
            },
            note="G - V = (-1, 0, -1, 0): variance 1/3; Var[G] = 5/3; EV = 1 - 1/5 = 0.8",
            expected=0.8,
        ),
        Fixture(
            "hand: constant returns",
            {"values": torch.tensor([0.0, 1.0, 2.0]), "returns": torch.tensor([3.0, 3.0, 3.0])},
            note="Var[G] = 0: the ratio is undefined, so nan",
            expected=math.nan,
        ),
        Fixture("random batch", lambda: _swap(_pair(71, B=12)), note="a critic with some error"),
        Fixture(
            "values straight from the critic (they require grad)",
            lambda: _as_in_training(_swap(_pair(74, B=6)), grad=("values",)),
            note="the trainer passes the critic's output: no .numpy() on it before detaching",
        ),
        Fixture(
            "float64 values and returns",
            lambda: _as_in_training(_swap(_pair(75, B=7)), dtype=torch.float64),
            note="rollout buffers may be float64",
        ),
    ],
    hidden=[
        Hidden(
            lambda g: [(name, _swap(inputs)) for name, inputs in _draw_pairs(g)],
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        float64_property(lambda: _swap(_pair(76, B=7))),
        Property(
            "nan for constant returns",
            lambda: {
                "values": torch.tensor([0.5, -1.0, 2.0, 0.0, 1.5]),
                "returns": torch.full((5,), 2.0),
            },
            note="Var[G] = 0: no prediction explains anything, and the ratio is undefined",
            predicate=lambda received, inputs: (
                None
                if isinstance(received, float) and math.isnan(received)
                else f"expected nan (a float), got {received!r}"
            ),
        ),
        Property(
            "returns a Python float",
            lambda: _swap(_pair(72, B=5)),
            note="it is a diagnostic to log, not a tensor to differentiate",
            probe=output_type,
            predicate=lambda received, inputs: (
                None
                if received == "float"
                else f"expected a float, got {received} (use float(...) or .item())"
            ),
        ),
    ],
    mistakes=[
        Mistake(
            "over-predictions",
            "divided by the variance of the predictions",
            "Explained variance compares the error with the spread of the *targets*: "
            "1 - Var[G - V] / Var[G].",
        ),
        Mistake(
            "zero-when-constant",
            "0 instead of nan for constant returns",
            "When the returns do not vary, no prediction explains anything and the ratio is "
            "0 / 0: report nan rather than a number that looks meaningful.",
            kind="edge",
        ),
        Mistake(
            "no-one-minus",
            "the unexplained fraction, Var[G - V] / Var[G], instead of 1 minus it",
            "A perfect critic has explained variance 1: EV = 1 - Var[G - V] / Var[G].",
        ),
        Mistake(
            "mixed-variances",
            "a biased variance in one place and an unbiased one in the other",
            "Use the same variance in the numerator and the denominator so the B / (B - 1) "
            "factors cancel.",
        ),
    ],
)

CHECKS = bind_stored(
    [
        ADVANTAGES_FROM_BASELINE,
        NORMALIZE_ADVANTAGES,
        VALUE_MSE_LOSS,
        EXPLAINED_VARIANCE,
    ]
)
