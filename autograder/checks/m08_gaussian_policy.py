"""Checks and known mistakes for m08, continuous actions with a Gaussian policy head."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.distributions import Normal

from autograder import draw
from autograder.checks import batch_of_one_property, float64_property
from autograder.core import (
    Check,
    Fixture,
    Hidden,
    InputMutated,
    Mistake,
    Property,
    on_case_device,
)
from autograder.fixtures import bind_stored, stored
from autograder.probes import grad_wrt_first, grad_wrt_second, without_distributions
from course.modules import BY_ID

MODULE = BY_ID["m08"]

LOG_2 = math.log(2.0)


# ==== gaussian_log_prob


def _log_prob_inputs(
    seed: int, B: int, A: int, per_state: bool = False, tail: float = 1.5, dtype=None
) -> dict[str, Any]:
    g = draw.generator(seed)
    mean = draw.normal(g, B, A)
    log_std = draw.uniform(g, *((B, A) if per_state else (A,)), low=-1.0, high=0.5)
    actions = mean + log_std.exp() * draw.normal(g, B, A, scale=tail)
    inputs = {"mean": mean, "log_std": log_std, "actions": actions}
    return {k: v.to(dtype) for k, v in inputs.items()} if dtype else inputs


def _draw_log_prob(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(4):
        # A >= 2 in every case, so a sum over action dims differs from a mean (A = 1 has
        # its own property).
        B, A = draw.size(g, 1, 8), draw.size(g, 2, 6)
        per_state = i % 2 == 1
        mean = draw.normal(g, B, A)
        log_std = draw.uniform(g, *((B, A) if per_state else (A,)), low=-1.5, high=1.0)
        actions = mean + log_std.exp() * draw.normal(g, B, A, scale=2.0)
        shape = "(B, A)" if per_state else "(A,)"
        cases.append(
            (
                f"random batch {i + 1} (B={B}, A={A}, log_std {shape})",
                {"mean": mean, "log_std": log_std, "actions": actions},
            )
        )
    return cases


GAUSSIAN_LOG_PROB = Check(
    MODULE,
    "gaussian_log_prob",
    points=3,
    summary="log-density of a diagonal Gaussian, summed over action dimensions",
    fixtures=[
        Fixture(
            "hand: two action dims, log_std of shape (A,)",
            {
                "mean": torch.tensor([[0.0, 0.0], [1.0, 1.0]]),
                "log_std": torch.tensor([0.0, LOG_2]),
                "actions": torch.tensor([[0.0, 0.0], [2.0, -1.0]]),
            },
            note="sigma = (1, 2); 0.5 log(2 pi) = 0.918939. Row 0 sits on the mean: "
            "-0.918939 + (-log 2 - 0.918939) = -2.531024. Row 1 is one sigma away in both "
            "dims, z = (2 - 1) / 1 = 1 and (-1 - 1) / 2 = -1, which adds -0.5 - 0.5: "
            "-3.531024",
            expected=torch.tensor([-2.5310242, -3.5310242]),
        ),
        Fixture(
            "hand: log_std of shape (B, A)",
            {
                "mean": torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
                "log_std": torch.tensor([[0.0, 0.0], [LOG_2, LOG_2]]),
                "actions": torch.tensor([[1.0, 1.0], [2.0, 2.0]]),
            },
            note="one spread per row. Row 0: sigma 1, z = 1 twice: 2 * (-0.5 - 0.918939) = "
            "-2.837877. Row 1: sigma 2, z = 2 / 2 = 1 twice: 2 * (-0.5 - log 2 - 0.918939) = "
            "-4.224171",
            expected=torch.tensor([-2.837877, -4.2241714]),
        ),
        Fixture(
            "hand: one action dim, a narrow policy",
            {
                "mean": torch.tensor([[0.0], [3.0]]),
                "log_std": torch.tensor([-2.0 * LOG_2]),
                "actions": torch.tensor([[0.25], [3.0]]),
            },
            note="sigma = 1/4, so -log sigma = +log 4 = 1.386294. At the mean: 1.386294 - "
            "0.918939 = 0.467356 > 0, a density above 1. One sigma away adds -0.5: -0.032644",
            expected=torch.tensor([-0.0326441, 0.4673559]),
        ),
        Fixture(
            "random batch, A = 6",
            lambda: _log_prob_inputs(81, B=5, A=6),
            note="five states, six action dimensions",
        ),
        Fixture(
            "random batch, state-dependent log_std",
            lambda: _log_prob_inputs(82, B=4, A=3, per_state=True),
            note="log_std of shape (B, A), one spread per state",
        ),
        Fixture(
            "actions far in the tail",
            lambda: _log_prob_inputs(83, B=3, A=2, tail=20.0),
            note="samples about 20 sigma from the mean: large negative, but finite",
        ),
    ],
    hidden=[Hidden(_draw_log_prob)],
    properties=[
        *[
            Property(
                f"agrees with torch.distributions.Normal, A = {A}",
                lambda A=A, seed=seed: _log_prob_inputs(seed, B=16, A=A),
                note="Normal(mean, exp(log_std)).log_prob(actions).sum(-1)",
                expect=stored("torch_log_prob"),
            )
            for seed, A in ((84, 1), (85, 2), (86, 6))
        ],
        Property(
            "agrees with torch.distributions.Normal, log_std (B, A)",
            lambda: _log_prob_inputs(87, B=12, A=3, per_state=True),
            expect=stored("torch_log_prob"),
        ),
        Property(
            "gradient with respect to the mean is (a - mu) / sigma^2",
            lambda: _log_prob_inputs(88, B=6, A=3),
            note="the policy gradient pushes the mean toward actions with positive advantage",
            probe=grad_wrt_first,
            expect=stored("mean_gradient"),
        ),
        Property(
            "gradient with respect to log_std is the sum over the batch of z^2 - 1",
            lambda: _log_prob_inputs(89, B=6, A=3),
            note="d log pi / d log sigma = z^2 - 1: the spread grows when samples land "
            "further than one sigma out, and log_std (A,) collects it from every row",
            probe=grad_wrt_second,
            expect=stored("log_std_gradient"),
        ),
        Property(
            "written without torch.distributions",
            lambda: _log_prob_inputs(90, B=4, A=2),
            note="the exercise is to write the closed form",
            probe=without_distributions,
            expect=stored("torch_log_prob"),
        ),
        float64_property(
            lambda: _log_prob_inputs(91, B=5, A=3, dtype=torch.float64),
            name="float64 inputs give a float64 (B,) output",
        ),
        batch_of_one_property(lambda: _log_prob_inputs(81, B=1, A=2)),
    ],
    mistakes=[
        Mistake(
            "log-std-as-std",
            "log_std used as the standard deviation",
            "The parameter is log sigma, which can be 0 or negative; sigma = exp(log_std). "
            "Dividing by log_std (and taking its log) gives infinities and nans.",
        ),
        Mistake(
            "std-not-squared",
            "(a - mu)^2 divided by 2 sigma instead of 2 sigma^2",
            "The quadratic term is -0.5 * ((a - mu) / sigma)^2: it is the variance, sigma "
            "squared, that divides the squared distance.",
        ),
        Mistake(
            "no-half",
            "the factor 0.5 of the quadratic term is missing",
            "The normal density is exp(-(a - mu)^2 / (2 sigma^2)); its log has -0.5 * z^2.",
        ),
        Mistake(
            "log-variance",
            "-log sigma^2 instead of -log sigma in the normaliser",
            "The density's normaliser is 1 / (sigma sqrt(2 pi)), whose log is -log sigma - "
            "0.5 log(2 pi): log_std once, not twice.",
        ),
        Mistake(
            "not-summed",
            "one log-density per action dimension, (B, A), instead of their sum",
            "The dimensions are independent, so the joint density is the product of the "
            "per-dimension densities and its log is their sum: .sum(-1).",
        ),
        Mistake(
            "averaged",
            "the mean over action dimensions instead of the sum",
            "log pi(a|s) of the whole action is the sum of the per-dimension log-densities; "
            "averaging divides it by A.",
        ),
    ],
)


# ==== gaussian_entropy


def _entropy_inputs(seed: int, *shape: int, dtype=None) -> dict[str, Any]:
    log_std = draw.uniform(draw.generator(seed), *shape, low=-2.0, high=1.0)
    return {"log_std": log_std.to(dtype) if dtype else log_std}


def _draw_entropy(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B, A = draw.size(g, 1, 6), draw.size(g, 2, 6)
        shape = (A,) if i == 0 else (B, A)
        log_std = draw.uniform(g, *shape, low=-2.0, high=1.0)
        cases.append((f"random log_std {i + 1} of shape {shape}", {"log_std": log_std}))
    return cases


def _normal_entropy_inputs(seed: int, B: int, A: int) -> dict[str, Any]:
    """log_std and, for the expectation only, a mean far from 0."""
    g = draw.generator(seed)
    return {
        "log_std": draw.uniform(g, B, A, low=-2.0, high=1.0),
        "mean": draw.normal(g, B, A, scale=10.0),
    }


def log_std_only_probe(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call with ``log_std`` alone (the inputs also hold a mean, for the expectation)."""
    log_std = inputs["log_std"].clone()
    out = getattr(ns, function)(log_std)
    if not torch.equal(log_std, inputs["log_std"]):
        raise InputMutated(["log_std"])
    return out


