# Exercise m04: PPO, the clipped surrogate.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m04
# Generated from solutions/m04_ppo_clip.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m04: PPO, the clipped surrogate objective.

TRPO (m03) maximises the ratio objective E[r_t(theta) A_t] under a hard KL constraint,
solved with conjugate gradients and a line search. PPO keeps the ratio objective but
removes the incentive to move the ratio r_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t)
outside [1 - eps, 1 + eps], so that plain first-order steps (several epochs of minibatch
SGD on one batch) stay close to the policy that collected the data:

    L^CLIP(theta) = E[ min( r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t ) ].

This module writes the loss (the negated objective, to minimise) and the diagnostic that
every PPO implementation logs next to it: the share of samples the clip touches.

Shapes: B batch.
"""

from __future__ import annotations

import torch


# --8<-- [start:clipped_surrogate_loss]
def clipped_surrogate_loss(
    advantages: torch.Tensor, ratio: torch.Tensor, clip_coef: float
) -> torch.Tensor:
    """PPO's clipped surrogate, as a loss to minimise.

    L = (1/B) sum_i max( -A_i r_i, -A_i clip(r_i, 1 - eps, 1 + eps) )
      = -(1/B) sum_i min( r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i ),   eps = clip_coef.

    Source: Schulman et al. (2017), "Proximal Policy Optimization Algorithms", eq. (7);
    the loss form is the one of CleanRL's ``ppo.py`` (``pg_loss1``, ``pg_loss2``, max).

    Args:
        advantages: (B,) float, A_i, carrying no gradient (normalised or not: the
            caller decides).
        ratio: (B,) float, r_i = pi_theta(a_i|s_i) / pi_old(a_i|s_i), carrying the
            policy's gradient.
        clip_coef: eps > 0, the half-width of the band around 1 (0.2 in the paper).

    Returns:
        A scalar (0-dim) tensor. Its gradient with respect to r_i is -A_i / B, except
        where the clip holds the ratio back (r_i > 1 + eps with A_i > 0, or
        r_i < 1 - eps with A_i < 0), where it is 0.

    Trap: the paper's objective takes the *min* of the two terms; once both are negated
    to make a loss, the min becomes a *max*. Clip the ratio, never the advantage, and
    keep the unclipped term in the max: clipping alone would also remove the gradient
    that pulls a ratio back towards the band.
    """
    # YOUR CODE HERE (see docs/modules/m04_ppo_clip.md#clipped_surrogate_loss)
    raise NotImplementedError("m04.clipped_surrogate_loss: not implemented yet")


# --8<-- [end:clipped_surrogate_loss]


# --8<-- [start:clip_fraction]
def clip_fraction(ratio: torch.Tensor, clip_coef: float) -> float:
    """Share of the samples whose ratio lies strictly outside [1 - eps, 1 + eps].

    clip_fraction = (1/B) * #{ i : |r_i - 1| > eps },   eps = clip_coef.

    Source: logged as ``clipfrac`` by OpenAI Baselines' ``ppo2`` and CleanRL's
    ``ppo.py`` (``((ratio - 1.0).abs() > clip_coef).float().mean()``).

    Args:
        ratio: (B,) float, the probability ratios (with or without a gradient).
        clip_coef: eps > 0.

    Returns:
        A Python float in [0, 1]: 0 when every ratio is inside the band.

    Trap: a ratio exactly on an edge (|r - 1| == eps) is not clipped: the comparison is
    strict. Count both sides of the band, and return a Python number (``float(...)``),
    not a tensor: it is a diagnostic to log.
    """
    # YOUR CODE HERE (see docs/modules/m04_ppo_clip.md#clip_fraction)
    raise NotImplementedError("m04.clip_fraction: not implemented yet")


# --8<-- [end:clip_fraction]
