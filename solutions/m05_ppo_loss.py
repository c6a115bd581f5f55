"""Module m05: the full PPO loss. Value loss, entropy bonus, and one training step.

PPO trains the actor and the critic with one optimiser on one scalar:

    total = pg_loss + ent_loss + v_loss,

where every term is already a loss to minimise with its coefficient inside:

    pg_loss  = the clipped surrogate loss of m04,
    v_loss   = vf_coef * 0.5 * mean((V - R)^2)       (or its clipped, pessimistic form),
    ent_loss = -ent_coef * mean(H[pi(.|s)])          (an entropy *bonus*: minus sign).

This is the sign convention of the single-file implementations (CleanRL's ``ppo.py``
writes the same sum as ``pg_loss - ent_coef * entropy.mean() + vf_coef * v_loss``).

Shapes: B batch.
"""

from __future__ import annotations

import torch

from .m04_ppo_clip import clipped_surrogate_loss


# --8<-- [start:value_loss]
def value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float,
    clip_vloss: bool,
    vf_coef: float,
) -> torch.Tensor:
    """The critic's loss, optionally clipped, with its coefficient.

    Unclipped:  L_V = vf_coef * 0.5 * mean( (V - R)^2 ).
    Clipped:    V_clip = V_old + clip(V - V_old, -eps, eps),
                L_V = vf_coef * 0.5 * mean( max( (V - R)^2, (V_clip - R)^2 ) ).

    Source: the value clipping of OpenAI Baselines' ``ppo2``, as written in CleanRL's
    ``ppo.py``; Huang et al. (2022), "The 37 implementation details of PPO", detail 9.

    Args:
        new_values: (B,) float, V(s_i) from the critic now, carrying its gradient.
            Flatten a critic's (B, 1) output first.
        old_values: (B,) float, V_old(s_i), the critic's values stored at collection.
        returns: (B,) float, the targets R_i.
        clip_coef: eps, how far V may move from V_old before the clipped term takes
            over.
        clip_vloss: whether to use the clipped form.
        vf_coef: the value loss coefficient c_1 (1 in the paper's Atari runs; 0.5 by
            default in OpenAI Baselines and CleanRL).

    Returns:
        A scalar (0-dim) tensor, ``vf_coef`` already applied.

    Trap: the clipped form is a max of two errors (a pessimistic bound, like the
    policy's), not the error of the clipped prediction alone. Apply ``vf_coef`` once,
    here, and keep the 0.5; the total loss then just adds the terms.
    """
    ### BEGIN SOLUTION
    unclipped = (new_values - returns) ** 2
    if clip_vloss:
        clipped_values = old_values + torch.clamp(
            new_values - old_values,
            -clip_coef,
            clip_coef,
        )
        clipped = (clipped_values - returns) ** 2
        squared_errors = torch.max(unclipped, clipped)
    else:
        squared_errors = unclipped
    return vf_coef * 0.5 * squared_errors.mean()
    ### END SOLUTION


# --8<-- [end:value_loss]


# --8<-- [start:entropy_loss]
def entropy_loss(entropy: torch.Tensor, ent_coef: float) -> torch.Tensor:
    """The entropy bonus, written as a loss.

    L_H = -ent_coef * mean(H_i)

    Source: Mnih et al. (2016), "Asynchronous Methods for Deep Reinforcement Learning"
    (A3C), section 4; Schulman et al. (2017), eq. (9), the term c_2 S[pi_theta](s_t).

    Args:
        entropy: (B,) float, H[pi_theta(.|s_i)], carrying the policy's gradient.
        ent_coef: c_2 >= 0 (0.01 in the paper's Atari runs and CleanRL's default).

    Returns:
        A scalar (0-dim) tensor, <= 0 for ent_coef >= 0.

    Trap: the sign. Minimising this loss must *raise* the entropy (keep exploring), so
    the loss is minus the coefficient times the mean entropy.
    """
    ### BEGIN SOLUTION
    return -ent_coef * entropy.mean()
    ### END SOLUTION


# --8<-- [end:entropy_loss]


