"""Checks and known mistakes for m09, the PPO agent.

The mistakes' code (derived from the reference: a wrapper, or a subclass that changes one
thing) is in ``solutions/mistakes/m09_ppo_agent.py``.
"""

from __future__ import annotations

import math
import types
from typing import Any

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical

from autograder import draw
from autograder.checks import batch_of_one_property, reference_property
from autograder.core import Check, Fixture, Hidden, Mistake, Property, on_case_device
from autograder.fixtures import bind_stored, stored
from course.modules import BY_ID

MODULE = BY_ID["m09"]

# ==== layer_init


def layer_init_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Initialise a fresh ``nn.Linear`` (torch seeded) with the given std and bias."""
    torch.manual_seed(int(inputs["seed"]))
    layer = nn.Linear(int(inputs["in_features"]), int(inputs["out_features"]))
    out = getattr(ns, function)(layer, inputs["std"], inputs["bias_const"])
    # Layers are initialised where networks are built, on the CPU (a trainer moves the
    # network afterwards): only what is returned goes to the case's device.
    facts = {"weight": layer.weight, "bias": layer.bias, "returns_the_layer": out is layer}
    return on_case_device(facts)


def layer_init_defaults_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Call with the layer alone: the defaults are std sqrt(2) and bias 0."""
    torch.manual_seed(int(inputs["seed"]))
    layer = nn.Linear(int(inputs["in_features"]), int(inputs["out_features"]))
    getattr(ns, function)(layer)
    w = layer.weight.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    return on_case_device({"gram": gram.float(), "bias": layer.bias})


def _layer_case(seed: int, in_features: int, out_features: int, std: float, bias: float):
    return {
        "seed": seed,
        "in_features": in_features,
        "out_features": out_features,
        "std": std,
        "bias_const": bias,
    }


def _draw_layers(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        rows, cols = draw.size(g, 1, 9), draw.size(g, 1, 9)
        std = draw.scalar(g, 0.01, 2.0)
        cases.append(
            (
                f"random layer {i + 1} ({cols} -> {rows})",
                _layer_case(draw.size(g, 0, 10_000), cols, rows, std, draw.scalar(g, -1, 1)),
            )
        )
    return cases


def _orthogonal_gram(received, inputs):
    w = received.get("weight") if isinstance(received, dict) else None
    if not isinstance(w, torch.Tensor):
        return "expected the layer's weight"
    w = w.double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    target = inputs["std"] ** 2 * torch.eye(gram.shape[0], dtype=torch.float64)
    error = float((gram - target).abs().max())
    if error > 1e-5:
        return (
            f"W W^T (or W^T W) should be std^2 I = {inputs['std'] ** 2:.4g} I; off by {error:.3g}"
        )
    return None


LAYER_INIT = Check(
    MODULE,
    "layer_init",
    points=2,
    summary="orthogonal weights with a gain, constant biases",
    fixtures=[
        Fixture(
            "hand: gain 0",
            _layer_case(0, 3, 2, 0.0, 0.5),
            note="an orthogonal matrix times 0 is all zeros; every bias is set to 0.5",
            probe=layer_init_probe,
            expected={
                "weight": torch.zeros(2, 3),
                "bias": torch.tensor([0.5, 0.5]),
                "returns_the_layer": True,
            },
        ),
        Fixture(
            "hidden layer, gain sqrt(2)",
            _layer_case(1, 4, 6, math.sqrt(2), 0.0),
            note="torch seeded with 1: the weights torch.nn.init.orthogonal_ draws",
            probe=layer_init_probe,
        ),
        Fixture(
            "policy head, gain 0.01",
            _layer_case(2, 5, 2, 0.01, 0.0),
            note="the policy's output layer starts nearly flat",
            probe=layer_init_probe,
        ),
    ],
    hidden=[Hidden(_draw_layers, probe=layer_init_probe)],
    properties=[
        Property(
            "wide weight matrices are orthogonal rows scaled by std",
            lambda: _layer_case(3, 8, 3, 1.7, 0.0),
            probe=layer_init_probe,
            predicate=_orthogonal_gram,
        ),
        Property(
            "tall weight matrices are orthogonal columns scaled by std",
            lambda: _layer_case(4, 3, 8, 0.5, 0.0),
            probe=layer_init_probe,
            predicate=_orthogonal_gram,
        ),
        Property(
            "the defaults are gain sqrt(2) and bias 0",
            lambda: _layer_case(5, 6, 4, math.sqrt(2), 0.0),
            note="called as layer_init(layer)",
            probe=layer_init_defaults_probe,
            expect=lambda inputs: {"gram": 2.0 * torch.eye(4), "bias": torch.zeros(4)},
        ),
    ],
    mistakes=[
        Mistake(
            "bias-untouched",
            "the bias keeps PyTorch's default initialisation",
            "nn.Linear starts its bias uniformly in +-1/sqrt(in_features); set it to bias_const.",
        ),
        Mistake(
            "no-gain",
            "the gain is not applied",
            "torch.nn.init.orthogonal_(weight, std): the second argument scales the matrix; "
            "without it every layer has gain 1, and the policy head does not start flat.",
        ),
        Mistake(
            "returns-nothing",
            "the layer is not returned",
            "Return the layer, so that nn.Sequential(layer_init(nn.Linear(...)), ...) works.",
        ),
        Mistake(
            "xavier",
            "Xavier (Glorot) initialisation instead of an orthogonal one",
            "xavier_uniform_ draws independent weights; PPO's networks start from orthogonal "
            "matrices scaled by std (torch.nn.init.orthogonal_), whose rows (or columns) are "
            "orthogonal with norm std.",
        ),
    ],
)

# ==== linear_annealing


def annealing_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """An SGD optimiser with two parameter groups; one call of linear_annealing."""
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.5)
    returned = getattr(ns, function)(
        optimizer, int(inputs["update"]), int(inputs["num_updates"]), inputs["initial_lr"]
    )
    return on_case_device(
        {
            "returned": returned if returned is None else float(returned),
            "group_lrs": torch.tensor([group["lr"] for group in optimizer.param_groups]),
        }
    )


