"""Checks and known mistakes for m11, running normalisation and reward scaling."""

from __future__ import annotations

from typing import Any

import torch

from autograder import draw
from autograder.checks import HIDDEN_WEIGHT
from autograder.core import Check, Fixture, Hidden, Mistake, Property, on_case_device
from autograder.fixtures import bind_stored, stored
from course.modules import BY_ID

MODULE = BY_ID["m11"]

F64 = torch.float64


class ContractError(Exception):
    """The object under test breaks a rule its docstring fixes (an attribute, a shape)."""


# ==== RunningMeanStd


def statistics_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``RunningMeanStd(shape)``, then ``update(batch)`` for each batch in turn: the mean,
    the variance and the count it ends with."""
    rms = getattr(ns, function)(tuple(inputs["shape"]))
    for batch in inputs["batches"]:
        rms.update(batch)
    count = rms.count
    if isinstance(count, torch.Tensor):
        if count.numel() != 1:
            raise ContractError(
                f"count must be a number; got a tensor of shape {tuple(count.shape)}"
            )
        count = count.item()
    # The statistics live on the CPU by the docstring's convention; they are compared on
    # the case's device, as every output is.
    return {"mean": on_case_device(rms.mean), "var": on_case_device(rms.var), "count": float(count)}


def graph_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, bool]:
    """Update with batches that require grad (as a careless caller's network outputs do):
    whether the statistics hold on to their graph."""
    rms = getattr(ns, function)(tuple(inputs["shape"]))
    for batch in inputs["batches"]:
        rms.update(batch.clone().requires_grad_(True))
    return {
        "mean_has_graph": bool(getattr(rms.mean, "requires_grad", False)),
        "var_has_graph": bool(getattr(rms.var, "requires_grad", False)),
    }


def _fresh_statistics(received: Any, inputs: dict[str, Any]) -> str | None:
    shape = tuple(inputs["shape"])
    wanted = {"mean": 0.0, "var": 1.0}
    for name, value in wanted.items():
        got = received.get(name) if isinstance(received, dict) else None
        if not (
            isinstance(got, torch.Tensor)
            and got.dtype == F64
            and tuple(got.shape) == shape
            and bool((got == value).all())
        ):
            return (
                f"before any data, {name} must be {value} in float64, of shape {shape}; got "
                f"{got.dtype if isinstance(got, torch.Tensor) else type(got).__name__}"
            )
    if received.get("count") != 0.0:
        return f"before any data, count must be 0; got {received.get('count')}"
    return None


def _batches(
    g: torch.Generator,
    sizes: list[int],
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    loc: float = 0.0,
    scale: float = 1.0,
) -> dict[str, Any]:
    """Batches of the given sizes from one distribution, with a different mean and spread
    per dimension, so that every dimension's statistics differ."""
    offsets = draw.normal(g, *shape, scale=3.0).to(F64) + loc
    spreads = draw.uniform(g, *shape, low=0.5, high=2.0).to(F64) * scale
    batches = [(offsets + spreads * draw.normal(g, n, *shape).to(F64)).to(dtype) for n in sizes]
    return {"shape": list(shape), "batches": batches}


def _seeded_batches(seed: int, sizes: list[int], shape: tuple[int, ...], **kwargs: Any):
    return _batches(draw.generator(seed), sizes, shape, **kwargs)


def _draw_statistics(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        dims = draw.size(g, 1, 4)
        sizes = [draw.size(g, 1, 40) for _ in range(draw.size(g, 2, 5))]
        cases.append(
            (
                f"random batches {i + 1} (sizes {sizes}, shape ({dims},))",
                _batches(g, sizes, (dims,), loc=draw.scalar(g, -5.0, 5.0)),
            )
        )
    return cases


def _kept_in_float64(received: Any, inputs: dict[str, Any]) -> str | None:
    shape = tuple(inputs["shape"])
    for name in ("mean", "var"):
        value = received.get(name) if isinstance(received, dict) else None
        if not isinstance(value, torch.Tensor) or value.dtype != F64:
            got = f"{value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
            return f"{name} must be kept in float64 whatever the batches' dtype; got {got}"
        if tuple(value.shape) != shape:
            return f"{name} must have the shape of one value, {shape}; got {tuple(value.shape)}"
    return None


RUNNING_MEAN_STD = Check(
    MODULE,
    "RunningMeanStd",
    points=4,
    summary="mean, variance and count of all the data seen, merged batch by batch",
    fixtures=[
        Fixture(
            "hand: one batch of scalars",
            {"shape": [], "batches": [torch.tensor([1.0, 3.0])]},
            note="the count starts at 0, so the first batch is taken as it is: mean 2, "
            "population variance ((1 - 2)^2 + (3 - 2)^2) / 2 = 1, count 2",
            expected={
                "mean": torch.tensor(2.0, dtype=F64),
                "var": torch.tensor(1.0, dtype=F64),
                "count": 2.0,
            },
            probe=statistics_probe,
        ),
        Fixture(
            "hand: a second batch of another size",
            {"shape": [], "batches": [torch.tensor([1.0, 3.0]), torch.tensor([5.0])]},
            note="n = 2 + 1 = 3, delta = 5 - 2 = 3: mean = 2 + 3 * 1/3 = 3; M2 = 1 * 2 + 0 * 1 "
            "+ 3^2 * 2 * 1 / 3 = 8, var = 8/3, the variance of 1, 3, 5. The mean of the two "
            "batch means would be 3.5",
            expected={
                "mean": torch.tensor(3.0, dtype=F64),
                "var": torch.tensor(8.0 / 3.0, dtype=F64),
                "count": 3.0,
            },
            probe=statistics_probe,
        ),
        Fixture(
            "hand: two dimensions, two batches",
            {
                "shape": [2],
                "batches": [torch.tensor([[0.0, 10.0], [2.0, 20.0]]), torch.tensor([[4.0, 30.0]])],
            },
            note="each dimension on its own. First batch: mean (1, 15), var (1, 25). Merged "
            "with (4, 30): mean (2, 20), var of 0, 2, 4 = 8/3 and of 10, 20, 30 = 200/3",
            expected={
                "mean": torch.tensor([2.0, 20.0], dtype=F64),
                "var": torch.tensor([8.0 / 3.0, 200.0 / 3.0], dtype=F64),
                "count": 3.0,
            },
            probe=statistics_probe,
        ),
        Fixture(
            "batches of sizes 5, 1 and 12, three dimensions",
            lambda: _seeded_batches(1, [5, 1, 12], (3,)),
            note="float32 batches; the statistics are float64",
            probe=statistics_probe,
        ),
        Fixture(
            "a batch of one, then one of twenty",
            lambda: _seeded_batches(2, [1, 20], (2,)),
            note="a single value has variance 0; the merge must still give the statistics "
            "of all 21 values",
            probe=statistics_probe,
        ),
        Fixture(
            "float64 batches of shape (2, 3)",
            lambda: _seeded_batches(3, [4, 7, 3], (2, 3), dtype=F64),
            note="any trailing shape: the statistics have the shape of one value, (2, 3)",
            probe=statistics_probe,
        ),
        Fixture(
            "many equal batches",
            lambda: _seeded_batches(4, [8] * 6, (2,), loc=4.0),
            note="six batches of eight: equal sizes, so only the variance tells a merge "
            "without the delta^2 term",
            probe=statistics_probe,
        ),
    ],
    hidden=[
        Hidden(
            _draw_statistics,
            probe=statistics_probe,
            note="batches drawn at grading time",
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        Property(
            "any split of the data gives the statistics of all of it",
            lambda: _seeded_batches(5, [3, 17, 1, 9, 30], (2,), loc=-3.0),
            note="compared with the mean and population variance of the 60 values taken together",
            probe=statistics_probe,
            expect=stored("all_at_once"),
            rtol=1e-10,
            atol=1e-12,
        ),
        Property(
            "the statistics are kept in float64 for float16 batches",
            lambda: _seeded_batches(6, [6, 6], (3,), dtype=torch.float16),
            note="mean and var are float64 tensors of the value's shape",
            probe=statistics_probe,
            predicate=_kept_in_float64,
        ),
        Property(
            "before any data: mean 0, var 1, count 0, in float64",
            lambda: {"shape": [3], "batches": []},
            note="RunningMeanStd((3,)) with no update: the conventions of the docstring",
            probe=statistics_probe,
            predicate=_fresh_statistics,
        ),
        Property(
            "batches that require grad leave no graph in the statistics",
            lambda: _seeded_batches(9, [4, 6], (2,)),
            note="the statistics live for the whole run; a graph kept from every batch "
            "would hold every batch in memory: update from batch.detach()",
            probe=graph_probe,
            expect=lambda inputs: {"mean_has_graph": False, "var_has_graph": False},
        ),
        Property(
            "an empty batch changes nothing",
            lambda: {
                "shape": [2],
                "batches": [
                    _seeded_batches(7, [5], (2,))["batches"][0],
                    torch.zeros(0, 2),
                ],
            },
            note="B = 0: the statistics stay those of the first batch (no division by zero)",
            probe=statistics_probe,
            expect=stored("all_at_once"),
            rtol=1e-10,
            atol=1e-12,
        ),
        Property(
            "a large offset does not cost precision",
            lambda: _seeded_batches(8, [50, 50, 50], (2,), dtype=F64, loc=1e8),
            note="values near 1e8 with a spread of about 1: the sum of squares minus the "
            "square of the sum loses every digit in float64; the merge keeps them",
            probe=statistics_probe,
            expect=stored("all_at_once"),
            rtol=1e-6,
            atol=1e-6,
        ),
    ],
    mistakes=[
        Mistake(
            "equal-weights",
            "the batches are averaged as if they all had the same size",
            "mean = (mean_a + mean_b) / 2 is the mean of the data only when n_a = n_b. Weigh "
            "each side by its count: mean = mean_a + delta * n_b / (n_a + n_b).",
        ),
        Mistake(
            "sample-variance",
            "the batch's sample variance (divided by B - 1)",
            "torch.var divides by B - 1 by default. The merge combines population variances "
            "(M2 / n): use correction=0 (unbiased=False), or a batch of one gives nan.",
        ),
        Mistake(
            "no-between-term",
            "the merged variance leaves out delta^2 * n_a * n_b / n",
            "The variance of the union is the weighted variances of the parts plus the "
            "spread between their means. Without that term, data whose batches differ in "
            "mean looks less spread than it is.",
        ),
        Mistake(
            "mean-updated-first",
            "delta is taken against the mean already updated",
            "delta = mean_b - mean_a must use the old mean; computed after the update, it is "
            "smaller by the factor n_a / n and the variance comes out too small.",
        ),
        Mistake(
            "float32-statistics",
            "the statistics are kept in the batches' dtype",
            "A run of a million steps adds tiny corrections to large sums: in float32 they "
            "round away. Keep mean and var in float64 whatever the data's dtype.",
        ),
        Mistake(
            "sum-of-squares",
            "the variance as E[x^2] - E[x]^2 from running sums",
            "Mathematically the same, numerically not: for values near 1e8 both terms are "
            "near 1e16 and their difference, the variance, loses every digit. The merge "
            "rule works with deviations and keeps them.",
            kind="edge",
        ),
    ],
)


# ==== normalize_observation


class _FrozenStatistics:
    """The statistics handed to ``normalize_observation``: ``mean``, ``var`` and
    ``count`` as a ``RunningMeanStd`` has them. Its ``update`` only records that it was
    called (normalising must not update anything)."""

    def __init__(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        self.mean, self.var, self.count = mean, var, count
        self.updates = 0

    def update(self, batch: torch.Tensor) -> None:
        self.updates += 1


def normalize_probe(ns: Any, function: str, inputs: dict[str, Any]) -> torch.Tensor:
    """``normalize_observation(obs, rms, clip, eps)`` with statistics built from the
    inputs' ``mean`` and ``var`` (float64)."""
    rms = _FrozenStatistics(inputs["mean"].clone(), inputs["var"].clone(), 100.0)
    return getattr(ns, function)(inputs["obs"], rms, inputs["clip"], inputs["eps"])


def statistics_untouched_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Normalise, then report whether the statistics object changed in any way."""
    mean, var = inputs["mean"].clone(), inputs["var"].clone()
    rms = _FrozenStatistics(mean, var, 100.0)
    getattr(ns, function)(inputs["obs"], rms, inputs["clip"], inputs["eps"])
    return {
        "update_called": rms.updates > 0,
        "mean_unchanged": rms.mean is mean and torch.equal(mean, inputs["mean"]),
        "var_unchanged": rms.var is var and torch.equal(var, inputs["var"]),
        "count_unchanged": rms.count == 100.0,
    }


def _normalize_inputs(
    g: torch.Generator,
    B: int,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
    clip: float = 10.0,
    eps: float = 1e-8,
    spread: float = 1.0,
) -> dict[str, Any]:
    mean = draw.normal(g, *shape, scale=5.0).to(F64)
    std = draw.uniform(g, *shape, low=0.2, high=3.0).to(F64) * spread
    obs = (mean + std * 2.0 * draw.normal(g, B, *shape).to(F64)).to(dtype)
    return {"obs": obs, "mean": mean, "var": std.square(), "clip": clip, "eps": eps}


def _seeded_normalize(seed: int, B: int, shape: tuple[int, ...], **kwargs: Any):
    return _normalize_inputs(draw.generator(seed), B, shape, **kwargs)


def _draw_normalize(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        B, dims = draw.size(g, 1, 8), draw.size(g, 1, 5)
        clip = draw.scalar(g, 1.0, 3.0)
        cases.append(
            (
                f"random observations {i + 1} (B={B}, obs_dim={dims}, clip={clip})",
                _normalize_inputs(g, B, (dims,), clip=clip),
            )
        )
    return cases


def _keeps_dtype(received: Any, inputs: dict[str, Any]) -> str | None:
    obs = inputs["obs"]
    if not isinstance(received, torch.Tensor):
        return f"expected a tensor; got {type(received).__name__}"
    if received.dtype != obs.dtype or received.shape != obs.shape:
        return (
            f"expected {str(obs.dtype).removeprefix('torch.')} of shape {tuple(obs.shape)} "
            f"(the observations' dtype and shape); got "
            f"{str(received.dtype).removeprefix('torch.')} of shape {tuple(received.shape)}"
        )
    return None


NORMALIZE_OBSERVATION = Check(
    MODULE,
    "normalize_observation",
    points=2,
    summary="(obs - mean) / sqrt(var + eps), clipped, in the observations' dtype",
    fixtures=[
        Fixture(
            "hand: one dimension, clipped above",
            {
                "obs": torch.tensor([[5.0], [-1.0], [100.0]]),
                "mean": torch.tensor([1.0], dtype=F64),
                "var": torch.tensor([4.0], dtype=F64),
                "clip": 10.0,
                "eps": 0.0,
            },
            note="std = sqrt(4 + 0) = 2: (5 - 1) / 2 = 2, (-1 - 1) / 2 = -1, and (100 - 1) / 2 "
            "= 49.5 is clipped to 10",
            expected=torch.tensor([[2.0], [-1.0], [10.0]]),
            probe=normalize_probe,
        ),
        Fixture(
            "hand: per-dimension statistics, clipped below",
            {
                "obs": torch.tensor([[1.0, 20.0], [-7.0, 10.0]]),
                "mean": torch.tensor([0.0, 10.0], dtype=F64),
                "var": torch.tensor([1.0, 100.0], dtype=F64),
                "clip": 5.0,
                "eps": 0.0,
            },
            note="dimension 0 has std 1, dimension 1 std 10: (1, (20 - 10) / 10) = (1, 1), "
            "and (-7, 0) with -7 clipped to -5",
            expected=torch.tensor([[1.0, 1.0], [-5.0, 0.0]]),
            probe=normalize_probe,
        ),
        Fixture(
            "random observations, five dimensions",
            lambda: _seeded_normalize(11, B=6, shape=(5,)),
            note="float32 observations, float64 statistics, eps 1e-8",
            probe=normalize_probe,
        ),
        Fixture(
            "a batch of one",
            lambda: _seeded_normalize(12, B=1, shape=(3,)),
            note="B = 1: the result is (1, 3)",
            probe=normalize_probe,
        ),
        Fixture(
            "float64 observations, tight clip",
            lambda: _seeded_normalize(13, B=5, shape=(2, 2), dtype=F64, clip=1.5),
            note="any trailing shape; float64 in, float64 out; many values clipped at 1.5",
            probe=normalize_probe,
        ),
    ],
    hidden=[
        Hidden(
            _draw_normalize,
            probe=normalize_probe,
            note="observations drawn at grading time",
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        Property(
            "updates nothing",
            lambda: _seeded_normalize(14, B=4, shape=(3,)),
            note="normalising reads the statistics; only the trainer updates them, and only "
            "while collecting training data",
            probe=statistics_untouched_probe,
            expect=lambda inputs: {
                "update_called": False,
                "mean_unchanged": True,
                "var_unchanged": True,
                "count_unchanged": True,
            },
        ),
        Property(
            "a dimension whose variance is below eps",
            lambda: {
                "obs": torch.tensor([[1e-5, 0.5], [-2e-5, 1.5], [0.0, 1.0]], dtype=F64),
                "mean": torch.tensor([0.0, 1.0], dtype=F64),
                "var": torch.tensor([1e-10, 0.25], dtype=F64),
                "clip": 10.0,
                "eps": 1e-8,
            },
            note="var = 1e-10, below eps: sqrt(var + eps) = 1.005e-4, so 1e-5 becomes 0.0995; "
            "std + eps = 1.001e-5 would make it 0.999",
            probe=normalize_probe,
            expect=stored("tiny_variance"),
        ),
        Property(
            "float64 observations to float64 precision",
            lambda: {
                "obs": torch.tensor(
                    [[1234.567890123456, -0.000123456789012], [1234.5, 0.25]], dtype=F64
                ),
                "mean": torch.tensor([1234.5678901, 0.0001234567890123], dtype=F64),
                "var": torch.tensor([0.0123456789012345, 1.2345678901234567], dtype=F64),
                "clip": 10.0,
                "eps": 1e-8,
            },
            note="statistics with more digits than float32 holds: computed in float32 the "
            "result is off in the eighth digit",
            probe=normalize_probe,
            expect=stored("tiny_variance"),
            rtol=1e-12,
            atol=1e-12,
        ),
        Property(
            "float16 observations give float16",
            lambda: _seeded_normalize(15, B=4, shape=(3,), dtype=torch.float16),
            note="the result has the observations' dtype, not the statistics' float64",
            probe=normalize_probe,
            predicate=_keeps_dtype,
        ),
    ],
    mistakes=[
        Mistake(
            "eps-outside-sqrt",
            "std + eps instead of sqrt(var + eps)",
            "eps goes under the square root, with the variance. Where the variance is below "
            "eps the two differ by orders of magnitude; elsewhere they agree, which is why "
            "the slip goes unseen.",
            kind="edge",
        ),
        Mistake(
            "no-clip",
            "the result is not clipped",
            "An observation far outside what was seen so far (a fall, a contact force) gives "
            "a huge input; clip to [-clip, clip] as the docstring says.",
        ),
        Mistake(
            "divides-by-variance",
            "divided by var + eps, not by its square root",
            "Standardising divides by the standard deviation. Dividing by the variance "
            "shrinks dimensions with a large spread twice over.",
        ),
        Mistake(
            "batch-statistics",
            "the batch is normalised with its own mean and variance",
            "The running statistics describe every observation seen; the batch's own ones "
            "change from step to step, so the same state is fed to the network differently "
            "each time, and a batch of one becomes all zeros.",
        ),
        Mistake(
            "updates-statistics",
            "the statistics are updated while normalising",
            "Normalising must not change the statistics: at evaluation they are frozen, and "
            "during training the trainer updates them once per step. An update here counts "
            "data twice and leaks the test episodes into the statistics.",
            kind="edge",
        ),
        Mistake(
            "float64-result",
            "the result is left in float64",
            "Computing in float64 is fine; return the observations' dtype, or the network "
            "receives float64 inputs and its float32 weights refuse them.",
        ),
    ],
)


# ==== RewardScaler


def scaler_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``RewardScaler(N, gamma, clip, eps)``, called once per step of a rollout: the
    scaled rewards (T, N), and the returns and statistics it ends with."""
    rewards = inputs["rewards"]
    N = rewards.shape[1]
    scaler = getattr(ns, function)(N, inputs["gamma"], inputs["clip"], inputs["eps"])
    scaled = []
    for t in range(rewards.shape[0]):
        out = scaler(rewards[t], inputs["terminated"][t], inputs["truncated"][t])
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (N,):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ContractError(f"a call must return the N = {N} scaled rewards, (N,); got {got}")
        scaled.append(out)
    count = scaler.rms.count
    if isinstance(count, torch.Tensor):
        count = count.item()
    return {
        "scaled": torch.stack(scaled),
        "returns": on_case_device(scaler.returns),
        "return_var": on_case_device(scaler.rms.var),
        "count": float(count),
    }


def _scaler_inputs(
    g: torch.Generator,
    T: int,
    N: int,
    gamma: float,
    clip: float = 10.0,
    eps: float = 1e-8,
    p_term: float = 0.15,
    p_trunc: float = 0.15,
    dtype: torch.dtype = torch.float32,
    loc: float = 1.0,
    float_flags: bool = False,
) -> dict[str, Any]:
    rewards = (loc + draw.normal(g, T, N)).to(dtype)
    terminated = draw.flags(g, T, N, p=p_term)
    truncated = draw.flags(g, T, N, p=p_trunc)
    if float_flags:
        terminated, truncated = terminated.float(), truncated.float()
    return {
        "rewards": rewards,
        "terminated": terminated,
        "truncated": truncated,
        "gamma": gamma,
        "clip": clip,
        "eps": eps,
    }


def _seeded_scaler(seed: int, T: int, N: int, gamma: float, **kwargs: Any):
    return _scaler_inputs(draw.generator(seed), T, N, gamma, **kwargs)


def _draw_scalers(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        T, N = draw.size(g, 6, 12), draw.size(g, 2, 4)
        gamma = draw.scalar(g, 0.8, 0.99)
        inputs = _scaler_inputs(g, T, N, gamma, p_term=0.15, p_trunc=0.2)
        # An end of each kind before the last step, so that every draw tells the resets
        # apart.
        inputs["terminated"][1, 0], inputs["truncated"][1, 0] = True, False
        inputs["terminated"][2, 1], inputs["truncated"][2, 1] = False, True
        cases.append((f"random rollout {i + 1} (T={T}, N={N}, gamma={gamma})", inputs))
    return cases


def _ends(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "T" for c in row] for row in rows])


def fresh_scaler_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``RewardScaler(N, gamma)`` before any call: its returns and its statistics' count."""
    scaler = getattr(ns, function)(inputs["num_envs"], inputs["gamma"])
    return {"returns": on_case_device(scaler.returns), "count": float(scaler.rms.count)}


def scaler_graph_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, bool]:
    """Rewards that require grad: whether the returns and the statistics keep a graph."""
    rewards = inputs["rewards"]
    scaler = getattr(ns, function)(rewards.shape[1], inputs["gamma"], inputs["clip"], inputs["eps"])
    for t in range(rewards.shape[0]):
        scaler(
            rewards[t].clone().requires_grad_(True),
            inputs["terminated"][t],
            inputs["truncated"][t],
        )
    return {
        "returns_have_graph": bool(getattr(scaler.returns, "requires_grad", False)),
        "var_has_graph": bool(getattr(scaler.rms.var, "requires_grad", False)),
    }


def _finite_zeros(received: Any, inputs: dict[str, Any]) -> str | None:
    scaled = received.get("scaled") if isinstance(received, dict) else None
    if not isinstance(scaled, torch.Tensor):
        return "expected the scaled rewards"
    if not bool(torch.isfinite(scaled).all()) or bool((scaled[0] != 0).any()):
        return (
            f"rewards of 0 at the first step must scale to 0; got {scaled[0].tolist()}: with "
            "every return equal, their variance is 0, and eps under the square root keeps "
            "the division defined"
        )
    return None


def _reset_inputs(terminated: list[str], truncated: list[str]) -> dict[str, Any]:
    """Two steps of two envs in which env 0's episode ends after step 0."""
    return {
        "rewards": torch.tensor([[2.0, 4.0], [2.0, 0.0]]),
        "terminated": _ends(terminated),
        "truncated": _ends(truncated),
        "gamma": 0.5,
        "clip": 10.0,
        "eps": 0.0,
    }


#: Worked by hand in the notes of the two cases that use it (a reset either way).
RESET_EXPECTED = {
    "scaled": torch.tensor([[2.0, 4.0], [2.0 / 0.75**0.5, 0.0]]),
    "returns": torch.tensor([2.0, 2.0], dtype=F64),
    "return_var": torch.tensor(0.75, dtype=F64),
    "count": 4.0,
}


def _scaled_positive(received: Any, inputs: dict[str, Any]) -> str | None:
    scaled = received.get("scaled") if isinstance(received, dict) else None
    if not isinstance(scaled, torch.Tensor):
        return "expected the scaled rewards"
    if not bool((scaled > 0).all()):
        return (
            "positive rewards must stay positive: the rewards are divided by the return's "
            "standard deviation, never shifted by a mean"
        )
    return None


REWARD_SCALER = Check(
    MODULE,
    "RewardScaler",
    points=4,
    summary="rewards divided by the running std of the discounted return, reset at every end",
    fixtures=[
        Fixture(
            "hand: one step of two envs",
            {
                "rewards": torch.tensor([[0.0, 4.0]]),
                "terminated": _ends(["FF"]),
                "truncated": _ends(["FF"]),
                "gamma": 0.5,
                "clip": 10.0,
                "eps": 0.0,
            },
            note="R = 0.5 * 0 + r = (0, 4); their statistics: mean 2, var 4, so the rewards "
            "are divided by 2: (0, 2), with no mean subtracted",
            expected={
                "scaled": torch.tensor([[0.0, 2.0]]),
                "returns": torch.tensor([0.0, 4.0], dtype=F64),
                "return_var": torch.tensor(4.0, dtype=F64),
                "count": 2.0,
            },
            probe=scaler_probe,
        ),
        Fixture(
            "hand: a termination resets the return",
            _reset_inputs(terminated=["TF", "FF"], truncated=["FF", "FF"]),
            note="step 0: R = (2, 4), mean 3, var 1: scaled (2, 4). Env 0 terminates, so its "
            "R restarts at 0. Step 1: R = (0 + 2, 0.5 * 4 + 0) = (2, 2); the statistics of "
            "2, 4, 2, 2 are mean 2.5, var 0.75: scaled (2 / sqrt(0.75), 0) = (2.3094, 0). "
            "Without the reset, R_0 = 3",
            expected=RESET_EXPECTED,
            probe=scaler_probe,
        ),
        Fixture(
            "hand: a time limit resets the return too",
            _reset_inputs(terminated=["FF", "FF"], truncated=["TF", "FF"]),
            note="the previous case with a truncation instead of the termination: the next "
            "step starts another episode all the same, so the numbers are the same",
            expected=RESET_EXPECTED,
            probe=scaler_probe,
        ),
        Fixture(
            "random rollout, three envs",
            lambda: _seeded_scaler(21, T=10, N=3, gamma=0.99),
            note="rewards about 1 per step: the returns grow, and so does their spread",
            probe=scaler_probe,
        ),
        Fixture(
            "one env",
            lambda: _seeded_scaler(22, T=8, N=1, gamma=0.9, p_term=0.2),
            note="N = 1: each call returns one scaled reward, shape (1,)",
            probe=scaler_probe,
        ),
        Fixture(
            "float flags, float64 rewards",
            lambda: _seeded_scaler(23, T=7, N=2, gamma=0.95, dtype=F64, float_flags=True),
            note="terminated and truncated as 0.0/1.0 floats; float64 rewards give float64",
            probe=scaler_probe,
        ),
        Fixture(
            "a reward far out, clipped",
            lambda: {
                **_seeded_scaler(24, T=6, N=2, gamma=0.9, p_term=0.0, p_trunc=0.0, clip=2.0),
                "rewards": torch.tensor(
                    [[1.0, 1.1], [0.9, 1.0], [1.0, 1.2], [80.0, 1.0], [1.0, 0.8], [1.1, 1.0]]
                ),
            },
            note="a reward of 80 among rewards of about 1, clip 2: its scaled value is cut at 2",
            probe=scaler_probe,
        ),
    ],
    hidden=[
        Hidden(
            _draw_scalers,
            probe=scaler_probe,
            note="a rollout drawn at grading time",
            weight=HIDDEN_WEIGHT,
        )
    ],
    properties=[
        Property(
            "a new scaler starts with returns of 0 in float64",
            lambda: {"num_envs": 3, "gamma": 0.99},
            note="RewardScaler(3, 0.99): returns is torch.zeros(3, dtype=torch.float64) and "
            "its statistics have seen nothing",
            probe=fresh_scaler_probe,
            expect=lambda inputs: {
                "returns": torch.zeros(inputs["num_envs"], dtype=F64),
                "count": 0.0,
            },
        ),
        Property(
            "rewards of zero at the first step",
            lambda: {
                **_seeded_scaler(26, T=3, N=2, gamma=0.9, p_term=0.0, p_trunc=0.0),
                "rewards": torch.tensor([[0.0, 0.0], [1.0, 0.5], [0.2, 0.4]]),
            },
            note="the two returns are equal, their variance is 0: 0 / sqrt(0 + eps) = 0, "
            "where 0 / sqrt(0) is nan",
            probe=scaler_probe,
            predicate=_finite_zeros,
        ),
        Property(
            "float64 rewards to float64 precision",
            lambda: _seeded_scaler(27, T=6, N=3, gamma=0.97, dtype=F64),
            note="float64 rewards are scaled in float64: compared to twelve digits",
            probe=scaler_probe,
            expect=stored("scaled_rewards"),
            rtol=1e-12,
            atol=1e-12,
        ),
        Property(
            "rewards that require grad leave no graph",
            lambda: _seeded_scaler(28, T=5, N=2, gamma=0.9),
            note="the returns and their statistics live for the whole run: keep "
            "rewards.detach(), not the graph of every step",
            probe=scaler_graph_probe,
            expect=lambda inputs: {"returns_have_graph": False, "var_has_graph": False},
        ),
        Property(
            "positive rewards stay positive",
            lambda: _seeded_scaler(25, T=12, N=3, gamma=0.99, loc=5.0),
            note="rewards of about 5 per step: dividing by the return's spread keeps their "
            "sign; a mean subtracted makes some of them negative",
            probe=scaler_probe,
            predicate=_scaled_positive,
            core=True,
        ),
    ],
    mistakes=[
        Mistake(
            "reward-std",
            "the rewards are divided by the spread of the rewards, not of the return",
            "The critic fits returns, sums of about 1 / (1 - gamma) rewards: it is their "
            "spread that the scaling tames. Track R = gamma * R + r and divide by its "
            "standard deviation.",
        ),
        Mistake(
            "mean-subtracted",
            "the return's mean is subtracted from the rewards",
            "Rewards are divided, never shifted: a shift changes which behaviour is "
            "rewarded (with +1 per step for staying alive, a negative shift rewards "
            "ending the episode early).",
        ),
        Mistake(
            "reset-only-at-termination",
            "the return is reset at terminations but not at time limits",
            "After a truncation the next step belongs to a new episode too; carrying the "
            "old return into it mixes two episodes in one discounted sum.",
        ),
        Mistake(
            "never-reset",
            "the return is never reset",
            "R = gamma * R + r runs across episode ends: its statistics then describe a "
            "sum over many episodes, not the return of one.",
        ),
        Mistake(
            "stale-statistics",
            "the rewards are scaled before the statistics take this step's returns",
            "Update the statistics with this step's returns first, then scale, as "
            "Baselines and Stable-Baselines3 do: the first step is otherwise divided by "
            "the initial variance of 1.",
        ),
    ],
)

CHECKS = bind_stored([RUNNING_MEAN_STD, NORMALIZE_OBSERVATION, REWARD_SCALER])
