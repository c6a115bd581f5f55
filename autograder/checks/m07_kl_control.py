"""Checks and known mistakes for m07, controlling the KL: penalty and early stopping."""

from __future__ import annotations

from typing import Any

import torch

from autograder import draw
from autograder.checks import float64_property, reference_property
from autograder.core import Check, Fixture, Hidden, Mistake, Property, clone_inputs
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_first, output_type
from course.modules import BY_ID

MODULE = BY_ID["m07"]


def _is(type_name: str):
    def predicate(received: Any, inputs: dict[str, Any]) -> str | None:
        if received == type_name:
            return None
        return f"expected a Python {type_name}, got {received}"

    return predicate


# ==== kl_penalty_objective


def _penalty(seed: int, B: int, beta: float, spread: float = 0.2) -> dict[str, Any]:
    g = draw.generator(seed)
    ratio = torch.exp(draw.normal(g, B, scale=spread))
    return {
        "ratio": ratio,
        "advantages": draw.normal(g, B, scale=2.0),
        "kl": draw.uniform(g, 1, low=0.0, high=0.05).reshape(()),
        "beta": beta,
    }


def _draw_penalty(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Every batch has two samples or more, one with A > 0 above 1.2 and one with A < 0
    below 0.8 (where a clip at 0.2 would change the surrogate), at random places."""
    cases = []
    for i in range(3):
        B = draw.size(g, 2, 16)
        beta = draw.scalar(g, 0.1, 5.0)
        ratio = torch.exp(draw.normal(g, B, scale=0.3))
        advantages = draw.normal(g, B, scale=2.0)
        above, below = torch.randperm(B, generator=g)[:2].tolist()
        ratio[above] = draw.uniform(g, 1, low=1.3, high=1.8)[0]
        advantages[above] = draw.uniform(g, 1, low=0.5, high=3.0)[0]
        ratio[below] = draw.uniform(g, 1, low=0.4, high=0.7)[0]
        advantages[below] = -draw.uniform(g, 1, low=0.5, high=3.0)[0]
        cases.append(
            (
                f"random batch {i + 1} (B={B}, beta={beta})",
                {
                    "ratio": ratio,
                    "advantages": advantages,
                    "kl": draw.uniform(g, 1, low=0.0, high=0.05).reshape(()),
                    "beta": beta,
                },
            )
        )
    return cases


def grad_wrt_kl(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The output and its gradient with respect to ``kl``."""
    args = clone_inputs(inputs)
    args["kl"] = args["kl"].detach().clone().requires_grad_(True)
    out = getattr(ns, function)(*args.values())
    grad = torch.zeros(())
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.backward()
        grad = torch.zeros(()) if args["kl"].grad is None else args["kl"].grad
    return {"output": out, "grad": grad}


KL_PENALTY_OBJECTIVE = Check(
    MODULE,
    "kl_penalty_objective",
    points=2,
    summary="mean(r A) - beta * KL, to maximise",
    fixtures=[
        Fixture(
            "hand: two samples",
            {
                "ratio": torch.tensor([1.5, 0.5]),
                "advantages": torch.tensor([1.0, -2.0]),
                "kl": torch.tensor(0.1),
                "beta": 0.5,
            },
            note="r A = 1.5 and -1, mean 0.25; penalty 0.5 * 0.1 = 0.05; 0.25 - 0.05 = 0.2. "
            "No clip: the first ratio counts as 1.5, not 1.2",
            expected=torch.tensor(0.2),
        ),
        Fixture(
            "random batch",
            lambda: _penalty(171, B=8, beta=1.0),
            note="eight samples, beta 1",
        ),
        Fixture(
            "random batch, large beta",
            lambda: _penalty(172, B=5, beta=10.0, spread=0.4),
            note="beta 10: the penalty outweighs the surrogate",
        ),
    ],
    hidden=[Hidden(_draw_penalty)],
    properties=[
        Property(
            "gradient A / B with respect to the ratio",
            lambda: _penalty(173, B=6, beta=2.0, spread=0.5),
            note="the surrogate is not clipped, so every sample keeps its gradient",
            probe=grad_wrt_first,
            expect=stored("kl_penalty_objective_gradient_a_b"),
        ),
        Property(
            "gradient -beta with respect to the KL",
            lambda: _penalty(174, B=4, beta=3.0),
            note="raising the KL lowers the objective at the rate beta",
            probe=grad_wrt_kl,
            expect=stored("kl_penalty_objective_gradient_beta"),
            weight=2.0,
        ),
        Property(
            "a batch of one",
            lambda: {
                "ratio": torch.tensor([1.5]),
                "advantages": torch.tensor([2.0]),
                "kl": torch.tensor(0.1),
                "beta": 0.5,
            },
            note="r A = 3, not clipped to 1.2 * 2 = 2.4; minus 0.5 * 0.1 gives 2.95",
            expect=lambda inputs: torch.tensor(2.95),
        ),
        reference_property(
            "far outside the usual range",
            lambda: {
                "ratio": torch.tensor([20.0, 0.05, 1.0]),
                "advantages": torch.tensor([1.0, -2.0, 0.5]),
                "kl": torch.tensor(0.25),
                "beta": 40.0,
            },
            note="a ratio of 20 counts as 20 (no clamp) and beta 40 as 40 (no cap): "
            "(20 - 0.1 + 0.5) / 3 - 40 * 0.25 = -3.2",
        ),
        float64_property(lambda: _penalty(176, B=6, beta=1.5)),
        Property(
            "beta 0 gives the plain surrogate mean(r A)",
            lambda: _penalty(175, B=7, beta=0.0),
            note="m03's surrogate objective",
            expect=stored("kl_penalty_objective_beta_0_gives"),
        ),
    ],
    mistakes=[
        Mistake(
            "penalty-added",
            "the penalty is added",
            "The objective is maximised, so the KL is subtracted: moving away from pi_old must "
            "cost, mean(r A) - beta * KL.",
        ),
        Mistake(
            "as-loss",
            "the negated objective (a loss) is returned",
            "The function's name says objective: return mean(r A) - beta * KL and let the "
            "caller minimise its negative.",
        ),
        Mistake(
            "sum",
            "a sum over the batch instead of a mean",
            "The surrogate is an expectation: a mean over the batch. A sum also changes the "
            "balance with beta * KL as the batch size changes.",
        ),
        Mistake(
            "clipped-surrogate",
            "the clipped surrogate minus the penalty",
            "The original notes write L_clip - beta KL. The paper's PPO-penalty objective (eq. 8, "
            "the variant its experiments compare with clipping) uses the plain surrogate "
            "mean(r A): there the penalty replaces the clip.",
        ),
    ],
)


# ==== update_kl_beta


def _draw_beta(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Each case asks for the next beta at four KLs for one target (:func:`at_each_kl`):
    one below the band, one inside it on each side of the target, one above it, in a
    random order, as Python floats and 0-dim tensors."""
    cases = []
    for i in range(4):
        target = draw.scalar(g, 0.003, 0.03)
        shares = [
            draw.scalar(g, 0.0, 0.6),  # below target / 1.5 = 0.667 target
            draw.scalar(g, 0.7, 0.97),  # inside, below the target
            draw.scalar(g, 1.03, 1.45),  # inside, above the target
            draw.scalar(g, 1.6, 3.0),  # above target * 1.5
        ]
        order = torch.randperm(4, generator=g).tolist()
        kls = [round(target * shares[k], 6) for k in order]
        kls = [torch.tensor(kl) if (i + j) % 2 else kl for j, kl in enumerate(kls)]
        cases.append(
            (
                f"random {i + 1} (target_kl={target}, four KLs)",
                {"beta": draw.scalar(g, 0.1, 10.0), "kls": kls, "target_kl": target},
            )
        )
    return cases


def at_each_kl(ns: Any, function: str, inputs: dict[str, Any]) -> list[Any]:
    """update_kl_beta(beta, kl, target_kl) for each KL of ``inputs["kls"]``."""
    fn = getattr(ns, function)
    return [fn(inputs["beta"], kl, inputs["target_kl"]) for kl in inputs["kls"]]


def _unchanged_across_band(received: Any, inputs: dict[str, Any]) -> str | None:
    if not isinstance(received, list) or len(received) != len(inputs["kls"]):
        return "expected one beta per KL"
    wrong = [(kl, b) for kl, b in zip(inputs["kls"], received, strict=True) if b != inputs["beta"]]
    if wrong:
        return f"beta should stay {inputs['beta']} for every KL in the band; got {wrong[:3]}"
    return None


def across_band(ns: Any, function: str, inputs: dict[str, Any]) -> list[Any]:
    """update_kl_beta at several KLs inside [target / 1.5, target * 1.5]."""
    fn = getattr(ns, function)
    return [float(fn(inputs["beta"], kl, inputs["target_kl"])) for kl in inputs["kls"]]


UPDATE_KL_BETA = Check(
    MODULE,
    "update_kl_beta",
    points=2,
    summary="halve below target / 1.5, double above target * 1.5",
    fixtures=[
        Fixture(
            "hand: KL well below the band",
            {"beta": 1.0, "kl": 0.002, "target_kl": 0.015},
            note="target / 1.5 = 0.01 and 0.002 < 0.01: the penalty holds the policy back too "
            "much, beta halves to 0.5",
            expected=0.5,
        ),
        Fixture(
            "hand: KL well above the band",
            {"beta": 1.0, "kl": 0.05, "target_kl": 0.015},
            note="target * 1.5 = 0.0225 and 0.05 > 0.0225: beta doubles to 2",
            expected=2.0,
        ),
        Fixture(
            "hand: KL inside the band",
            {"beta": 3.0, "kl": 0.012, "target_kl": 0.015},
            note="0.01 <= 0.012 <= 0.0225: beta stays 3",
            expected=3.0,
        ),
        Fixture(
            "hand: KL exactly on the lower edge",
            {"beta": 3.0, "kl": 0.015625, "target_kl": 0.0234375},
            note="target 3/128 = 0.0234375: 0.015625 = 1/64 is not < 0.0234375 / 1.5 = 1/64 "
            "(the comparison is strict): beta stays 3. These numbers are exact in binary, so "
            "target / 1.5, target * (2/3) and kl * 1.5 < target all agree on the edge",
            expected=3.0,
        ),
        Fixture(
            "hand: KL exactly on the upper edge",
            {"beta": 3.0, "kl": 0.03515625, "target_kl": 0.0234375},
            note="0.03515625 = 9/256 is not > 0.0234375 * 1.5 = 9/256: beta stays 3",
            expected=3.0,
        ),
        Fixture(
            "hand: KL as a 0-dim tensor",
            {"beta": 0.25, "kl": torch.tensor(0.04), "target_kl": 0.01},
            note="0.04 > 0.01 * 1.5 = 0.015: beta doubles, 0.25 * 2 = 0.5, as a Python float",
            expected=0.5,
        ),
    ],
    hidden=[Hidden(_draw_beta, probe=at_each_kl)],
    properties=[
        Property(
            "returns a Python float",
            lambda: {"beta": 1.0, "kl": torch.tensor(0.05), "target_kl": 0.01},
            note="beta is a hyperparameter for the next update, not a tensor",
            probe=output_type,
            predicate=_is("float"),
        ),
        Property(
            "just outside the edges",
            lambda: {
                "beta": 2.0,
                "kls": [0.015625 * (1 - 1e-9), 0.03515625 * (1 + 1e-9)],
                "target_kl": 0.0234375,
            },
            note="target / 1.5 = 1/64 and target * 1.5 = 9/256 (exact in binary); a KL a "
            "billionth below the lower edge halves beta, one a billionth above the upper edge "
            "doubles it (the KL is compared as it is, not rounded to float32)",
            probe=at_each_kl,
            expect=lambda inputs: [1.0, 4.0],
        ),
        Property(
            "unchanged everywhere inside the band",
            lambda: {
                "beta": 0.7,
                "kls": [0.015625, 0.017, 0.0234375, 0.03, 0.03515625],
                "target_kl": 0.0234375,
            },
            note="target / 1.5 = 1/64 = 0.015625 and target * 1.5 = 9/256 = 0.03515625, edges "
            "included (exact in binary: every way of writing the edges agrees)",
            probe=across_band,
            predicate=_unchanged_across_band,
        ),
        Property(
            "no bounds of its own on beta",
            lambda: {"beta": 40.0, "kls": [0.5, 1e-6], "target_kl": 0.01},
            note="beta 40 doubles to 80 and halves to 20: the paper's rule has no cap (a "
            "course trainer that wants one applies it outside)",
            probe=at_each_kl,
            expect=lambda inputs: [80.0, 20.0],
        ),
        Property(
            "a float64 KL a rounding step past the edge",
            lambda: {
                "beta": 2.0,
                "kl": torch.tensor(0.03515625 + 1e-12, dtype=torch.float64),
                "target_kl": 0.0234375,
            },
            note="in float64 the KL is above target * 1.5 = 9/256 and beta doubles; rounded "
            "to float32 it would be on the edge",
            expect=lambda inputs: 4.0,
        ),
    ],
    mistakes=[
        Mistake(
            "swapped",
            "the directions are swapped",
            "A KL below the band means the policy barely moved: the penalty is too strong, so "
            "beta is halved. Above the band beta is doubled.",
        ),
        Mistake(
            "inclusive",
            "<= and >= at the edges",
            "The paper's rule changes beta only when d < d_targ / 1.5 or d > d_targ * 1.5: a KL "
            "exactly on an edge leaves beta unchanged.",
            kind="edge",
        ),
        Mistake(
            "no-band",
            "the KL is compared with the target itself",
            "Without the tolerance band beta changes after every update and oscillates; compare "
            "with target / 1.5 and target * 1.5.",
        ),
        Mistake(
            "factor-1.5",
            "beta is scaled by 1.5 instead of 2",
            "1.5 sets the band's edges; beta itself is halved or doubled.",
        ),
    ],
)


# ==== should_stop_early


def _draw_stop(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Each case asks four questions (:func:`each_question`): a KL below the target, one
    between the target and 1.5 times it, one above that, and one without a target, in a
    random order, as Python floats and 0-dim tensors."""
    cases = []
    for i in range(4):
        target = draw.scalar(g, 0.005, 0.03)
        questions = [
            [round(target * draw.scalar(g, 0.0, 0.95), 6), target],
            [round(target * draw.scalar(g, 1.05, 1.45), 6), target],
            [round(target * draw.scalar(g, 1.6, 3.0), 6), target],
            [draw.scalar(g, 0.0, 0.1), None],
        ]
        order = torch.randperm(4, generator=g).tolist()
        questions = [questions[k] for k in order]
        for j, question in enumerate(questions):
            if (i + j) % 2:
                question[0] = torch.tensor(question[0])
        cases.append(
            (f"random {i + 1} (target_kl={target}, four questions)", {"questions": questions})
        )
    return cases


def each_question(ns: Any, function: str, inputs: dict[str, Any]) -> list[Any]:
    """should_stop_early(approx_kl, target_kl) for each pair of ``inputs["questions"]``."""
    fn = getattr(ns, function)
    return [fn(approx_kl, target_kl) for approx_kl, target_kl in inputs["questions"]]


SHOULD_STOP_EARLY = Check(
    MODULE,
    "should_stop_early",
    points=2,
    summary="approx_kl > target_kl; never with target_kl None",
    fixtures=[
        Fixture(
            "hand: KL above the target",
            {"approx_kl": 0.02, "target_kl": 0.015},
            note="0.02 > 0.015: stop",
            expected=True,
        ),
        Fixture(
            "hand: KL below the target",
            {"approx_kl": 0.01, "target_kl": 0.015},
            note="0.01 <= 0.015: keep going",
            expected=False,
        ),
        Fixture(
            "hand: KL equal to the target",
            {"approx_kl": 0.015625, "target_kl": 0.015625},
            note="0.015625 is not > 0.015625 (the comparison is strict): keep going",
            expected=False,
        ),
        Fixture(
            "hand: no target",
            {"approx_kl": 0.5, "target_kl": None},
            note="target_kl None switches early stopping off, however large the KL",
            expected=False,
        ),
        Fixture(
            "hand: KL as a 0-dim tensor",
            {"approx_kl": torch.tensor(0.03), "target_kl": 0.02},
            note="0.03 > 0.02: stop (between 1 and 1.5 times the target, so the 1.5 * target "
            "rule of Spinning Up would not stop yet)",
            expected=True,
        ),
    ],
    hidden=[Hidden(_draw_stop, probe=each_question)],
    properties=[
        Property(
            "returns a Python bool for a tensor KL",
            lambda: {"approx_kl": torch.tensor(0.05), "target_kl": 0.01},
            note="the answer drives a Python break; a tensor would have to be synchronised "
            "and converted by the caller",
            probe=output_type,
            predicate=_is("bool"),
        ),
        Property(
            "a tensor KL equal to the target does not stop",
            lambda: {"approx_kl": torch.tensor(0.0234375), "target_kl": 0.0234375},
            note="0.0234375 = 3/128 is exact in float32 and float64: equal, so not above",
            expect=lambda inputs: False,
        ),
        Property(
            "never stops without a target",
            lambda: {"approx_kl": torch.tensor(1e9), "target_kl": None},
            expect=lambda inputs: False,
        ),
        Property(
            "a target of 0.0 stops at any positive KL",
            lambda: {"approx_kl": torch.tensor(0.001), "target_kl": 0.0},
            note="0.0 is a target, not None: 0.001 > 0 stops (`if not target_kl` takes 0.0 for "
            "None and never stops)",
            expect=lambda inputs: True,
        ),
        Property(
            "a float64 KL a rounding step above the target",
            lambda: {
                "approx_kl": torch.tensor(0.015625 + 1e-12, dtype=torch.float64),
                "target_kl": 0.015625,
            },
            note="in float64 the KL is above the target: stop; rounded to float32 it would equal "
            "the target",
            expect=lambda inputs: True,
        ),
    ],
    mistakes=[
        Mistake(
            "inclusive",
            ">= instead of >",
            "The course's rule (CleanRL's) stops only when approx_kl > target_kl: a KL equal "
            "to the target keeps going.",
            kind="edge",
        ),
        Mistake(
            "none-stops",
            "target_kl None stops at once",
            "None means early stopping is off: never stop.",
        ),
        Mistake(
            "one-and-a-half",
            "the threshold is 1.5 * target_kl",
            "That is Spinning Up's and Stable-Baselines3's rule. This course follows CleanRL and "
            "stops at target_kl itself; for the other rule pass 1.5 * target_kl.",
        ),
        Mistake(
            "reversed",
            "stops when the KL is below the target",
            "Early stopping protects against a policy that moved too far: stop when the KL is "
            "above the target.",
        ),
    ],
)

CHECKS = bind_stored([KL_PENALTY_OBJECTIVE, UPDATE_KL_BETA, SHOULD_STOP_EARLY])