def schedule_probe(ns: Any, function: str, inputs: dict[str, Any]) -> torch.Tensor:
    """The learning rates set for updates 1 .. num_updates."""
    p = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=1.0)
    rates = []
    for update in range(1, int(inputs["num_updates"]) + 1):
        getattr(ns, function)(optimizer, update, int(inputs["num_updates"]), inputs["initial_lr"])
        rates.append(optimizer.param_groups[0]["lr"])
    return on_case_device(torch.tensor(rates, dtype=torch.float64))


def _annealing(update: int, num_updates: int, initial_lr: float) -> dict[str, Any]:
    return {"update": update, "num_updates": num_updates, "initial_lr": initial_lr}


def _draw_annealing(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for i in range(3):
        n = draw.size(g, 2, 500)
        cases.append(
            (
                f"random schedule {i + 1}",
                _annealing(draw.size(g, 1, n), n, draw.scalar(g, 1e-4, 1e-2)),
            )
        )
    return cases


LINEAR_ANNEALING = Check(
    MODULE,
    "linear_annealing",
    points=2,
    summary="the learning rate decays linearly, first update at full rate",
    fixtures=[
        Fixture(
            "hand: the first update",
            _annealing(1, 4, 0.01),
            note="frac = 1 - (1 - 1) / 4 = 1: the full rate 0.01, in both parameter groups",
            probe=annealing_probe,
            expected={"returned": 0.01, "group_lrs": torch.tensor([0.01, 0.01])},
        ),
        Fixture(
            "hand: the last update",
            _annealing(4, 4, 0.01),
            note="frac = 1 - (4 - 1) / 4 = 1/4: the rate is 0.0025, never 0",
            probe=annealing_probe,
            expected={"returned": 0.0025, "group_lrs": torch.tensor([0.0025, 0.0025])},
        ),
        Fixture("a middle update", _annealing(37, 120, 2.5e-4), probe=annealing_probe),
    ],
    hidden=[Hidden(_draw_annealing, probe=annealing_probe)],
    properties=[
        Property(
            "a straight line from initial_lr down to initial_lr / num_updates",
            lambda: _annealing(1, 7, 0.003),
            note="the rates set for updates 1 to 7",
            probe=schedule_probe,
            expect=stored("linear_schedule"),
        ),
    ],
    mistakes=[
        Mistake(
            "reaches-zero",
            "the schedule is shifted by one update",
            "With frac = 1 - update / num_updates the first update already runs below the "
            "initial rate and the last one at 0, a wasted update: count updates from 1 and "
            "use (update - 1).",
        ),
        Mistake(
            "first-group-only",
            "only the first parameter group is updated",
            "An optimiser can hold several parameter groups (an actor and a critic with their "
            "own settings, say): set group['lr'] in every one.",
        ),
        Mistake(
            "returns-initial",
            "the initial rate is returned instead of the rate set",
            "Return the rate of this update, so the trainer logs what the optimiser uses.",
        ),
        Mistake(
            "compounding",
            "the learning rate is multiplied by the fraction each update, not set from initial_lr",
            "Each update sets the rate to frac times initial_lr; multiplying the current rate "
            "by frac compounds the decay (and depends on what the optimiser held before).",
        ),
    ],
)

# ==== ActorCritic


def _spaces(inputs: dict[str, Any]) -> tuple[gym.spaces.Box, gym.spaces.Space]:
    """The spaces of a case: a flat ``Box`` of ``obs_dim``, or of shape ``obs_shape`` when
    given (observations then arrive flattened, (B, prod(obs_shape)))."""
    shape = tuple(int(d) for d in inputs.get("obs_shape", [inputs["obs_dim"]]))
    obs_space = gym.spaces.Box(-1.0, 1.0, shape)
    if inputs["kind"] == "discrete":
        return obs_space, gym.spaces.Discrete(int(inputs["actions"]))
    bound = float(inputs.get("bound", 2.0))
    return obs_space, gym.spaces.Box(-bound, bound, (int(inputs["actions"]),))


def _build(ns: Any, inputs: dict[str, Any], any_log_std_shape: bool = False) -> nn.Module:
    """Construct the agent and load the case's parameters, which must have the documented
    names and shapes; with ``any_log_std_shape``, a ``log_std`` of another shape holding
    A numbers (a (1, A) row, say) takes the same values, so that a probe of sampling judges
    the sampling only."""
    obs_space, act_space = _spaces(inputs)
    agent = ns.ActorCritic(obs_space, act_space, hidden=int(inputs["hidden"]))
    agent = on_case_device(agent)  # built on the CPU, then moved, as a trainer does
    params = inputs.get("params")
    if params is not None:
        own, given = agent.state_dict().get("log_std"), params.get("log_std")
        same_count = own is not None and given is not None and own.numel() == given.numel()
        if any_log_std_shape and same_count:
            params = {**params, "log_std": given.reshape(own.shape)}
        mine = {k: tuple(v.shape) for k, v in agent.state_dict().items()}
        wanted = {k: tuple(v.shape) for k, v in params.items()}
        if mine != wanted:
            raise ValueError(
                "the agent's parameters are not the documented ones: expected "
                + ", ".join(f"{k} {v}" for k, v in wanted.items())
                + "; got "
                + ", ".join(f"{k} {v}" for k, v in mine.items())
            )
        agent.load_state_dict(params)
    return agent


def evaluate_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Load known parameters, evaluate given actions: log_prob, entropy, value."""
    agent = _build(ns, inputs)
    action, log_prob, entropy, value = agent.get_action_and_value(inputs["obs"], inputs["action"])
    return {
        "action": action,
        "log_prob": log_prob,
        "entropy": entropy,
        "value": value,
        "get_value": agent.get_value(inputs["obs"]),
    }


def init_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Facts about a freshly built agent: the gain of each linear layer, its biases."""
    torch.manual_seed(int(inputs["seed"]))
    obs_space, act_space = _spaces(inputs)
    agent = ns.ActorCritic(obs_space, act_space, hidden=int(inputs["hidden"]))
    facts: dict[str, Any] = {}
    for name in ("actor", "critic"):
        net = getattr(agent, name)
        linears = [m for m in net if isinstance(m, nn.Linear)]
        gains = []
        for layer in linears:
            w = layer.weight.detach().double()
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            gains.append(float(gram.diagonal().mean().sqrt()))
            facts[f"{name} biases are zero"] = facts.get(f"{name} biases are zero", True) and bool(
                (layer.bias == 0).all()
            )
        facts[f"{name} gains"] = torch.tensor(gains)
    if inputs["kind"] == "continuous":
        facts["log_std"] = agent.log_std.detach()
    return on_case_device(facts)  # facts of a network built on the CPU, as trainers do


def sample_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Sample actions, then evaluate the same actions: the log-probs must agree."""
    agent = _build(ns, inputs)
    torch.manual_seed(0)
    action, log_prob, entropy, value = agent.get_action_and_value(inputs["obs"])
    _, again, _, _ = agent.get_action_and_value(inputs["obs"], action)
    return {
        "action_shape": list(action.shape),
        "action_dtype": str(action.dtype).removeprefix("torch."),
        "log_prob_of_the_sample": log_prob,
        "log_prob_evaluated_again": again,
        "shapes": [list(log_prob.shape), list(entropy.shape), list(value.shape)],
    }


def _reference_params(kind: str, obs_dim: int, actions: int, hidden: int, seed: int):
    """Parameters in the documented layout, drawn from a seed (not from any agent)."""
    g = draw.generator(seed)
    params = {}
    for net, out in (("critic", 1), ("actor", actions)):
        for index, (fan_in, fan_out) in enumerate(
            ((obs_dim, hidden), (hidden, hidden), (hidden, out))
        ):
            params[f"{net}.{2 * index}.weight"] = draw.normal(g, fan_out, fan_in, scale=0.6)
            params[f"{net}.{2 * index}.bias"] = draw.normal(g, fan_out, scale=0.2)
    if kind == "continuous":
        params["log_std"] = draw.normal(g, actions, scale=0.5)
    return dict(sorted(params.items()))


def _agent_case(
    kind: str, seed: int, batch: int = 5, obs_dim: int = 3, actions: int = 2, hidden: int = 4
) -> dict[str, Any]:
    g = draw.generator(seed + 1000)
    obs = draw.normal(g, batch, obs_dim)
    if kind == "discrete":
        action = draw.integers(g, 0, actions, batch)
    else:
        action = draw.normal(g, batch, actions)
    return {
        "kind": kind,
        "obs_dim": obs_dim,
        "actions": actions,
        "hidden": hidden,
        "params": _reference_params(kind, obs_dim, actions, hidden, seed),
        "obs": obs,
        "action": action,
    }


def _zero_agent(
    kind: str, actor_bias: list[float], critic_bias: float, log_std: list[float] | None, obs, action
) -> dict[str, Any]:
    """An agent whose weights are all 0: every output is its last bias (tanh(0) = 0)."""
    actions = len(actor_bias)
    params = {}
    for net, out, last in (("critic", 1, [critic_bias]), ("actor", actions, actor_bias)):
        for index, (fan_in, fan_out) in enumerate(((2, 2), (2, 2), (2, out))):
            params[f"{net}.{2 * index}.weight"] = torch.zeros(fan_out, fan_in)
            params[f"{net}.{2 * index}.bias"] = torch.zeros(fan_out)
        params[f"{net}.4.bias"] = torch.tensor(last)
    if log_std is not None:
        params["log_std"] = torch.tensor(log_std)
    return {
        "kind": kind,
        "obs_dim": 2,
        "actions": actions,
        "hidden": 2,
        "params": dict(sorted(params.items())),
        "obs": obs,
        "action": action,
    }


def _draw_agents(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Batches of 5 to 10: the given actions are drawn uniformly, so an agent that ignores
    them and samples its own matches a whole discrete batch with probability at most
    2^-5 (the batch of one has its own property)."""
    cases = []
    for i, kind in enumerate(("discrete", "continuous", "discrete")):
        seed = draw.size(g, 0, 10_000)
        case = _agent_case(
            kind,
            seed,
            batch=draw.size(g, 5, 10),
            obs_dim=draw.size(g, 1, 5),
            actions=draw.size(g, 2, 4),
            hidden=draw.size(g, 2, 6),
        )
        cases.append((f"random {kind} agent {i + 1}", case))
    return cases


def _init_case(kind: str, seed: int) -> dict[str, Any]:
    return {"kind": kind, "obs_dim": 6, "actions": 3, "hidden": 16, "seed": seed}


def _sample_consistent(received, inputs):
    if not isinstance(received, dict):
        return "expected the probe's facts"
    batch, actions = inputs["obs"].shape[0], int(inputs["actions"])
    expect_shape = [batch] if inputs["kind"] == "discrete" else [batch, actions]
    expect_dtype = "int64" if inputs["kind"] == "discrete" else "float32"
    if received["action_shape"] != expect_shape or received["action_dtype"] != expect_dtype:
        return (
            f"sampled actions should be {expect_dtype} of shape {tuple(expect_shape)}, got "
            f"{received['action_dtype']} {tuple(received['action_shape'])}"
        )
    if received["shapes"] != [[batch]] * 3:
        return f"log_prob, entropy and value should all be ({batch},), got {received['shapes']}"
    if not torch.allclose(
        received["log_prob_of_the_sample"],
        received["log_prob_evaluated_again"],
        rtol=1e-5,
        atol=1e-6,
    ):
        return "the log-prob returned with a sampled action differs from evaluating that action"
    return None


SAMPLES_PER_OBS = 3000
FAILURE_RATE = 1e-6
"""The chance that a correct sampler fails one statistical test (a bound, not a guess)."""


def sampling_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Load known parameters and sample, as the rollout does: ``get_action_and_value(obs)``
    with no action, each of a few observations repeated ``repeats`` times (torch seeded).
    The layout of ``log_std`` is graded elsewhere (the initial-state property)."""
    agent = _build(ns, inputs, any_log_std_shape=True)
    obs = inputs["obs"].repeat_interleave(int(inputs["repeats"]), dim=0)
    torch.manual_seed(0)
    with torch.no_grad():
        action, log_prob, _, _ = agent.get_action_and_value(obs)
    return {"action": action, "log_prob": log_prob}


def _head(params: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
    """The actor's output for known parameters: the documented tanh MLP, written out."""
    h = obs
    for index in (0, 2, 4):
        h = h @ params[f"actor.{index}.weight"].T + params[f"actor.{index}.bias"]
        if index < 4:
            h = torch.tanh(h)
    return h


def _hoeffding(n: int) -> float:
    """t with P(|mean of n draws in [0, 1] - its expectation| > t) <= FAILURE_RATE, by
    Hoeffding's inequality 2 exp(-2 n t^2): exact for any distribution, no approximation."""
    return math.sqrt(math.log(2.0 / FAILURE_RATE) / (2.0 * n))


def _sampled_action(received: Any, inputs: dict[str, Any], shape: list[int], dtype: str):
    action = received.get("action") if isinstance(received, dict) else None
    if not isinstance(action, torch.Tensor):
        return None, "get_action_and_value(obs) must return the sampled action first"
    got = (str(action.dtype).removeprefix("torch."), list(action.shape))
    if got != (dtype, shape):
        return None, (
            f"sampled actions should be {dtype} of shape {tuple(shape)}, got {got[0]} "
            f"{tuple(got[1])}"
        )
    return action, None


def _discrete_frequencies(received: Any, inputs: dict[str, Any]) -> str | None:
    n, K, A = int(inputs["repeats"]), inputs["obs"].shape[0], int(inputs["actions"])
    action, problem = _sampled_action(received, inputs, [K * n], "int64")
    if problem:
        return problem
    if bool(((action < 0) | (action >= A)).any()):
        return f"sampled actions must lie in 0 .. {A - 1}"
    probs = torch.softmax(_head(inputs["params"], inputs["obs"]), dim=-1)
    counts = torch.stack([torch.bincount(row, minlength=A) for row in action.view(K, n)])
    freqs = counts.double() / n
    gap = (freqs - probs.double()).abs()
    t = _hoeffding(n)
    if bool((gap > t).any()):
        k, a = divmod(int(gap.argmax()), A)
        return (
            f"over {n} samples for observation {k}, action {a} was drawn with frequency "
            f"{float(freqs[k, a]):.3f}; softmax(logits) gives it {float(probs[k, a]):.3f} "
            f"(a correct sampler stays within {t:.3f}): sample from the softmax, not the argmax"
        )
    return None


def _continuous_samples(received: Any, inputs: dict[str, Any]) -> str | None:
    n, K, A = int(inputs["repeats"]), inputs["obs"].shape[0], int(inputs["actions"])
    action, problem = _sampled_action(received, inputs, [K * n, A], "float32")
    if problem:
        return problem
    if not bool(torch.isfinite(action).all()):
        return "the sampled actions are not all finite"
    params = inputs["params"]
    mean = _head(params, inputs["obs"]).double().repeat_interleave(n, dim=0)
    std = params["log_std"].double().exp().expand_as(mean)
    a = action.double()
    low, high = -float(inputs["bound"]), float(inputs["bound"])
    z = (a - mean) / std
    N = z.shape[0]
    z_mean, z_std = z.mean(0), z.std(0)
    if bool((z_std < 1e-3).all()):
        return (
            "every sampled action is the actor's mean: add exploration noise, "
            "mean + exp(log_std) * torch.randn_like(mean)"
        )
    normal = torch.distributions.Normal(mean, std)
    inside = normal.cdf(torch.full_like(mean, high)) - normal.cdf(torch.full_like(mean, low))
    seen = ((a < low) | (a > high)).double()
    if float(seen.sum()) == 0.0:
        return (
            f"every sample lies within the action space's bounds [{low:g}, {high:g}], where "
            f"the policy puts {float(1.0 - inside.mean()):.3f} of them outside: return the "
            "unclipped sample (only the env's copy is clipped, by the rollout)"
        )
    # Over N standard normal draws, |mean| exceeds 5 / sqrt(N) and the sample std leaves
    # 1 +- 5 / sqrt(2 N) with probability about 6e-7 each (normal approximations, N = 9000).
    if bool((z_mean.abs() > 5.0 / math.sqrt(N)).any()):
        return (
            f"(action - mean) / exp(log_std) should average 0; over {N} samples it averages "
            f"{[round(v, 3) for v in z_mean.tolist()]}: draw around the actor's mean"
        )
    if bool(((z_std - 1.0).abs() > 5.0 / math.sqrt(2.0 * N)).any()):
        spread = [round(v, 3) for v in (z_std * std[0]).tolist()]
        wanted = [round(v, 3) for v in std[0].tolist()]
        return (
            f"the samples' standard deviation is {spread}, where exp(log_std) = {wanted}: "
            "sample mean + exp(log_std) * standard normal noise"
        )
    t = _hoeffding(N)
    if abs(float(seen.mean()) - float(1.0 - inside.mean())) > t:
        return (
            f"{float(seen.mean()):.3f} of the samples fall outside the bounds [{low:g}, "
            f"{high:g}], where the policy puts {float(1.0 - inside.mean()):.3f} (a correct "
            f"sampler stays within {t:.3f}): return the unclipped Gaussian sample"
        )
    return None


def _sampling_case(kind: str) -> dict[str, Any]:
    """Three observations of a known agent, each sampled SAMPLES_PER_OBS times."""
    if kind == "discrete":
        inputs = _agent_case("discrete", 23, batch=3, obs_dim=3, actions=3, hidden=4)
    else:
        inputs = _agent_case("continuous", 24, batch=3, obs_dim=3, actions=2, hidden=4)
        # One wide and one narrow dimension: noise that ignores log_std shows in both.
        inputs["params"]["log_std"] = torch.tensor([0.9, -0.8])
    del inputs["action"]
    inputs["repeats"] = SAMPLES_PER_OBS
    inputs["bound"] = 2.0
    return inputs


ACTOR_CRITIC = Check(
    MODULE,
    "ActorCritic",
    points=4,
    uses=("m01", "m08"),
    summary="the actor-critic networks, discrete and continuous",
    fixtures=[
        Fixture(
            "hand: a zero-weight discrete agent",
            lambda: _zero_agent(
                "discrete",
                [0.0, math.log(3.0)],
                1.5,
                None,
                torch.tensor([[0.3, -0.7], [1.0, 2.0]]),
                torch.tensor([1, 0]),
            ),
            note="all weights 0, so every layer outputs its bias: logits (0, ln 3), "
            "probabilities (1/4, 3/4); log pi(1) = ln 0.75 = -0.287682, log pi(0) = ln 0.25 "
            "= -1.386294; entropy 0.25 ln 4 + 0.75 ln(4/3) = 0.562335; V = 1.5",
            probe=evaluate_probe,
            expected={
                "action": torch.tensor([1, 0]),
                "log_prob": torch.tensor([-0.2876821, -1.3862944]),
                "entropy": torch.tensor([0.5623351, 0.5623351]),
                "value": torch.tensor([1.5, 1.5]),
                "get_value": torch.tensor([1.5, 1.5]),
            },
        ),
        Fixture(
            "hand: a zero-weight continuous agent",
            lambda: _zero_agent(
                "continuous",
                [0.5],
                -2.0,
                [math.log(2.0)],
                torch.tensor([[0.1, 0.2]]),
                torch.tensor([[1.5]]),
            ),
            note="mean 0.5 and sigma = exp(ln 2) = 2; a = 1.5 gives z = 0.5, so log pi = "
            "-0.125 - ln 2 - 0.5 ln(2 pi) = -1.737086; entropy 0.5 ln(2 pi e) + ln 2 = "
            "2.112086; V = -2",
            probe=evaluate_probe,
            expected={
                "action": torch.tensor([[1.5]]),
                "log_prob": torch.tensor([-1.7370857]),
                "entropy": torch.tensor([2.1120857]),
                "value": torch.tensor([-2.0]),
                "get_value": torch.tensor([-2.0]),
            },
        ),
        Fixture(
            "a discrete agent",
            lambda: _agent_case("discrete", 1, actions=3),
            probe=evaluate_probe,
            note="known parameters loaded by name",
        ),
        Fixture(
            "a continuous agent",
            lambda: _agent_case("continuous", 2, actions=2),
            probe=evaluate_probe,
            note="known parameters and log_std loaded by name",
        ),
        Fixture(
            "a discrete agent on a (2, 3) observation space",
            lambda: {**_agent_case("discrete", 7, obs_dim=6, actions=3), "obs_shape": [2, 3]},
            probe=evaluate_probe,
            note="obs_dim is the product of the space's shape, 6 (not shape[0] = 2); the "
            "observations arrive flattened, (B, 6)",
        ),
    ],
    hidden=[Hidden(_draw_agents, probe=evaluate_probe)],
    properties=[
        Property(
            "discrete: initial gains sqrt(2), 0.01 (policy) and 1 (value), zero biases",
            lambda: _init_case("discrete", 3),
            note="how the layers start shapes how the agent learns (a policy head at gain 1 "
            "starts far from uniform), and the hidden cases, which load known parameters, "
            "cannot see it: failing this caps ActorCritic at a third of its points",
            probe=init_probe,
            expect=stored("init_facts"),
            rtol=1e-4,
            atol=1e-5,
            core=True,
        ),
        Property(
            "continuous: the same, and log_std starts at 0 with shape (A,)",
            lambda: _init_case("continuous", 4),
            probe=init_probe,
            expect=stored("init_facts"),
            rtol=1e-4,
            atol=1e-5,
        ),
        Property(
            "discrete: a sampled action's log-prob is the one evaluated for it",
            lambda: _agent_case("discrete", 5, batch=6, actions=4),
            probe=sample_probe,
            predicate=_sample_consistent,
        ),
        Property(
            "continuous: a sampled action's log-prob is the one evaluated for it",
            lambda: _agent_case("continuous", 6, batch=6, actions=3),
            probe=sample_probe,
            predicate=_sample_consistent,
        ),
        Property(
            "discrete: one observation gives one sampled action, of shape (1,)",
            lambda: _agent_case("discrete", 9, batch=1, actions=3),
            note="B = 1: the action is (1,), not a scalar (squeeze(-1), not squeeze())",
            probe=sample_probe,
            predicate=_sample_consistent,
        ),
        batch_of_one_property(
            lambda: _agent_case("discrete", 10, batch=1, actions=3),
            name="discrete: a batch of one evaluated",
            note="B = 1: log_prob, entropy and value are (1,), not 0-dim",
            probe=evaluate_probe,
        ),
        batch_of_one_property(
            lambda: _agent_case("continuous", 11, batch=1, actions=2),
            name="continuous: a batch of one evaluated",
            note="B = 1: log_prob, entropy and value are (1,), not 0-dim",
            probe=evaluate_probe,
        ),
        Property(
            "discrete: sampled actions follow softmax(logits)",
            lambda: _sampling_case("discrete"),
            note=f"3 observations x {SAMPLES_PER_OBS} samples; each action's frequency must "
            "lie within t = sqrt(ln(2 / 1e-6) / (2 n)) = 0.049 of its probability (Hoeffding: "
            "a correct sampler fails with probability below 1e-6 per action); torch seeded",
            probe=sampling_probe,
            predicate=_discrete_frequencies,
            weight=2.0,
            core=True,
        ),
        Property(
            "continuous: samples are mean + exp(log_std) * noise, unclipped",
            lambda: _sampling_case("continuous"),
            note=f"3 observations x {SAMPLES_PER_OBS} samples, log_std = (0.9, -0.8), bounds "
            "+-2: the share outside the bounds within Hoeffding's t = 0.028 of the policy's; "
            "z = (a - mean) / sigma has |mean| < 5 / sqrt(N) and |std - 1| < 5 / sqrt(2 N) "
            "(5 sigma of the normal approximation); torch seeded",
            probe=sampling_probe,
            predicate=_continuous_samples,
            weight=2.0,
            core=True,
        ),
    ],
    mistakes=[
        Mistake(
            "value-not-squeezed",
            "the value keeps the critic's last dimension, (B, 1)",
            "The value head outputs (B, 1); squeeze it to (B,). A (B, 1) value minus (B,) "
            "returns broadcasts to (B, B) in the value loss and silently trains on nonsense.",
        ),
        Mistake(
            "ignores-action",
            "a given action is ignored and a new one sampled",
            "The update calls get_action_and_value(obs, stored_actions) to get the new "
            "log-probabilities of the *stored* actions: evaluate the action passed in.",
        ),
        Mistake(
            "swapped-gains",
            "the output layers' gains are swapped",
            "The policy head starts with gain 0.01 (near-uniform actions), the value head with "
            "gain 1.",
        ),
        Mistake(
            "greedy-action",
            "the greedy action (the argmax of the logits) instead of a sample",
            "During training the policy must explore: draw the action from the softmax of "
            "the logits (torch.multinomial, or Categorical(logits=...).sample()). The argmax "
            "is the greedy action, for evaluation only.",
        ),
        Mistake(
            "mean-as-action",
            "the Gaussian's mean instead of a sample",
            "Draw a = mean + exp(log_std) * noise with fresh standard normal noise: without "
            "the noise the policy never explores, and log_std gets no useful gradient.",
        ),
        Mistake(
            "unit-noise",
            "the noise ignores log_std (mean + standard normal noise)",
            "The sample's spread is exp(log_std): mean + torch.randn_like(mean) explores at "
            "sigma 1 whatever the policy learnt, while its log-probability assumes "
            "exp(log_std).",
        ),
        Mistake(
            "clipped-sample",
            "the sample is clipped to the action space's bounds",
            "Return the unclipped sample; the rollout clips only the copy sent to the env "
            "(m08). A clipped action piles samples onto the bound, where the policy's "
            "log-density says nothing about how likely it was.",
        ),
        Mistake(
            "batched-log-std",
            "log_std has shape (1, A)",
            "Some implementations store log_std as (1, A); the course's contract (m08) is a "
            "state-independent vector of shape (A,).",
            kind="edge",
        ),
    ],
)

# ==== ppo_update

STATS = (
    "policy_loss",
    "value_loss",
    "entropy",
    "clip_fraction",
    "approx_kl",
    "explained_variance",
    "epochs",
)


class TinyAgent(nn.Module):
    """A small discrete agent with parameters drawn from a seed, for grading the update
    alone (the student's ActorCritic is graded on its own)."""

    def __init__(self, obs_dim: int, actions: int, seed: int, scale: float = 0.5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.actor = nn.Linear(obs_dim, actions)
        self.critic = nn.Linear(obs_dim, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)

    def get_action_and_value(self, obs, action=None):
        dist = Categorical(logits=self.actor(obs))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(obs).squeeze(-1)


def update_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """One call of ppo_update on a TinyAgent with SGD; the parameters after it and the
    diagnostics it returns."""
    agent = TinyAgent(
        int(inputs["obs_dim"]),
        int(inputs["num_actions"]),
        int(inputs["agent_seed"]),
        inputs["scale"],
    )
    agent = on_case_device(agent)  # the batch is on the case's device
    optimizer = torch.optim.SGD(agent.parameters(), lr=inputs["lr"])
    # The caller's own dict: the grader compares it after the call, so a write into it
    # (batch["advantages"] = ...) is seen, as the rollout that still needs it would see it.
    batch = inputs["batch"]
    if inputs.get("log_probs_with_graph"):
        # As if the rollout had forgotten torch.no_grad(): old log-probs still in a graph.
        graph = agent.get_action_and_value(batch["obs"], batch["actions"])[1]
        batch = {**batch, "log_probs": graph}
    if inputs.get("batch_with_graph"):
        # A careless rollout by the same agent, gradients on: every float entry carries
        # the agent's graph (its values are the case's numbers: x + (g - g.detach()) = x).
        _, log_probs, _, values = agent.get_action_and_value(batch["obs"], batch["actions"])
        zero_lp, zero_v = log_probs - log_probs.detach(), values - values.detach()
        batch = {
            **batch,
            "log_probs": batch["log_probs"] + zero_lp,
            "values": batch["values"] + zero_v,
            "returns": batch["returns"] + zero_v,
            "advantages": batch["advantages"] + zero_lp,
        }
    config = types.SimpleNamespace(**inputs["config"])
    generator = torch.Generator().manual_seed(int(inputs["order_seed"]))
    stats = getattr(ns, function)(agent, optimizer, batch, config, generator)
    missing = [key for key in STATS if key not in stats]
    if missing:
        raise KeyError(f"the diagnostics lack {', '.join(missing)}")
    return {
        "parameters": torch.cat([p.detach().flatten() for p in agent.parameters()]),
        "diagnostics": {key: float(stats[key]) for key in STATS},
    }


def _config(**changes: Any) -> dict[str, Any]:
    config = {
        "update_epochs": 3,
        "minibatch_size": 4,
        "clip_coef": 0.2,
        "norm_adv": True,
        "clip_vloss": True,
        "vf_coef": 0.5,
        "ent_coef": 0.01,
        "max_grad_norm": 0.5,
        "target_kl": None,
    }
    config.update(changes)
    return config


def _update_case(
    seed: int,
    batch: int = 10,
    obs_dim: int = 3,
    num_actions: int = 3,
    lr: float = 0.5,
    with_graph: bool = False,
    **config: Any,
) -> dict[str, Any]:
    """A rollout batch for a TinyAgent: old log-probs from a nearby policy, so the ratios
    start away from 1, and advantages with a non-zero mean."""
    g = draw.generator(seed)
    agent = TinyAgent(obs_dim, num_actions, seed)
    obs = draw.normal(g, batch, obs_dim)
    with torch.no_grad():
        probs = torch.softmax(agent.actor(obs), dim=-1)
        taken = torch.multinomial(probs, 1, generator=g).squeeze(-1)
        _, log_probs, _, values = agent.get_action_and_value(obs, taken)
    case = {
        "obs_dim": obs_dim,
        "num_actions": num_actions,
        "agent_seed": seed,
        "scale": 0.5,
        "lr": lr,
        "batch": {
            "obs": obs,
            "actions": taken,
            "log_probs": log_probs + draw.normal(g, batch, scale=0.3),
            "advantages": draw.normal(g, batch, scale=2.0) + 0.5,
            "returns": values + draw.normal(g, batch),
            "values": values,
        },
        "config": _config(**config),
        "order_seed": seed + 7,
    }
    if with_graph:
        case["log_probs_with_graph"] = True
    return case


def _draw_updates(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    """Every drawn update has what each part of the contract needs: at least one full
    minibatch and a smaller last one (B is not a multiple of minibatch_size), so several
    steps per epoch, minibatch statistics that differ from the batch's, and a remainder to
    include; and a max_grad_norm below the usual gradient norm (0.1 to 2 for these agents),
    so clipping acts."""
    cases = []
    for i in range(3):
        minibatch = draw.size(g, 2, 5)
        batch = draw.size(g, 1, 3) * minibatch + draw.size(g, 1, minibatch - 1)
        case = _update_case(
            draw.size(g, 0, 10_000),
            batch=batch,
            update_epochs=draw.size(g, 1, 3),
            minibatch_size=minibatch,
            clip_vloss=bool(i % 2),
            max_grad_norm=draw.scalar(g, 0.1, 0.4),
        )
        cases.append((f"random update {i + 1} (B={batch}, minibatches of {minibatch})", case))
    return cases


def _zero_update() -> dict[str, Any]:
    """A zero agent, learning rate 0: nothing moves, and every number is known."""
    obs = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-0.3, 0.3], [1.0, 1.0], [0.0, -2.0], [1.5, 0.5]])
    return {
        "obs_dim": 2,
        "num_actions": 2,
        "agent_seed": 0,
        "scale": 0.0,
        "lr": 0.0,
        "batch": {
            "obs": obs,
            "actions": torch.tensor([0, 1, 1, 0, 1, 0]),
            "log_probs": torch.full((6,), -math.log(2.0)),
            "advantages": torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 0.0]),
            "returns": torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0]),
            "values": torch.zeros(6),
        },
        "config": _config(update_epochs=2, minibatch_size=4, target_kl=0.01),
        "order_seed": 3,
    }


