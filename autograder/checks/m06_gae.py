"""Checks and known mistakes for m06, Generalized Advantage Estimation."""

from __future__ import annotations

from typing import Any

import torch

from autograder import draw
from autograder.checks import (
    HIDDEN_WEIGHT,
    batch_of_one_property,
    device_property,
    float64_property,
)
from autograder.core import Check, Fixture, Hidden, Mistake, Property, call, clone_inputs
from autograder.fixtures import bind_stored, stored
from course.modules import BY_ID

MODULE = BY_ID["m06"]

# ==== inputs


def _rollout(
    g: torch.Generator,
    T: int,
    N: int,
    gamma: float,
    gae_lambda: float,
    p_term: float = 0.15,
    p_trunc: float = 0.15,
    float_flags: bool = False,
    dtype: torch.dtype = torch.float32,
    force_ends: bool = False,
) -> dict[str, Any]:
    """Inputs as a real rollout gives them: where an episode goes on, next_values[t] is
    values[t + 1] (the same observation); where it ended, or after the last step, it is
    the value of another observation (the final one, or the one the next rollout starts
    from). Termination and truncation may happen together."""
    rewards = draw.normal(g, T, N)
    values = draw.normal(g, T, N, scale=2.0)
    terminated = draw.flags(g, T, N, p=p_term)
    truncated = draw.flags(g, T, N, p=p_trunc)
    if force_ends:
        # Four different cells before the last step: an episode that terminates, one that is
        # truncated (each with the other flag clear), a step where the episode goes on, and
        # one where it terminates at its time limit (both flags set). Every rollout then
        # tells the bootstrap from the cut, and lambda always matters.
        if (T - 1) * N < 4:
            raise ValueError("force_ends needs (T - 1) * N >= 4")
        cells = torch.randperm((T - 1) * N, generator=g)[:4].tolist()
        for (t, n), flags in zip(
            ((c // N, c % N) for c in cells),
            ((True, False), (False, True), (False, False), (True, True)),
            strict=True,
        ):
            terminated[t, n], truncated[t, n] = flags
    other_values = draw.normal(g, T, N, scale=2.0)
    following = torch.cat([values[1:], other_values[-1:]])
    next_values = torch.where(terminated | truncated, other_values, following)
    if float_flags:
        terminated, truncated = terminated.float(), truncated.float()
    return {
        "rewards": rewards.to(dtype),
        "values": values.to(dtype),
        "next_values": next_values.to(dtype),
        "terminated": terminated,
        "truncated": truncated,
        "gamma": gamma,
        "gae_lambda": gae_lambda,
    }


def _seeded(seed: int, T: int, N: int, gamma: float, gae_lambda: float, **kwargs: Any):
    return _rollout(draw.generator(seed), T, N, gamma, gae_lambda, **kwargs)


def _draw_rollouts(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(4):
        T, N = draw.size(g, 5, 10), draw.size(g, 1, 4)
        gamma, gae_lambda = draw.scalar(g, 0.8, 1.0), draw.scalar(g, 0.5, 0.95)
        float_flags = i == 3
        inputs = _rollout(g, T, N, gamma, gae_lambda, p_term=0.2, p_trunc=0.2, force_ends=True)
        if float_flags:
            inputs["terminated"] = inputs["terminated"].float()
            inputs["truncated"] = inputs["truncated"].float()
        kind = "float" if float_flags else "bool"
        cases.append((f"random rollout {i + 1} (T={T}, N={N}, {kind} flags)", inputs))
    return cases


def _flags(rows: list[str]) -> torch.Tensor:
    """``["TF", "FF"]`` -> a (T, N) bool tensor, one string per step."""
    return torch.tensor([[c == "T" for c in row] for row in rows])


def _together(seed: int, terminated: list[str], truncated: list[str]) -> dict[str, Any]:
    """A rollout with the given flags, stored as 0.0/1.0 floats: an episode that hits its
    time limit on the step it terminates has both flags set."""
    inputs = _seeded(seed, T=len(terminated), N=len(terminated[0]), gamma=0.9, gae_lambda=0.8)
    inputs["terminated"] = _flags(terminated).float()
    inputs["truncated"] = _flags(truncated).float()
    return inputs


# ==== what the properties expect, computed directly from the definitions


def unmodified_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, bool]:
    """Call the function on copies; report, for each tensor input, whether it is intact."""
    args = clone_inputs(inputs)
    getattr(ns, function)(*args.values())
    return {
        name: bool(torch.equal(args[name], value))
        for name, value in inputs.items()
        if isinstance(value, torch.Tensor)
    }


def flag_types_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The result with bool flags and with the same flags as 0.0/1.0 floats."""
    as_floats = dict(inputs)
    as_floats["terminated"] = inputs["terminated"].float()
    as_floats["truncated"] = inputs["truncated"].float()
    return {"bool": call(ns, function, inputs), "float": call(ns, function, as_floats)}


def _same_for_both_flag_types(received: Any, inputs: dict[str, Any]) -> str | None:
    pairs = list(zip(received["bool"], received["float"], strict=False))
    if len(pairs) != 2 or not all(
        isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
        for a, b in pairs
    ):
        return "expected (advantages, returns) with bool flags and with float flags"
    if not all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in pairs):
        return "terminated/truncated as 0.0/1.0 floats must give the same result as bools"
    return None


def _float64_pair(received: Any, inputs: dict[str, Any]) -> str | None:
    shape = tuple(inputs["rewards"].shape)
    if not (
        isinstance(received, tuple | list)
        and len(received) == 2
        and all(
            isinstance(x, torch.Tensor) and x.dtype == torch.float64 and tuple(x.shape) == shape
            for x in received
        )
    ):
        return f"expected (advantages, returns): two float64 tensors of shape {shape}"
    return None


COMPUTE_GAE = Check(
    MODULE,
    "compute_gae",
    points=6,
    summary="GAE with the time-limit bootstrap: terminated stops the bootstrap, done the sum",
    fixtures=[
        Fixture(
            "hand: one env, no episode end",
            {
                "rewards": torch.tensor([[1.0], [1.0], [1.0]]),
                "values": torch.tensor([[2.0], [2.0], [2.0]]),
                "next_values": torch.tensor([[2.0], [2.0], [4.0]]),
                "terminated": _flags(["F", "F", "F"]),
                "truncated": _flags(["F", "F", "F"]),
                "gamma": 0.5,
                "gae_lambda": 0.5,
            },
            note="gamma * lambda = 0.25. delta_2 = 1 + 0.5 * 4 - 2 = 1, delta_1 = delta_0 = "
            "1 + 0.5 * 2 - 2 = 0. A_2 = 1, A_1 = 0 + 0.25 * 1 = 0.25, A_0 = 0 + 0.25 * 0.25 = "
            "0.0625; returns = A + V = 2.0625, 2.25, 3",
            expected=(
                torch.tensor([[0.0625], [0.25], [1.0]]),
                torch.tensor([[2.0625], [2.25], [3.0]]),
            ),
        ),
        Fixture(
            "hand: an episode ends mid-rollout in one env and not in the other",
            {
                "rewards": torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
                "values": torch.tensor([[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]),
                "next_values": torch.tensor([[2.0, 2.0], [8.0, 2.0], [4.0, 4.0]]),
                "terminated": _flags(["FF", "TF", "FF"]),
                "truncated": _flags(["FF", "FF", "FF"]),
                "gamma": 0.5,
                "gae_lambda": 0.5,
            },
            note="env 1 is the previous case. env 0 terminates after step 1, so its next value "
            "8 is ignored: delta_1 = 1 + 0 - 2 = -1 and the sum is cut, A_1 = -1. A_2 = 1 + "
            "0.5 * 4 - 2 = 1 belongs to the next episode. A_0 = (1 + 0.5 * 2 - 2) + 0.25 * -1 "
            "= -0.25; returns 1.75, 1, 3",
            expected=(
                torch.tensor([[-0.25, 0.0625], [-1.0, 0.25], [1.0, 1.0]]),
                torch.tensor([[1.75, 2.0625], [1.0, 2.25], [3.0, 3.0]]),
            ),
        ),
        Fixture(
            "hand: termination and truncation at the same step in different envs",
            {
                "rewards": torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]),
                "values": torch.tensor([[10.0, 10.0, 10.0], [10.0, 10.0, 10.0]]),
                "next_values": torch.tensor([[10.0, 10.0, 10.0], [10.0, 10.0, 10.0]]),
                "terminated": _flags(["TFT", "FFF"]),
                "truncated": _flags(["FTT", "FFF"]),
                "gamma": 0.9,
                "gae_lambda": 0.95,
            },
            note="a critic that says 10 everywhere. Step 1, no end: delta = 2 + 0.9 * 10 - 10 "
            "= 1 = A_1 in every env. Step 0: env 0 terminates, delta = 1 + 0 - 10 = -9; env 1 "
            "is truncated, so it still bootstraps: delta = 1 + 0.9 * 10 - 10 = 0; env 2 is "
            "both, and termination wins: -9. All three episodes end, so nothing of A_1 is "
            "added: A_0 = -9, 0, -9; returns = A + V = 1, 10, 1 and 11 at step 1",
            expected=(
                torch.tensor([[-9.0, 0.0, -9.0], [1.0, 1.0, 1.0]]),
                torch.tensor([[1.0, 10.0, 1.0], [11.0, 11.0, 11.0]]),
            ),
        ),
        Fixture(
            "hand: the last step of the rollout",
            {
                "rewards": torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]),
                "values": torch.tensor([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]),
                "next_values": torch.tensor([[2.0, 2.0, 2.0], [4.0, 6.0, 8.0]]),
                "terminated": _flags(["FFF", "FFT"]),
                "truncated": _flags(["FFF", "FTF"]),
                "gamma": 0.5,
                "gae_lambda": 0.5,
            },
            note="after the last step, env 0 goes on (bootstrap with 4), env 1 is truncated "
            "(bootstrap with its final observation's 6), env 2 terminates (no bootstrap). "
            "delta_1 = 1 + 0.5 * 4 - 2 = 1, 1 + 0.5 * 6 - 2 = 2, 1 + 0 - 2 = -1. delta_0 = "
            "1 + 0.5 * 2 - 2 = 0, so A_0 = 0.25 * A_1 = 0.25, 0.5, -0.25; returns = A + 2",
            expected=(
                torch.tensor([[0.25, 0.5, -0.25], [1.0, 2.0, -1.0]]),
                torch.tensor([[2.25, 2.5, 1.75], [3.0, 4.0, 1.0]]),
            ),
        ),
        Fixture(
            "hand: lambda 0, a truncation mid-rollout",
            {
                "rewards": torch.tensor([[1.0], [1.0]]),
                "values": torch.tensor([[2.0], [2.0]]),
                "next_values": torch.tensor([[3.0], [2.0]]),
                "terminated": _flags(["F", "F"]),
                "truncated": _flags(["T", "F"]),
                "gamma": 0.5,
                "gae_lambda": 0.0,
            },
            note="lambda 0 leaves the TD errors. The episode is truncated after step 0: its "
            "final observation is worth 3 (the next episode starts at a state worth 2). "
            "delta_0 = 1 + 0.5 * 3 - 2 = 0.5, delta_1 = 1 + 0.5 * 2 - 2 = 0; returns 2.5, 2",
            expected=(torch.tensor([[0.5], [0.0]]), torch.tensor([[2.5], [2.0]])),
        ),
        Fixture(
            "hand: gamma 0",
            {
                "rewards": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                "values": torch.tensor([[0.5, 1.0], [1.0, 1.5]]),
                "next_values": torch.tensor([[1.0, 1.5], [5.0, 5.0]]),
                "terminated": _flags(["FF", "FT"]),
                "truncated": _flags(["FT", "FF"]),
                "gamma": 0.0,
                "gae_lambda": 0.95,
            },
            note="with gamma 0 nothing after r_t counts, whatever lambda and the flags: "
            "A = r - V = 0.5, 1, 2, 2.5 and the returns are the rewards",
            expected=(
                torch.tensor([[0.5, 1.0], [2.0, 2.5]]),
                torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
            ),
        ),
        Fixture(
            "hand: gamma 1 and lambda 1",
            {
                "rewards": torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
                "values": torch.tensor([[3.0, 1.0], [2.0, 1.0], [1.0, 1.0]]),
                "next_values": torch.tensor([[2.0, 1.0], [1.0, 7.0], [0.5, 1.0]]),
                "terminated": _flags(["FF", "FT", "FF"]),
                "truncated": _flags(["FF", "FF", "FF"]),
                "gamma": 1.0,
                "gae_lambda": 1.0,
            },
            note="undiscounted Monte-Carlo returns. env 0: 1 + 1 + 1 plus the bootstrap 0.5 "
            "gives 3.5, 2.5, 1.5, and A = G - V = 0.5 at every step. env 1 terminates after "
            "step 1 (its 7 is ignored): G = 1 + 1 = 2, 1, then 1 + 1 = 2 in the next "
            "episode; A = 1, 0, 1",
            expected=(
                torch.tensor([[0.5, 1.0], [0.5, 0.0], [0.5, 1.0]]),
                torch.tensor([[3.5, 2.0], [2.5, 1.0], [1.5, 2.0]]),
            ),
        ),
        Fixture(
            "random rollout, bool flags",
            lambda: _seeded(1, T=8, N=3, gamma=0.99, gae_lambda=0.95),
            note="terminations and truncations at different steps in different envs",
        ),
        Fixture(
            "random rollout, float flags",
            lambda: _seeded(2, T=6, N=2, gamma=0.9, gae_lambda=0.8, float_flags=True),
            note="terminated and truncated stored as 0.0/1.0 floats",
        ),
        Fixture(
            "terminated and truncated together, float flags",
            lambda: _together(11, ["FF", "TF", "FF", "TF"], ["FF", "TT", "FF", "FF"]),
            note="env 0 terminates at its time limit after step 1: done is 1 there (flags "
            "added as floats would give 2, and 1 - done = -1)",
        ),
        Fixture(
            "random rollout, lambda 1",
            lambda: _seeded(3, T=7, N=3, gamma=0.99, gae_lambda=1.0, p_trunc=0.25),
            note="lambda 1 with truncations: bootstrapped returns at the time limits",
        ),
        Fixture(
            "random rollout, gamma 1",
            lambda: _seeded(4, T=6, N=2, gamma=1.0, gae_lambda=0.9, p_term=0.2),
            note="no discounting: only lambda and the episode ends shorten the sum",
        ),
    ],
    hidden=[Hidden(_draw_rollouts, note="a rollout drawn at grading time", weight=HIDDEN_WEIGHT)],
    properties=[
        float64_property(lambda: _seeded(11, T=5, N=3, gamma=0.99, gae_lambda=0.95)),
        batch_of_one_property(
            lambda: _seeded(12, T=6, N=1, gamma=0.9, gae_lambda=0.8),
            name="one environment",
            note="N = 1: advantages and returns are (T, 1), not (T,)",
        ),
        device_property(
            lambda: _seeded(12, T=4, N=2, gamma=0.99, gae_lambda=0.95),
            note="torch.zeros(T, N) without device= makes a CPU tensor even for inputs on a "
            "GPU: use zeros_like, new_zeros or device=rewards.device",
        ),
        Property(
            "lambda 0 gives the one-step TD error",
            lambda: _seeded(5, T=6, N=3, gamma=0.95, gae_lambda=0.0, p_trunc=0.25),
            note="A_t = delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)",
            expect=stored("lambda_zero"),
        ),
        Property(
            "lambda 1 without truncation gives the Monte-Carlo return minus the value",
            lambda: _seeded(6, T=8, N=3, gamma=0.97, gae_lambda=1.0, p_term=0.2, p_trunc=0.0),
            note="the TD errors telescope: A_t = G_t - V(s_t), with G the discounted return "
            "cut at terminations and bootstrapped with next_values after the last step",
            expect=stored("monte_carlo"),
        ),
        Property(
            "gamma 0 gives r - V",
            lambda: _seeded(7, T=5, N=2, gamma=0.0, gae_lambda=0.9),
            note="nothing after r_t counts: A = r - V and the returns are the rewards",
            expect=stored("gamma_zero"),
        ),
        Property(
            "leaves its inputs unmodified",
            lambda: _seeded(8, T=5, N=3, gamma=0.99, gae_lambda=0.95),
            note="the rollout buffer still needs rewards, values and the flags afterwards",
            probe=unmodified_probe,
            expect=lambda inputs: {
                name: True for name, value in inputs.items() if isinstance(value, torch.Tensor)
            },
        ),
        Property(
            "float flags give the same result as bool flags",
            lambda: _seeded(9, T=6, N=2, gamma=0.99, gae_lambda=0.95, p_term=0.25),
            note="terminated and truncated may be stored as bools or as 0.0/1.0 floats",
            probe=flag_types_probe,
            predicate=_same_for_both_flag_types,
        ),
        Property(
            "float64 inputs give float64 outputs",
            lambda: _seeded(10, T=4, N=2, gamma=0.99, gae_lambda=0.95, dtype=torch.float64),
            note="advantages and returns keep the dtype and the (T, N) shape of the rewards",
            predicate=_float64_pair,
        ),
    ],
    mistakes=[
        Mistake(
            "no-time-limit-bootstrap",
            "done = terminated or truncated is also used to drop the bootstrap",
            "A time limit is not a terminal state: the state reached still has a value. Use "
            "(1 - terminated) in delta_t and (1 - done) only to cut the sum; with done in "
            "both, every truncated episode is treated as if it fell off a cliff.",
        ),
        Mistake(
            "no-cut",
            "the sum is not cut where an episode ends",
            "After an end, step t + 1 belongs to a new episode, whose TD errors must not leak "
            "into A_t: multiply the carried A_{t+1} by gamma * lambda * (1 - done_t).",
        ),
        Mistake(
            "cut-only-terminated",
            "the sum is cut at terminations but not at truncations",
            "A truncation also ends the episode: the next step is the first of another one. "
            "Cut with done = terminated or truncated; only the bootstrap in delta_t is "
            "kept at a truncation.",
        ),
        Mistake(
            "values-shifted",
            "values[t + 1] instead of next_values[t]",
            "values[t + 1] is the value of the observation at step t + 1, which after an "
            "episode end is the first observation of the next episode. next_values[t] is the "
            "value of the observation step t actually reached (the final one at a time "
            "limit).",
        ),
        Mistake(
            "next-done",
            "the flags of step t + 1 are used for step t",
            "Here terminated[t] and truncated[t] say that the episode ended right after step "
            "t. Code that stores 'this observation starts an episode' reads dones[t + 1]; "
            "mixing the two conventions cuts and drops the bootstrap one step late.",
        ),
        Mistake(
            "discounted-returns",
            "the returns are the discounted rewards, not A + V",
            "The critic's target is returns = advantages + values, the lambda-return that "
            "includes the bootstraps. The reward-to-go alone drops every bootstrap and does "
            "not match the advantages.",
        ),
        Mistake(
            "bootstraps-terminal",
            "the bootstrap is kept at a termination",
            "A terminal state has no future: delta_t = r_t + gamma * (1 - terminated_t) * "
            "V(s_{t+1}) - V(s_t). Bootstrapping there adds the value of a state the episode "
            "never continues from.",
        ),
        Mistake(
            "outputs-swapped",
            "(returns, advantages) instead of (advantages, returns)",
            "compute_gae returns the advantages first and the returns second; the original "
            "notes' estimate_returns_and_advantages uses the other order. Swapped, the "
            "policy is trained on the critic's targets and the critic on the advantages.",
        ),
        Mistake(
            "loop-skips-last-step",
            "the reverse loop skips the last step",
            "reversed(range(T - 1)) never computes A_{T-1}, which stays 0: the loop runs "
            "over every step, reversed(range(T)), and the last one bootstraps with "
            "next_values[T - 1].",
        ),
        Mistake(
            "no-lambda",
            "lambda is left out of the recursion",
            "A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}: without lambda the "
            "advantage is the full Monte-Carlo sum of TD errors (lambda = 1), with all its "
            "variance.",
        ),
        Mistake(
            "lambda-on-delta",
            "lambda multiplies delta_t instead of the carried advantage",
            "A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}: the TD error of step t "
            "counts in full, and lambda discounts the later ones together with gamma.",
        ),
    ],
)

CHECKS = bind_stored([COMPUTE_GAE])
