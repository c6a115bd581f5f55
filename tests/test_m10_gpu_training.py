"""m10: the reference agrees with gymnasium's own CartPoleEnv and PendulumEnv, stepped from
the same states and actions, on the fixture cases and on fresh states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from autograder import draw, fixtures
from autograder.checks import m10_gpu_training as checks
from course.modules import BY_ID
from solutions import m10_gpu_training as ref

MODULE = BY_ID["m10"]


def gym_cartpole(state: torch.Tensor, action: torch.Tensor):
    """gymnasium's CartPoleEnv stepped from each row: next states (float64), terminated."""
    env = CartPoleEnv()
    env.reset(seed=0)
    rows, ends = [], []
    for s, a in zip(state.double().numpy(), action.numpy(), strict=True):
        env.state = s.copy()
        env.steps_beyond_terminated = None
        env.step(int(a))
        rows.append(env.state.copy())
        x, _, theta, _ = env.state
        ends.append(bool(abs(x) > env.x_threshold or abs(theta) > env.theta_threshold_radians))
    return torch.tensor(np.array(rows)), torch.tensor(ends)


def gym_pendulum(state: torch.Tensor, action: torch.Tensor):
    """gymnasium's PendulumEnv stepped from each row: next states (float64) and rewards."""
    env = PendulumEnv()
    env.reset(seed=0)
    rows, rewards = [], []
    for s, a in zip(state.double().numpy(), action.double().numpy(), strict=True):
        env.state = s.copy()
        _, reward, _, _, _ = env.step(a)
        rows.append(np.asarray(env.state, dtype=np.float64).copy())
        rewards.append(float(reward))
    return torch.tensor(np.array(rows)), torch.tensor(rewards, dtype=torch.float64)


def _cases(function: str):
    return [c for c in fixtures.load(MODULE) if c["function"] == function]


