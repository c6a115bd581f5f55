"""The catalogued mistakes of m10: wrong versions of its graded functions.

Most are derived from the reference (a wrapper that changes one thing, or the reference
run with one of its constants changed), so that this file does not restate the dynamics.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def with_constants(ref: Any, function: str, **constants: Any):
    """The reference's ``function`` run with some of its module's constants changed."""
    fn = getattr(ref, function)

    def wrong(*args):
        scope = fn.__globals__
        saved = {name: scope[name] for name in constants}
        scope.update(constants)
        try:
            return fn(*args)
        finally:
            scope.update(saved)

    return wrong


# ==== cartpole_step


def derive_semi_implicit(ref: Any):
    def cartpole_step(state, action):
        out = ref.cartpole_step(state, action)
        x = state[:, 0] + ref.TAU * out[:, 1]
        theta = state[:, 2] + ref.TAU * out[:, 3]
        return torch.stack([x, out[:, 1], theta, out[:, 3]], dim=-1)

    return cartpole_step


def derive_force_sign(ref: Any):
    return lambda state, action: ref.cartpole_step(state, 1 - action)


def derive_full_pole_length(ref: Any):
    return with_constants(ref, "cartpole_step", HALF_LENGTH=1.0)


# ==== cartpole_terminated


def derive_degrees_for_radians(ref: Any):
    return with_constants(ref, "cartpole_terminated", THETA_THRESHOLD=12.0)


def derive_not_strict(ref: Any):
    def cartpole_terminated(state):
        on_edge = (state[:, 0].abs() == ref.X_THRESHOLD) | (
            state[:, 2].abs() == ref.THETA_THRESHOLD
        )
        return ref.cartpole_terminated(state) | on_edge

    return cartpole_terminated


def derive_one_sided(ref: Any):
    def cartpole_terminated(state):
        return ref.cartpole_terminated(state.clamp(min=0.0))

    return cartpole_terminated


# ==== pendulum_step


def derive_next_state_reward(ref: Any):
    def pendulum_step(state, action):
        next_state, _ = ref.pendulum_step(state, action)
        return next_state, ref.pendulum_step(next_state, action)[1]

    return pendulum_step


def derive_old_speed(ref: Any):
    def pendulum_step(state, action):
        next_state, reward = ref.pendulum_step(state, action)
        theta = state[:, 0] + ref.DT * state[:, 1]
        return torch.stack([theta, next_state[:, 1]], dim=-1), reward

    return pendulum_step


def derive_torque_not_clipped(ref: Any):
    return with_constants(ref, "pendulum_step", MAX_TORQUE=math.inf)


# ==== autoreset


def derive_done_rows_kept(ref: Any):
    return lambda state, done, fresh: ref.autoreset(state, ~done, fresh)


def mask_on_last_axis(state, done, fresh):
    return torch.where(done, fresh, state)


def derive_reset_all(ref: Any):
    return lambda state, done, fresh: ref.autoreset(state, done.any().expand_as(done), fresh)


# ==== episode_stats


def derive_reward_after_reset(ref: Any):
    def episode_stats(running_return, reward, done):
        running, finished_sum, count = ref.episode_stats(
            running_return, torch.zeros_like(reward), done
        )
        return running + reward, finished_sum, count

    return episode_stats


def derive_not_reset(ref: Any):
    def episode_stats(running_return, reward, done):
        _, finished_sum, count = ref.episode_stats(running_return, reward, done)
        return running_return + reward, finished_sum, count

    return episode_stats


def derive_mean_not_sum(ref: Any):
    def episode_stats(running_return, reward, done):
        running, finished_sum, count = ref.episode_stats(running_return, reward, done)
        return running, finished_sum / count.clamp(min=1), count

    return episode_stats


def derive_force_zero_for_left(ref: Any):
    def cartpole_step(state, action):
        # action 0 read as "no push": the force is 0 or +10 instead of -10 or +10
        pushed = ref.cartpole_step(state, torch.ones_like(action))
        pulled = ref.cartpole_step(state, torch.zeros_like(action))
        unforced = (pushed + pulled) / 2
        return torch.where((action == 1).unsqueeze(-1), pushed, unforced)

    return cartpole_step


def derive_position_only(ref: Any):
    def cartpole_terminated(state):
        return state[:, 0].abs() > ref.X_THRESHOLD

    return cartpole_terminated


def derive_speed_not_clipped(ref: Any):
    return with_constants(ref, "pendulum_step", MAX_SPEED=math.inf)


def derive_autoreset_swapped(ref: Any):
    def autoreset(state, done, fresh):
        return ref.autoreset(fresh, done, state)

    return autoreset


def derive_last_reward_only(ref: Any):
    def episode_stats(running_return, reward, done):
        running, _, count = ref.episode_stats(running_return, reward, done)
        return running, torch.where(done, reward, torch.zeros_like(reward)).sum(), count

    return episode_stats


WRONG = {
    ("autoreset", "mask-on-last-axis"): mask_on_last_axis,
}

DERIVED = {
    ("cartpole_step", "semi-implicit-euler"): derive_semi_implicit,
    ("cartpole_step", "force-sign"): derive_force_sign,
    ("cartpole_step", "full-pole-length"): derive_full_pole_length,
    ("cartpole_terminated", "degrees-for-radians"): derive_degrees_for_radians,
    ("cartpole_terminated", "not-strict"): derive_not_strict,
    ("cartpole_terminated", "one-sided"): derive_one_sided,
    ("pendulum_step", "reward-of-next-state"): derive_next_state_reward,
    ("pendulum_step", "angle-with-old-speed"): derive_old_speed,
    ("pendulum_step", "torque-not-clipped"): derive_torque_not_clipped,
    ("autoreset", "done-rows-kept"): derive_done_rows_kept,
    ("autoreset", "reset-all"): derive_reset_all,
    ("episode_stats", "reward-after-reset"): derive_reward_after_reset,
    ("episode_stats", "not-reset"): derive_not_reset,
    ("episode_stats", "mean-not-sum"): derive_mean_not_sum,
    ("cartpole_step", "no-push-for-action-0"): derive_force_zero_for_left,
    ("cartpole_terminated", "position-only"): derive_position_only,
    ("pendulum_step", "speed-not-clipped"): derive_speed_not_clipped,
    ("autoreset", "swapped"): derive_autoreset_swapped,
    ("episode_stats", "last-reward-only"): derive_last_reward_only,
}
