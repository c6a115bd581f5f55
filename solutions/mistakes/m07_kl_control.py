"""The catalogued mistakes of m07: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def penalty_added(ratio, advantages, kl, beta):
    return (ratio * advantages).mean() + beta * kl


def penalty_as_loss(ratio, advantages, kl, beta):
    return -((ratio * advantages).mean() - beta * kl)


def penalty_sum(ratio, advantages, kl, beta):
    return (ratio * advantages).sum() - beta * kl


def penalty_on_clipped(ratio, advantages, kl, beta):
    clipped = torch.clamp(ratio, 0.8, 1.2)
    return torch.min(ratio * advantages, clipped * advantages).mean() - beta * kl


def beta_swapped(beta, kl, target_kl):
    kl = float(kl)
    if kl < target_kl / 1.5:
        return float(beta) * 2.0
    if kl > target_kl * 1.5:
        return float(beta) / 2.0
    return float(beta)


def beta_inclusive(beta, kl, target_kl):
    kl = float(kl)
    if kl <= target_kl / 1.5:
        return float(beta) / 2.0
    if kl >= target_kl * 1.5:
        return float(beta) * 2.0
    return float(beta)


def beta_no_band(beta, kl, target_kl):
    kl = float(kl)
    if kl < target_kl:
        return float(beta) / 2.0
    if kl > target_kl:
        return float(beta) * 2.0
    return float(beta)


def beta_factor_one_and_a_half(beta, kl, target_kl):
    kl = float(kl)
    if kl < target_kl / 1.5:
        return float(beta) / 1.5
    if kl > target_kl * 1.5:
        return float(beta) * 1.5
    return float(beta)


def stop_inclusive(approx_kl, target_kl):
    if target_kl is None:
        return False
    return bool(float(approx_kl) >= target_kl)


def stop_when_none(approx_kl, target_kl):
    if target_kl is None:
        return True
    return bool(float(approx_kl) > target_kl)


def stop_one_and_a_half(approx_kl, target_kl):
    if target_kl is None:
        return False
    return bool(float(approx_kl) > 1.5 * target_kl)


def stop_reversed(approx_kl, target_kl):
    if target_kl is None:
        return False
    return bool(float(approx_kl) < target_kl)


WRONG = {
    ("kl_penalty_objective", "penalty-added"): penalty_added,
    ("kl_penalty_objective", "as-loss"): penalty_as_loss,
    ("kl_penalty_objective", "sum"): penalty_sum,
    ("kl_penalty_objective", "clipped-surrogate"): penalty_on_clipped,
    ("update_kl_beta", "swapped"): beta_swapped,
    ("update_kl_beta", "inclusive"): beta_inclusive,
    ("update_kl_beta", "no-band"): beta_no_band,
    ("update_kl_beta", "factor-1.5"): beta_factor_one_and_a_half,
    ("should_stop_early", "inclusive"): stop_inclusive,
    ("should_stop_early", "none-stops"): stop_when_none,
    ("should_stop_early", "one-and-a-half"): stop_one_and_a_half,
    ("should_stop_early", "reversed"): stop_reversed,
}

DERIVED = {}
