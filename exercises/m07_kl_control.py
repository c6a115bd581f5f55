# Exercise m07: Controlling the KL: penalty and early stopping.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m07
# Generated from solutions/m07_kl_control.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m07: controlling the KL divergence. Penalty and early stopping.

Clipping (m04) is one way to keep the new policy near the one that collected the data.
The PPO paper also studies a second one, a KL penalty with an adaptive coefficient:

    L^KLPEN(theta) = E[ r_t(theta) A_t ] - beta * E[ KL(pi_old(.|s) || pi_theta(.|s)) ]

with beta halved when the measured KL falls well below a target and doubled when it
rises well above. A third, used by most implementations on top of clipping, measures the
KL during the update epochs and stops them early when it exceeds a target.

Shapes: B batch.
"""

from __future__ import annotations

import torch


# --8<-- [start:kl_penalty_objective]
def kl_penalty_objective(
    ratio: torch.Tensor, advantages: torch.Tensor, kl: torch.Tensor, beta: float
) -> torch.Tensor:
    """PPO-penalty's objective, to maximise: the ratio surrogate minus a KL penalty.

    L^KLPEN = (1/B) sum_i r_i A_i - beta * KL

    Source: Schulman et al. (2017), "Proximal Policy Optimization Algorithms", section
    4, eq. (8).

    Args:
        ratio: (B,) float, r_i = pi_theta(a_i|s_i) / pi_old(a_i|s_i), carrying the
            gradient.
        advantages: (B,) float, A_i, carrying no gradient.
        kl: 0-dim float tensor, the mean KL[pi_old || pi_theta] over the batch's states
            (m03's ``categorical_kl`` averaged, or a sample estimate), carrying the
            gradient.
        beta: the penalty coefficient, >= 0.

    Returns:
        A scalar (0-dim) tensor to *maximise* (minimise its negative).

    Trap: this is an objective, not a loss: the penalty is *subtracted* from the
    surrogate, and nothing is negated. The surrogate is not clipped here: the penalty
    replaces the clip.
    """
    # YOUR CODE HERE (see docs/modules/m07_kl_control.md#kl_penalty_objective)
    raise NotImplementedError("m07.kl_penalty_objective: not implemented yet")


# --8<-- [end:kl_penalty_objective]


# --8<-- [start:update_kl_beta]
def update_kl_beta(beta: float, kl: float | torch.Tensor, target_kl: float) -> float:
    """The adaptive penalty coefficient of PPO-penalty, for the next policy update.

    beta / 2   if kl < target_kl / 1.5,
    beta * 2   if kl > target_kl * 1.5,
    beta       otherwise (the band's edges included).

    Source: Schulman et al. (2017), section 4: "If d < d_targ / 1.5, beta <- beta / 2;
    if d > d_targ * 1.5, beta <- beta * 2", where d is the KL measured after the update.

    Args:
        beta: the current coefficient, > 0.
        kl: the mean KL[pi_old || pi_new] measured after this update's epochs: a Python
            float or a 0-dim tensor.
        target_kl: d_targ > 0, the KL the penalty aims for.

    Returns:
        A Python float, the coefficient for the next update.

    Trap: the directions. A KL *below* the band means the penalty holds the policy back
    too much: *lower* beta. Both comparisons are strict, so a KL exactly on an edge
    leaves beta unchanged.
    """
    # YOUR CODE HERE (see docs/modules/m07_kl_control.md#update_kl_beta)
    raise NotImplementedError("m07.update_kl_beta: not implemented yet")


# --8<-- [end:update_kl_beta]


# --8<-- [start:should_stop_early]
def should_stop_early(approx_kl: float | torch.Tensor, target_kl: float | None) -> bool:
    """Whether to stop this update's epochs because the policy moved too far.

    stop  <=>  target_kl is not None and approx_kl > target_kl

    ``target_kl=None`` switches early stopping off: the answer is then always False.

    Source: CleanRL's ``ppo.py`` (``if args.target_kl is not None and approx_kl >
    args.target_kl: break``, checked after each epoch); Spinning Up and
    Stable-Baselines3 stop at ``1.5 * target_kl`` instead, which is this rule with a
    larger target.

    Args:
        approx_kl: the KL estimate (m03's ``approx_kl``, the k3 estimator; m09's update
            passes its mean over the epoch's minibatches): a Python float or a 0-dim
            tensor.
        target_kl: the threshold, or None for no early stopping.

    Returns:
        A Python bool.

    Trap: the comparison is strict (a KL equal to the target does not stop), ``None``
    means "never stop", not "stop at once" nor a crash, and the answer is a Python
    ``bool``, not a tensor, because it drives a Python ``break``.
    """
    # YOUR CODE HERE (see docs/modules/m07_kl_control.md#should_stop_early)
    raise NotImplementedError("m07.should_stop_early: not implemented yet")


# --8<-- [end:should_stop_early]
