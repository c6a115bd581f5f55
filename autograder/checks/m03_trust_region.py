"""Checks and known mistakes for m03, the ratio objective and the trust region (TRPO)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import torch
from torch.distributions import Categorical

from autograder import draw
from autograder.checks import (
    HIDDEN_WEIGHT,
    batch_of_one_property,
    device_property,
    factory_probe,
    float64_property,
    reference_property,
)
from autograder.core import Check, Fixture, Hidden, InputMutated, Mistake, Property, mutated
from autograder.fixtures import bind_stored, stored
from autograder.probes import (
    grad_wrt_first,
    grad_wrt_second,
    without_distributions,
)
from course.modules import BY_ID

MODULE = BY_ID["m03"]

LN2 = math.log(2.0)


def _log_prob_pair(seed: int, B: int, spread: float = 0.3) -> dict[str, Any]:
    """Log-probabilities of B actions under an old policy and a nearby new one."""
    g = draw.generator(seed)
    old = -draw.uniform(g, B, low=0.1, high=3.0)
    new = old + draw.normal(g, B, scale=spread)
    return {"new_log_probs": new, "old_log_probs": old}


def _draw_log_prob_pairs(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 1, 12)
        old = -draw.uniform(g, B, low=0.1, high=3.0)
        new = old + draw.normal(g, B, scale=draw.scalar(g, 0.05, 1.0))
        cases.append(
            (
                f"random batch {i + 1} (B={B}, new_log_probs require grad)",
                # the new log-probabilities come straight from the policy being updated
                {"new_log_probs": new.requires_grad_(True), "old_log_probs": old},
            )
        )
    return cases


# ==== probability_ratio


PROBABILITY_RATIO = Check(
    MODULE,
    "probability_ratio",
    points=2,
    summary="r = exp(new - old), gradient through the new log-probs only",
    fixtures=[
        Fixture(
            "hand: ratios 1, 2 and 1/2",
            {
                "new_log_probs": torch.tensor([-0.5, -1.0 + LN2, -1.0 - LN2]),
                "old_log_probs": torch.tensor([-0.5, -1.0, -1.0]),
            },
            note="new - old = 0, ln 2 = 0.693147 and -ln 2, so r = exp(0) = 1, exp(ln 2) = 2 "
            "and exp(-ln 2) = 0.5: the second action became twice as likely, the third half "
            "as likely",
            expected=torch.tensor([1.0, 2.0, 0.5]),
        ),
        Fixture("random batch", lambda: _log_prob_pair(101, B=8), note="eight actions"),
        Fixture(
            "very unlikely actions",
            {
                "new_log_probs": torch.tensor([-150.0, -120.0]),
                "old_log_probs": torch.tensor([-149.0, -121.0]),
            },
            note="exp(-150) underflows to 0 in float32, but the ratio, exp(-1) and exp(1), "
            "is an ordinary number",
        ),
    ],
    hidden=[Hidden(_draw_log_prob_pairs, weight=HIDDEN_WEIGHT)],
    properties=[
        Property(
            "equal log-probabilities give ratio 1",
            lambda: {
                "new_log_probs": _log_prob_pair(102, B=6)["old_log_probs"],
                "old_log_probs": _log_prob_pair(102, B=6)["old_log_probs"],
            },
            note="before the first update the new policy is the old one",
            expect=lambda inputs: torch.ones(6),
        ),
        Property(
            "gradient through new_log_probs is the ratio",
            lambda: _log_prob_pair(103, B=5),
            note="d exp(new - old) / d new = exp(new - old): the surrogate's gradient flows "
            "through the ratio",
            probe=grad_wrt_first,
            expect=stored("probability_ratio_gradient_through"),
            core=True,
        ),
        Property(
            "no gradient through old_log_probs",
            lambda: _log_prob_pair(104, B=5),
            note="old_log_probs requires grad here (as it would if it came straight from the "
            "network); the ratio must treat it as a constant",
            probe=grad_wrt_second,
            weight=2.0,
            expect=stored("probability_ratio_no_gradient"),
            core=True,
        ),
        Property(
            "finite for very unlikely actions",
            lambda: {
                "new_log_probs": torch.tensor([-160.0, -110.5, -2.0]),
                "old_log_probs": torch.tensor([-159.0, -112.0, -2.5]),
            },
            note="exp(-160) and exp(-110) underflow to 0 in float32, but the ratios exp(-1), "
            "exp(1.5) and exp(0.5) are ordinary numbers",
            expect=stored("ratio_of_unlikely_actions"),
        ),
        reference_property(
            "ratios far from 1",
            lambda: {
                "new_log_probs": torch.tensor([-0.5, -4.0, -120.0, -1.0]),
                "old_log_probs": torch.tensor([-3.5, -1.0, -125.0, -1.0]),
            },
            note="exp(3) = 20.1, exp(-3) = 0.0498, exp(5) = 148.4 (log-probabilities of -120 "
            "and -125), 1: the ratio is reported as it is, with no clamp of its own (the "
            "clipping is the loss's job, m04)",
        ),
        float64_property(lambda: _log_prob_pair(105, B=6)),
        batch_of_one_property(lambda: _log_prob_pair(106, B=1)),
    ],
    mistakes=[
        Mistake(
            "inverted",
            "pi_old / pi_new instead of pi_new / pi_old",
            "The ratio weights the new policy's probability against the one that collected "
            "the data: exp(new - old). Inverted, the surrogate's gradient points the wrong way.",
        ),
        Mistake(
            "no-detach",
            "the gradient also flows into old_log_probs",
            "pi_old is the fixed policy that sampled the actions. Detach old_log_probs so "
            "only the new policy is optimised.",
        ),
        Mistake(
            "exp-separately",
            "exp(new) / exp(old) instead of exp(new - old)",
            "Equal on paper, not in float32: exp of a log-probability below about -104 "
            "underflows to 0 and the ratio becomes 0 / 0 = nan. Subtract first, then "
            "exponentiate.",
            kind="edge",
        ),
        Mistake(
            "no-exp",
            "the ratio is the difference of the log-probabilities, not its exponential",
            "log pi_new - log pi_old is log r; the ratio is exp(log pi_new - log pi_old), which is"
            " 1, not 0, when the two policies agree.",
        ),
    ],
)


# ==== surrogate_objective


def _ratio_advantages(seed: int, B: int) -> dict[str, Any]:
    g = draw.generator(seed)
    return {
        "ratio": draw.uniform(g, B, low=0.6, high=1.5),
        "advantages": draw.normal(g, B, scale=2.0),
    }


def _draw_ratio_advantages(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 2, 12)  # a mean and a sum differ from B = 2 on
        ratio = draw.uniform(g, B, low=0.5, high=2.0)
        cases.append(
            (
                f"random batch {i + 1} (B={B}, ratio requires grad)",
                {
                    "ratio": ratio.requires_grad_(True),
                    "advantages": draw.normal(g, B, scale=2.0),
                },
            )
        )
    return cases


def _policy_batch(seed: int, B: int, A: int) -> dict[str, Any]:
    g = draw.generator(seed)
    return {
        "logits": draw.normal(g, B, A),
        "actions": draw.integers(g, 0, A, B),
        "advantages": draw.normal(g, B, scale=2.0),
    }


def surrogate_gradient_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Build r = exp(log pi - log pi.detach()) (so r = 1) from logits that require grad, and
    return the objective and its gradient with respect to the logits."""
    logits = inputs["logits"].detach().clone().requires_grad_(True)
    log_probs = Categorical(logits=logits).log_prob(inputs["actions"])
    ratio = torch.exp(log_probs - log_probs.detach())
    objective = getattr(ns, function)(ratio, inputs["advantages"].clone())
    if not isinstance(objective, torch.Tensor) or not objective.requires_grad:
        return {"objective": objective, "grad": torch.zeros_like(logits)}
    objective.sum().backward()
    grad = logits.grad if logits.grad is not None else torch.zeros_like(logits)
    return {"objective": objective, "grad": grad}