GAUSSIAN_ENTROPY = Check(
    MODULE,
    "gaussian_entropy",
    points=2,
    summary="entropy of a diagonal Gaussian, the constant counted once per dimension",
    fixtures=[
        Fixture(
            "hand: one action dim",
            {"log_std": torch.tensor([[0.0], [LOG_2]])},
            note="0.5 log(2 pi e) = 0.5 * (1.837877 + 1) = 1.418939 for sigma = 1; sigma = 2 "
            "adds log 2: 2.112086",
            expected=torch.tensor([1.4189385, 2.1120857]),
        ),
        Fixture(
            "hand: two action dims",
            {"log_std": torch.tensor([[0.0, 0.0], [LOG_2, -LOG_2], [LOG_2, LOG_2]])},
            note="the constant counts twice: 2 * 1.418939 = 2.837877, plus the sum of the "
            "log-stds: 0, then log 2 - log 2 = 0, then 2 log 2 = 1.386294, giving 4.224171",
            expected=torch.tensor([2.837877, 2.837877, 4.2241714]),
        ),
        Fixture(
            "hand: log_std of shape (A,)",
            {"log_std": torch.tensor([0.0, 0.0, 0.0])},
            note="a state-independent spread gives one number, a 0-dim tensor: 3 * 1.418939 "
            "= 4.256816",
            expected=torch.tensor(4.2568156),
        ),
        Fixture("random, A = 6", lambda: _entropy_inputs(92, 4, 6), note="four states"),
        Fixture(
            "random, leading shape (T, N)",
            lambda: _entropy_inputs(93, 3, 2, 2),
            note="log_std (T, N, A) gives (T, N): only the last dimension is summed",
        ),
    ],
    hidden=[Hidden(_draw_entropy)],
    properties=[
        *[
            Property(
                f"agrees with torch.distributions.Normal for any mean, A = {A}",
                lambda A=A, seed=seed: _normal_entropy_inputs(seed, B=8, A=A),
                note="Normal(mean, exp(log_std)).entropy().sum(-1), with means far from 0: "
                "the entropy does not depend on the mean",
                probe=log_std_only_probe,
                expect=stored("torch_entropy"),
            )
            for seed, A in ((94, 1), (95, 2), (96, 6))
        ],
        Property(
            "gradient with respect to log_std is 1",
            lambda: _entropy_inputs(97, 3, 4),
            note="dH / d log sigma_j = 1: the entropy bonus widens every dimension alike",
            probe=grad_wrt_first,
            expect=stored("gaussian_entropy_gradient_with"),
        ),
        Property(
            "written without torch.distributions",
            lambda: _entropy_inputs(98, 2, 3),
            probe=without_distributions,
            expect=stored("torch_entropy"),
        ),
        float64_property(
            lambda: _entropy_inputs(99, 5, 2, dtype=torch.float64),
            name="float64 inputs give a float64 output",
        ),
        batch_of_one_property(
            lambda: _entropy_inputs(82, 1, 3),
            note="log_std (1, A): one state, the result (1,)",
        ),
    ],
    mistakes=[
        Mistake(
            "no-sum",
            "one entropy per action dimension, (..., A), instead of their sum",
            "The dimensions are independent, so the entropy of the whole action is the sum "
            "of theirs: sum over the last dimension.",
        ),
        Mistake(
            "constant-once",
            "0.5 * log(2 pi e) added once instead of once per dimension",
            "Each dimension has entropy 0.5 * log(2 pi e) + log sigma_j; summing gives A times "
            "the constant. Adding it once is right only for A = 1.",
        ),
        Mistake(
            "averaged",
            "the mean over action dimensions instead of the sum",
            "Entropies of independent parts add up; averaging divides the entropy by A.",
        ),
        Mistake(
            "half-log-std",
            "0.5 * log_std, as if it were a log-variance",
            "H = 0.5 * log(2 pi e sigma^2) = 0.5 * log(2 pi e) + log sigma: the 0.5 of the "
            "square root cancels the square of sigma^2, so log_std counts in full.",
        ),
    ],
)


