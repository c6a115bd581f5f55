"""Checks and known mistakes for m10, training on the GPU (environments as tensors).

The known outputs of ``cartpole_step``, ``cartpole_terminated`` and ``pendulum_step`` are
the reference's, and the project's tests step gymnasium's own ``CartPoleEnv`` and
``PendulumEnv`` from the same states and actions and find the same numbers (float64
there, float32 here). The code of the mistakes is in ``solutions/mistakes/``, and what the
properties compare with (loops written for the check, the Euler positions) in
``solutions/oracles/``; the fixture file stores their values.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from autograder import draw
from autograder.checks import batch_of_one_property, device_property, float64_property
from autograder.core import (
    Check,
    Fixture,
    Hidden,
    Mistake,
    Property,
    call,
    clone_inputs,
    on_case_device,
)
from autograder.fixtures import bind_stored, stored
from autograder.probes import host_sync_probe, no_host_sync
from course.modules import BY_ID

MODULE = BY_ID["m10"]
THETA_LIMIT = 12 * 2 * math.pi / 360
BIG_BATCH = 2**16

# ==== inputs


def cartpole_states(g: torch.Generator, n: int, spread: float = 1.0) -> torch.Tensor:
    """(n, 4) states such as an episode visits: the cart anywhere on the track, the pole
    within about 15 degrees, moderate speeds (``spread`` scales the speeds)."""
    x = draw.uniform(g, n, low=-2.4, high=2.4)
    theta = draw.uniform(g, n, low=-0.26, high=0.26)
    x_dot = draw.normal(g, n, scale=spread)
    theta_dot = draw.normal(g, n, scale=1.5 * spread)
    return torch.stack([x, x_dot, theta, theta_dot], dim=-1)


def cartpole_inputs(g: torch.Generator, n: int, spread: float = 1.0) -> dict[str, Any]:
    return {"state": cartpole_states(g, n, spread), "action": draw.integers(g, 0, 2, n)}


def near_thresholds(g: torch.Generator, n: int) -> dict[str, Any]:
    """States close to the limits, on both sides: the first half with the cart near
    |x| = 2.4, the second half with the pole near |theta| = 12 degrees."""
    state = cartpole_states(g, n) * 0.5
    sign = torch.where(draw.flags(g, n, p=0.5), 1.0, -1.0)
    half = n // 2
    state[:half, 0] = sign[:half] * draw.uniform(g, half, low=2.3, high=2.5)
    state[half:, 2] = sign[half:] * draw.uniform(g, n - half, low=0.19, high=0.23)
    return {"state": state}


def pendulum_inputs(g: torch.Generator, n: int, turns: float = 1.0) -> dict[str, Any]:
    """(n, 2) states with the angle in [-turns pi, turns pi] and speeds in [-8, 8], and
    torques in [-3, 3] (some beyond the bounds)."""
    theta = draw.uniform(g, n, low=-turns * math.pi, high=turns * math.pi)
    theta_dot = draw.uniform(g, n, low=-8.0, high=8.0)
    return {
        "state": torch.stack([theta, theta_dot], dim=-1),
        "action": draw.uniform(g, n, 1, low=-3.0, high=3.0),
    }


def autoreset_inputs(g: torch.Generator, n: int, *trailing: int) -> dict[str, Any]:
    return {
        "state": draw.normal(g, n, *trailing),
        "done": draw.flags(g, n, p=0.4),
        "fresh": draw.uniform(g, n, *trailing, low=-0.05, high=0.05),
    }


def _some_done(g: torch.Generator, n: int, *trailing: int) -> dict[str, Any]:
    """:func:`autoreset_inputs` with at least one episode ended and one going on."""
    inputs = autoreset_inputs(g, n, *trailing)
    ended, going = torch.randperm(n, generator=g)[:2].tolist()
    inputs["done"][ended], inputs["done"][going] = True, False
    return inputs


def stats_inputs(g: torch.Generator, n: int) -> dict[str, Any]:
    return {
        "running_return": draw.integers(g, 0, 200, n).float(),
        "reward": draw.normal(g, n),
        "done": draw.flags(g, n, p=0.4),
    }


def _seeded(builder, seed: int, *args: Any) -> dict[str, Any]:
    return builder(draw.generator(seed), *args)


def _draw(builder, label: str, sizes: tuple[int, ...], *args: Any):
    def hidden(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
        cases = []
        for i, low in enumerate(sizes):
            n = draw.size(g, low, 3 * low)
            cases.append((f"{label} {i + 1} (N={n})", builder(g, n, *args)))
        return cases

    return hidden


def _past_both_left_limits(g: torch.Generator, n: int) -> dict[str, Any]:
    """:func:`near_thresholds`, with one cart past the left end of the track and one pole
    fallen past -12 degrees, at random rows of their halves: every case has an episode
    that ends on the negative side."""
    inputs = near_thresholds(g, n)
    half = n // 2
    cart = int(torch.randint(0, half, (1,), generator=g))
    pole = half + int(torch.randint(0, n - half, (1,), generator=g))
    inputs["state"][cart, 0] = -draw.uniform(g, 1, low=2.42, high=2.5)[0]
    inputs["state"][pole, 2] = -draw.uniform(g, 1, low=0.215, high=0.23)[0]
    return inputs


def _draw_near_thresholds(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    return [(f"states near the limits {i + 1}", _past_both_left_limits(g, 12)) for i in range(3)]


def _draw_pendulum(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("random states and torques (N=7)", pendulum_inputs(g, 7)),
        ("angles of several turns (N=9)", pendulum_inputs(g, 9, 3.0)),
    ]


def _draw_autoreset(g: torch.Generator) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("CartPole states (N=6)", _some_done(g, 6, 4)),
        ("N equal to the state size (N=4)", _some_done(g, 4, 4)),
        ("Pendulum states (N=5)", _some_done(g, 5, 2)),
    ]


# ==== probes (module level: they run where the student's code runs)


class CountOps(TorchFunctionMode):
    """Counts the torch functions and tensor methods called inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _builder(function: str):
    return {
        "cartpole_step": cartpole_inputs,
        "cartpole_terminated": lambda g, n: {"state": cartpole_states(g, n)},
        "pendulum_step": pendulum_inputs,
        "autoreset": lambda g, n: autoreset_inputs(g, n, 4),
        "episode_stats": stats_inputs,
    }[function]