SURROGATE_OBJECTIVE = Check(
    MODULE,
    "surrogate_objective",
    points=2,
    summary="mean(r * A), the vanilla policy gradient at r = 1",
    fixtures=[
        Fixture(
            "hand: three samples",
            {"ratio": torch.tensor([1.0, 2.0, 0.5]), "advantages": torch.tensor([3.0, 1.0, -2.0])},
            note="products 1 * 3 = 3, 2 * 1 = 2 and 0.5 * -2 = -1 sum to 4; the mean is 4/3",
            expected=torch.tensor(4.0 / 3.0),
        ),
        Fixture(
            "hand: at ratio 1",
            {
                "ratio": torch.tensor([1.0, 1.0, 1.0, 1.0]),
                "advantages": torch.tensor([1.0, -2.0, 0.5, 2.5]),
            },
            note="before any update r = 1 and the surrogate is the mean advantage, "
            "(1 - 2 + 0.5 + 2.5) / 4 = 0.5",
            expected=torch.tensor(0.5),
        ),
        Fixture("random batch", lambda: _ratio_advantages(111, B=9), note="nine samples"),
    ],
    hidden=[Hidden(_draw_ratio_advantages, weight=HIDDEN_WEIGHT)],
    properties=[
        Property(
            "at ratio 1 its gradient is the vanilla policy gradient",
            lambda: _policy_batch(112, B=6, A=3),
            note="r = exp(log pi - log pi.detach()) equals 1 but carries grad r = grad log pi, "
            "so grad mean(r A) = grad mean(log pi * A), the gradient of m01",
            probe=surrogate_gradient_probe,
            weight=2.0,
            expect=stored("vanilla_policy_gradient"),
            core=True,
        ),
        Property(
            "gradient with respect to the ratio is A / B",
            lambda: _ratio_advantages(113, B=7),
            note="d mean(r A) / d r_i = A_i / B",
            probe=grad_wrt_first,
            expect=stored("surrogate_objective_gradient_with"),
        ),
        reference_property(
            "ratios far from 1",
            lambda: {
                "ratio": torch.tensor([20.0, 0.05, 40.0, 1.0]),
                "advantages": torch.tensor([1.0, -2.0, -0.5, 3.0]),
            },
            note="(20 - 0.1 - 20 + 3) / 4 = 0.725: the surrogate weighs every ratio as it is "
            "(TRPO's trust region, not a clamp, keeps the ratios near 1)",
        ),
        float64_property(lambda: _ratio_advantages(114, B=6)),
        batch_of_one_property(lambda: _ratio_advantages(115, B=1)),
    ],
    mistakes=[
        Mistake(
            "negated",
            "a loss (with a minus sign) instead of the objective",
            "surrogate_objective returns the objective to maximise, mean(r A). The minus sign "
            "belongs where an optimiser minimises it; the course's functions say which they "
            "return.",
        ),
        Mistake(
            "sum",
            "a sum over the batch instead of a mean",
            "The surrogate estimates an expectation: a mean, which does not grow with the "
            "batch size.",
        ),
        Mistake(
            "log-ratio",
            "mean(log r * A) instead of mean(r * A)",
            "That is m01's policy-gradient objective written with the ratio. It has the same "
            "gradient at r = 1, but its value is 0 there, and away from r = 1 it is not the "
            "importance-sampled estimate of the new policy's advantage.",
        ),
        Mistake(
            "ratio-detached",
            "the ratio is detached, so the objective carries no gradient",
            "The surrogate is differentiated with respect to the policy through the ratio: "
            "ratio.detach() keeps the value and loses the gradient, so the update does nothing.",
        ),
    ],
)


# ==== categorical_kl


def _logit_pair(seed: int, B: int, A: int, scale: float = 1.0, spread: float = 0.5):
    g = draw.generator(seed)
    old = draw.normal(g, B, A, scale=scale)
    return {"old_logits": old, "new_logits": old + draw.normal(g, B, A, scale=spread)}