# ==== GaussianActor


class ContractError(Exception):
    """The class does not have the architecture or attribute names its docstring fixes."""


PARAMETER_NAMES = [
    "mean_net.0.weight",
    "mean_net.0.bias",
    "mean_net.2.weight",
    "mean_net.2.bias",
    "mean_net.4.weight",
    "mean_net.4.bias",
    "log_std",
]


def _params(
    g: torch.Generator, obs_dim: int, act_dim: int, hidden: int, log_std_range=(-1.0, 0.5)
) -> dict[str, torch.Tensor]:
    low, high = log_std_range
    return {
        "mean_net.0.weight": draw.normal(g, hidden, obs_dim, scale=0.8),
        "mean_net.0.bias": draw.normal(g, hidden, scale=0.1),
        "mean_net.2.weight": draw.normal(g, hidden, hidden, scale=0.8),
        "mean_net.2.bias": draw.normal(g, hidden, scale=0.1),
        "mean_net.4.weight": draw.normal(g, act_dim, hidden, scale=0.8),
        "mean_net.4.bias": draw.normal(g, act_dim, scale=0.1),
        "log_std": draw.uniform(g, act_dim, low=low, high=high),
    }


def _actor_inputs(
    g: torch.Generator, obs_dim: int, act_dim: int, hidden: int, B: int, **kwargs: Any
) -> dict[str, Any]:
    return {
        "obs_dim": obs_dim,
        "act_dim": act_dim,
        "hidden": hidden,
        "params": _params(g, obs_dim, act_dim, hidden, **kwargs),
        "obs": draw.normal(g, B, obs_dim),
    }