def op_count_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, int]:
    """How many torch operations one call makes, for a small and a larger batch."""
    counts = {}
    for n in (int(inputs["small"]), int(inputs["large"])):
        args = on_case_device(_builder(function)(draw.generator(int(inputs["seed"])), n))
        with CountOps() as counter:
            getattr(ns, function)(*args.values())
        counts[f"N={n}"] = counter.count
    return counts


def _same_op_count(received: Any, inputs: dict[str, Any]) -> str | None:
    small, large = received[f"N={inputs['small']}"], received[f"N={inputs['large']}"]
    if small != large:
        return (
            f"{small} tensor operations for N={inputs['small']} but {large} for "
            f"N={inputs['large']}: a Python loop over the environments (use whole-batch "
            "tensor operations)"
        )
    return None


def big_batch_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Call on a batch of 2^16 environments; compare its first rows with a call on those
    rows alone."""
    fn = getattr(ns, function)
    args = _builder(function)(draw.generator(int(inputs["seed"])), int(inputs["n"]))
    args = on_case_device(args)
    out = fn(*args.values())
    head = {k: v[:16] if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    small = fn(*head.values())
    outs = out if isinstance(out, tuple | list) else (out,)
    smalls = small if isinstance(small, tuple | list) else (small,)
    facts: dict[str, Any] = {"shapes": [tuple(o.shape) for o in outs]}
    facts["dtypes"] = [str(o.dtype).removeprefix("torch.") for o in outs]
    facts["first_rows_agree"] = all(
        torch.allclose(o[:16].double(), s.double(), rtol=1e-5, atol=1e-6)
        for o, s in zip(outs, smalls, strict=True)
        if o.dim() > 0
    )
    return facts


def _big_batch_ok(expected_shapes: list[tuple[int, ...]], dtypes: list[str]):
    def predicate(received: Any, inputs: dict[str, Any]) -> str | None:
        shapes = [tuple(s) for s in received["shapes"]]
        if shapes != expected_shapes:
            return f"on N={inputs['n']} expected outputs of shapes {expected_shapes}, got {shapes}"
        if list(received["dtypes"]) != dtypes:
            return f"expected dtypes {dtypes}, got {list(received['dtypes'])}"
        if not received["first_rows_agree"]:
            return "the first rows of a big batch differ from the same rows stepped alone"
        return None

    return predicate


def unmodified_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, bool]:
    """Call the function on copies; report, for each tensor input, whether it is intact."""
    args = clone_inputs(inputs)
    getattr(ns, function)(*args.values())
    return {
        name: bool(torch.equal(args[name], value))
        for name, value in inputs.items()
        if isinstance(value, torch.Tensor)
    }


def _all_intact(inputs: dict[str, Any]) -> dict[str, bool]:
    return {name: True for name, value in inputs.items() if isinstance(value, torch.Tensor)}


def both_pushes_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The next states from the same states with every action 0 and every action 1."""
    state = inputs["state"]
    n = state.shape[0]
    pushes = {a: torch.full((n,), a, dtype=torch.int64, device=state.device) for a in (0, 1)}
    left = call(ns, function, {"state": state, "action": pushes[0]})
    right = call(ns, function, {"state": state, "action": pushes[1]})
    return {"left": left, "right": right}