# --8<-- [start:ppo_loss]
def ppo_loss(
    pg_loss: torch.Tensor,
    v_loss: torch.Tensor,
    ent_loss: torch.Tensor,
) -> torch.Tensor:
    """The one scalar that PPO minimises.

    total = pg_loss + ent_loss + v_loss

    Source: Schulman et al. (2017), eq. (9),
    L^{CLIP+VF+S} = E[L^CLIP - c_1 L^VF + c_2 S], negated to be minimised; the course's
    convention puts each coefficient and sign inside its term (CleanRL:
    ``pg_loss - ent_coef * entropy_loss + v_loss * vf_coef``).

    Args:
        pg_loss: 0-dim tensor, the clipped surrogate loss (``clipped_surrogate_loss``).
        v_loss: 0-dim tensor, ``value_loss``, ``vf_coef`` already applied.
        ent_loss: 0-dim tensor, ``entropy_loss``, already ``-ent_coef * mean(H)``.

    Returns:
        A scalar (0-dim) tensor.

    Trap: every term is already a loss with its coefficient: add them. Subtracting the
    entropy term again, or multiplying by a coefficient again, counts it twice.
    """
    ### BEGIN SOLUTION
    return pg_loss + ent_loss + v_loss
    ### END SOLUTION


# --8<-- [end:ppo_loss]


# --8<-- [start:training_step_loss]
def training_step_loss(
    new_log_probs: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    batch: dict[str, torch.Tensor],
    clip_coef: float,
    ent_coef: float,
    vf_coef: float,
    clip_vloss: bool,
    normalize_advantages: bool,
) -> dict[str, torch.Tensor]:
    """The losses of one PPO minibatch: Lightning's ``training_step``, its bug fixed.

    r = exp(log pi_new(a|s) - log pi_old(a|s))
    A' = (A - mean(A)) / (std(A) + 1e-8)   if normalize_advantages, else A' = A
    pg_loss = clipped_surrogate_loss(A', r, clip_coef)
    v_loss = value_loss(V, V_old, R, clip_coef, clip_vloss, vf_coef)
    ent_loss = entropy_loss(H, ent_coef)
    loss = ppo_loss(pg_loss, v_loss, ent_loss)

    Needs your m04 (``clipped_surrogate_loss``, imported from ``m04_ppo_clip``): finish
    m04 first; until it is implemented, every case of this check fails with m04's
    message.

    Source: ``PPOLightningAgent.training_step`` of PyTorch Lightning's PPO example
    (quoted in the original notes), and CleanRL's ``ppo.py``, whose minibatch loop
    computes the same four numbers.

    Args:
        new_log_probs: (B,) float, log pi_theta(a_i|s_i) under the current policy.
        entropy: (B,) float, H[pi_theta(.|s_i)].
        new_values: (B,) float, V(s_i) from the current critic.
        batch: what the rollout stored, each (B,) float: ``log_probs`` (log
            pi_old(a_i|s_i)), ``advantages``, ``values`` (V_old(s_i)) and ``returns``.
        clip_coef: eps, for the policy's clip and (with ``clip_vloss``) the value's.
        ent_coef: the entropy coefficient.
        vf_coef: the value loss coefficient.
        clip_vloss: whether the value loss is clipped.
        normalize_advantages: whether to normalise the advantages of this minibatch
            (unbiased std, 1e-8 added to it) before the policy loss.

    Returns:
        A dict of 0-dim tensors: ``loss`` (the total, to backpropagate), ``pg_loss``,
        ``v_loss`` and ``ent_loss``.

    Trap: Lightning's step normalises the advantages into a new variable, then hands
    the raw ``batch["advantages"]`` to the policy loss, so the flag silently does
    nothing. Do not write into ``batch`` either: every epoch reuses the same batch.
    """
    ### BEGIN SOLUTION
    ratio = torch.exp(new_log_probs - batch["log_probs"])
    advantages = batch["advantages"]
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = clipped_surrogate_loss(advantages, ratio, clip_coef)
    v_loss = value_loss(
        new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef
    )
    ent_loss = entropy_loss(entropy, ent_coef)
    return {
        "loss": ppo_loss(pg_loss, v_loss, ent_loss),
        "pg_loss": pg_loss,
        "v_loss": v_loss,
        "ent_loss": ent_loss,
    }
    ### END SOLUTION


# --8<-- [end:training_step_loss]
