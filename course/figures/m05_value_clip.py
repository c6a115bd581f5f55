"""m05's figure: the value loss of one sample as a function of the critic's new prediction V,
unclipped and clipped, each point computed by calling the reference ``value_loss`` on a batch
of one, and its gradient by autograd through it."""

from __future__ import annotations

from pathlib import Path

import torch

from course.figures.style import panels, save, styled

OLD_VALUE = 0.0  # V_old, the prediction stored when the data was collected
TARGET = 1.0  # R, the return the critic regresses on
CLIP_COEF = 0.2
VALUES = (-1.0, 2.6)
POINTS = 700  # a grid that does not land exactly on a kink, where the gradient is a tie


def loss_and_gradient(values: torch.Tensor, clip_vloss: bool, loss_fn=None):
    """The reference value loss (``vf_coef`` 1) at each prediction, and d loss / d V.

    Returns:
        two (V,) float tensors.
    """
    if loss_fn is None:
        from course.impl import Implementation

        loss_fn = Implementation("solutions").function("m05", "value_loss")
    losses, grads = [], []
    for v in values:
        new = v.reshape(1).clone().requires_grad_(True)
        loss = loss_fn(
            new, torch.tensor([OLD_VALUE]), torch.tensor([TARGET]), CLIP_COEF, clip_vloss, 1.0
        )
        (grad,) = torch.autograd.grad(loss, new)
        losses.append(loss.detach())
        grads.append(grad[0])
    return torch.stack(losses), torch.stack(grads)


@styled
def make(path: Path) -> None:
    values = torch.linspace(*VALUES, POINTS)
    plain, plain_grad = loss_and_gradient(values, clip_vloss=False)
    clipped, clipped_grad = loss_and_gradient(values, clip_vloss=True)
    fig, (top, bottom) = panels(2, height=3.4, sharex=True)
    lo, hi = OLD_VALUE - CLIP_COEF, OLD_VALUE + CLIP_COEF
    for ax in (top, bottom):
        ax.axvspan(lo, hi, color="tab:green", alpha=0.15, lw=0)
        ax.axvline(TARGET, color="black", lw=1, ls=":")
    top.plot(values, plain, ls="--", color="tab:gray", label="unclipped")
    top.plot(values, clipped, color="tab:blue", label="clipped (max of the two)")
    top.set_ylabel("loss of one sample")
    top.set_title(f"V_old = {OLD_VALUE:g}, target R = {TARGET:g}, ε = {CLIP_COEF:g}")
    top.text(OLD_VALUE, 1.0, "band\nV_old ± ε", ha="center", color="tab:green")
    top.text(TARGET + 0.04, 1.0, "R", ha="left", color="black")
    top.legend(loc="upper right")
    bottom.plot(values, plain_grad, ls="--", color="tab:gray", label="unclipped")
    bottom.plot(values, clipped_grad, color="tab:blue", label="clipped")
    bottom.axhline(0.0, color="black", lw=0.6)
    bottom.set_ylabel("gradient d loss / d V")
    bottom.set_xlabel("the critic's new prediction V")
    bottom.text(
        (hi + 1.8) / 2, 0.25, "past the band, towards R:\nno gradient", ha="center", va="bottom"
    )
    bottom.legend(loc="lower right")
    save(fig, path)


FIGURES = {"m05_value_clipping.png": make}