def _draw_logit_pairs(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B, A = draw.size(g, 1, 8), draw.size(g, 2, 6)
        old = draw.normal(g, B, A, scale=2.0)
        new = old + draw.normal(g, B, A, scale=draw.scalar(g, 0.1, 2.0))
        cases.append(
            (
                f"random batch {i + 1} (B={B}, A={A}, new_logits require grad)",
                # TRPO differentiates the KL with respect to the current policy's logits
                {"old_logits": old, "new_logits": new.requires_grad_(True)},
            )
        )
    return cases


def _kl_non_negative(received: Any, inputs: dict[str, Any]) -> str | None:
    B = inputs["old_logits"].shape[0]
    if not isinstance(received, torch.Tensor) or received.shape != (B,):
        return f"expected a tensor of shape ({B},)"
    if not torch.isfinite(received).all():
        return "some KL values are not finite"
    if (received < -1e-6).any():
        return f"KL must be >= 0, got a minimum of {float(received.min()):.4g}"
    return None


CATEGORICAL_KL = Check(
    MODULE,
    "categorical_kl",
    points=3,
    summary="exact KL(pi_old || pi_new) per state",
    fixtures=[
        Fixture(
            "hand: two states",
            {
                "old_logits": torch.tensor([[0.0, 0.0], [1.0, 2.0]]),
                "new_logits": torch.tensor([[0.0, math.log(3.0)], [11.0, 12.0]]),
            },
            note="row 0: p = (1/2, 1/2), q = (1/4, 3/4); KL = 0.5 ln(0.5 / 0.25) + "
            "0.5 ln(0.5 / 0.75) = 0.5 * 0.693147 + 0.5 * (-0.405465) = 0.143841. "
            "Row 1: adding 10 to every logit leaves the softmax unchanged, so KL = 0",
            expected=torch.tensor([0.1438410, 0.0]),
        ),
        Fixture(
            "random batch", lambda: _logit_pair(121, B=5, A=4), note="five states, four actions"
        ),
        Fixture(
            "nearly deterministic policies",
            {
                "old_logits": torch.tensor([[0.0, -200.0, -200.0], [20.0, 0.0, -20.0]]),
                "new_logits": torch.tensor([[0.0, -190.0, -210.0], [0.0, 0.0, 0.0]]),
            },
            note="row 0: the old policy's probabilities of actions 1 and 2 underflow to 0 in "
            "float32; their terms are 0, not 0 * -inf = nan. Row 1: almost certain action 0 "
            "against uniform, KL ~ ln 3",
        ),
    ],
    hidden=[Hidden(_draw_logit_pairs, weight=HIDDEN_WEIGHT)],
    properties=[
        Property(
            "agrees with torch.distributions.kl_divergence",
            lambda: _logit_pair(122, B=16, A=5, scale=2.0, spread=1.5),
            expect=stored("torch_kl"),
        ),
        Property(
            "written without torch.distributions",
            lambda: _logit_pair(126, B=3, A=3),
            note="the exercise is to write the sum over actions with log-softmax",
            probe=without_distributions,
            expect=stored("torch_kl"),
        ),
        Property(
            "zero for equal logits",
            lambda: {
                "old_logits": _logit_pair(123, B=6, A=3)["old_logits"],
                "new_logits": _logit_pair(123, B=6, A=3)["old_logits"],
            },
            note="KL(p || p) = 0",
            expect=lambda inputs: torch.zeros(6),
        ),
        Property(
            "non-negative",
            lambda: _logit_pair(124, B=64, A=4, scale=4.0, spread=4.0),
            note="Gibbs' inequality: KL >= 0 for any pair of distributions",
            predicate=_kl_non_negative,
        ),
        Property(
            "finite when an old probability underflows to 0",
            lambda: {
                "old_logits": torch.tensor([[0.0, -150.0, -300.0], [60.0, 0.0, -60.0]]),
                "new_logits": torch.tensor([[0.0, -140.0, -320.0], [1.0, 0.0, -1.0]]),
            },
            note="exp(-150) is 0 in float32: an action the old policy never takes adds 0 to "
            "the sum, not 0 * -inf = nan",
            expect=stored("kl_with_underflow"),
        ),
        Property(
            "gradient with respect to new_logits is softmax(new) - softmax(old)",
            lambda: _logit_pair(125, B=5, A=3, spread=1.0),
            note="d KL(p || softmax(z)) / d z = softmax(z) - p; TRPO's Fisher-vector product "
            "differentiates this twice",
            probe=grad_wrt_second,
            expect=stored("categorical_kl_gradient_with_respect"),
            core=True,
        ),
        Property(
            "gradient with respect to old_logits",
            lambda: _logit_pair(127, B=5, A=3, spread=1.0),
            note="the gradient flows into both arguments (the docstring's contract): with "
            "p = softmax(old), d KL / d old_j = p_j ((log p_j - log q_j) - KL); a caller that "
            "needs the old policy fixed detaches it itself",
            probe=grad_wrt_first,
            expect=stored("categorical_kl_gradient_old"),
        ),
        float64_property(lambda: _logit_pair(128, B=4, A=3, scale=2.0)),
        batch_of_one_property(lambda: _logit_pair(129, B=1, A=4)),
    ],
    mistakes=[
        Mistake(
            "swapped",
            "KL(pi_new || pi_old) instead of KL(pi_old || pi_new)",
            "KL is not symmetric. TRPO's constraint takes the expectation under the old "
            "policy, the one that sampled the data: sum_a pi_old(a) (log pi_old(a) - "
            "log pi_new(a)).",
        ),
        Mistake(
            "log-of-softmax",
            "log(softmax(logits)) instead of log_softmax(logits)",
            "When a probability underflows to 0, log(0) = -inf and its term 0 * -inf is nan. "
            "torch.log_softmax stays finite, and exp of it gives the probabilities.",
            kind="edge",
        ),
        Mistake(
            "unnormalised-logits",
            "logits used as log-probabilities",
            "Logits are defined up to a constant per row: subtract log sum exp (log_softmax) "
            "before comparing them. Raw logit differences give a 'KL' that changes when a "
            "constant is added to a row, and can be negative.",
        ),
        Mistake(
            "mean-over-actions",
            "a mean over the actions instead of a sum",
            "KL = sum_a pi_old(a) (...): the probabilities already weight the terms; a mean "
            "divides the divergence by A.",
        ),
    ],
)


# ==== approx_kl


def _swap_pair(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"old_log_probs": inputs["old_log_probs"], "new_log_probs": inputs["new_log_probs"]}


def _exact_frequency_sample() -> dict[str, Any]:
    """Actions with exactly the old policy's frequencies: pi_old = (1/2, 1/4, 1/4), four
    samples 0, 0, 1, 2; a random new policy."""
    g = draw.generator(131)
    old_logits = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    new_logits = draw.normal(g, 3)
    actions = torch.tensor([0, 0, 1, 2])
    return {
        "old_log_probs": torch.log_softmax(old_logits, -1)[actions],
        "new_log_probs": torch.log_softmax(new_logits, -1)[actions],
        "old_logits": old_logits,
        "new_logits": new_logits,
    }


def approx_kl_probe(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call with the two log-prob inputs only (other inputs describe where they came from)."""
    args = {k: inputs[k].clone() for k in ("old_log_probs", "new_log_probs")}
    out = getattr(ns, function)(*args.values())
    changed = mutated({k: inputs[k] for k in args}, args)
    if changed:
        raise InputMutated(changed)
    return out


def _two_scalars(received: Any, inputs: dict[str, Any]) -> str | None:
    if not isinstance(received, tuple | list) or len(received) != 2:
        return "expected a tuple (k1, k3)"
    for name, value in zip(("k1", "k3"), received, strict=True):
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            return f"{name} should be a 0-dim tensor"
    if float(received[1]) < 0:
        return f"k3 is a mean of non-negative terms, got {float(received[1]):.4g}"
    return None


APPROX_KL = Check(
    MODULE,
    "approx_kl",
    points=2,
    summary="the sample estimators k1 and k3 of KL(old || new)",
    fixtures=[
        Fixture(
            "hand: ratios 2 and 1/2",
            {
                "old_log_probs": torch.tensor([-LN2, -LN2]),
                "new_log_probs": torch.tensor([0.0, -2.0 * LN2]),
            },
            note="log r = (ln 2, -ln 2), r = (2, 0.5). k1 = mean(-log r) = 0. "
            "k3 terms: (2 - 1) - ln 2 = 0.306853 and (0.5 - 1) + ln 2 = 0.193147, "
            "mean 0.25: k1 can be 0 while the policies differ, k3 cannot",
            expected=(torch.tensor(0.0), torch.tensor(0.25)),
        ),
        Fixture(
            "hand: a sample with the old policy's exact frequencies",
            {
                "old_log_probs": torch.log(torch.tensor([0.25, 0.75, 0.75, 0.75])),
                "new_log_probs": torch.log(torch.tensor([0.5, 0.5, 0.5, 0.5])),
            },
            note="pi_old = (1/4, 3/4), pi_new = (1/2, 1/2), actions 0, 1, 1, 1. "
            "log r = (ln 2, ln(2/3) x3) = (0.693147, -0.405465 x3); "
            "k1 = -(0.693147 - 1.216395) / 4 = 0.130812 = 0.25 ln(1/2) + 0.75 ln(3/2), the "
            "exact KL; mean(r - 1) = (1 - 1/3 x3) / 4 = 0, so k3 = k1 = 0.130812",
            expected=(torch.tensor(0.1308120), torch.tensor(0.1308120)),
        ),
        Fixture(
            "random batch",
            lambda: _swap_pair(_log_prob_pair(132, B=10, spread=0.4)),
            note="ten actions",
        ),
    ],
    hidden=[
        Hidden(
            lambda g: [(n, _swap_pair(i)) for n, i in _draw_log_prob_pairs(g)],
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        Property(
            "both are 0 for equal log-probabilities",
            lambda: {
                "old_log_probs": _log_prob_pair(133, B=7)["old_log_probs"],
                "new_log_probs": _log_prob_pair(133, B=7)["old_log_probs"],
            },
            expect=lambda inputs: (torch.tensor(0.0), torch.tensor(0.0)),
        ),
        Property(
            "two 0-dim tensors, k3 non-negative",
            lambda: _swap_pair(_log_prob_pair(134, B=32, spread=2.0)),
            note="every k3 term (r - 1) - log r is >= 0, since log x <= x - 1",
            predicate=_two_scalars,
        ),
        Property(
            "with the old policy's exact frequencies both equal the exact KL",
            _exact_frequency_sample,
            note="averaging over a sample whose action counts are proportional to pi_old "
            "computes the expectation under pi_old exactly",
            probe=approx_kl_probe,
            expect=stored("both_exact_kl"),
        ),
        reference_property(
            "very unlikely actions",
            lambda: {
                "old_log_probs": torch.tensor([-121.0, -150.0, -2.0]),
                "new_log_probs": torch.tensor([-120.0, -152.0, -2.5]),
            },
            note="exp(-120) and exp(-150) underflow to 0 in float32, but log r = 1, -2 and "
            "-0.5 are ordinary: compute r = exp(new - old), not exp(new) / exp(old) (0 / 0)",
        ),
        float64_property(lambda: _swap_pair(_log_prob_pair(135, B=6))),
        batch_of_one_property(lambda: _swap_pair(_log_prob_pair(136, B=1))),
    ],
    mistakes=[
        Mistake(
            "swapped-log-ratio",
            "log r = old - new instead of new - old",
            "The ratio is pi_new / pi_old, so log r = new_log_probs - old_log_probs. With the "
            "sign flipped, k1 changes sign and k3 is biased: the actions came from pi_old, not "
            "pi_new.",
        ),
        Mistake(
            "k2-for-k3",
            "k3 computed as 0.5 * (log r)^2",
            "That is the estimator k2 of the same blog post: low variance but biased. k3 is "
            "(r - 1) - log r, unbiased and still never negative.",
        ),
        Mistake(
            "k1-sign",
            "k1 = mean(log r) instead of mean(-log r)",
            "KL(old || new) = E_old[log pi_old - log pi_new] = E_old[-log r].",
        ),
        Mistake(
            "k3-no-minus-one",
            "k3 without the -1: mean(r - log r)",
            "k3 = (r - 1) - log r is 0 when the policies agree and never negative; without the -1 "
            "it is off by exactly 1.",
        ),
    ],
)


# ==== conjugate_gradient


def _spd(g: torch.Generator, n: int, low: float = 0.5) -> torch.Tensor:
    """A well-conditioned symmetric positive-definite n x n matrix (eigenvalues >= low)."""
    m = draw.normal(g, n, n)
    return m @ m.T / n + low * torch.eye(n)


def _cg_inputs(seed: int, n: int, iters: int = 10, tol: float = 1e-10) -> dict[str, Any]:
    g = draw.generator(seed)
    return {"matrix": _spd(g, n), "b": draw.normal(g, n), "iters": iters, "tol": tol}


def _draw_cg(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(4):
        # mid-solve, as TRPO uses CG (a few iterations in many dimensions): from the second
        # iteration on the conjugate directions matter, and before the P-th x is not exact
        n = draw.size(g, 3, 6)
        iters = draw.size(g, 2, n)
        inputs = {"matrix": _spd(g, n), "b": draw.normal(g, n), "iters": iters, "tol": 1e-10}
        cases.append((f"random system {i + 1} (P={n}, iters={iters})", inputs))
    return cases


def _run_cg(ns: Any, function: str, inputs: dict[str, Any]) -> tuple[Any, int]:
    matrix = inputs["matrix"].clone()
    b = inputs["b"].clone()
    products = 0

    def matvec(v: torch.Tensor) -> torch.Tensor:
        nonlocal products
        products += 1
        return matrix @ v

    x = getattr(ns, function)(matvec, b, inputs["iters"], inputs["tol"])
    if not torch.equal(b, inputs["b"]):
        raise InputMutated(["b"])
    return x, products


def cg_probe(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call with ``matvec = lambda v: matrix @ v``: the function never sees the matrix."""
    return _run_cg(ns, function, inputs)[0]


def cg_factory_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """:func:`autograder.checks.factory_probe` for a solver called with ``matvec``."""
    matrix = inputs["matrix"].clone()

    def solver(b: torch.Tensor, iters: int, tol: float) -> Any:
        return getattr(ns, function)(lambda v: matrix @ v, b, iters, tol)

    args = {"b": inputs["b"].clone(), "iters": inputs["iters"], "tol": inputs["tol"]}
    return factory_probe(SimpleNamespace(**{function: solver}), function, args)


def cg_products_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The solution and how many matrix-vector products the solver made."""
    x, products = _run_cg(ns, function, inputs)
    return {"x": x, "products": products}


def _products_at_most_iters(received: Any, inputs: dict[str, Any]) -> str | None:
    products = received["products"]
    if products > inputs["iters"]:
        return (
            f"made {products} matrix-vector products with iters={inputs['iters']}: each "
            "iteration makes one product, and there are at most iters of them"
        )
    x = received["x"]
    if not isinstance(x, torch.Tensor) or x.shape != inputs["b"].shape or x.dtype != torch.float32:
        return f"expected a float32 tensor of shape {tuple(inputs['b'].shape)}"
    return None


CONJUGATE_GRADIENT = Check(
    MODULE,
    "conjugate_gradient",
    points=3,
    summary="solve F x = b with matrix-vector products only",
    fixtures=[
        Fixture(
            "hand: a 2 x 2 system in two iterations",
            {
                "matrix": torch.tensor([[2.0, 0.0], [0.0, 4.0]]),
                "b": torch.tensor([2.0, 4.0]),
                "iters": 10,
                "tol": 1e-10,
            },
            note="matvec(v) = matrix @ v. r = p = b = (2, 4), r.r = 20, F p = (4, 16), "
            "p.F p = 72: alpha = 20/72 = 5/18, x = (5/9, 10/9), r = (8/9, -4/9), r.r = 80/81. "
            "beta = (80/81)/20 = 4/81, p = (8/9 + 8/81, -4/9 + 16/81) = (80/81, -20/81), "
            "F p = (160/81, -80/81), p.F p = 14400/6561, alpha = (80/81)/(14400/6561) = 0.45, "
            "x = (5/9 + 36/81, 10/9 - 9/81) = (1, 1); now r = 0 and the loop stops. In P "
            "dimensions CG needs at most P iterations (in exact arithmetic)",
            expected=torch.tensor([1.0, 1.0]),
            probe=cg_probe,
        ),
        Fixture(
            "hand: stopped after one iteration",
            {
                "matrix": torch.tensor([[2.0, 0.0], [0.0, 4.0]]),
                "b": torch.tensor([2.0, 4.0]),
                "iters": 1,
                "tol": 1e-10,
            },
            note="the first iteration of the case above: x = 5/18 * (2, 4) = (0.555556, "
            "1.111111), a steepest-ascent step of the best length. TRPO stops CG early "
            "like this: a few iterations give a good enough direction",
            expected=torch.tensor([5.0 / 9.0, 10.0 / 9.0]),
            probe=cg_probe,
        ),
        Fixture(
            "random system, converged",
            lambda: _cg_inputs(141, n=5, iters=10),
            note="five unknowns, up to ten iterations",
            probe=cg_probe,
        ),
        Fixture(
            "random system, three iterations",
            lambda: _cg_inputs(142, n=6, iters=3),
            note="six unknowns but only three iterations: an approximate solution",
            probe=cg_probe,
        ),
    ],
    hidden=[Hidden(_draw_cg, probe=cg_probe, weight=HIDDEN_WEIGHT)],
    properties=[
        device_property(
            lambda: _cg_inputs(146, n=4, iters=3),
            note="torch.zeros(P) without device= makes a CPU tensor even when b is on a GPU: "
            "use torch.zeros_like(b)",
            probe=cg_factory_probe,
        ),
        Property(
            "agrees with a dense solve",
            lambda: _cg_inputs(143, n=6, iters=20),
            note="compared with torch.linalg.solve (in float64, rounded to float32); the "
            "system is well conditioned, so float32 CG agrees to the default tolerance",
            probe=cg_probe,
            expect=stored("dense_solve"),
        ),
        Property(
            "at most iters matrix-vector products",
            lambda: _cg_inputs(144, n=8, iters=3),
            note="the matrix is never passed in: only matvec, and each iteration may call it once",
            probe=cg_products_probe,
            predicate=_products_at_most_iters,
        ),
        Property(
            "stops after one product on a multiple of the identity",
            lambda: {
                "matrix": 3.0 * torch.eye(4),
                "b": torch.tensor([3.0, -1.5, 0.75, 6.0]),
                "iters": 10,
                "tol": 1e-10,
            },
            note="for F = 3 I the first step gives x = b / 3 exactly and r = 0: the next "
            "iteration must not run (it would divide 0 by 0)",
            probe=cg_products_probe,
            expect=stored("conjugate_gradient_stops_after_one"),
        ),
        Property(
            "b = 0 gives x = 0 without any product",
            lambda: {
                "matrix": _spd(draw.generator(145), 3),
                "b": torch.zeros(3),
                "iters": 10,
                "tol": 1e-10,
            },
            note="the residual starts at 0 < tol; a zero policy gradient must give a zero "
            "step, not nan",
            probe=cg_products_probe,
            expect=lambda inputs: {"x": torch.zeros(3), "products": 0},
        ),
        reference_property(
            "stops when r.r falls below tol: six products on a 6 x 6 system",
            lambda: _cg_inputs(147, n=6, iters=10, tol=1e-10),
            note="after six iterations r.r is about 5e-14 < tol = 1e-10 (it was 2e-4 after "
            "five), so the seventh does not run; the norm |r|, about 2e-7, is not what tol "
            "bounds",
            probe=cg_products_probe,
        ),
        float64_property(lambda: _cg_inputs(148, n=5, iters=4), probe=cg_probe),
        reference_property(
            "a residual exactly at tol is not below it",
            lambda: {
                "matrix": torch.tensor([[2.0, 0.0], [0.0, 4.0]]),
                "b": torch.tensor([0.25, 0.5]),
                "iters": 10,
                "tol": 0.3125,
            },
            note="r.r = 0.0625 + 0.25 = 0.3125 = tol (exact in binary): the test is r.r < tol, "
            "so the first iteration runs, and the second (r.r = 0.0097) stops: one product",
            probe=cg_products_probe,
        ),
        reference_property(
            "one unknown",
            lambda: {
                "matrix": torch.tensor([[4.0]]),
                "b": torch.tensor([2.0]),
                "iters": 10,
                "tol": 1e-10,
            },
            note="P = 1: x = b / 4 = (0.5,), a (1,) tensor, not a 0-dim one",
            probe=cg_probe,
        ),
    ],
    mistakes=[
        Mistake(
            "no-residual-update",
            "the residual is not updated (r <- r - alpha F p is missing)",
            "The residual r = b - F x must follow x. Without the update the stopping test and "
            "the next direction both use the initial residual, and x does not converge.",
        ),
        Mistake(
            "step-without-matrix",
            "alpha = r.r / p.p instead of r.r / p.F p",
            "The step length that minimises the quadratic along p is (r.r) / (p.F p): the "
            "curvature along p sits in the denominator.",
        ),
        Mistake(
            "steepest-descent",
            "the residual itself is the next direction (no beta * p term)",
            "That is steepest descent with exact line search: it zigzags and needs many more "
            "iterations. CG's direction p <- r + beta p is conjugate to the previous ones.",
        ),
        Mistake(
            "no-early-stop",
            "the loop runs all iters iterations whatever the residual",
            "Once the residual is 0, p.F p is 0 and the next alpha is 0 / 0 = nan. Test "
            "r.r < tol before each iteration.",
            kind="edge",
        ),
    ],
)


# ==== backtracking_line_search


def _fraction_of(step: torch.Tensor, full_step: torch.Tensor) -> float:
    """The f with step = f * full_step (projected), as a float."""
    full = full_step.double()
    return float(step.detach().double().dot(full) / full.dot(full))


def _table_evaluate(inputs: dict[str, Any], tried: list[float]):
    """evaluate(step) that reads (improvement, kl) from the tables at k, f = 0.5^k."""
    improvements, kls = inputs["improvements"], inputs["kls"]

    def evaluate(step: torch.Tensor) -> tuple[float, float]:
        fraction = _fraction_of(step, inputs["full_step"])
        tried.append(round(fraction, 6))
        k = round(-math.log2(fraction)) if fraction > 0 else -1
        if k < 0 or abs(fraction - 0.5**k) > 1e-5 * 0.5**k:
            raise ValueError(
                f"evaluate was called with {fraction:.6g} * full_step; the fractions to try "
                "are 1, 1/2, 1/4, ..."
            )
        if k >= len(kls):
            raise ValueError(
                f"evaluate was called with {fraction:.6g} * full_step, but max_backtracks = "
                f"{inputs['max_backtracks']} allows {len(kls)} fractions, 1 to 1/2^{len(kls) - 1}"
            )
        return float(improvements[k]), float(kls[k])

    return evaluate


def _quadratic_evaluate(inputs: dict[str, Any], tried: list[float]):
    """evaluate(step): improvement g.step - 0.5 c |step|^2, KL 0.5 k |step|^2."""
    g, c, k = inputs["gradient"].double(), inputs["curvature"], inputs["kl_curvature"]

    def evaluate(step: torch.Tensor) -> tuple[float, float]:
        tried.append(round(_fraction_of(step, inputs["full_step"]), 6))
        s = step.detach().double()
        return float(g.dot(s) - 0.5 * c * s.dot(s)), float(0.5 * k * s.dot(s))

    return evaluate


def _search(ns: Any, function: str, evaluate, full_step: torch.Tensor, inputs: dict[str, Any]):
    """The line search of ``ns`` called with ``evaluate``, ``full_step`` and the case's
    settings."""
    return getattr(ns, function)(
        evaluate,
        full_step,
        inputs["expected_improve"],
        inputs["max_kl"],
        inputs["max_backtracks"],
        inputs["accept_ratio"],
    )


def _run_line_search(ns: Any, function: str, inputs: dict[str, Any]) -> tuple[Any, list[float]]:
    tried: list[float] = []
    if "improvements" in inputs:
        evaluate = _table_evaluate(inputs, tried)
    else:
        evaluate = _quadratic_evaluate(inputs, tried)
    full_step = inputs["full_step"].clone()
    out = _search(ns, function, evaluate, full_step, inputs)
    if not torch.equal(full_step, inputs["full_step"]):
        raise InputMutated(["full_step"])
    return out, tried


def line_search_probe(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call with a scripted ``evaluate``: from the tables ``improvements`` and ``kls`` (the
    values at fractions 1, 1/2, 1/4, ...), or from a quadratic surrogate and a KL that grows
    with the step (``gradient``, ``curvature``, ``kl_curvature``)."""
    return _run_line_search(ns, function, inputs)[0]


def line_search_trace_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The result and the fractions of ``full_step`` that were evaluated, in order."""
    out, tried = _run_line_search(ns, function, inputs)
    return {"result": out, "tried": tried}


def _table(improvements, kls, full_step=(0.4, -0.8), expected=2.0, max_kl=0.01, n=None):
    n = n or len(kls)
    return {
        "improvements": torch.tensor(improvements),
        "kls": torch.tensor(kls),
        "full_step": torch.tensor(full_step),
        "expected_improve": expected,
        "max_kl": max_kl,
        "max_backtracks": n,
        "accept_ratio": 0.1,
    }


def _quadratic(g: torch.Generator, P: int, stretch: float, kl_scale: float, max_kl: float):
    """A quadratic problem whose full step overshoots by ``stretch`` along the gradient."""
    gradient = draw.normal(g, P)
    curvature = draw.scalar(g, 0.5, 2.0)
    full_step = stretch * gradient / curvature
    return {
        "gradient": gradient,
        "curvature": curvature,
        "kl_curvature": kl_scale,
        "full_step": full_step,
        "expected_improve": round(float(gradient.dot(full_step)), 4),
        "max_kl": max_kl,
        "max_backtracks": 10,
        "accept_ratio": 0.1,
    }


def _quadratic_case(seed: int, stretch: float, kl_scale: float, max_kl: float = 0.01):
    return _quadratic(draw.generator(seed), 4, stretch, kl_scale, max_kl)


def _quadratic_outside(
    g: torch.Generator, P: int, stretch: float, kl_full: float, max_kl: float, ratio: float
) -> dict[str, Any]:
    """:func:`_quadratic` with the KL curvature set so that the full step's KL is
    ``kl_full``, and with ``accept_ratio`` = ``ratio``."""
    inputs = _quadratic(g, P, stretch, 0.0, max_kl)
    norm_sq = float(inputs["full_step"].double().dot(inputs["full_step"].double()))
    return {**inputs, "kl_curvature": 2.0 * kl_full / norm_sq, "accept_ratio": ratio}


def _quadratic_near(g: torch.Generator) -> dict[str, Any]:
    """A full step of about the best length, but whose KL is 20 to 60 times max_kl: the
    fractions 1, 1/2 and 1/4 leave the trust region (with an improvement the test accepts),
    1/8 is inside, and its improvement f * E * (1 - f * stretch / 2) is below accept_ratio
    * E: only the scaled threshold accepts it."""
    max_kl = draw.scalar(g, 0.01, 0.05)
    stretch, ratio = draw.scalar(g, 0.5, 1.2), draw.scalar(g, 0.15, 0.25)
    return _quadratic_outside(
        g, draw.size(g, 2, 6), stretch, draw.scalar(g, 20.0, 60.0) * max_kl, max_kl, ratio
    )


def _quadratic_far(g: torch.Generator) -> dict[str, Any]:
    """A full step 6 to 40 times too long: the first fraction f whose improvement passes the
    test has a KL of 1.5 to 3.5 times max_kl; f / 2 is accepted, and is small enough that
    the unscaled threshold accept_ratio * E rejects it."""
    max_kl = draw.scalar(g, 0.002, 0.05)
    stretch, ratio = draw.scalar(g, 6.0, 40.0), draw.scalar(g, 0.15, 0.3)
    # improvement(f) / (f * E) = 1 - f * stretch / 2; the first f = 1/2^k, with a margin
    k = next(k for k in range(10) if 1.0 - 0.5**k * stretch / 2.0 >= ratio + 0.02)
    kl_full = draw.scalar(g, 1.5, 3.5) * max_kl / 0.25**k
    return _quadratic_outside(g, draw.size(g, 2, 6), stretch, kl_full, max_kl, ratio)


def _table_outside(g: torch.Generator) -> dict[str, Any]:
    """Random tables in which the full step improves a lot but leaves the trust region, a
    later fraction 1/2^j (j >= 1) is the first accepted, with an improvement between the
    scaled threshold accept_ratio * f * E and the unscaled accept_ratio * E, and the
    fractions between are rejected for their KL or their improvement."""
    n = draw.size(g, 3, 8)
    j = draw.size(g, 1, n - 1)
    expected, ratio, max_kl = draw.scalar(g, 0.5, 3.0), draw.scalar(g, 0.05, 0.3), 0.01
    improvements = draw.normal(g, n, scale=0.5) + 0.2
    kls = draw.uniform(g, n, low=0.0, high=0.03)
    for k in range(j + 1):
        f, u = 0.5**k, float(draw.uniform(g, 1))
        if k == 0:  # a large improvement outside the trust region
            improvements[k], kls[k] = ratio * expected * (1.5 + 1.5 * u), 0.012 + 0.018 * u
        elif k == j:  # inside, and just good enough
            improvements[k] = ratio * expected * f * (1.0 + (0.1 + 0.8 * u) * (1.0 / f - 1.0))
            kls[k] = max_kl * 0.9 * u
        elif u < 0.5:  # outside
            kls[k] = 0.012 + 0.018 * u
        else:  # inside, but too small an improvement
            improvements[k], kls[k] = ratio * expected * f * (1.8 * u - 1.0), max_kl * u
    return {
        "improvements": improvements,
        "kls": kls,
        "full_step": draw.normal(g, draw.size(g, 2, 5)),
        "expected_improve": expected,
        "max_kl": max_kl,
        "max_backtracks": n,
        "accept_ratio": ratio,
    }


def _random_table(g: torch.Generator, n: int) -> dict[str, Any]:
    """Random tables of (improvement, kl) per fraction in which no entry passes."""
    improvements = draw.normal(g, n, scale=0.5) + 0.2
    kls = draw.uniform(g, n, low=0.0, high=0.03)
    improvements = torch.where(kls <= 0.01, -improvements.abs(), improvements)
    full_step = draw.normal(g, draw.size(g, 2, 5))
    return {
        "improvements": improvements,
        "kls": kls,
        "full_step": full_step,
        "expected_improve": draw.scalar(g, 0.5, 3.0),
        "max_kl": 0.01,
        "max_backtracks": n,
        "accept_ratio": draw.scalar(g, 0.05, 0.3),
    }


def _draw_line_searches(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Every search has a fraction that improves enough but leaves the trust region before
    the one accepted, and accepts a fraction f < 1 whose improvement only the scaled
    threshold accepts: the order, the KL test and the threshold are all graded."""
    near, far = _quadratic_near(g), _quadratic_far(g)
    tables = [_table_outside(g) for _ in range(2)]
    return [
        (f"quadratic, the full step leaves the trust region (P={near['full_step'].numel()})", near),
        (f"quadratic, an overshooting full step (P={far['full_step'].numel()})", far),
    ] + [
        (f"random table {i + 1} (n={table['max_backtracks']})", table)
        for i, table in enumerate(tables)
    ]


def _draw_rejections(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    return [("random table, nothing acceptable", _random_table(g, draw.size(g, 2, 6)))]


def line_search_factory_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """:func:`autograder.checks.factory_probe` for a search called with a table's
    ``evaluate``."""
    evaluate = _table_evaluate(inputs, [])

    def search(full_step: torch.Tensor) -> Any:
        return _search(ns, function, evaluate, full_step, inputs)

    args = {"full_step": inputs["full_step"].clone()}
    return factory_probe(SimpleNamespace(**{function: search}), function, args)


BACKTRACKING_LINE_SEARCH = Check(
    MODULE,
    "backtracking_line_search",
    points=3,
    summary="halve the step until the KL and the improvement are acceptable",
    fixtures=[
        Fixture(
            "hand: the full step is accepted",
            lambda: _table([1.5, 0.9, 0.5], [0.008, 0.002, 0.0005]),
            note="evaluate(f * full_step) returns (improvements[k], kls[k]) for f = 1/2^k. "
            "f = 1: KL 0.008 <= 0.01, improvement 1.5 > 0 and >= 0.1 * 1 * 2.0 = 0.2: "
            "accepted, the step is full_step itself",
            expected=(True, torch.tensor([0.4, -0.8])),
            probe=line_search_probe,
        ),
        Fixture(
            "hand: the KL is too large twice",
            lambda: _table([1.5, 0.9, 0.2, 0.1], [0.05, 0.02, 0.004, 0.001]),
            note="f = 1: KL 0.05 > 0.01, rejected; f = 1/2: KL 0.02 > 0.01, rejected; "
            "f = 1/4: KL 0.004 <= 0.01 and 0.2 >= 0.1 * 0.25 * 2.0 = 0.05: accepted, "
            "step = (0.4, -0.8) / 4 = (0.1, -0.2)",
            expected=(True, torch.tensor([0.1, -0.2])),
            probe=line_search_probe,
        ),
        Fixture(
            "hand: the improvement is too small, then large enough",
            lambda: _table([-0.5, 0.08, 0.06, 0.04], [0.008, 0.002, 0.0005, 0.0001]),
            note="every KL is within 0.01. f = 1: improvement -0.5 < 0, rejected; "
            "f = 1/2: 0.08 < 0.1 * 0.5 * 2.0 = 0.1, rejected; f = 1/4: 0.06 >= "
            "0.1 * 0.25 * 2.0 = 0.05, accepted: step = (0.1, -0.2)",
            expected=(True, torch.tensor([0.1, -0.2])),
            probe=line_search_probe,
        ),
        Fixture(
            "hand: nothing is accepted",
            lambda: _table([-1.0, -0.5, -0.2], [0.05, 0.02, 0.005]),
            note="the surrogate gets worse at every fraction tried (1, 1/2, 1/4, with "
            "max_backtracks = 3): rejected, and the step is zero so the parameters stay put",
            expected=(False, torch.tensor([0.0, 0.0])),
            probe=line_search_probe,
        ),
        Fixture(
            "quadratic surrogate, the full step overshoots",
            lambda: _quadratic_case(151, stretch=12.0, kl_scale=0.002),
            note="improvement(s) = gradient.s - 0.5 curvature |s|^2 and KL(s) = 0.5 "
            "kl_curvature |s|^2: the full step is 12 times the best step along the gradient, "
            "so the surrogate falls, and halving finds a good step",
            probe=line_search_probe,
        ),
    ],
    hidden=[
        Hidden(_draw_line_searches, probe=line_search_trace_probe, weight=HIDDEN_WEIGHT),
        # the branch where nothing is accepted is one edge of the search: it weighs as a
        # property does
        Hidden(_draw_rejections, probe=line_search_trace_probe),
    ],
    properties=[
        device_property(
            lambda: _table([-1.0, -0.5, -0.2], [0.05, 0.02, 0.005]),
            note="nothing is accepted: torch.zeros(P) without device= makes the zero step on "
            "the CPU even when full_step is on a GPU; use torch.zeros_like(full_step)",
            probe=line_search_factory_probe,
        ),
        Property(
            "tries 1, 1/2, 1/4, ... in order and stops at the first accepted",
            lambda: _table(
                [-0.3, 0.01, 0.3, 0.2, 0.1, 0.05], [0.03, 0.015, 0.009, 0.002, 0.001, 0.0001]
            ),
            note="f = 1 and 1/2 fail (KL and improvement), 1/4 is accepted: evaluate is called "
            "three times, with 1, 1/2 and 1/4 times full_step",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "rejects a step whose KL exceeds max_kl, however good",
            lambda: _table([5.0, 4.0, 3.0, 2.0], [0.5, 0.2, 0.05, 0.02], max_kl=0.01),
            note="the trust region is a constraint: no improvement buys a step outside it; "
            "after max_backtracks = 4 fractions the result is (False, zeros)",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "rejects a positive but too small improvement, with accept_ratio 0.5",
            lambda: {
                **_table([0.6, 0.3, 0.2, 0.1], [0.001, 0.001, 0.001, 0.001]),
                "accept_ratio": 0.5,
            },
            note="thresholds 0.5 * f * 2.0 = 1.0, 0.5, 0.25, 0.125: 0.6, 0.3 and 0.2 fall "
            "short, 0.1 at f = 1/8 does too; nothing is accepted",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "the threshold scales with the fraction",
            lambda: _table([0.9, 0.08, 0.06, 0.04], [0.02, 0.002, 0.0005, 0.0001]),
            note="f = 1 leaves the trust region; the thresholds 0.1 * f * 2.0 are 0.1 at "
            "f = 1/2 (0.08 falls short) and 0.05 at f = 1/4, where 0.06 is accepted: "
            "0.1 * 2.0 = 0.2 unscaled would reject every fraction",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "a worse surrogate is never accepted, even with accept_ratio 0",
            lambda: {**_table([-0.1, -0.05, 0.0, 0.01], [0.001] * 4), "accept_ratio": 0.0},
            note="improvement must be > 0: f = 1, 1/2 (worse) and 1/4 (no change) are rejected, "
            "1/8 is accepted",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "a KL exactly max_kl is accepted",
            lambda: _table([1.5, 0.9, 0.5], [0.00782, 0.0078125, 0.0005], max_kl=0.0078125),
            note="kl <= max_kl: f = 1, with a KL of 0.00782, is just outside and rejected; "
            "f = 1/2 sits on the edge of the trust region, which is inside it (0.0078125 = "
            "2^-7, exact in float32 and float64): accepted",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        Property(
            "an improvement exactly at the threshold is accepted",
            lambda: {
                **_table([0.2, 0.125, 0.1], [0.001, 0.001, 0.001], expected=2.0),
                "accept_ratio": 0.125,
            },
            note="improvement >= accept_ratio * f * expected_improve: at f = 1 the threshold "
            "is 0.125 * 2 = 0.25 (0.2 falls short), at f = 1/2 it is 0.125, exactly the "
            "improvement (every number here is exact in binary): accepted",
            probe=line_search_trace_probe,
            expect=stored("expected_trace"),
        ),
        reference_property(
            "a step of one parameter",
            lambda: _table(
                [0.9, 0.08, 0.06, 0.04], [0.02, 0.002, 0.0005, 0.0001], full_step=(0.4,)
            ),
            note="P = 1: f = 1 leaves the trust region, 1/2 falls short of its threshold 0.1, "
            "1/4 is accepted: the step is (0.1,), a (1,) tensor like full_step",
            probe=line_search_probe,
        ),
        float64_property(
            lambda: _table([0.9, 0.08, 0.06, 0.04], [0.02, 0.002, 0.0005, 0.0001]),
            probe=line_search_probe,
        ),
    ],
    mistakes=[
        Mistake(
            "halves-first",
            "the first step tried is half the full step",
            "The natural-gradient step is already scaled to the edge of the trust region; "
            "try it first (fraction 1 = 0.5^0) and halve only when it fails.",
        ),
        Mistake(
            "ignores-kl",
            "the KL constraint is not checked",
            "The line search exists because the quadratic model of the KL can be wrong: "
            "reject any step whose measured KL exceeds max_kl.",
        ),
        Mistake(
            "unscaled-expected-improvement",
            "the expected improvement is not scaled by the fraction",
            "expected_improve is the linear prediction for the full step; for f * full_step "
            "it is f * expected_improve. Unscaled, small steps almost never pass the test.",
        ),
        Mistake(
            "keeps-last-step",
            "the last rejected step is returned when nothing is accepted",
            "When every fraction fails, the update must leave the parameters where they were: "
            "return a zero step with False.",
            kind="edge",
        ),
    ],
)

CHECKS = bind_stored(
    [
        PROBABILITY_RATIO,
        SURROGATE_OBJECTIVE,
        CATEGORICAL_KL,
        APPROX_KL,
        CONJUGATE_GRADIENT,
        BACKTRACKING_LINE_SEARCH,
    ]
)
