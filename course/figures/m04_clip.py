"""m04's figure: the clipped objective of one sample against the probability ratio.

Every point is computed by calling the reference ``clipped_surrogate_loss`` on a batch of
one sample (the objective is minus that loss), so the figure shows what the code does.
"""

from __future__ import annotations

from pathlib import Path

import torch

from course.figures.style import panels, save, styled

CLIP_COEF = 0.2
RATIOS = (0.0, 2.0)
ADVANTAGES = (1.0, -1.0)


def per_sample_objective(
    advantage: float, ratios: torch.Tensor, clip_coef: float, loss_fn=None
) -> torch.Tensor:
    """L^CLIP of one sample with advantage ``advantage`` at each ratio, from ``loss_fn``
    (the reference ``clipped_surrogate_loss`` by default) called on batches of one.

    Returns:
        (R,) float: minus the loss at each ratio.
    """
    if loss_fn is None:
        from course.impl import Implementation

        loss_fn = Implementation("solutions").function("m04", "clipped_surrogate_loss")
    a = torch.tensor([advantage])
    return torch.stack([-loss_fn(a, r.reshape(1), clip_coef) for r in ratios])


@styled
def make(path: Path) -> None:
    ratios = torch.linspace(*RATIOS, 401)
    fig, axes = panels(2, height=3.5, sharex=True)
    for ax, advantage in zip(axes, ADVANTAGES, strict=True):
        objective = per_sample_objective(advantage, ratios, CLIP_COEF)
        ax.axvspan(1 - CLIP_COEF, 1 + CLIP_COEF, color="tab:green", alpha=0.12, lw=0)
        ax.plot(ratios, ratios * advantage, ls="--", color="tab:gray", lw=1.2, label="$r A$")
        ax.plot(ratios, objective, color="tab:blue", lw=2.2, label="$L^{CLIP}$")
        ax.axvline(1.0, color="black", lw=0.6, alpha=0.5)
        sign = "A > 0" if advantage > 0 else "A < 0"
        flat = "r > 1 + ε" if advantage > 0 else "r < 1 - ε"
        ax.set_title(f"{sign} (A = {advantage:g}, ε = {CLIP_COEF:g}): flat for {flat}")
        ax.set_ylabel("objective of one sample")
        ax.set_xlim(*RATIOS)
        ax.text(
            1.0,
            0.92 if advantage < 0 else 0.04,
            "[1 - ε, 1 + ε]",
            transform=ax.get_xaxis_transform(),
            ha="center",
            color="tab:green",
        )
        ax.legend(loc="upper left" if advantage > 0 else "upper right")
    axes[-1].set_xlabel("probability ratio $r = \\pi_\\theta(a|s) / \\pi_{old}(a|s)$")
    save(fig, path)


FIGURES = {"m04_clipped_objective.png": make}
