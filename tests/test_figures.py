"""The docs' figures show what the reference code computes: the numbers behind the m05, m06
and m08 figures, checked against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from course import figures
from course.figures import m05_value_clip, m06_truncation, m08_gaussian_bounds


def test_every_figure_of_the_docs_has_a_maker():
    table = figures.registry()
    for name in (
        "m04_clipped_objective.png",
        "m05_value_clipping.png",
        "m06_truncation_bias.png",
        "m08_gaussian_bounds.png",
    ):
        assert name in table
        assert (figures.FIGURES_DIR / name).is_file(), f"{name} not drawn"


def test_m05_clipped_value_loss_is_flat_past_the_band_towards_the_target():
    values = torch.tensor([-0.1, 0.1, 0.5, 1.0, 1.5, 2.2, -0.6])
    plain, plain_grad = m05_value_clip.loss_and_gradient(values, clip_vloss=False)
    clipped, clipped_grad = m05_value_clip.loss_and_gradient(values, clip_vloss=True)
    target, eps = m05_value_clip.TARGET, m05_value_clip.CLIP_COEF
    torch.testing.assert_close(plain, 0.5 * (values - target) ** 2)
    torch.testing.assert_close(plain_grad, values - target)
    # Inside the band the two agree; past it towards R (0.2 < V < 1.8) the loss is the
    # clipped prediction's, constant, with no gradient; elsewhere it is the unclipped one.
    torch.testing.assert_close(clipped[:2], plain[:2])
    flat = torch.tensor(0.5 * (eps - target) ** 2)
    torch.testing.assert_close(clipped[2:5], flat.expand(3))
    assert torch.all(clipped_grad[2:5] == 0)
    torch.testing.assert_close(clipped[5:], plain[5:])
    torch.testing.assert_close(clipped_grad[5:], plain_grad[5:])


def test_m06_shortcut_spreads_the_truncation_error_back_with_gamma_lambda():
    right = m06_truncation.advantages(as_termination=False)
    shortcut = m06_truncation.advantages(as_termination=True)
    gamma, lam = m06_truncation.GAMMA, m06_truncation.GAE_LAMBDA
    value = 1.0 / (1.0 - gamma)
    torch.testing.assert_close(right, torch.zeros_like(right), atol=1e-4, rtol=0)
    k = torch.arange(m06_truncation.STEPS - 1, -1, -1, dtype=torch.float32)
    torch.testing.assert_close(shortcut, (1.0 - value) * (gamma * lam) ** k, rtol=1e-4, atol=1e-4)


def test_m08_the_stored_sample_is_the_unclipped_one():
    action, log_prob, env_action = m08_gaussian_bounds.sample()
    mean, std = m08_gaussian_bounds.MEAN, m08_gaussian_bounds.STD
    assert action > m08_gaussian_bounds.HIGH
    assert env_action == pytest.approx(m08_gaussian_bounds.HIGH)
    expected = -0.5 * ((action - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    assert log_prob == pytest.approx(expected, rel=1e-5)
