"""Checks and known mistakes for m05, the full PPO loss."""

from __future__ import annotations

from typing import Any

import torch

from autograder import draw
from autograder.checks import batch_of_one_property, float64_property, reference_property
from autograder.core import Check, Fixture, Hidden, InputMutated, Mistake, Property, call, mutated
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_first
from course.modules import BY_ID

MODULE = BY_ID["m05"]

# ==== value_loss


def _values(
    seed: int, B: int, clip_coef: float, clip_vloss: bool, vf_coef: float, move: float = 0.4
) -> dict[str, Any]:
    """A critic whose new values moved from the stored ones by about ``move``."""
    g = draw.generator(seed)
    returns = draw.normal(g, B, scale=2.0)
    old_values = returns + draw.normal(g, B)
    new_values = old_values + draw.normal(g, B, scale=move)
    return {
        "new_values": new_values,
        "old_values": old_values,
        "returns": returns,
        "clip_coef": clip_coef,
        "clip_vloss": clip_vloss,
        "vf_coef": vf_coef,
    }


def _draw_values(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Every batch has a prediction that moved past the band away from its target (the
    unclipped error is the larger) and one that moved past the band onto its target (the
    clipped error is the larger), at random places; each case is graded with and without
    ``clip_vloss`` (:func:`clipped_vs_unclipped`)."""
    cases = []
    for i in range(4):
        B = draw.size(g, 2, 12)
        returns = draw.normal(g, B, scale=2.0)
        old_values = returns + draw.normal(g, B)
        new_values = old_values + draw.normal(g, B, scale=0.5)
        clip_coef = draw.scalar(g, 0.1, 0.5)
        sign = torch.where(draw.flags(g, 2, p=0.5), 1.0, -1.0)
        away, onto = torch.randperm(B, generator=g)[:2].tolist()
        # away from the target: V_old near R, V moved more than eps further from it
        old_values[away] = returns[away] + sign[0] * draw.uniform(g, 1, high=0.5)[0]
        new_values[away] = old_values[away] + sign[0] * (
            clip_coef + draw.uniform(g, 1, low=0.1, high=1.0)[0]
        )
        # onto the target: V_old more than eps from R, V moved (past the band) to R
        old_values[onto] = returns[onto] + sign[1] * (
            clip_coef + draw.uniform(g, 1, low=0.2, high=1.0)[0]
        )
        new_values[onto] = returns[onto] + draw.uniform(g, 1, low=-0.05, high=0.05)[0]
        cases.append(
            (
                f"random batch {i + 1} (B={B}), with and without clip_vloss",
                {
                    "new_values": new_values,
                    "old_values": old_values,
                    "returns": returns,
                    "clip_coef": clip_coef,
                    "clip_vloss": True,
                    "vf_coef": draw.scalar(g, 0.25, 1.0),
                },
            )
        )
    return cases


def _mixed_clip_inputs() -> dict[str, Any]:
    """Samples where the clipped term is larger, smaller, and equal (inside the band)."""
    return {
        "new_values": torch.tensor([2.0, 0.0, 1.1, -1.0, 3.0, -0.5]),
        "old_values": torch.tensor([1.0, 1.0, 1.0, 0.0, 2.0, 0.0]),
        "returns": torch.tensor([2.0, 2.0, 1.0, 1.0, 0.0, -1.0]),
        "clip_coef": 0.2,
        "clip_vloss": True,
        "vf_coef": 0.5,
    }


def clipped_vs_unclipped(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The loss with and without ``clip_vloss`` on the same inputs."""
    return {
        "clipped": call(ns, function, {**inputs, "clip_vloss": True}),
        "unclipped": call(ns, function, {**inputs, "clip_vloss": False}),
    }


def _clipped_not_below(received: Any, inputs: dict[str, Any]) -> str | None:
    clipped, unclipped = received.get("clipped"), received.get("unclipped")
    if not isinstance(clipped, torch.Tensor) or not isinstance(unclipped, torch.Tensor):
        return "expected tensors"
    if float(clipped) < float(unclipped) - 1e-6:
        return (
            f"the clipped loss ({float(clipped):.6g}) is below the unclipped one "
            f"({float(unclipped):.6g}); the max of the two errors can only be larger"
        )
    return None


def vf_coef_scaling(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The loss with vf_coef = 1 and vf_coef = 3."""
    return {
        "one": call(ns, function, {**inputs, "vf_coef": 1.0}),
        "three": call(ns, function, {**inputs, "vf_coef": 3.0}),
    }


def _three_times(received: Any, inputs: dict[str, Any]) -> str | None:
    one, three = received.get("one"), received.get("three")
    if not isinstance(one, torch.Tensor) or not isinstance(three, torch.Tensor):
        return "expected tensors"
    if not torch.allclose(three, 3.0 * one, rtol=1e-5, atol=1e-6):
        return (
            f"vf_coef = 3 should give 3 times the loss of vf_coef = 1: got {float(one):.6g} "
            f"and {float(three):.6g}"
        )
    return None


VALUE_LOSS = Check(
    MODULE,
    "value_loss",
    points=3,
    summary="0.5 * mean of the (max of the clipped and unclipped) squared errors, times vf_coef",
    fixtures=[
        Fixture(
            "hand: unclipped",
            {
                "new_values": torch.tensor([1.0, 2.0, 3.0]),
                "old_values": torch.tensor([1.0, 1.0, 1.0]),
                "returns": torch.tensor([1.0, 0.0, 5.0]),
                "clip_coef": 0.2,
                "clip_vloss": False,
                "vf_coef": 0.5,
            },
            note="errors V - R: 0, 2, -2; squares 0, 4, 4; mean 8/3; times 0.5 is 4/3; "
            "times vf_coef 0.5 is 2/3 = 0.666667 (old_values play no part)",
            expected=torch.tensor(2.0 / 3.0),
        ),
        Fixture(
            "hand: clipped, the clipped error larger and smaller",
            {
                "new_values": torch.tensor([2.0, 0.0, 1.125]),
                "old_values": torch.tensor([1.0, 1.0, 1.0]),
                "returns": torch.tensor([2.0, 2.0, 1.0]),
                "clip_coef": 0.25,
                "clip_vloss": True,
                "vf_coef": 0.5,
            },
            note="V_clip = V_old + clip(V - V_old, -0.25, 0.25) = 1.25, 0.75, 1.125. Sample 0: "
            "(2 - 2)^2 = 0 vs (1.25 - 2)^2 = 0.5625, max 0.5625 (clipped larger). Sample 1: "
            "(0 - 2)^2 = 4 vs (0.75 - 2)^2 = 1.5625, max 4 (clipped smaller). Sample 2: inside "
            "the band, both (1.125 - 1)^2 = 0.015625. Mean 4.578125 / 3 = 1.5260417; times 0.5 "
            "is 0.7630208; times vf_coef 0.5 is 0.3815104",
            expected=torch.tensor(4.578125 / 3.0 * 0.5 * 0.5),
        ),
        Fixture(
            "random batch, unclipped",
            lambda: _values(121, B=8, clip_coef=0.2, clip_vloss=False, vf_coef=0.5),
            note="eight states, vf_coef 0.5",
        ),
        Fixture(
            "random batch, clipped",
            lambda: _values(122, B=10, clip_coef=0.2, clip_vloss=True, vf_coef=0.5),
            note="ten states; the new values moved about 0.4 from the stored ones, so many are "
            "outside the band of 0.2",
        ),
        Fixture(
            "clipped, vf_coef 1",
            lambda: _values(123, B=6, clip_coef=0.5, clip_vloss=True, vf_coef=1.0),
            note="a wider band, and the coefficient 1 of the paper's Atari runs",
        ),
    ],
    hidden=[Hidden(_draw_values, probe=clipped_vs_unclipped)],
    properties=[
        Property(
            "gradient vf_coef * (V - R) / B without clipping",
            lambda: _values(124, B=7, clip_coef=0.2, clip_vloss=False, vf_coef=0.5),
            note="the factor 0.5 cancels the 2 of the square",
            probe=grad_wrt_first,
            expect=stored("value_gradient"),
        ),
        Property(
            "gradient with clipping: 0 where the clipped error is larger",
            _mixed_clip_inputs,
            note="where the clipped prediction's error wins the max, the loss no longer depends "
            "on V; elsewhere the gradient is vf_coef * (V - R) / B",
            probe=grad_wrt_first,
            expect=stored("value_gradient"),
            weight=2.0,
        ),
        Property(
            "inside the band, clipping changes nothing",
            lambda: _values(125, B=9, clip_coef=0.5, clip_vloss=True, vf_coef=0.5, move=0.1),
            note="every |V - V_old| here is below eps = 0.5, so V_clip = V",
            expect=stored("value_loss_inside_the_band_clipping"),
        ),
        Property(
            "the clipped loss is never below the unclipped one",
            lambda: _values(126, B=16, clip_coef=0.2, clip_vloss=True, vf_coef=0.5, move=0.6),
            note="max(a, b) >= a: the clipped form is a pessimistic bound",
            probe=clipped_vs_unclipped,
            predicate=_clipped_not_below,
        ),
        Property(
            "a batch of one",
            lambda: {
                "new_values": torch.tensor([0.0]),
                "old_values": torch.tensor([1.0]),
                "returns": torch.tensor([2.0]),
                "clip_coef": 0.25,
                "clip_vloss": True,
                "vf_coef": 0.5,
            },
            note="(0 - 2)^2 = 4 against (0.75 - 2)^2 = 1.5625: the max is 4, times 0.5 and "
            "vf_coef 0.5 gives 1",
            expect=lambda inputs: torch.tensor(1.0),
        ),
        Property(
            "linear in vf_coef",
            lambda: _values(127, B=5, clip_coef=0.2, clip_vloss=True, vf_coef=0.5),
            note="the coefficient multiplies the loss once",
            probe=vf_coef_scaling,
            predicate=_three_times,
        ),
        float64_property(
            lambda: _values(128, B=6, clip_coef=0.2, clip_vloss=True, vf_coef=0.5),
            probe=clipped_vs_unclipped,
        ),
        reference_property(
            "moves exactly on the edges of the band",
            lambda: {
                "new_values": torch.tensor([1.25, 0.75, 2.5, -1.5]),
                "old_values": torch.tensor([1.0, 1.0, 2.0, -1.0]),
                "returns": torch.tensor([2.0, 0.0, 3.0, -1.0]),
                "clip_coef": 0.25,
                "clip_vloss": True,
                "vf_coef": 0.5,
            },
            note="V - V_old = 0.25 and -0.25 sit on the edges of the band of 0.25 (clip leaves "
            "them as they are), 0.5 and -0.5 past them; every number is exact in binary, so "
            "any correct order of the operations gives the same loss",
        ),
    ],
    mistakes=[
        Mistake(
            "lightning-value-loss",
            "the value loss of Lightning's PPO example: the clipped prediction's error alone, "
            "no 0.5",
            "vf_coef * mse(V_old + clip(V - V_old), R) drops the unclipped error and the 0.5. The "
            "course follows the single-file implementations: 0.5 * mean(max(unclipped, clipped)) "
            "times vf_coef.",
        ),
        Mistake(
            "clipped-only",
            "only the clipped prediction's error, no max",
            "Without the max, a critic that moved past the band towards the target gets no "
            "gradient, and one that moved away from it is not penalised for the part outside "
            "the band. Take max((V - R)^2, (V_clip - R)^2).",
        ),
        Mistake(
            "min-for-max",
            "min of the two errors instead of max",
            "The clipped value loss is a pessimistic bound, like the policy's: keep the larger "
            "of the two squared errors.",
        ),
        Mistake(
            "no-half",
            "the factor 0.5 is missing",
            "The course's value loss is 0.5 * mean(...) before vf_coef, as in the single-file "
            "implementations; without it the critic's effective learning rate doubles.",
        ),
        Mistake(
            "vf-coef-twice",
            "vf_coef applied twice",
            "value_loss applies vf_coef; ppo_loss then only adds the terms. Multiplying again "
            "scales the value loss by vf_coef^2.",
        ),
        Mistake(
            "vf-coef-forgotten",
            "vf_coef is not applied",
            "In the course's convention value_loss returns the term of the total loss, "
            "coefficient included: multiply by vf_coef.",
        ),
    ],
)


# ==== entropy_loss


def _entropies(seed: int, B: int, ent_coef: float) -> dict[str, Any]:
    g = draw.generator(seed)
    return {"entropy": draw.uniform(g, B, low=0.0, high=1.4), "ent_coef": ent_coef}


def _draw_entropies(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B = draw.size(g, 1, 16)
        cases.append(
            (
                f"random batch {i + 1} (B={B})",
                {
                    "entropy": draw.uniform(g, B, low=0.0, high=1.4),
                    "ent_coef": draw.scalar(g, 0.001, 0.1),
                },
            )
        )
    return cases


ENTROPY_LOSS = Check(
    MODULE,
    "entropy_loss",
    points=1,
    summary="-ent_coef * mean(H)",
    fixtures=[
        Fixture(
            "hand: four states",
            {"entropy": torch.tensor([0.5, 1.0, 1.5, 1.0]), "ent_coef": 0.01},
            note="mean entropy (0.5 + 1 + 1.5 + 1) / 4 = 1; times -0.01 is -0.01",
            expected=torch.tensor(-0.01),
        ),
        Fixture(
            "random batch",
            lambda: _entropies(131, B=9, ent_coef=0.02),
            note="nine entropies of a three-action policy (at most log 3 = 1.0986)",
        ),
    ],
    hidden=[Hidden(_draw_entropies)],
    properties=[
        Property(
            "gradient -ent_coef / B",
            lambda: _entropies(132, B=6, ent_coef=0.05),
            note="gradient descent on the loss raises every entropy",
            probe=grad_wrt_first,
            expect=stored("entropy_loss_gradient_ent_coef_b"),
        ),
        Property(
            "ent_coef 0 gives 0",
            lambda: _entropies(133, B=4, ent_coef=0.0),
            expect=lambda inputs: torch.tensor(0.0),
        ),
        float64_property(lambda: _entropies(134, B=5, ent_coef=0.01)),
        batch_of_one_property(lambda: _entropies(135, B=1, ent_coef=0.01)),
    ],
    mistakes=[
        Mistake(
            "wrong-sign",
            "+ent_coef * mean(H): the bonus became a penalty",
            "Minimising +ent_coef * H lowers the entropy and makes the policy deterministic "
            "early. The bonus is subtracted from the loss: -ent_coef * mean(H).",
        ),
        Mistake(
            "sum",
            "a sum over the batch instead of a mean",
            "A sum makes the bonus grow with the batch size, against terms that are means.",
        ),
        Mistake(
            "no-coef",
            "ent_coef is not applied",
            "The coefficient is part of the term: -ent_coef * mean(H).",
        ),
        Mistake(
            "not-reduced",
            "the entropy is not averaged: a (B,) tensor comes back",
            "The loss is a 0-dim tensor, -ent_coef * mean(H): take the mean over the batch.",
        ),
    ],
)


# ==== ppo_loss


def _terms(seed: int) -> dict[str, Any]:
    g = draw.generator(seed)
    return {
        "pg_loss": draw.normal(g, 1, scale=0.1).reshape(()),
        "v_loss": draw.uniform(g, 1, low=0.0, high=2.0).reshape(()),
        "ent_loss": -draw.uniform(g, 1, low=0.0, high=0.02).reshape(()),
    }


def _draw_terms(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            f"random terms {i + 1}",
            {
                "pg_loss": draw.normal(g, 1, scale=0.1).reshape(()),
                "v_loss": draw.uniform(g, 1, low=0.0, high=2.0).reshape(()),
                "ent_loss": -draw.uniform(g, 1, low=0.0, high=0.02).reshape(()),
            },
        )
        for i in range(3)
    ]


def term_gradients(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The total and the gradient of the total with respect to each term."""
    args = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    out = getattr(ns, function)(*args.values())
    grads = {k: torch.zeros(()) for k in args}
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.backward()
        grads = {k: torch.zeros(()) if v.grad is None else v.grad for k, v in args.items()}
    return {"output": out, **{f"d/d {k}": g for k, g in grads.items()}}


PPO_LOSS = Check(
    MODULE,
    "ppo_loss",
    points=1,
    summary="pg_loss + ent_loss + v_loss",
    fixtures=[
        Fixture(
            "hand: three terms",
            {
                "pg_loss": torch.tensor(0.25),
                "v_loss": torch.tensor(0.5),
                "ent_loss": torch.tensor(-0.125),
            },
            note="every term is already a loss with its coefficient: 0.25 + 0.5 - 0.125 = 0.625",
            expected=torch.tensor(0.625),
        ),
        Fixture("random terms", lambda: _terms(141), note="a typical minibatch's terms"),
    ],
    hidden=[Hidden(_draw_terms)],
    properties=[
        Property(
            "gradient 1 with respect to every term",
            lambda: _terms(142),
            note="the total is a plain sum: each term reaches its parameters unscaled",
            probe=term_gradients,
            expect=stored("ppo_loss_gradient_1_with_respect_to"),
        ),
        float64_property(lambda: _terms(143)),
    ],
    mistakes=[
        Mistake(
            "entropy-subtracted",
            "the entropy term is subtracted",
            "ent_loss is already -ent_coef * mean(H); subtracting it turns the bonus into a "
            "penalty. Add the three terms.",
        ),
        Mistake(
            "value-subtracted",
            "the value loss is subtracted",
            "The paper writes its objective as L^CLIP - c_1 L^VF + c_2 S, to maximise; the loss "
            "to minimise is its negative, so the value loss enters with a plus sign.",
        ),
        Mistake(
            "policy-negated",
            "the policy loss is negated",
            "pg_loss is already a loss (the negated clipped objective); negating it again makes "
            "the optimiser lower the advantage-weighted probability ratio.",
        ),
        Mistake(
            "value-halved",
            "the value loss is halved again",
            "value_loss already includes the 0.5 and vf_coef; the total is the plain sum pg_loss +"
            " v_loss + ent_loss, with no second factor.",
        ),
    ],
)


# ==== training_step_loss


def step_probe(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call with the inputs in order (the batch dict deep-copied), and fail if any input
    tensor, including the batch's, was modified."""
    args = {
        k: ({n: t.clone() for n, t in v.items()} if isinstance(v, dict) else v)
        for k, v in inputs.items()
    }
    args = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in args.items()}
    out = getattr(ns, function)(*args.values())
    tensors = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    changed = mutated(tensors, args)
    changed += [
        f"batch['{n}']"
        for n, t in inputs["batch"].items()
        if args["batch"][n].shape != t.shape or not torch.equal(args["batch"][n], t)
    ]
    if changed:
        raise InputMutated(changed)
    return out


def _step(
    seed: int,
    B: int,
    normalize_advantages: bool,
    clip_vloss: bool,
    clip_coef: float = 0.2,
    ent_coef: float = 0.01,
    vf_coef: float = 0.5,
    spread: float = 0.3,
) -> dict[str, Any]:
    g = draw.generator(seed)
    old_log_probs = -draw.uniform(g, B, low=0.1, high=2.0)
    returns = draw.normal(g, B, scale=2.0)
    values = returns + draw.normal(g, B)
    return {
        "new_log_probs": old_log_probs + draw.normal(g, B, scale=spread),
        "entropy": draw.uniform(g, B, low=0.2, high=1.1),
        "new_values": values + draw.normal(g, B, scale=0.4),
        "batch": {
            "log_probs": old_log_probs,
            "advantages": draw.normal(g, B, scale=3.0) + 1.0,
            "values": values,
            "returns": returns,
        },
        "clip_coef": clip_coef,
        "ent_coef": ent_coef,
        "vf_coef": vf_coef,
        "clip_vloss": clip_vloss,
        "normalize_advantages": normalize_advantages,
    }


def _draw_steps(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Each minibatch is graded with and without ``normalize_advantages``
    (:func:`both_normalisations`)."""
    cases = []
    for i, clip in enumerate([True, False, True, True]):
        B = draw.size(g, 2, 12)
        seed = int(draw.integers(g, 0, 2**31 - 1, 1))
        inputs = _step(
            seed,
            B,
            normalize_advantages=True,
            clip_vloss=clip,
            clip_coef=draw.scalar(g, 0.1, 0.3),
            ent_coef=draw.scalar(g, 0.0, 0.05),
            vf_coef=draw.scalar(g, 0.25, 1.0),
        )
        cases.append(
            (f"random minibatch {i + 1} (B={B}, clip_vloss={clip}), normalised and raw", inputs)
        )
    return cases


def both_normalisations(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The step's losses with ``normalize_advantages`` on and off, on the same minibatch
    (each call checked for inputs modified in place, as :func:`step_probe` does)."""
    return {
        "normalised": step_probe(ns, function, {**inputs, "normalize_advantages": True}),
        "raw": step_probe(ns, function, {**inputs, "normalize_advantages": False}),
    }


def step_gradients(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The total loss and its gradients with respect to the three network outputs."""
    names = ("new_log_probs", "entropy", "new_values")
    args = dict(inputs)
    args["batch"] = {n: t.clone() for n, t in inputs["batch"].items()}
    for name in names:
        args[name] = inputs[name].detach().clone().requires_grad_(True)
    out = getattr(ns, function)(*args.values())
    loss = out["loss"] if isinstance(out, dict) else None
    grads = {f"d loss / d {n}": torch.zeros_like(args[n]) for n in names}
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        loss.backward()
        for n in names:
            if args[n].grad is not None:
                grads[f"d loss / d {n}"] = args[n].grad
    return {"loss": loss, **grads}


def _unlikely_actions() -> dict[str, Any]:
    inputs = _step(166, B=4, normalize_advantages=True, clip_vloss=False)
    old = torch.tensor([-121.0, -150.0, -130.0, -2.0])
    return {
        **inputs,
        "new_log_probs": old + torch.tensor([0.1, -0.15, 2.0, 0.05]),
        "batch": {**inputs["batch"], "log_probs": old},
    }


def _tiny_spread() -> dict[str, Any]:
    inputs = _step(168, B=5, normalize_advantages=True, clip_vloss=False)
    advantages = 1e-4 * torch.tensor([1.0, -1.0, 2.0, 0.0, -2.0])
    return {**inputs, "batch": {**inputs["batch"], "advantages": advantages}}


def _gradient_inputs() -> dict[str, Any]:
    """Normalised advantages, every ratio inside the band, no value clipping."""
    return _step(151, B=6, normalize_advantages=True, clip_vloss=False, spread=0.05)


def affine_advantages(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The policy loss for advantages A and 5 A + 2, with normalisation on."""
    shifted = dict(inputs)
    shifted["batch"] = {**inputs["batch"], "advantages": 5.0 * inputs["batch"]["advantages"] + 2.0}
    first = step_probe(ns, function, inputs)
    second = step_probe(ns, function, shifted)
    return {"pg_loss(A)": first["pg_loss"], "pg_loss(5A + 2)": second["pg_loss"]}


def _same_policy_loss(received: Any, inputs: dict[str, Any]) -> str | None:
    a, b = received.get("pg_loss(A)"), received.get("pg_loss(5A + 2)")
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return "expected pg_loss tensors"
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
        return (
            f"with normalize_advantages, A and 5 A + 2 normalise to the same advantages, so the "
            f"policy loss must be the same: got {float(a):.6g} and {float(b):.6g}"
        )
    return None


def _sum_of_terms(received: Any, inputs: dict[str, Any]) -> str | None:
    keys = ("loss", "pg_loss", "v_loss", "ent_loss")
    if not isinstance(received, dict) or not all(
        isinstance(received.get(k), torch.Tensor) for k in keys
    ):
        return f"expected a dict of tensors with the keys {', '.join(keys)}"
    total = received["pg_loss"] + received["v_loss"] + received["ent_loss"]
    if not torch.allclose(received["loss"], total, rtol=1e-5, atol=1e-6):
        return f"'loss' ({float(received['loss']):.6g}) is not pg_loss + v_loss + ent_loss"
    return None


TRAINING_STEP_LOSS = Check(
    MODULE,
    "training_step_loss",
    points=3,
    uses=("m04",),
    summary="the training step of Lightning's PPO example, with the normalised advantages "
    "actually used",
    fixtures=[
        Fixture(
            "hand: normalised advantages",
            {
                "new_log_probs": torch.log(torch.tensor([1.5, 1.0, 0.5])),
                "entropy": torch.tensor([0.5, 1.0, 1.5]),
                "new_values": torch.tensor([1.0, 2.0, 3.0]),
                "batch": {
                    "log_probs": torch.tensor([0.0, 0.0, 0.0]),
                    "advantages": torch.tensor([1.0, 2.0, 3.0]),
                    "values": torch.tensor([1.0, 2.0, 3.0]),
                    "returns": torch.tensor([1.0, 0.0, 5.0]),
                },
                "clip_coef": 0.2,
                "ent_coef": 0.01,
                "vf_coef": 0.5,
                "clip_vloss": False,
                "normalize_advantages": True,
            },
            note="ratios exp(log p - 0) = 1.5, 1, 0.5. Advantages 1, 2, 3 have mean 2 and "
            "unbiased std 1, so they normalise to -1, 0, 1. pg_loss: max(1.5, 1.2) = 1.5, 0, "
            "max(-0.5, -0.8) = -0.5, mean 1/3. v_loss: errors V - R = 0, 2, -2, mean square 8/3, "
            "times 0.5 and vf_coef 0.5 gives 2/3. "
            "ent_loss: -0.01 * 1 = -0.01. loss = 1/3 + 2/3 - 0.01 = 0.99 (with the raw "
            "advantages, as in Lightning's step, pg_loss would be "
            "(-1.2 - 2 - 1.5) / 3 = -1.566667)",
            expected={
                "loss": torch.tensor(0.99),
                "pg_loss": torch.tensor(1.0 / 3.0),
                "v_loss": torch.tensor(2.0 / 3.0),
                "ent_loss": torch.tensor(-0.01),
            },
            probe=step_probe,
        ),
        Fixture(
            "random minibatch, normalised, value clipping",
            lambda: _step(161, B=8, normalize_advantages=True, clip_vloss=True),
            note="the defaults of the single-file implementations",
            probe=step_probe,
        ),
        Fixture(
            "random minibatch, raw advantages",
            lambda: _step(162, B=6, normalize_advantages=False, clip_vloss=False),
            note="normalize_advantages off: the raw advantages go to the policy loss",
            probe=step_probe,
        ),
    ],
    hidden=[Hidden(_draw_steps, probe=both_normalisations)],
    properties=[
        Property(
            "normalised policy loss ignores the advantages' scale and shift",
            lambda: _step(163, B=10, normalize_advantages=True, clip_vloss=True),
            note="A and 5 A + 2 normalise to the same advantages, so pg_loss is the same",
            probe=affine_advantages,
            predicate=_same_policy_loss,
            weight=2.0,
        ),
        Property(
            "the loss is the sum of its terms",
            lambda: _step(164, B=7, normalize_advantages=True, clip_vloss=True),
            probe=step_probe,
            predicate=_sum_of_terms,
        ),
        Property(
            "gradients of the total loss",
            _gradient_inputs,
            note="ratios inside the band, no value clipping: d/d log pi_i = -A'_i r_i / B, "
            "d/d H_i = -ent_coef / B, d/d V_i = vf_coef (V_i - R_i) / B",
            probe=step_gradients,
            expect=stored("expected_step_gradients"),
        ),
        float64_property(
            lambda: _step(165, B=6, normalize_advantages=True, clip_vloss=True),
            probe=both_normalisations,
        ),
        reference_property(
            "very unlikely actions",
            _unlikely_actions,
            note="log-probabilities of -120 and below: exp(-120) underflows to 0 in float32, "
            "but the ratios exp(new - old) are ordinary numbers (exp(new) / exp(old) is 0 / 0)",
            probe=both_normalisations,
        ),
        reference_property(
            "advantages with a tiny spread",
            _tiny_spread,
            note="advantages 1e-4 * (1, -1, 2, 0, -2): std 1.58e-4, so std + 1e-8 and "
            "sqrt(var + 1e-8) = 1.87e-4 differ by a sixth; the docstring's A' divides by "
            "std(A) + 1e-8",
            probe=step_probe,
        ),
        batch_of_one_property(
            lambda: _step(167, B=1, normalize_advantages=False, clip_vloss=True),
            note="a last minibatch of one sample, raw advantages: every loss is a 0-dim tensor",
            probe=step_probe,
        ),
    ],
    mistakes=[
        Mistake(
            "lightning-raw-advantages",
            "the bug of Lightning's training step: the normalised advantages are computed, then "
            "the raw ones are used",
            "The step normalises batch['advantages'] into a new variable, then passes "
            "batch['advantages'] to the policy loss, so normalize_advantages changes nothing. "
            "Pass the variable that holds the normalised advantages.",
        ),
        Mistake(
            "always-normalised",
            "the advantages are normalised even when normalize_advantages is False",
            "The flag chooses between the raw and the normalised advantages; with it off, the "
            "policy loss uses batch['advantages'] as they are.",
        ),
        Mistake(
            "inverted-ratio",
            "the ratio is pi_old / pi_new",
            "r = pi_new / pi_old = exp(new_log_probs - old_log_probs); the inverse rewards "
            "making good actions less likely.",
        ),
        Mistake(
            "biased-std",
            "the advantages are normalised with the biased standard deviation",
            "Normalise with the unbiased std (torch's default, divided by B - 1), as "
            "normalize_advantages does; std(unbiased=False) divides by B.",
        ),
    ],
)

CHECKS = bind_stored([VALUE_LOSS, ENTROPY_LOSS, PPO_LOSS, TRAINING_STEP_LOSS])