def _stats_are_diagnostics(received, inputs):
    values = received.get("diagnostics", {}) if isinstance(received, dict) else {}
    bad = [k for k in STATS if not math.isfinite(values.get(k, math.nan))]
    if bad:
        return f"these diagnostics are not finite numbers: {', '.join(bad)}"
    if not 0.0 <= values["clip_fraction"] <= 1.0:
        return f"clip_fraction must lie in [0, 1], got {values['clip_fraction']}"
    if values["epochs"] != inputs["config"]["update_epochs"]:
        return f"with target_kl None every epoch runs: expected {inputs['config']['update_epochs']}"
    return None


def _stops_after_one_epoch(received, inputs):
    epochs = received.get("diagnostics", {}).get("epochs") if isinstance(received, dict) else None
    if epochs != 1.0:
        return (
            f"the KL passes target_kl={inputs['config']['target_kl']} in the first epoch, "
            f"so only 1 epoch should run; {epochs} ran"
        )
    return None


PPO_UPDATE = Check(
    MODULE,
    "ppo_update",
    points=6,
    uses=("m01", "m02", "m03", "m04", "m05", "m07", "m08"),
    summary="epochs x shuffled minibatches, per-minibatch normalisation, clipping, early stop",
    # Parameters after several SGD steps and means of float32 sums: the order in which a
    # correct update adds terms changes the last bits, so the tolerance is wider.
    rtol=1e-4,
    atol=1e-5,
    timeout=40.0,
    fixtures=[
        Fixture(
            "hand: a zero agent that does not learn",
            _zero_update,
            note="every weight 0, so pi = (1/2, 1/2) and V = 0; the old log-probs are "
            "ln(1/2), so every ratio is 1: KL 0, clip fraction 0; the normalised advantages "
            "of each minibatch average 0, so the policy loss is 0; (V - R)^2 = 1, so the "
            "value loss is 0.5 * 0.5 * 1 = 0.25; entropy ln 2 = 0.693147; EV of V_old = 0 is "
            "1 - Var[R]/Var[R] = 0; lr 0 leaves the parameters at 0; KL 0 <= 0.01: 2 epochs",
            probe=update_probe,
            expected={
                "parameters": torch.zeros(9),
                "diagnostics": {
                    "policy_loss": 0.0,
                    "value_loss": 0.25,
                    "entropy": 0.6931472,
                    "clip_fraction": 0.0,
                    "approx_kl": 0.0,
                    "explained_variance": 0.0,
                    "epochs": 2.0,
                },
            },
        ),
        Fixture(
            "three epochs, a last minibatch of 2",
            lambda: _update_case(11),
            probe=update_probe,
            note="B = 10 and minibatches of 4: each epoch takes steps on 4, 4 and 2 samples",
        ),
        Fixture(
            "unclipped value loss, gradient clipping active",
            lambda: _update_case(12, batch=8, clip_vloss=False, max_grad_norm=0.1, lr=1.0),
            probe=update_probe,
            note="max_grad_norm 0.1 is far below the gradients' norm: every step is clipped",
        ),
        Fixture(
            "raw advantages (norm_adv off)",
            lambda: _update_case(13, batch=9, norm_adv=False, update_epochs=2),
            probe=update_probe,
        ),
        Fixture(
            "early stop on the KL",
            lambda: _update_case(14, batch=12, target_kl=0.0005, lr=2.0, update_epochs=4),
            probe=update_probe,
            note="a large step makes the KL pass 0.0005 in the first epoch: one epoch runs",
        ),
        Fixture(
            "a last minibatch of one sample",
            lambda: _update_case(18, batch=9, update_epochs=2),
            probe=update_probe,
            note="B = 9 and minibatches of 4: steps on 4, 4 and 1 samples; the lone sample's "
            "advantage is used as it is (the std of one number is undefined)",
        ),
        Fixture(
            "a rollout of one sample",
            lambda: _update_case(19, batch=1, minibatch_size=1, update_epochs=2),
            probe=update_probe,
            note="B = 1: every minibatch is the whole batch, of one sample",
        ),
        Fixture(
            "old log-probs that still carry a graph",
            lambda: _update_case(15, with_graph=True),
            probe=update_probe,
            note="as if the rollout forgot torch.no_grad(): the batch is data, detach it",
        ),
    ],
    hidden=[Hidden(_draw_updates, probe=update_probe)],
    properties=[
        Property(
            "diagnostics are finite numbers and every epoch runs without target_kl",
            lambda: _update_case(16, batch=11, update_epochs=3),
            probe=update_probe,
            predicate=_stats_are_diagnostics,
        ),
        Property(
            "early stopping stops after the epoch whose KL passes target_kl",
            lambda: _update_case(17, batch=12, target_kl=1e-6, lr=1.0, update_epochs=5),
            probe=update_probe,
            predicate=_stops_after_one_epoch,
        ),
        reference_property(
            "a batch made by the same agent with gradients on",
            lambda: {**_update_case(21, batch=10), "batch_with_graph": True},
            note="log-probs, values, returns and advantages all still in the agent's graph, "
            "as a rollout without torch.no_grad() leaves them: the batch is data, so the "
            "update detaches it and gives what it gives on plain tensors",
            probe=update_probe,
            weight=2.0,
        ),
        batch_of_one_property(
            lambda: _update_case(20, batch=1, minibatch_size=1, update_epochs=2),
            note="B = 1: every minibatch is one sample, whose advantage is used as it is",
            probe=update_probe,
        ),
    ],
    mistakes=[
        Mistake(
            "whole-batch-normalisation",
            "the advantages are normalised over the whole batch, not per minibatch",
            "PPO implementations normalise each minibatch's advantages, right before its "
            "loss; normalising the batch once gives every minibatch a different mean and "
            "scale.",
        ),
        Mistake(
            "raw-advantages",
            "the normalised advantages are computed but the raw ones are used",
            "The training step of Lightning's PPO example, quoted in the original notes, has "
            "exactly this bug (m05). Normalise, then pass the normalised advantages to the "
            "clipped loss.",
        ),
        Mistake(
            "no-gradient-clipping",
            "the gradient norm is not clipped",
            "Call nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm) between "
            "backward() and step().",
        ),
        Mistake(
            "skips-remainder",
            "the last, smaller minibatch of each epoch is skipped",
            "range(0, B, minibatch_size) includes a final partial minibatch; stopping at the "
            "last full one silently drops B mod minibatch_size samples every epoch.",
        ),
        Mistake(
            "no-zero-grad",
            "the gradients are not zeroed before each backward pass",
            "loss.backward() adds to .grad: call optimizer.zero_grad() before it, or every "
            "step also applies all the earlier minibatches' gradients again.",
        ),
    ],
)

CHECKS = bind_stored([LAYER_INIT, LINEAR_ANNEALING, ACTOR_CRITIC, PPO_UPDATE])