def _right_is_faster(received: Any, inputs: dict[str, Any]) -> str | None:
    gain = received["right"][:, 1] - received["left"][:, 1]
    if not bool((gain > 0).all()):
        return (
            "action 1 must push the cart to the right: x_dot after action 1 must exceed "
            "x_dot after action 0"
        )
    return None


def mirror_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The step from (s, a) and from the mirrored (-s, 1 - a)."""
    mirrored = {"state": -inputs["state"], "action": 1 - inputs["action"]}
    return {"step": call(ns, function, inputs), "mirrored": call(ns, function, mirrored)}


def _mirror_symmetric(received: Any, inputs: dict[str, Any]) -> str | None:
    if not torch.allclose(received["mirrored"], -received["step"], rtol=1e-5, atol=1e-6):
        return "stepping the mirror image (-state, 1 - action) must give the mirror image"
    return None


def columns_probe(ns: Any, function: str, inputs: dict[str, Any]) -> torch.Tensor:
    """Columns x and theta of the next state."""
    return call(ns, function, inputs)[:, [0, 2]]


def mirrored_terminated_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": call(ns, function, inputs),
        "mirrored": call(ns, function, {"state": -inputs["state"]}),
    }


def _same_both_sides(received: Any, inputs: dict[str, Any]) -> str | None:
    if not torch.equal(received["state"], received["mirrored"]):
        return "a state and its mirror image (-state) must end the episode alike"
    return None


def torque_bounds_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The step with torques beyond the bounds, and with the bounds themselves."""
    state, n = inputs["state"], inputs["state"].shape[0]
    out = {}
    for label, torque in (("+5", 5.0), ("+2", 2.0), ("-7", -7.0), ("-2", -2.0)):
        action = torch.full((n, 1), torque, device=state.device)
        out[label] = call(ns, function, {"state": state, "action": action})
    return out


def _torque_clipped(received: Any, inputs: dict[str, Any]) -> str | None:
    for beyond, bound in (("+5", "+2"), ("-7", "-2")):
        for a, b in zip(received[beyond], received[bound], strict=True):
            if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
                return f"a torque of {beyond} must act as {bound} (the torque is clipped first)"
    return None


def full_turn_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The reward of a state and of the same state one turn further."""
    state = inputs["state"]
    turned = state + torch.tensor([2 * math.pi, 0.0], device=state.device)
    return {
        "reward": call(ns, function, inputs)[1],
        "turned": call(ns, function, {"state": turned, "action": inputs["action"]})[1],
    }


def _periodic(received: Any, inputs: dict[str, Any]) -> str | None:
    if not torch.allclose(received["reward"], received["turned"], rtol=1e-5, atol=1e-4):
        return "the reward must not change when theta turns by 2 pi (normalise the angle)"
    return None


def pendulum_consistency_probe(ns: Any, function: str, inputs: dict[str, Any]) -> torch.Tensor:
    """theta' - theta - dt * theta_dot' (0 when the angle moves with the new speed)."""
    next_state, _ = call(ns, function, inputs)
    return next_state[:, 0] - inputs["state"][:, 0] - 0.05 * next_state[:, 1]


def _speed_in_bounds(received: Any, inputs: dict[str, Any]) -> str | None:
    speed = received[0][:, 1]
    if not bool((speed.abs() <= 8.0).all()):
        return f"the speed must stay in [-8, 8], got {float(speed.abs().max()):.4g}"
    return None


def _stats_are_tensors(received: Any, inputs: dict[str, Any]) -> str | None:
    if not (isinstance(received, tuple | list) and len(received) == 3):
        return "expected (running_return, finished_sum, finished_count)"
    names = ("running_return", "finished_sum", "finished_count")
    for name, value in zip(names, received, strict=True):
        if not isinstance(value, torch.Tensor):
            return (
                f"{name} must stay a tensor (on the device), got {type(value).__name__}: "
                "converting it to a Python number waits for the device at every step"
            )
    if received[1].dim() != 0 or received[2].dim() != 0:
        return "finished_sum and finished_count must be 0-dim tensors"
    if received[2].is_floating_point() or received[2].dtype == torch.bool:
        return f"finished_count must be an integer tensor, got {received[2].dtype}"
    return None


def _ops_property() -> Property:
    return Property(
        "no Python loop over the environments",
        lambda: {"seed": 11, "small": 8, "large": 64},
        note="the same number of tensor operations for 8 and for 64 environments",
        probe=op_count_probe,
        predicate=_same_op_count,
    )


def _big_property(shapes: list[tuple[int, ...]], dtypes: list[str]) -> Property:
    return Property(
        "runs unchanged on a batch of 2^16",
        lambda: {"seed": 12, "n": BIG_BATCH},
        note="65,536 environments in one call, with the same results row by row",
        probe=big_batch_probe,
        predicate=_big_batch_ok(shapes, dtypes),
    )


def _device_property(inputs) -> Property:
    return device_property(
        inputs,
        note="torch.tensor([-10.0, 10.0]) or torch.zeros(N) without device= is a CPU tensor "
        "even when the states are on a GPU: use zeros_like, new_tensor or device=state.device",
        what="tensors",
    )


def _unmodified_property(inputs) -> Property:
    return Property(
        "leaves its inputs unmodified",
        inputs,
        note="the caller keeps using the states (the rollout stores them)",
        probe=unmodified_probe,
        expect=_all_intact,
    )


def _host_sync_property(inputs, note: str) -> Property:
    return Property(
        "no host sync, and a new tensor back",
        inputs,
        note=note,
        probe=host_sync_probe,
        predicate=no_host_sync,
    )


def _edges_in_float64() -> dict[str, Any]:
    """States a float32 rounding step from the limits: float32(2.4 + 1e-8) is float32(2.4),
    so a test in float32 says "inside" where gymnasium's, in float64, says "outside"."""
    tiny = 1e-8
    rows = [
        (2.4 + tiny, 0.0, 0.0, 0.0),
        (-2.4 - tiny, 0.0, 0.0, 0.0),
        (2.4 - tiny, 0.0, 0.0, 0.0),
        (0.0, 0.0, THETA_LIMIT + tiny, 0.0),
        (0.0, 0.0, -THETA_LIMIT - tiny, 0.0),
        (0.0, 0.0, THETA_LIMIT - tiny, 0.0),
        (2.4, 0.0, THETA_LIMIT, 0.0),
    ]
    return {"state": torch.tensor(rows, dtype=torch.float64)}


