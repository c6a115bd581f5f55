"""The catalogued mistakes of m06: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def _masks(terminated, truncated, dtype):
    terminated = terminated.bool()
    done = terminated | truncated.bool()
    return (~terminated).to(dtype), (~done).to(dtype)


def _backward(deltas, carry):
    """A_t = deltas_t + carry_t * A_{t+1}, backwards from A_T = 0."""
    steps = []
    running = torch.zeros_like(deltas[0])
    for t in reversed(range(deltas.shape[0])):
        running = deltas[t] + carry[t] * running
        steps.append(running)
    return torch.stack(steps[::-1])


def no_time_limit_bootstrap(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    _, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_done * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages, advantages + values


def recursion_not_cut(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, _ = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * torch.ones_like(deltas))
    return advantages, advantages + values


def cut_only_at_terminations(
    rewards, values, next_values, terminated, truncated, gamma, gae_lambda
):
    not_terminated, _ = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_terminated)
    return advantages, advantages + values


def values_shifted(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    following = torch.cat([values[1:], next_values[-1:]])
    deltas = rewards + gamma * not_terminated * following - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages, advantages + values


def next_step_flags(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    not_terminated = torch.cat([not_terminated[1:], not_terminated[-1:]])
    not_done = torch.cat([not_done[1:], not_done[-1:]])
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages, advantages + values


def returns_are_discounted_rewards(
    rewards, values, next_values, terminated, truncated, gamma, gae_lambda
):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages, _backward(rewards, gamma * not_done)


def lambda_on_delta(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(gae_lambda * deltas, gamma * not_done)
    return advantages, advantages + values


def bootstraps_through_terminal(
    rewards, values, next_values, terminated, truncated, gamma, gae_lambda
):
    _, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages, advantages + values


def outputs_swapped(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * gae_lambda * not_done)
    return advantages + values, advantages


def loop_skips_last_step(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0] - 1)):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def lambda_left_out(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    not_terminated, not_done = _masks(terminated, truncated, rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = _backward(deltas, gamma * not_done)
    return advantages, advantages + values


WRONG = {
    ("compute_gae", "no-time-limit-bootstrap"): no_time_limit_bootstrap,
    ("compute_gae", "no-cut"): recursion_not_cut,
    ("compute_gae", "cut-only-terminated"): cut_only_at_terminations,
    ("compute_gae", "values-shifted"): values_shifted,
    ("compute_gae", "next-done"): next_step_flags,
    ("compute_gae", "discounted-returns"): returns_are_discounted_rewards,
    ("compute_gae", "lambda-on-delta"): lambda_on_delta,
    ("compute_gae", "bootstraps-terminal"): bootstraps_through_terminal,
    ("compute_gae", "outputs-swapped"): outputs_swapped,
    ("compute_gae", "loop-skips-last-step"): loop_skips_last_step,
    ("compute_gae", "no-lambda"): lambda_left_out,
}

DERIVED = {}