@pytest.mark.parametrize("case", _cases("cartpole_step"), ids=lambda c: c["name"])
def test_cartpole_fixtures_are_gymnasiums(case):
    expected, _ = gym_cartpole(case["inputs"]["state"], case["inputs"]["action"])
    torch.testing.assert_close(case["expected"].double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", _cases("pendulum_step"), ids=lambda c: c["name"])
def test_pendulum_fixtures_are_gymnasiums(case):
    next_state, reward = gym_pendulum(case["inputs"]["state"], case["inputs"]["action"])
    torch.testing.assert_close(case["expected"][0].double(), next_state, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(case["expected"][1].double(), reward, rtol=1e-5, atol=1e-6)


def test_terminated_fixtures_agree_with_gymnasium():
    """gymnasium's rule, evaluated in the arithmetic of the states (float32 here: the row
    x = 2.4 holds float32's 2.4, which is the limit itself in float32, and slightly above
    the float64 2.4 that gymnasium's float64 states compare with)."""
    env = CartPoleEnv()
    x_limit, theta_limit = np.float32(env.x_threshold), np.float32(env.theta_threshold_radians)
    for case in _cases("cartpole_terminated"):
        state = case["inputs"]["state"].numpy()
        x, theta = state[:, 0], state[:, 2]
        ends = (x < -x_limit) | (x > x_limit) | (theta < -theta_limit) | (theta > theta_limit)
        assert case["expected"].tolist() == ends.tolist(), case["name"]


def test_terminated_agrees_with_gymnasium_in_float64():
    state = checks.near_thresholds(draw.generator(300), 200)["state"].double()
    env = CartPoleEnv()
    ends = [
        bool(x < -env.x_threshold or x > env.x_threshold)
        or bool(t < -env.theta_threshold_radians or t > env.theta_threshold_radians)
        for x, t in zip(state[:, 0].tolist(), state[:, 2].tolist(), strict=True)
    ]
    assert ref.cartpole_terminated(state).tolist() == ends


@pytest.mark.parametrize("seed", range(3))
def test_cartpole_step_agrees_with_gymnasium_on_fresh_states(seed):
    inputs = checks.cartpole_inputs(draw.generator(100 + seed), 64, 2.0)
    expected, ends = gym_cartpole(inputs["state"], inputs["action"])
    got = ref.cartpole_step(inputs["state"], inputs["action"])
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    # in float64 the reference is gymnasium's arithmetic, to the last bits
    got64 = ref.cartpole_step(inputs["state"].double(), inputs["action"])
    torch.testing.assert_close(got64, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(ref.cartpole_terminated(got64), ends)


@pytest.mark.parametrize("seed", range(3))
def test_pendulum_step_agrees_with_gymnasium_on_fresh_states(seed):
    inputs = checks.pendulum_inputs(draw.generator(200 + seed), 64, 3.0)
    expected, rewards = gym_pendulum(inputs["state"], inputs["action"])
    got, got_rewards = ref.pendulum_step(inputs["state"].double(), inputs["action"].double())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_rewards, rewards, rtol=1e-12, atol=1e-12)


def test_near_threshold_states_straddle_the_limits():
    """The terminated check's random states really test both sides of both limits."""
    state = checks.near_thresholds(draw.generator(7), 40)["state"]
    ends = ref.cartpole_terminated(state)
    assert ends.any() and not ends.all()
    assert (state[:, 0] < -2.4).any() and (state[:, 0] > 2.4).any()
    assert (state[:, 2] < -checks.THETA_LIMIT).any() and (state[:, 2] > checks.THETA_LIMIT).any()


def _property(check, name: str):
    return next(p for p in check.properties if p.name == name)


def test_states_on_the_limits_do_not_end_in_gymnasium():
    """The property's states sit on the limits (in float32): gymnasium's strict rule, in
    that arithmetic, ends none of them, as the property expects."""
    prop = _property(checks.CARTPOLE_TERMINATED, "a state exactly on a limit is still inside")
    inputs = prop.inputs()
    state = inputs["state"].numpy()
    env = CartPoleEnv()
    x_limit, theta_limit = np.float32(env.x_threshold), np.float32(env.theta_threshold_radians)
    x, theta = state[:, 0], state[:, 2]
    assert (np.abs(x) == x_limit).sum() + (np.abs(theta) == theta_limit).sum() == len(state)
    ends = (x < -x_limit) | (x > x_limit) | (theta < -theta_limit) | (theta > theta_limit)
    assert ends.tolist() == prop.expect(inputs).tolist()
    assert ref.cartpole_terminated(inputs["state"]).tolist() == ends.tolist()


@pytest.mark.parametrize("seed", range(4))
def test_every_hidden_terminated_case_ends_an_episode_on_the_left(seed):
    """A test of x > 2.4 or theta > limit alone (no absolute value) fails every hidden case;
    gymnasium's rule agrees with the reference on them."""
    env = CartPoleEnv()
    for _, inputs in checks.CARTPOLE_TERMINATED.hidden[0].draw(draw.generator(seed)):
        state = inputs["state"]
        assert (state[:, 0] < -2.4).any() and (state[:, 2] < -checks.THETA_LIMIT).any()
        ends = [
            bool(abs(x) > env.x_threshold or abs(t) > env.theta_threshold_radians)
            for x, t in zip(
                state[:, 0].double().tolist(), state[:, 2].double().tolist(), strict=True
            )
        ]
        assert ref.cartpole_terminated(state.double()).tolist() == ends


@pytest.mark.parametrize("seed", range(4))
def test_every_hidden_autoreset_case_resets_some_rows_and_keeps_others(seed):
    for _, inputs in checks.AUTORESET.hidden[0].draw(draw.generator(seed)):
        assert inputs["done"].any() and not inputs["done"].all()


def test_a_python_loop_over_envs_is_detected():
    """The op-count property fails an implementation that loops over the rows."""

    def looped(state, action):
        return torch.stack(
            [ref.cartpole_step(s[None], a[None])[0] for s, a in zip(state, action, strict=True)]
        )

    ns = type("NS", (), {"cartpole_step": staticmethod(looped)})
    inputs = {"seed": 1, "small": 8, "large": 64}
    counts = checks.op_count_probe(ns, "cartpole_step", inputs)
    assert checks._same_op_count(counts, inputs) is not None
    counts = checks.op_count_probe(ref, "cartpole_step", inputs)
    assert checks._same_op_count(counts, inputs) is None
