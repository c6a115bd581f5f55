"""Kinds of mistake, each caught by a public case or property whatever the hidden seed:
float64 inputs, a batch of one, values on the boundaries a docstring states and far
outside the usual range, gradients into every input that carries one, the numerics a
docstring promises, types and random state, and m10's promise of no host sync. For each
kind a representative wrong version loses points under the hidden seeds 1, 2 and 3, and
a public case names why."""

from __future__ import annotations

import pytest
import torch

from autograder import engine
from tests.helpers import check_of, run_in_process

SEEDS = (1, 2, 3)


def _caught(module_id: str, function: str, wrong, needle: str, **others) -> None:
    """``wrong`` in place of ``function`` (and ``others`` in place of other names) fails a
    public case whose name holds ``needle``, and scores below full marks as ``ppo-course
    grade`` scores it, under every seed of :data:`SEEDS`."""
    check = check_of(module_id, function)
    reference = engine.reference(check.module)
    namespace = engine.override(reference, **{function: wrong}, **others)
    for seed in SEEDS:
        result = run_in_process(check, namespace, seed=seed)
        failing = [c.case.name for c in result.cases if c.case.kind != "hidden" and not c.passed]
        assert any(needle in name for name in failing), (seed, failing)
        result.for_grade = True
        assert result.score < check.points, (seed, result.score)


def _ref(module_id: str, function: str):
    return getattr(engine.reference(check_of(module_id, function).module), function)


# ----------------------------------------------------------------------------- m10


def _terminated_in_float32(state):
    state = state.float()
    return (state[:, 0].abs() > 2.4) | (state[:, 2].abs() > 12 * 2 * torch.pi / 360)


def _cartpole_step_in_float32(state, action):
    return _ref("m10", "cartpole_step")(state.float(), action).to(state.dtype)


def _pendulum_step_in_float32(state, action):
    next_state, reward = _ref("m10", "pendulum_step")(state.float(), action.float())
    return next_state.to(state.dtype), reward.to(state.dtype)


def _squeezed_terminated(state):
    return _ref("m10", "cartpole_terminated")(state).squeeze()


def _early_return_autoreset(state, done, fresh):
    if not done.any():
        return state
    return _ref("m10", "autoreset")(state, done, fresh)


def _masked_autoreset(state, done, fresh):
    out = state.clone()
    out[done] = fresh[done]
    return out


def _masked_episode_stats(running_return, reward, done):
    total = running_return + reward
    finished_sum = total[done].sum()
    return torch.where(done, torch.zeros_like(total), total), finished_sum, done.sum()


@pytest.mark.parametrize(
    ("function", "wrong", "needle"),
    [
        ("cartpole_terminated", _terminated_in_float32, "float64"),
        ("cartpole_step", _cartpole_step_in_float32, "float64"),
        ("pendulum_step", _pendulum_step_in_float32, "float64"),
        ("cartpole_terminated", _squeezed_terminated, "batch of one"),
        ("autoreset", _early_return_autoreset, "no host sync"),
        ("autoreset", _masked_autoreset, "no host sync"),
        ("episode_stats", _masked_episode_stats, "no host sync"),
    ],
    ids=lambda v: getattr(v, "__name__", v) if callable(v) else None,
)
def test_m10(function, wrong, needle):
    _caught("m10", function, wrong, needle)
