"""m04's reference against the single-file implementations' formula, and its figure."""

from __future__ import annotations

import pytest
import torch

from course.figures import m04_clip
from course.impl import Implementation

M04 = Implementation("solutions").module("m04")


def cleanrl_pg_loss(mb_advantages, ratio, clip_coef):
    """The policy loss as CleanRL's ppo.py writes it."""
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def cleanrl_clipfrac(ratio, clip_coef):
    return ((ratio - 1.0).abs() > clip_coef).float().mean().item()


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_the_single_file_implementations(seed):
    g = torch.Generator().manual_seed(seed)
    B = int(torch.randint(1, 64, (1,), generator=g))
    clip_coef = float(torch.empty(1).uniform_(0.05, 0.4, generator=g))
    advantages = torch.randn(B, generator=g) * 3.0
    ratio = torch.exp(torch.randn(B, generator=g) * 0.5)
    ours = M04.clipped_surrogate_loss(advantages, ratio, clip_coef)
    theirs = cleanrl_pg_loss(advantages, ratio, clip_coef)
    assert ours.shape == ()
    torch.testing.assert_close(ours, theirs)
    assert M04.clip_fraction(ratio, clip_coef) == pytest.approx(cleanrl_clipfrac(ratio, clip_coef))


def test_gradient_is_zero_exactly_where_the_clip_holds_the_ratio_back():
    eps = 0.2
    ratio = torch.linspace(0.3, 1.9, 33).repeat(2)
    advantages = torch.cat([torch.full((33,), 1.5), torch.full((33,), -0.5)])
    ratio.requires_grad_(True)
    M04.clipped_surrogate_loss(advantages, ratio, eps).backward()
    held = ((advantages > 0) & (ratio > 1 + eps)) | ((advantages < 0) & (ratio < 1 - eps))
    assert held.any() and (~held).any()
    assert torch.equal(ratio.grad[held], torch.zeros(int(held.sum())))
    torch.testing.assert_close(ratio.grad[~held], -advantages[~held] / ratio.numel())


def test_inputs_are_left_alone_and_dtype_follows():
    advantages = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    ratio = torch.tensor([1.5, 0.5, 1.0], dtype=torch.float64)
    before = (advantages.clone(), ratio.clone())
    loss = M04.clipped_surrogate_loss(advantages, ratio, 0.2)
    assert loss.dtype == torch.float64
    assert torch.equal(advantages, before[0]) and torch.equal(ratio, before[1])
    assert isinstance(M04.clip_fraction(ratio.requires_grad_(True), 0.2), float)


def test_figure_curve_is_the_min_of_the_two_terms():
    ratios = torch.linspace(0.0, 2.0, 41)
    for advantage in (1.0, -1.0):
        curve = m04_clip.per_sample_objective(advantage, ratios, 0.2, M04.clipped_surrogate_loss)
        expected = torch.min(ratios * advantage, torch.clamp(ratios, 0.8, 1.2) * advantage)
        torch.testing.assert_close(curve, expected)


def test_figure_draws(tmp_path):
    path = tmp_path / "clip.png"
    m04_clip.make(path)
    assert path.stat().st_size > 10_000
    assert "m04_clipped_objective.png" in m04_clip.FIGURES