def _seeded_actor(seed: int, obs_dim: int, act_dim: int, hidden: int, B: int, **kwargs: Any):
    return _actor_inputs(draw.generator(seed), obs_dim, act_dim, hidden, B, **kwargs)


def _act_inputs(seed: int, B: int, bound: float = 0.05) -> dict[str, Any]:
    """Tight bounds, so that most samples (sigma about 1) fall outside and get clipped."""
    inputs = _seeded_actor(seed, obs_dim=3, act_dim=2, hidden=8, B=B, log_std_range=(-0.2, 0.2))
    inputs["low"] = torch.tensor([-bound, -2.0 * bound])
    inputs["high"] = torch.tensor([bound, 2.0 * bound])
    return inputs


def _draw_actors(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        obs_dim, act_dim = draw.size(g, 1, 5), draw.size(g, 1, 4)
        hidden, B = draw.size(g, 2, 8), draw.size(g, 1, 6)
        cases.append(
            (
                f"random actor {i + 1} (obs_dim={obs_dim}, A={act_dim}, hidden={hidden}, B={B})",
                _actor_inputs(g, obs_dim, act_dim, hidden, B),
            )
        )
    return cases


def _build(ns: Any, function: str, inputs: dict[str, Any]) -> nn.Module:
    """Construct the class under test and load the known weights into it, by name."""
    actor = getattr(ns, function)(inputs["obs_dim"], inputs["act_dim"], inputs["hidden"])
    actor = on_case_device(actor)  # built on the CPU, then moved, as a trainer does
    named = dict(actor.named_parameters())
    params = inputs["params"]
    if set(named) != set(params):
        raise ContractError(
            f"its parameters are {sorted(named)}; the docstring fixes them as "
            f"{PARAMETER_NAMES} (mean_net an nn.Sequential, log_std an nn.Parameter)"
        )
    with torch.no_grad():
        for name, value in params.items():
            if named[name].shape != value.shape:
                raise ContractError(
                    f"parameter {name} has shape {tuple(named[name].shape)}, "
                    f"expected {tuple(value.shape)}"
                )
            named[name].copy_(value)
    return actor


def _obs_unchanged(obs: torch.Tensor, before: torch.Tensor) -> None:
    if not torch.equal(obs, before):
        raise InputMutated(["obs"])


def distribution_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Load the weights, call ``distribution(obs)``: its type, mean and stddev."""
    actor = _build(ns, function, inputs)
    obs = inputs["obs"].clone()
    dist = actor.distribution(obs)
    _obs_unchanged(obs, inputs["obs"])
    return {"type": type(dist).__name__, "mean": dist.mean, "stddev": dist.stddev}


def structure_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Construct with ``initial_log_std``; report log_std and the parameters' names and
    shapes."""
    actor = getattr(ns, function)(
        inputs["obs_dim"], inputs["act_dim"], inputs["hidden"], initial_log_std=-0.5
    )
    actor = on_case_device(actor)  # built on the CPU, then moved, as a trainer does
    log_std = getattr(actor, "log_std", None)
    return {
        "log_std_is_parameter": isinstance(log_std, nn.Parameter),
        "log_std": log_std.detach().clone() if isinstance(log_std, torch.Tensor) else None,
        "parameters": sorted([name, list(p.shape)] for name, p in actor.named_parameters()),
    }


def gradient_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Backpropagate sum_i log pi(a_i|s_i) through ``distribution``: the gradients that
    reach log_std and the mean network's last bias."""
    actor = _build(ns, function, inputs)
    dist = actor.distribution(inputs["obs"].clone())
    dist.log_prob(inputs["actions"]).sum().backward()
    named = dict(actor.named_parameters())

    def grad(name: str) -> torch.Tensor:
        g = named[name].grad
        return torch.zeros_like(named[name]) if g is None else g

    return {"log_std": grad("log_std"), "mean_net.4.bias": grad("mean_net.4.bias")}


def _gradient_inputs(seed: int) -> dict[str, Any]:
    inputs = _seeded_actor(seed, obs_dim=3, act_dim=2, hidden=5, B=6)
    g = draw.generator(seed + 1000)
    inputs["actions"] = draw.normal(g, 6, 2, scale=1.5)
    return inputs


def act_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Load the weights, call ``act(obs, low, high)``: what it returns, by name, and the
    mean and stddev of the actor's own ``distribution(obs)``, to which the sample and its
    log-probability must belong."""
    actor = _build(ns, function, inputs)
    obs = inputs["obs"].clone()
    with torch.no_grad():
        action, log_prob, env_action = actor.act(obs, inputs["low"], inputs["high"])
        dist = actor.distribution(obs)
    _obs_unchanged(obs, inputs["obs"])
    return {
        "action": action,
        "log_prob": log_prob,
        "env_action": env_action,
        "mean": dist.mean,
        "stddev": dist.stddev,
    }


def _act_shapes(received: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    B, A = inputs["obs"].shape[0], inputs["act_dim"]
    wanted = {"action": (B, A), "log_prob": (B,), "env_action": (B, A)}
    for name, shape in wanted.items():
        value = received.get(name)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return f"act must return {name} of shape {shape}; got {got}"
    return None


def _env_action_clipped(received: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    problem = _act_shapes(received, inputs)
    if problem:
        return problem
    clipped = torch.clamp(received["action"], inputs["low"], inputs["high"])
    if not torch.allclose(received["env_action"], clipped, rtol=0.0, atol=0.0):
        return "env_action must be the sampled action clipped to [low, high]"
    return None


def _action_unclipped(received: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    problem = _act_shapes(received, inputs)
    if problem:
        return problem
    action = received["action"]
    inside = (action >= inputs["low"]) & (action <= inputs["high"])
    if bool(inside.all()):
        return (
            "every stored action lies within the tight bounds: the stored action must be "
            "the unclipped sample (only the env's copy is clipped)"
        )
    return None


def _log_prob_of_sample(received: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    problem = _act_shapes(received, inputs)
    if problem:
        return problem
    mean, std = received["mean"], received["stddev"]
    wanted = Normal(mean, std).log_prob(received["action"]).sum(-1)
    if not torch.allclose(received["log_prob"], wanted, rtol=1e-5, atol=1e-6):
        return "log_prob must be log pi(action|obs) of the returned (unclipped) action"
    return None


def _samples_follow_policy(received: dict[str, Any], inputs: dict[str, Any]) -> str | None:
    problem = _act_shapes(received, inputs)
    if problem:
        return problem
    mean, std = received["mean"], received["stddev"]
    z = (received["action"] - mean) / std
    n = z.shape[0]
    # Over n standard normal draws, |mean| exceeds 5 / sqrt(n) and the sample std leaves
    # 1 +- 5 / sqrt(2 n) with probability below 1e-6: a sampler that passes is right.
    z_mean, z_std = z.mean(0), z.std(0)
    if (z_mean.abs() > 5.0 / math.sqrt(n)).any() or (
        (z_std - 1.0).abs() > 5.0 / math.sqrt(2.0 * n)
    ).any():
        return (
            f"(action - mean) / std should be standard normal; over {n} samples its mean is "
            f"{z_mean.tolist()} and its std {z_std.tolist()}: sample from distribution(obs)"
        )
    return None


def act_randomness_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, bool]:
    """Facts about where ``act``'s randomness comes from: whether two consecutive calls
    differ, and whether the actions and the global draws after ``act`` change with the
    global seed set before it."""
    actor = _build(ns, function, inputs)
    obs, low, high = inputs["obs"], inputs["low"], inputs["high"]
    actions, after = [], []
    with torch.no_grad():
        for seed in (1234, 4321):
            torch.manual_seed(seed)
            first = actor.act(obs.clone(), low, high)[0].clone()
            second = actor.act(obs.clone(), low, high)[0].clone()
            actions.append((first, second))
            after.append(torch.rand(8))
    return {
        "consecutive calls differ": not torch.equal(actions[0][0], actions[0][1]),
        "actions follow the global seed": not torch.equal(actions[0][0], actions[1][0]),
        "draws after act follow the global seed": not torch.equal(after[0], after[1]),
    }


def _fresh_and_global(received: dict[str, bool], inputs: dict[str, Any]) -> str | None:
    if not received.get("consecutive calls differ"):
        return "two calls of act in a row return the same action: each call must draw anew"
    if not received.get("actions follow the global seed"):
        return (
            "act returns the same actions whatever torch's global seed: it seeds a generator "
            "of its own (torch.manual_seed inside act?)"
        )
    if not received.get("draws after act follow the global seed"):
        return (
            "after act, torch's global random state no longer depends on what it was: act "
            "reseeds it (torch.manual_seed inside act)"
        )
    return None


def _structure_inputs() -> dict[str, Any]:
    return {"obs_dim": 3, "act_dim": 2, "hidden": 5}


C = 0.5 * math.log(3.0)  # tanh(C) = (3 - 1) / (3 + 1) = 0.5

GAUSSIAN_ACTOR = Check(
    MODULE,
    "GaussianActor",
    points=4,
    summary="mean network, state-independent log_std parameter, clip only the env action",
    fixtures=[
        Fixture(
            "hand: a tiny network",
            {
                "obs_dim": 2,
                "act_dim": 2,
                "hidden": 2,
                "params": {
                    "mean_net.0.weight": torch.tensor([[C, 0.0], [0.0, 0.0]]),
                    "mean_net.0.bias": torch.tensor([0.0, 0.0]),
                    "mean_net.2.weight": torch.tensor([[2.0 * C, 0.0], [0.0, 0.0]]),
                    "mean_net.2.bias": torch.tensor([0.0, 0.0]),
                    "mean_net.4.weight": torch.tensor([[2.0, 0.0], [-4.0, 0.0]]),
                    "mean_net.4.bias": torch.tensor([1.0, 0.0]),
                    "log_std": torch.tensor([LOG_2, -LOG_2]),
                },
                "obs": torch.tensor([[1.0, 5.0], [0.0, 0.0], [-1.0, 0.0]]),
            },
            note="c = 0.5 ln 3 = 0.549306, so tanh(c) = (3 - 1) / (3 + 1) = 0.5. Only obs[0] "
            "and the first hidden unit count: h1 = tanh(c x0) = 0.5, 0, -0.5; h2 = tanh(2c "
            "h1) = tanh(c), 0, -tanh(c) = 0.5, 0, -0.5; mean = (2 h2 + 1, -4 h2) = (2, -2), "
            "(1, 0), (0, 2). stddev = exp(log_std) = (2, 0.5) in every row",
            expected={
                "type": "Normal",
                "mean": torch.tensor([[2.0, -2.0], [1.0, 0.0], [0.0, 2.0]]),
                "stddev": torch.tensor([[2.0, 0.5], [2.0, 0.5], [2.0, 0.5]]),
            },
            probe=distribution_probe,
        ),
        Fixture(
            "random weights, positive log_std",
            lambda: _seeded_actor(
                101, obs_dim=3, act_dim=2, hidden=4, B=5, log_std_range=(0.1, 0.6)
            ),
            note="five observations through a small network; sigma = exp(log_std) > 1",
            probe=distribution_probe,
        ),
        Fixture(
            "random weights, one action dim",
            lambda: _seeded_actor(102, obs_dim=3, act_dim=1, hidden=3, B=4),
            note="A = 1: mean and stddev are (B, 1), not (B,)",
            probe=distribution_probe,
        ),
    ],
    hidden=[Hidden(_draw_actors, probe=distribution_probe, note="an actor drawn at grading time")],
    properties=[
        Property(
            "log_std is an nn.Parameter of shape (A,) set to initial_log_std",
            _structure_inputs,
            note="GaussianActor(3, 2, hidden=5, initial_log_std=-0.5): its parameters are "
            "the mean network's and log_std, with the names and shapes the docstring fixes",
            probe=structure_probe,
            expect=stored("expected_structure"),
        ),
        Property(
            "log_std and the mean network receive the gradient of the log-probability",
            lambda: _gradient_inputs(103),
            note="d/d log_std of sum_i log pi(a_i|s_i) = sum_i (z_i^2 - 1); d/d (last bias) "
            "= sum_i z_i / sigma",
            probe=gradient_probe,
            expect=stored("expected_gradients"),
        ),
        Property(
            "distribution for a batch of one",
            lambda: _seeded_actor(104, obs_dim=4, act_dim=3, hidden=6, B=1),
            note="mean and stddev are (1, A)",
            probe=distribution_probe,
            expect=stored("expected_distribution"),
        ),
        Property(
            "act sends the sample clipped to the bounds to the env",
            lambda: _act_inputs(105, B=32),
            note="env_action = clip(action, low, high), bounds +-0.05 and +-0.1",
            probe=act_probe,
            predicate=_env_action_clipped,
            weight=2.0,
        ),
        Property(
            "act stores the unclipped sample",
            lambda: _act_inputs(106, B=32),
            note="with bounds this tight nearly every sample falls outside them",
            probe=act_probe,
            predicate=_action_unclipped,
            weight=2.0,
            core=True,
        ),
        Property(
            "act returns the log-probability of the unclipped sample",
            lambda: _act_inputs(107, B=32),
            note="log_prob = log pi(action|obs), summed over action dims, shape (B,)",
            probe=act_probe,
            predicate=_log_prob_of_sample,
            weight=2.0,
            core=True,
        ),
        Property(
            "act draws fresh samples from the global generator, and leaves it alone",
            lambda: _act_inputs(109, B=4),
            note="two calls in a row give different actions, and different global seeds "
            "before act give different actions and different draws after it: no "
            "torch.manual_seed inside act (it would repeat every rollout's noise and reset "
            "the caller's random state)",
            probe=act_randomness_probe,
            predicate=_fresh_and_global,
            weight=2.0,
        ),
        Property(
            "act on one observation",
            lambda: _act_inputs(110, B=1),
            note="B = 1: action and env_action are (1, A), log_prob (1,)",
            probe=act_probe,
            predicate=_act_shapes,
        ),
        Property(
            "act samples from the policy",
            lambda: _act_inputs(108, B=2000),
            note="over 2000 draws, (action - mean) / std has mean about 0 and std about 1",
            probe=act_probe,
            predicate=_samples_follow_policy,
            weight=2.0,
            core=True,
        ),
    ],
    mistakes=[
        Mistake(
            "log-std-not-exponentiated",
            "Normal(mean, log_std) instead of Normal(mean, exp(log_std))",
            "torch.distributions.Normal takes the standard deviation. Passing log_std gives "
            "the wrong spread, and an error as soon as a log_std is 0 or negative.",
        ),
        Mistake(
            "log-std-not-a-parameter",
            "log_std is a plain tensor, not an nn.Parameter",
            "A tensor attribute is not among parameters(): the optimiser never updates it, "
            "so the policy cannot learn how much to explore. Wrap it in nn.Parameter.",
        ),
        Mistake(
            "log-prob-of-clipped-action",
            "the log-probability of the clipped action",
            "The policy sampled the unclipped action; that is what the PPO ratio evaluates "
            "later. The density at the clipped value (on the bound) is not the probability "
            "of what the policy did.",
        ),
        Mistake(
            "stores-clipped-action",
            "the clipped action is stored (with its log-probability)",
            "Clip only the copy sent to the env. A stored clipped action piles many samples "
            "onto the bound, and the policy's log-density there says nothing about how "
            "likely the policy was to produce it.",
        ),
        Mistake(
            "env-action-not-clipped",
            "the env action is not clipped to the bounds",
            "A Gaussian sample can be anywhere; the env's action space has bounds. Send "
            "clip(action, low, high) to the env.",
            kind="edge",
        ),
        Mistake(
            "mean-as-action",
            "the mean is returned instead of a sample",
            "During training the policy must explore: draw the action from "
            "distribution(obs). The mean is the greedy action, for evaluation only.",
        ),
        Mistake(
            "log-prob-not-summed",
            "act's log-probability is (B, A), not summed over action dims",
            "Normal.log_prob gives one log-density per dimension; the action's "
            "log-probability is their sum, .sum(-1).",
        ),
    ],
)

CHECKS = bind_stored([GAUSSIAN_LOG_PROB, GAUSSIAN_ENTROPY, GAUSSIAN_ACTOR])
