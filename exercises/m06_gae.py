# Exercise m06: Generalized Advantage Estimation.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m06
# Generated from solutions/m06_gae.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m06: Generalized Advantage Estimation (GAE).

The advantage A_t = Q(s_t, a_t) - V(s_t) can be estimated in many ways. The one-step
TD error delta_t = r_t + gamma * V(s_{t+1}) - V(s_t) leans on the critic (low variance,
biased where the critic is wrong); the Monte-Carlo return minus V(s_t) leans on the
rewards (unbiased, high variance). GAE blends all the k-step estimates with weights
(1 - lambda) * lambda^(k-1), which sums to an exponentially weighted sum of TD errors:

    A_t = sum_l (gamma * lambda)^l * delta_{t+l}   (within one episode).

Two ways an episode can end change the sum, and they are not the same:

* terminated: the episode reached a terminal state. Nothing follows, so V(s_{t+1}) = 0.
* truncated: a time limit stopped the episode. The state s_{t+1} was not terminal and
  its value is not 0: bootstrap with V(final observation).

In both cases the next step of the rollout belongs to a new episode, so the sum is cut.

Shapes: T rollout steps, N parallel environments.
"""

from __future__ import annotations

import torch


# --8<-- [start:compute_gae]
def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lambda) advantages and critic targets, with the time-limit bootstrap.

    delta_t   = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
    A_t       = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0
    returns_t = A_t + V(s_t),      with done_t = terminated_t or truncated_t.

    Source: Schulman et al. (2016), "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation", section 3; Pardo et al. (2018), "Time Limits in
    Reinforcement Learning", for the bootstrap at a time limit.

    Args:
        rewards: (T, N) float, r_t received after the action at step t.
        values: (T, N) float, V(s_t), the critic's value of the observation at step t.
        next_values: (T, N) float, V(s_{t+1}), the value of the observation reached by
            step t. Where an episode ended at step t, it is the value of that episode's
            final observation (``info["final_obs"]``), not of the next episode's first
            one; at a termination it is ignored. At the last step it is the value of the
            observation the next rollout starts from.
        terminated: (T, N) bool or float (0/1), the episode reached a terminal state
            right after step t.
        truncated: (T, N) bool or float (0/1), a time limit ended the episode right
            after step t.
        gamma: discount factor in [0, 1].
        gae_lambda: the GAE parameter lambda in [0, 1]: 0 gives the one-step TD error,
            1 the Monte-Carlo return minus the value.

    Returns:
        ``(advantages, returns)``, two (T, N) float tensors with the dtype of
        ``rewards``.

    Trap: two different masks. Only ``terminated`` removes the bootstrap from delta_t (a
    time limit does not make the state worthless), while ``terminated or truncated``
    cuts the sum (step t + 1 belongs to another episode). Using ``done`` for both, as
    many implementations do, treats every time limit as a terminal state.
    """
    # YOUR CODE HERE (see docs/modules/m06_gae.md#compute_gae)
    raise NotImplementedError("m06.compute_gae: not implemented yet")


# --8<-- [end:compute_gae]
