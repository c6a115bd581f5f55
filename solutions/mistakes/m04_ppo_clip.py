"""The catalogued mistakes of m04: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def loss_min_for_max(advantages, ratio, clip_coef):
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.min(pg_loss1, pg_loss2).mean()


def loss_clip_advantages(advantages, ratio, clip_coef):
    pg_loss1 = -advantages * ratio
    pg_loss2 = -torch.clamp(advantages, 1 - clip_coef, 1 + clip_coef) * ratio
    return torch.max(pg_loss1, pg_loss2).mean()


def loss_no_minus(advantages, ratio, clip_coef):
    pg_loss1 = advantages * ratio
    pg_loss2 = advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def loss_objective(advantages, ratio, clip_coef):
    surr1 = advantages * ratio
    surr2 = advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.min(surr1, surr2).mean()


def loss_band_eps_low(advantages, ratio, clip_coef):
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, clip_coef, 1 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def loss_band_eps_high(advantages, ratio, clip_coef):
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def loss_clipped_only(advantages, ratio, clip_coef):
    return (-advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()


def fraction_inclusive(ratio, clip_coef):
    return float(((ratio.detach() - 1.0).abs() >= clip_coef).float().mean())


def fraction_upper_only(ratio, clip_coef):
    return float((ratio.detach() > 1.0 + clip_coef).float().mean())


def fraction_count(ratio, clip_coef):
    return float(((ratio.detach() - 1.0).abs() > clip_coef).float().sum())


def fraction_inside(ratio, clip_coef):
    return float(((ratio.detach() - 1.0).abs() <= clip_coef).float().mean())


WRONG = {
    ("clipped_surrogate_loss", "min-for-max"): loss_min_for_max,
    ("clipped_surrogate_loss", "clip-advantage"): loss_clip_advantages,
    ("clipped_surrogate_loss", "no-minus"): loss_no_minus,
    ("clipped_surrogate_loss", "objective"): loss_objective,
    ("clipped_surrogate_loss", "band-eps-low"): loss_band_eps_low,
    ("clipped_surrogate_loss", "band-eps-high"): loss_band_eps_high,
    ("clipped_surrogate_loss", "clipped-only"): loss_clipped_only,
    ("clip_fraction", "inclusive"): fraction_inclusive,
    ("clip_fraction", "upper-only"): fraction_upper_only,
    ("clip_fraction", "count"): fraction_count,
    ("clip_fraction", "inside"): fraction_inside,
}

DERIVED = {}
