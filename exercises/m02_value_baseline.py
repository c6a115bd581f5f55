# Exercise m02: The critic: baselines and advantages.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m02
# Generated from solutions/m02_value_baseline.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m02: the critic. Baselines, advantages and the value loss.

Subtracting a baseline b(s_t) from the reward-to-go leaves the expected policy gradient
unchanged (E[grad log pi(a|s) * b(s)] = 0) and can shrink its variance a lot. The best
simple baseline is the state value V(s_t), learned by regression on the returns: the
*critic*. The difference A_t = G_t - V(s_t) is the advantage: how much better the action
did than the policy does on average from that state.

Shapes: B batch.
"""

from __future__ import annotations

import torch


# --8<-- [start:advantages_from_baseline]
def advantages_from_baseline(
    returns: torch.Tensor,
    values: torch.Tensor,
) -> torch.Tensor:
    """Advantage estimates from a learned baseline, with no gradient into the critic.

    A_t = G_t - V(s_t)

    Source: Sutton & Barto (2nd ed.), section 13.4, "REINFORCE with baseline".

    Args:
        returns: (B,) float, the reward-to-go G_t.
        values: (B,) float, the critic's V(s_t); may carry a gradient.

    Returns:
        (B,) float, G_t - V(s_t), carrying no gradient.

    Trap: the advantage weights the *policy* loss. If it still depends on the critic's
    parameters, the policy loss pushes the critic around too: detach ``values``.
    """
    # YOUR CODE HERE (see docs/modules/m02_value_baseline.md#advantages_from_baseline)
    raise NotImplementedError("m02.advantages_from_baseline: not implemented yet")


# --8<-- [end:advantages_from_baseline]


# --8<-- [start:normalize_advantages]
def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Shift and scale a batch of advantages to mean 0 and standard deviation 1.

    A' = (A - mean(A)) / (std(A) + eps), with the unbiased (n - 1) standard deviation.

    Source: a standard trick in PPO implementations (OpenAI Baselines, CleanRL); see
    Huang et al. (2022), "The 37 implementation details of PPO", detail 7.

    Args:
        advantages: (B,) float, B >= 2.
        eps: added to the standard deviation so a constant batch gives zeros, not nan.

    Returns:
        (B,) float.

    Trap: ``eps`` goes outside the square root, added to the standard deviation, and the
    standard deviation is the unbiased one (``torch.std``'s default).
    """
    # YOUR CODE HERE (see docs/modules/m02_value_baseline.md#normalize_advantages)
    raise NotImplementedError("m02.normalize_advantages: not implemented yet")


# --8<-- [end:normalize_advantages]


# --8<-- [start:value_mse_loss]
def value_mse_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Regression loss of the critic on the returns.

    L_V = 0.5 * mean((V(s_t) - G_t)^2)

    Source: the single-file PPO implementations (CleanRL's ``ppo.py``) use this factor
    0.5, so that the gradient is simply (V - G) / B.

    Args:
        values: (B,) float, V(s_t), carrying the critic's gradient.
        returns: (B,) float, the targets G_t.

    Returns:
        A scalar (0-dim) tensor.

    Trap: ``values`` of shape (B, 1) minus ``returns`` of shape (B,) broadcasts to
    (B, B) and silently gives a wrong loss. Both must be (B,).
    """
    # YOUR CODE HERE (see docs/modules/m02_value_baseline.md#value_mse_loss)
    raise NotImplementedError("m02.value_mse_loss: not implemented yet")


# --8<-- [end:value_mse_loss]


# --8<-- [start:explained_variance]
def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """How much of the returns' variance the critic explains.

    EV = 1 - Var[G - V] / Var[G]

    1 is a perfect critic, 0 one no better than a constant, and a negative value one
    worse than a constant. Undefined (nan) when the returns do not vary.

    Source: OpenAI Baselines' ``explained_variance``, logged by most PPO
    implementations.

    Args:
        values: (B,) float, the critic's predictions.
        returns: (B,) float, the targets.

    Returns:
        A Python float; ``nan`` when Var[G] == 0.

    Trap: divide by the variance of the *returns*, not of the predictions; and return
    nan rather than a made-up number when the returns are constant.
    """
    # YOUR CODE HERE (see docs/modules/m02_value_baseline.md#explained_variance)
    raise NotImplementedError("m02.explained_variance: not implemented yet")


# --8<-- [end:explained_variance]
