"""Checks and known mistakes for m04, the clipped surrogate objective."""

from __future__ import annotations

from typing import Any

import torch

from autograder import draw
from autograder.checks import HIDDEN_WEIGHT, float64_property, reference_property
from autograder.core import Check, Fixture, Hidden, Mistake, Property
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_second, output_type
from course.modules import BY_ID

MODULE = BY_ID["m04"]

# ==== clipped_surrogate_loss


def _batch(seed: int, B: int, clip_coef: float, spread: float = 0.3) -> dict[str, Any]:
    """Advantages of both signs and ratios log-normally spread around 1."""
    g = draw.generator(seed)
    return {
        "advantages": draw.normal(g, B, scale=2.0),
        "ratio": torch.exp(draw.normal(g, B, scale=spread)),
        "clip_coef": clip_coef,
    }


def _with_regions(
    g: torch.Generator, advantages: torch.Tensor, ratio: torch.Tensor, clip_coef: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch with four samples put in the regions where the clip is active (held back
    above and below the band, pulled back in from above and below), at random places, so
    that every hidden batch tells the max, the band's two edges and the clipped term apart."""
    hi, lo = 1.0 + clip_coef, 1.0 - clip_coef
    gap = draw.uniform(g, 4, low=0.05, high=0.3)
    size = draw.uniform(g, 4, low=0.5, high=2.5)
    forced_ratio = torch.stack([hi + gap[0], lo - gap[1], hi + gap[2], lo - gap[3]])
    forced_adv = torch.stack([size[0], -size[1], -size[2], size[3]])
    places = torch.randperm(ratio.shape[0], generator=g)[:4]
    advantages, ratio = advantages.clone(), ratio.clone()
    advantages[places], ratio[places] = forced_adv, forced_ratio
    return advantages, ratio


def _draw_batches(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(4):
        B = draw.size(g, 4, 16)
        clip_coef = draw.scalar(g, 0.05, 0.35)
        advantages, ratio = _with_regions(
            g, draw.normal(g, B, scale=2.0), torch.exp(draw.normal(g, B, scale=0.4)), clip_coef
        )
        cases.append(
            (
                f"random batch {i + 1} (B={B}, clip_coef={clip_coef})",
                {"advantages": advantages, "ratio": ratio, "clip_coef": clip_coef},
            )
        )
    return cases


def _regions(clip_coef: float) -> dict[str, tuple[list[float], list[float]]]:
    """(advantages, ratios) in each region of the clipped objective, for eps = clip_coef."""
    hi, lo = 1.0 + clip_coef, 1.0 - clip_coef
    return {
        # the clip is active and the advantage pushes the ratio further out
        "held": ([1.5, 0.5, -2.0, -0.7], [hi + 0.3, hi + 0.05, lo - 0.2, lo - 0.4]),
        # inside the band
        "inside": ([1.5, -0.5, 2.0, -1.0], [1.0, lo + 0.05, hi - 0.05, 1.0 + 0.5 * clip_coef]),
        # the clip is active but the advantage pulls the ratio back into the band
        "back": ([-1.5, -0.5, 2.0, 0.7], [hi + 0.3, hi + 0.05, lo - 0.2, lo - 0.4]),
    }


def _region_inputs(region: str, clip_coef: float = 0.2) -> dict[str, Any]:
    advantages, ratios = _regions(clip_coef)[region]
    return {
        "advantages": torch.tensor(advantages),
        "ratio": torch.tensor(ratios),
        "clip_coef": clip_coef,
    }


def _exactly_zero_gradient(received: Any, inputs: dict[str, Any]) -> str | None:
    grad = received.get("grad") if isinstance(received, dict) else None
    if not isinstance(grad, torch.Tensor) or grad.shape != inputs["ratio"].shape:
        return "expected a gradient of the ratio's shape"
    if not bool((grad == 0).all()):
        return (
            f"the gradient with respect to the ratio should be exactly 0 where the clip holds "
            f"the ratio back (A > 0 above 1 + eps, A < 0 below 1 - eps); got {grad.tolist()}"
        )
    return None


CLIPPED_SURROGATE_LOSS = Check(
    MODULE,
    "clipped_surrogate_loss",
    points=4,
    summary="mean(max(-A r, -A clip(r, 1 - eps, 1 + eps)))",
    fixtures=[
        Fixture(
            "hand: positive advantages",
            {
                "advantages": torch.tensor([1.0, 2.0, 1.0]),
                "ratio": torch.tensor([0.5, 1.1, 1.5]),
                "clip_coef": 0.2,
            },
            note="band [0.8, 1.2]. Sample 0: -1*0.5 = -0.5 vs -1*0.8 = -0.8, max -0.5. "
            "Sample 1: 1.1 is inside, -2*1.1 = -2.2 both. Sample 2: -1*1.5 = -1.5 vs "
            "-1*1.2 = -1.2, max -1.2 (clipped). Mean (-0.5 - 2.2 - 1.2) / 3 = -1.3",
            expected=torch.tensor(-1.3),
        ),
        Fixture(
            "hand: negative advantages",
            {
                "advantages": torch.tensor([-1.0, -2.0, -1.0]),
                "ratio": torch.tensor([0.5, 0.9, 1.5]),
                "clip_coef": 0.2,
            },
            note="band [0.8, 1.2]. Sample 0: 1*0.5 = 0.5 vs 1*0.8 = 0.8, max 0.8 (clipped). "
            "Sample 1: 0.9 is inside, 2*0.9 = 1.8 both. Sample 2: 1*1.5 = 1.5 vs 1*1.2 = 1.2, "
            "max 1.5 (unclipped). Mean (0.8 + 1.8 + 1.5) / 3 = 4.1 / 3 = 1.366667",
            expected=torch.tensor(4.1 / 3.0),
        ),
        Fixture(
            "hand: ratios exactly on the band's edges",
            {
                "advantages": torch.tensor([2.0, 1.0, -1.0, -2.0]),
                "ratio": torch.tensor([0.75, 1.25, 0.75, 1.25]),
                "clip_coef": 0.25,
            },
            note="band [0.75, 1.25]: on an edge, clipping changes nothing, so each term is "
            "-A r: -1.5, -1.25, 0.75, 2.5. Mean 0.5 / 4 = 0.125",
            expected=torch.tensor(0.125),
        ),
        Fixture(
            "random batch, both signs",
            lambda: _batch(101, B=10, clip_coef=0.2),
            note="ten samples, ratios spread around 1 (log-normal, scale 0.3)",
        ),
        Fixture(
            "random batch, small band",
            lambda: _batch(102, B=8, clip_coef=0.1, spread=0.5),
            note="eps = 0.1 and ratios far from 1: most samples are outside the band",
        ),
        Fixture(
            "one sample per region",
            lambda: {
                "advantages": torch.tensor([1.5, -2.0, 1.5, -0.5, -1.5, 2.0]),
                "ratio": torch.tensor([1.5, 0.6, 1.0, 0.85, 1.5, 0.6]),
                "clip_coef": 0.2,
            },
            note="clip holding back (A > 0 above, A < 0 below), inside the band (two), clip "
            "active but pulling back in (A < 0 above, A > 0 below)",
        ),
    ],
    hidden=[Hidden(_draw_batches, weight=HIDDEN_WEIGHT)],
    properties=[
        Property(
            "zero gradient where the clip holds the ratio back",
            lambda: _region_inputs("held"),
            note="r > 1 + eps with A > 0, and r < 1 - eps with A < 0: the objective is flat "
            "there, so d loss / d r must be exactly 0",
            probe=grad_wrt_second,
            predicate=_exactly_zero_gradient,
            weight=2.0,
        ),
        Property(
            "gradient -A / B inside the band",
            lambda: _region_inputs("inside"),
            note="inside [1 - eps, 1 + eps] the loss is -mean(A r), whose gradient is -A / B",
            probe=grad_wrt_second,
            expect=stored("unclipped_gradient"),
        ),
        Property(
            "gradient -A / B where the advantage pulls the ratio back",
            lambda: _region_inputs("back"),
            note="r > 1 + eps with A < 0, r < 1 - eps with A > 0: the unclipped term is the "
            "larger, so the gradient still pulls the ratio towards the band",
            probe=grad_wrt_second,
            expect=stored("unclipped_gradient"),
            weight=2.0,
        ),
        Property(
            "agrees with the simplified form min(r A, g(eps, A))",
            lambda: {
                **_batch(103, B=32, clip_coef=0.2, spread=0.5),
                "advantages": torch.cat(
                    [draw.normal(draw.generator(104), 31, scale=2.0), torch.zeros(1)]
                ),
            },
            note="g(eps, A) = (1 + eps) A if A >= 0 else (1 - eps) A (Spinning Up's PPO page)",
            expect=stored("spinning_up_form"),
        ),
        Property(
            "a batch of one",
            lambda: {
                "advantages": torch.tensor([1.5]),
                "ratio": torch.tensor([1.5]),
                "clip_coef": 0.2,
            },
            note="one sample held back above the band: max(-1.5 * 1.5, -1.5 * 1.2) = -1.8",
            expect=lambda inputs: torch.tensor(-1.8),
        ),
        reference_property(
            "ratios far outside the band",
            lambda: {
                "advantages": torch.tensor([-1.0, 1.0, 1.0, -1.0, 0.5]),
                "ratio": torch.tensor([20.0, 0.05, 20.0, 0.05, 40.0]),
                "clip_coef": 0.2,
            },
            note="with A < 0 a ratio of 20 costs its full -A r = 20 (the pessimistic max "
            "keeps it), with A > 0 a ratio of 0.05 its -A r = -0.05; only the clip's own "
            "band bounds the ratio, no clamp of its own",
        ),
        float64_property(lambda: _batch(104, B=8, clip_coef=0.2, spread=0.4)),
        Property(
            "ratio 1 gives -mean(A)",
            lambda: {
                "advantages": draw.normal(draw.generator(105), 7, scale=2.0),
                "ratio": torch.ones(7),
                "clip_coef": 0.2,
            },
            note="before the first gradient step the new and old policies agree",
            expect=stored("clipped_surrogate_loss_ratio_1_gives"),
        ),
    ],
    mistakes=[
        Mistake(
            "min-for-max",
            "min of the negated terms instead of max",
            "The paper's objective takes the min of r A and clip(r) A. Negating both terms to get "
            "a loss turns that min into a max: -min(x, y) = max(-x, -y).",
        ),
        Mistake(
            "clip-advantage",
            "the advantage is clipped instead of the ratio",
            "The band [1 - eps, 1 + eps] bounds the probability ratio r, which is near 1; an "
            "advantage can be any size and sign. Clip the ratio: clamp(ratio, 1 - eps, 1 + eps).",
        ),
        Mistake(
            "no-minus",
            "the minus signs are missing",
            "max(A r, A clip(r)) is neither the objective nor the loss. The loss is "
            "max(-A r, -A clip(r)): both terms negated.",
        ),
        Mistake(
            "objective",
            "the objective is returned instead of the loss",
            "mean(min(r A, clip(r) A)) is L^CLIP, to maximise. Optimisers minimise: return its "
            "negative, mean(max(-A r, -A clip(r))).",
        ),
        Mistake(
            "band-eps-low",
            "the band is [eps, 1 + eps]",
            "The lower edge is 1 - eps, not eps: the band is centred on a ratio of 1.",
        ),
        Mistake(
            "band-eps-high",
            "the band is [1 - eps, eps]",
            "The upper edge is 1 + eps, not eps. With eps < 1 - eps, clamp(r, 1 - eps, eps) "
            "returns eps for every ratio.",
        ),
        Mistake(
            "clipped-only",
            "only the clipped term, without the max",
            "Dropping the unclipped term removes the gradient everywhere outside the band, also "
            "where it should pull the ratio back in (A < 0 with r > 1 + eps). The max keeps the "
            "pessimistic term.",
        ),
    ],
)


# ==== clip_fraction


def _ratios(seed: int, B: int, clip_coef: float, spread: float = 0.25) -> dict[str, Any]:
    g = draw.generator(seed)
    return {"ratio": torch.exp(draw.normal(g, B, scale=spread)), "clip_coef": clip_coef}


def _draw_ratios(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Every batch has a ratio above the band and one below it, at random places."""
    cases = []
    for i in range(4):
        B = draw.size(g, 2, 20)
        clip_coef = draw.scalar(g, 0.05, 0.3)
        ratio = torch.exp(draw.normal(g, B, scale=0.3))
        gap = draw.uniform(g, 2, low=0.02, high=0.3)
        places = torch.randperm(B, generator=g)[:2]
        ratio[places] = torch.stack([1.0 + clip_coef + gap[0], 1.0 - clip_coef - gap[1]])
        cases.append(
            (
                f"random ratios {i + 1} (B={B}, clip_coef={clip_coef})",
                {"ratio": ratio, "clip_coef": clip_coef},
            )
        )
    return cases


def _grad_ratio(inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "ratio": inputs["ratio"].clone().requires_grad_(True)}


CLIP_FRACTION = Check(
    MODULE,
    "clip_fraction",
    points=2,
    summary="share of samples with |r - 1| > eps, a Python float",
    fixtures=[
        Fixture(
            "hand: both sides and the edges",
            {
                "ratio": torch.tensor([0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 1.1, 2.0]),
                "clip_coef": 0.25,
            },
            note="band [0.75, 1.25]. Outside: 0.5 (below), 1.5 and 2.0 (above); 0.75 and 1.25 "
            "are on the edges, |r - 1| = 0.25 is not > 0.25, so not clipped. 3 of 8 = 0.375",
            expected=0.375,
        ),
        Fixture(
            "hand: all inside",
            {"ratio": torch.tensor([0.95, 1.0, 1.05, 1.19]), "clip_coef": 0.2},
            note="every |r - 1| is at most 0.19 < 0.2: nothing is clipped, 0 / 4 = 0",
            expected=0.0,
        ),
        Fixture(
            "random ratios",
            lambda: _ratios(111, B=12, clip_coef=0.2),
            note="twelve ratios spread around 1",
        ),
        Fixture(
            "random ratios, mostly below",
            lambda: {"ratio": torch.exp(-draw.uniform(draw.generator(112), 10)), "clip_coef": 0.1},
            note="ratios in (0.37, 1]: the clipped ones are all below the band",
        ),
    ],
    hidden=[Hidden(_draw_ratios, weight=HIDDEN_WEIGHT)],
    properties=[
        Property(
            "returns a Python float",
            lambda: _ratios(113, B=6, clip_coef=0.2),
            note="a diagnostic to log, not a tensor",
            probe=output_type,
            predicate=lambda received, inputs: (
                None
                if received == "float"
                else f"expected a float, got {received} (use float(...) or .item())"
            ),
        ),
        Property(
            "ratios that carry a gradient",
            lambda: _grad_ratio({"ratio": torch.tensor([0.5, 1.0, 1.1, 1.6]), "clip_coef": 0.2}),
            note="the ratio usually comes straight from the policy: 2 of 4 are outside",
            expect=lambda inputs: 0.5,
        ),
        Property(
            "the edges of a wide band are not clipped",
            lambda: {"ratio": torch.tensor([0.5, 1.5, 1.0, 2.0]), "clip_coef": 0.5},
            note="band [0.5, 1.5]: only 2.0 is strictly outside, 1 of 4",
            expect=lambda inputs: 0.25,
        ),
        Property(
            "a batch of one",
            lambda: {"ratio": torch.tensor([0.7]), "clip_coef": 0.2},
            note="0.7 is below the band [0.8, 1.2]: 1 of 1",
            expect=lambda inputs: 1.0,
        ),
        Property(
            "float64 ratios a rounding step past the edges",
            lambda: {
                "ratio": torch.tensor(
                    [1.25 + 1e-9, 0.75 - 1e-9, 1.25 - 1e-9, 1.0], dtype=torch.float64
                ),
                "clip_coef": 0.25,
            },
            note="in float64, |r - 1| = 0.250000001 is outside the band of 0.25 for the first "
            "two, 0.249999999 inside for the third: 2 of 4. Rounded to float32 every one of "
            "them would sit on an edge",
            expect=lambda inputs: 0.5,
        ),
        Property(
            "every ratio far outside gives 1",
            lambda: {"ratio": torch.tensor([0.1, 0.5, 1.5, 3.0, 10.0]), "clip_coef": 0.2},
            expect=lambda inputs: 1.0,
        ),
    ],
    mistakes=[
        Mistake(
            "inclusive",
            ">= instead of >: ratios on the edges are counted",
            "A ratio exactly on an edge of the band is not changed by the clip; count only "
            "|r - 1| > eps, as the implementations that log clipfrac do.",
            kind="edge",
        ),
        Mistake(
            "upper-only",
            "only ratios above 1 + eps are counted",
            "The band has two sides: ratios below 1 - eps are clipped too. Use |r - 1| > eps.",
        ),
        Mistake(
            "count",
            "the number of clipped samples instead of their share",
            "Divide by the batch size (take the mean of the 0/1 flags), so the number is "
            "comparable across batch sizes.",
        ),
        Mistake(
            "inside",
            "the share inside the band instead of outside",
            "clip_fraction is the share the clip touches, |r - 1| > eps: 1 minus the share "
            "inside the band.",
        ),
    ],
)

CHECKS = bind_stored([CLIPPED_SURROGATE_LOSS, CLIP_FRACTION])