# ==== the checks


def _rest(*rows: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


CARTPOLE_STEP = Check(
    MODULE,
    "cartpole_step",
    points=4,
    summary="one explicit-Euler step of CartPole-v1 for N environments, as gymnasium",
    fixtures=[
        Fixture(
            "hand: upright and at rest, pushed right and left",
            {"state": _rest((0, 0, 0, 0), (0, 0, 0, 0)), "action": torch.tensor([1, 0])},
            note="theta = 0: sin 0 = 0, cos 0 = 1. temp = F / 1.1 = +-100/11; the denominator "
            "is 0.5 (4/3 - 0.1/1.1) = 41/66, so theta_acc = -temp * 66/41 = -+600/41 and "
            "x_acc = temp - 0.05 theta_acc / 1.1 = +-400/41. Explicit Euler moves x and theta "
            "with the old (zero) speeds: x_dot = 0.02 * 400/41 = 8/41 = 0.1951, theta_dot = "
            "-12/41 = -0.2927 (pushing the cart right tips the pole left)",
            expected=torch.tensor([[0.0, 8 / 41, 0.0, -12 / 41], [0.0, -8 / 41, 0.0, 12 / 41]]),
        ),
        Fixture(
            "hand: moving at constant speed, pole upright",
            {"state": _rest((1.0, 2.0, 0.0, 0.0)), "action": torch.tensor([1])},
            note="the position moves with the speed from before the step: x = 1 + 0.02 * 2 = "
            "1.04, then the push adds 8/41 to x_dot as above",
            expected=torch.tensor([[1.04, 2.0 + 8 / 41, 0.0, -12 / 41]]),
        ),
        Fixture(
            "random states, gymnasium agrees",
            lambda: _seeded(cartpole_inputs, 1, 6),
            note="states an episode visits; the tests step gymnasium's CartPoleEnv from "
            "them and find the same next states",
        ),
        Fixture(
            "fast spins and large angles",
            lambda: _seeded(cartpole_inputs, 2, 5, 3.0),
            note="theta_dot^2 sin theta matters when the pole spins fast",
        ),
    ],
    hidden=[
        Hidden(_draw(cartpole_inputs, "random states", (3, 8)), note="states drawn at grading"),
        Hidden(_draw(cartpole_inputs, "fast states", (4,), 3.0), note="fast spins"),
    ],
    properties=[
        Property(
            "action 1 pushes right, action 0 left",
            lambda: {"state": cartpole_states(draw.generator(3), 8)},
            note="from any state, x_dot after a push right exceeds x_dot after a push left",
            probe=both_pushes_probe,
            predicate=_right_is_faster,
        ),
        Property(
            "explicit Euler: x and theta move with the speeds from before the step",
            lambda: _seeded(cartpole_inputs, 4, 8),
            note="x' = x + 0.02 x_dot and theta' = theta + 0.02 theta_dot, whatever the push",
            probe=columns_probe,
            expect=stored("euler_positions"),
        ),
        Property(
            "mirror symmetry",
            lambda: _seeded(cartpole_inputs, 5, 8),
            note="the mirror image (-state, 1 - action) steps to the mirror image",
            probe=mirror_probe,
            predicate=_mirror_symmetric,
        ),
        _device_property(lambda: _seeded(cartpole_inputs, 24, 5)),
        _ops_property(),
        _big_property([(BIG_BATCH, 4)], ["float32"]),
        _unmodified_property(lambda: _seeded(cartpole_inputs, 6, 5)),
        float64_property(
            lambda: _seeded(cartpole_inputs, 26, 6, 3.0),
            note="gymnasium steps in float64: the next states are float64, to float64 "
            "precision (a float32 step inside is off by about 1e-7)",
        ),
        batch_of_one_property(
            lambda: _seeded(cartpole_inputs, 27, 1),
            note="N = 1, one environment: the next state is (1, 4)",
        ),
        _host_sync_property(
            lambda: _seeded(cartpole_inputs, 28, 5),
            note="no .item(), bool() or boolean indexing: on a GPU each waits for the device",
        ),
    ],
    mistakes=[
        Mistake(
            "semi-implicit-euler",
            "the position moves with the new speed (semi-implicit Euler)",
            "CartPole-v1 integrates with explicit Euler (gymnasium's default "
            "kinematics_integrator = 'euler'): x and theta move with x_dot and theta_dot "
            "from before the step. Updating the speeds first is gymnasium's other option, "
            "not CartPole-v1.",
        ),
        Mistake(
            "force-sign",
            "action 1 pushes left",
            "In gymnasium's CartPole action 1 pushes the cart to the right: F = +10 for "
            "a = 1 and -10 for a = 0.",
        ),
        Mistake(
            "full-pole-length",
            "the pole's full length (1.0) instead of half of it",
            "gymnasium's `length = 0.5` is half the pole's length, the distance from the "
            "pivot to the pole's centre of mass, and the equations use it as it is.",
        ),
        Mistake(
            "no-push-for-action-0",
            "action 0 is read as no push, not a push to the left",
            "CartPole has no idle action: action 1 pushes right with +10, action 0 left with -10.",
        ),
    ],
)

CARTPOLE_TERMINATED = Check(
    MODULE,
    "cartpole_terminated",
    points=2,
    summary="the cart off the track or the pole past 12 degrees, strictly, on both sides",
    fixtures=[
        Fixture(
            "hand: the edges of the limits",
            {
                "state": _rest(
                    (0.0, 0.0, 0.0, 0.0),
                    (2.4, 0.0, 0.0, 0.0),
                    (2.41, 0.0, 0.0, 0.0),
                    (-2.41, 0.0, 0.0, 0.0),
                    (0.0, 5.0, 0.2094, -5.0),
                    (0.0, 0.0, 0.2095, 0.0),
                    (0.0, 0.0, -0.2095, 0.0),
                    (0.0, 0.0, 1.0, 0.0),
                )
            },
            note="12 degrees is 12 * 2 pi / 360 = 0.20944 rad. x = 2.4 (in float32, the limit "
            "itself) is still on the track: the test is strict; 2.41 and -2.41 are off. "
            "theta = 0.2094 is inside whatever the speeds, 0.2095 and -0.2095 are past the "
            "limit, and so is "
            "1 rad (57 degrees, inside 12 only if read as degrees)",
            expected=torch.tensor([False, False, True, True, False, True, True, True]),
        ),
        Fixture(
            "states near the limits",
            lambda: _seeded(near_thresholds, 7, 10),
            note="carts near |x| = 2.4 and poles near |theta| = 12 degrees, on both sides",
        ),
    ],
    hidden=[Hidden(_draw_near_thresholds, note="states near the limits drawn at grading")],
    properties=[
        Property(
            "a state exactly on a limit is still inside",
            lambda: {
                "state": _rest(
                    (2.4, 0.0, 0.0, 0.0),
                    (-2.4, 1.0, 0.1, -1.0),
                    (0.0, 0.0, THETA_LIMIT, 0.0),
                    (1.0, -2.0, -THETA_LIMIT, 3.0),
                )
            },
            note="x = +-2.4 and theta = +-12 degrees (in float32, the limits themselves): "
            "gymnasium's tests are strict, so none of these episodes ends",
            expect=lambda inputs: torch.zeros(4, dtype=torch.bool),
        ),
        Property(
            "both sides end the episode alike",
            lambda: near_thresholds(draw.generator(8), 16),
            note="a state and its mirror image (-state) are both inside or both outside",
            probe=mirrored_terminated_probe,
            predicate=_same_both_sides,
        ),
        _ops_property(),
        _big_property([(BIG_BATCH,)], ["bool"]),
        _unmodified_property(lambda: near_thresholds(draw.generator(9), 6)),
        Property(
            "float64 states a rounding step from the limits",
            _edges_in_float64,
            note="x = 2.4 + 1e-8 is off the track in float64, as in gymnasium; in float32 it "
            "rounds to 2.4 and would stay on. Compare in the states' own dtype",
            expect=stored("terminated_in_float64"),
        ),
        float64_property(lambda: near_thresholds(draw.generator(29), 10)),
        batch_of_one_property(
            lambda: {"state": _rest((2.5, 0.0, 0.0, 0.0))},
            note="N = 1, one environment off the track: the result is (1,)",
        ),
        _host_sync_property(
            lambda: near_thresholds(draw.generator(30), 6),
            note="no .item(), bool() or boolean indexing: on a GPU each waits for the device",
        ),
    ],
    mistakes=[
        Mistake(
            "degrees-for-radians",
            "the angle limit as 12 (degrees) while theta is in radians",
            "theta is in radians: the limit is 12 * 2 * pi / 360 = 0.2094. Compared with "
            "12, the pole would have to turn almost twice around before the episode ends.",
        ),
        Mistake(
            "not-strict",
            ">= instead of >",
            "gymnasium ends the episode when x < -2.4 or x > 2.4 (and the same for theta): "
            "a state exactly on a limit is still inside.",
            kind="edge",
        ),
        Mistake(
            "one-sided",
            "only x > 2.4 and theta > limit, without the absolute value",
            "The cart can leave the track on the left and the pole fall either way: test "
            "|x| and |theta|.",
        ),
        Mistake(
            "position-only",
            "only the cart's position is tested, not the pole's angle",
            "An episode also ends when the pole leans more than 12 degrees: |x| > 2.4 or |theta| >"
            " 12 * 2 * pi / 360.",
        ),
    ],
)

PENDULUM_STEP = Check(
    MODULE,
    "pendulum_step",
    points=4,
    summary="one step of Pendulum-v1 and the reward of the state before it, as gymnasium",
    fixtures=[
        Fixture(
            "hand: upright at rest, a torque of 3 and of -1",
            {"state": _rest((0.0, 0.0), (0.0, 0.0)), "action": torch.tensor([[3.0], [-1.0]])},
            note="sin 0 = 0, so only the torque accelerates: u = clip(3) = 2 gives theta_dot' "
            "= 3 * 2 * 0.05 = 0.3 and theta' = 0 + 0.3 * 0.05 = 0.015 (the new speed moves the "
            "angle); u = -1 gives -0.15 and -0.0075. The rewards are the cost of the upright "
            "state and the clipped torque: -0.001 * 4 = -0.004 and -0.001",
            expected=(
                torch.tensor([[0.015, 0.3], [-0.0075, -0.15]]),
                torch.tensor([-0.004, -0.001]),
            ),
        ),
        Fixture(
            "hand: the speed limit",
            {"state": _rest((0.0, 7.9)), "action": torch.tensor([[2.0]])},
            note="7.9 + 0.3 = 8.2 is clipped to 8, and theta' = 8 * 0.05 = 0.4. The reward "
            "is that of the state before: -(0 + 0.1 * 7.9^2 + 0.001 * 4) = -6.245",
            expected=(torch.tensor([[0.4, 8.0]]), torch.tensor([-6.245])),
        ),
        Fixture(
            "random states and torques, gymnasium agrees",
            lambda: _seeded(pendulum_inputs, 10, 6),
            note="the tests step gymnasium's PendulumEnv from these states and torques",
        ),
        Fixture(
            "angles of several turns",
            lambda: _seeded(pendulum_inputs, 11, 6, 3.0),
            note="theta is not wrapped in the state, only inside the reward",
        ),
    ],
    hidden=[Hidden(_draw_pendulum, note="states and torques drawn at grading")],
    properties=[
        Property(
            "a torque beyond the bounds acts as the bound",
            lambda: _seeded(pendulum_inputs, 12, 6),
            note="5 acts as 2 and -7 as -2, in the dynamics and in the reward",
            probe=torque_bounds_probe,
            predicate=_torque_clipped,
        ),
        Property(
            "the reward does not change with a full turn",
            lambda: _seeded(pendulum_inputs, 13, 8),
            note="theta and theta + 2 pi are the same angle (float32 rounding of theta + 2 pi "
            "allowed: atol 1e-4)",
            probe=full_turn_probe,
            predicate=_periodic,
        ),
        Property(
            "the angle moves with the new speed",
            lambda: _seeded(pendulum_inputs, 14, 8),
            note="theta' = theta + 0.05 theta_dot', theta_dot' being the clipped new speed",
            probe=pendulum_consistency_probe,
            expect=lambda inputs: torch.zeros(inputs["state"].shape[0]),
            atol=1e-5,
        ),
        Property(
            "the speed stays in [-8, 8]",
            lambda: {
                "state": torch.tensor([[1.5, 7.9], [-1.5, -7.9], [3.0, 8.0]]),
                "action": torch.tensor([[2.0], [-2.0], [0.0]]),
            },
            note="gravity and the torque push these past the limit",
            predicate=_speed_in_bounds,
        ),
        _ops_property(),
        _big_property([(BIG_BATCH, 2), (BIG_BATCH,)], ["float32", "float32"]),
        _unmodified_property(lambda: _seeded(pendulum_inputs, 15, 5)),
        float64_property(
            lambda: _seeded(pendulum_inputs, 31, 6, 3.0),
            note="gymnasium steps in float64: the next states and rewards are float64, to "
            "float64 precision (a float32 step inside is off by about 1e-7)",
        ),
        batch_of_one_property(
            lambda: _seeded(pendulum_inputs, 32, 1),
            note="N = 1, one environment: the next state is (1, 2) and the reward (1,)",
        ),
        _host_sync_property(
            lambda: _seeded(pendulum_inputs, 33, 5),
            note="no .item(), bool() or boolean indexing: on a GPU each waits for the device",
        ),
    ],
    mistakes=[
        Mistake(
            "reward-of-next-state",
            "the reward is the cost of the state reached",
            "gymnasium's Pendulum computes the cost from theta and theta_dot *before* the "
            "step (and the clipped torque), then integrates.",
        ),
        Mistake(
            "angle-with-old-speed",
            "the angle moves with the speed from before the step",
            "Pendulum-v1 updates the speed first (and clips it), then moves the angle with "
            "the new speed: theta' = theta + theta_dot' dt.",
        ),
        Mistake(
            "torque-not-clipped",
            "the torque is used as given",
            "The action space is [-2, 2], but a sampled Gaussian action can be anything: "
            "gymnasium clips the torque to [-2, 2] before it enters the dynamics and the "
            "cost.",
        ),
        Mistake(
            "speed-not-clipped",
            "the new speed is not clipped to [-8, 8]",
            "gymnasium clips theta_dot to [-max_speed, max_speed] before it moves the angle; a "
            "fast spin goes faster than the real Pendulum-v1.",
            kind="edge",
        ),
    ],
)

AUTORESET = Check(
    MODULE,
    "autoreset",
    points=2,
    summary="the done rows replaced by fresh states with torch.where, the others kept",
    fixtures=[
        Fixture(
            "hand: one episode of three ends",
            {
                "state": _rest((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12)),
                "done": torch.tensor([False, True, False]),
                "fresh": _rest((0.1, 0.1, 0.1, 0.1), (0.2, 0.2, 0.2, 0.2), (0.3, 0.3, 0.3, 0.3)),
            },
            note="only row 1 is done: it becomes fresh row 1, rows 0 and 2 stay",
            expected=_rest((1, 2, 3, 4), (0.2, 0.2, 0.2, 0.2), (9, 10, 11, 12)),
        ),
        Fixture(
            "hand: four envs, four state columns",
            {
                "state": _rest((1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 3, 3), (4, 4, 4, 4)),
                "done": torch.tensor([True, False, False, True]),
                "fresh": torch.zeros(4, 4),
            },
            note="N = 4 = the state's width: a mask left as (N,) broadcasts along the "
            "columns instead of the rows. Rows 0 and 3 are reset to zeros",
            expected=_rest((0, 0, 0, 0), (2, 2, 2, 2), (3, 3, 3, 3), (0, 0, 0, 0)),
        ),
        Fixture(
            "random Pendulum states",
            lambda: _seeded(autoreset_inputs, 16, 5, 2),
            note="(N, 2) states",
        ),
    ],
    hidden=[Hidden(_draw_autoreset, note="states and ends drawn at grading")],
    properties=[
        Property(
            "the same as replacing row by row",
            lambda: _seeded(autoreset_inputs, 17, 7, 4),
            note="compared with a loop over the rows, written for this check",
            expect=stored("rows_loop"),
        ),
        Property(
            "any trailing shape",
            lambda: _seeded(autoreset_inputs, 18, 5, 2, 3),
            note="states of shape (N, 2, 3): the mask spans every trailing dimension",
            expect=stored("rows_loop"),
        ),
        _ops_property(),
        _big_property([(BIG_BATCH, 4)], ["float32"]),
        _unmodified_property(lambda: _seeded(autoreset_inputs, 19, 5, 4)),
        float64_property(lambda: _seeded(_some_done, 34, 5, 4)),
        batch_of_one_property(
            lambda: {
                "state": _rest((1.0, 2.0, 3.0, 4.0)),
                "done": torch.tensor([True]),
                "fresh": _rest((0.01, 0.02, 0.03, 0.04)),
            },
            note="N = 1, its episode ended: the result is the fresh (1, 4) state",
        ),
        _host_sync_property(
            lambda: {
                **_seeded(autoreset_inputs, 35, 5, 4),
                "done": torch.zeros(5, dtype=torch.bool),
            },
            note="no episode ends at this step: still no test of done.any() (bool() waits for "
            "the device), no boolean indexing, and a new tensor back, not the state itself",
        ),
    ],
    mistakes=[
        Mistake(
            "done-rows-kept",
            "the mask is inverted: done rows kept, running ones reset",
            "torch.where(condition, a, b) takes a where the condition holds: "
            "torch.where(done, fresh, state) resets the done rows.",
        ),
        Mistake(
            "mask-on-last-axis",
            "the (N,) mask broadcast against (N, 4) without reshaping",
            "Broadcasting aligns the last dimensions: a (N,) mask against a (N, 4) state "
            "selects columns, not rows (and only runs when N = 4, silently wrong). Give it "
            "the trailing dimensions: done.view(N, 1).",
        ),
        Mistake(
            "reset-all",
            "every env is reset when any episode ends",
            "Each environment has its own episode: only the rows with done set start again. "
            "Resetting all of them cuts the other episodes short.",
        ),
        Mistake(
            "swapped",
            "the rows that are done keep their state and the others are reset",
            "torch.where(done, fresh, state): where an episode ended the fresh state comes in, "
            "elsewhere the state goes on.",
        ),
    ],
)

EPISODE_STATS = Check(
    MODULE,
    "episode_stats",
    points=3,
    summary="episode returns kept on the device: reward added, finished ones summed, reset",
    fixtures=[
        Fixture(
            "hand: two of three episodes end",
            {
                "running_return": torch.tensor([1.0, 2.0, 3.0]),
                "reward": torch.tensor([1.0, 1.0, 1.0]),
                "done": torch.tensor([False, True, True]),
            },
            note="the reward first: 2, 3, 4. Envs 1 and 2 finish with returns 3 and 4: sum 7, "
            "count 2, and their running returns restart at 0",
            expected=(torch.tensor([2.0, 0.0, 0.0]), torch.tensor(7.0), torch.tensor(2)),
        ),
        Fixture(
            "hand: no episode ends",
            {
                "running_return": torch.tensor([0.0, 10.0]),
                "reward": torch.tensor([-0.5, 1.5]),
                "done": torch.tensor([False, False]),
            },
            note="the returns grow to -0.5 and 11.5; nothing finished: sum 0, count 0",
            expected=(torch.tensor([-0.5, 11.5]), torch.tensor(0.0), torch.tensor(0)),
        ),
        Fixture(
            "random returns and ends",
            lambda: _seeded(stats_inputs, 20, 8),
            note="about 40% of the episodes end",
        ),
    ],
    hidden=[Hidden(_draw(stats_inputs, "random returns", (4, 10)), note="drawn at grading")],
    properties=[
        Property(
            "the same as a loop over the environments",
            lambda: _seeded(stats_inputs, 21, 9),
            note="compared with a loop written for this check",
            expect=stored("stats_loop"),
        ),
        Property(
            "the results stay tensors",
            lambda: _seeded(stats_inputs, 22, 6),
            note="no .item() or float(): the sum and the count are 0-dim tensors, the count "
            "an integer one",
            predicate=_stats_are_tensors,
        ),
        _device_property(lambda: _seeded(stats_inputs, 25, 5)),
        _ops_property(),
        _big_property([(BIG_BATCH,), (), ()], ["float32", "float32", "int64"]),
        _unmodified_property(lambda: _seeded(stats_inputs, 23, 5)),
        float64_property(lambda: _seeded(stats_inputs, 36, 7)),
        batch_of_one_property(
            lambda: {
                "running_return": torch.tensor([3.0]),
                "reward": torch.tensor([1.0]),
                "done": torch.tensor([True]),
            },
            note="N = 1, its episode ends: running return (1,) reset to 0, sum 4, count 1",
        ),
        _host_sync_property(
            lambda: _seeded(stats_inputs, 37, 6),
            note="no total[done].sum(), .item() or bool(): on a GPU each waits for the device",
        ),
    ],
    mistakes=[
        Mistake(
            "reward-after-reset",
            "the episode is closed before the step's reward is added",
            "The reward of the step that ends an episode belongs to that episode: add it "
            "first, then sum the finished returns and reset them. Otherwise every finished "
            "return misses its last reward and the next episode starts with it.",
        ),
        Mistake(
            "not-reset",
            "the running returns of finished episodes are not reset",
            "After an episode ends its env starts a new one, whose return starts at 0: "
            "torch.where(done, 0, running_return).",
        ),
        Mistake(
            "mean-not-sum",
            "the mean of the finished returns instead of their sum",
            "The trainer adds finished_sum and finished_count over a whole rollout and "
            "divides once; a mean per step cannot be added up.",
        ),
        Mistake(
            "last-reward-only",
            "the finished episodes' last rewards are summed, not their returns",
            "finished_sum adds the whole return of each episode that ended (running return plus "
            "this step's reward), not only the reward of its last step.",
        ),
    ],
)

CHECKS = bind_stored([CARTPOLE_STEP, CARTPOLE_TERMINATED, PENDULUM_STEP, AUTORESET, EPISODE_STATS])
