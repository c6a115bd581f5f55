# Exercise m09: The PPO agent.
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m09
# Generated from solutions/m09_ppo_agent.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m09: the PPO agent. Every piece of the earlier modules, assembled.

An actor-critic network with PPO's initialisation, a linearly annealed learning rate,
and the update that makes PPO what it is: several epochs of shuffled minibatches over
one rollout, each minibatch taking a gradient step on the clipped surrogate, the value
loss (clipped or not) and the entropy bonus, with the advantages normalised per
minibatch, the gradient norm clipped, and the epochs stopped early when the policy has
moved too far.

The update uses your functions of the earlier modules (imported from your earlier files,
or carried in this module's notebook), so your m01-m08 must pass their checks first.

Shapes: B batch, A actions (discrete) or action dimensions (continuous).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .m01_policy_gradient import categorical_entropy, categorical_log_prob
from .m02_value_baseline import explained_variance, normalize_advantages
from .m03_trust_region import approx_kl, probability_ratio
from .m04_ppo_clip import clip_fraction, clipped_surrogate_loss
from .m05_ppo_loss import entropy_loss, ppo_loss, value_loss
from .m07_kl_control import should_stop_early
from .m08_gaussian_policy import gaussian_entropy, gaussian_log_prob


# --8<-- [start:layer_init]
def layer_init(
    layer: nn.Linear,
    std: float = math.sqrt(2),
    bias_const: float = 0.0,
) -> nn.Linear:
    """Orthogonal initialisation of a linear layer, in place; returns the layer.

    W <- an orthogonal matrix scaled by ``std`` (so W W^T = std^2 I, or W^T W for a tall
    W); b <- ``bias_const``.

    Source: Saxe et al. (2014), "Exact solutions to the nonlinear dynamics of learning
    in deep linear neural networks"; OpenAI Baselines' PPO; Huang et al. (2022), "The 37
    implementation details of PPO", detail 2: gain sqrt(2) for hidden layers, 0.01 for
    the policy's output layer (a near-uniform start), 1 for the value's output layer.

    Args:
        layer: an ``nn.Linear``.
        std: the gain of the orthogonal matrix.
        bias_const: the value of every bias.

    Returns:
        The same layer object, initialised.

    Trap: use ``torch.nn.init.orthogonal_`` with the gain, and set the bias too. Return
    the layer, so that ``nn.Sequential(layer_init(nn.Linear(4, 64)), ...)`` works.
    """
    # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#layer_init)
    raise NotImplementedError("m09.layer_init: not implemented yet")


# --8<-- [end:layer_init]


# --8<-- [start:linear_annealing]
def linear_annealing(
    optimizer: torch.optim.Optimizer, update: int, num_updates: int, initial_lr: float
) -> float:
    """Set every parameter group's learning rate for this update, decaying linearly.

    lr = (1 - (update - 1) / num_updates) * initial_lr,  update = 1, 2, ..., num_updates

    so the first update uses ``initial_lr`` and the last ``initial_lr / num_updates``.

    Source: the PPO paper's Atari and MuJoCo settings (Schulman et al., 2017, tables
    3-5, "linearly annealed"); CleanRL's ``ppo.py``; Huang et al. (2022), detail 4.

    Args:
        optimizer: any ``torch.optim`` optimiser.
        update: the 1-based index of the update about to run.
        num_updates: how many updates the run will make.
        initial_lr: the learning rate of the first update.

    Returns:
        The learning rate that was set (a Python float).

    Trap: ``update`` counts from 1, so the first update gets the full rate and none gets
    0. Set the rate in *every* parameter group, not only the first.
    """
    # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#linear_annealing)
    raise NotImplementedError("m09.linear_annealing: not implemented yet")


# --8<-- [end:linear_annealing]


# --8<-- [start:ActorCritic]
class ActorCritic(nn.Module):
    """The PPO agent's networks: a critic V(s) and an actor, for discrete or continuous
    actions, as two separate tanh MLPs.

    Architecture (the checks load known parameters by these names):

    - ``self.critic = nn.Sequential(Linear(obs_dim, hidden), Tanh(), Linear(hidden,
      hidden), Tanh(), Linear(hidden, 1))``, the layers initialised with ``layer_init``,
      gain sqrt(2) except the last, gain 1;
    - ``self.actor``: the same shape with ``A`` outputs (logits for ``Discrete(A)``, the
      Gaussian mean for a ``Box`` of A dimensions), the last layer's gain 0.01;
    - for a ``Box`` action space only, ``self.log_std = nn.Parameter(torch.zeros(A))``,
      a state-independent log standard deviation (m08).

    Every bias starts at 0. ``obs_dim`` is the product of the observation space's shape.

    Source: CleanRL's ``ppo.py`` and ``ppo_continuous_action.py``; Andrychowicz et al.
    (2021), "What matters in on-policy reinforcement learning?" (separate networks,
    tanh).

    Args:
        observation_space: a gymnasium ``Box``.
        action_space: a gymnasium ``Discrete`` or ``Box``.
        hidden: the width of the hidden layers.

    Trap: the tiny gain of the policy's last layer is deliberate (every action starts
    nearly equally likely); the value head keeps gain 1.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.spaces.Space,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#ActorCritic)
        raise NotImplementedError("m09.ActorCritic.__init__: not implemented yet")

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) for a batch of observations.

        Args:
            obs: (B, obs_dim) float.

        Returns:
            (B,) float: the critic's output, its last dimension squeezed away.
        """
        # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#ActorCritic)
        raise NotImplementedError("m09.ActorCritic.get_value: not implemented yet")

    def get_action_and_value(
        self, obs: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample an action (or take the given one) and evaluate it.

        Discrete: log_prob and entropy from the logits with m01's
        ``categorical_log_prob`` and ``categorical_entropy``. Continuous:
        a ~ N(mean, exp(log_std)), log_prob and entropy with m08's ``gaussian_log_prob``
        and ``gaussian_entropy``.

        Args:
            obs: (B, obs_dim) float.
            action: None to sample; else the actions to evaluate, (B,) int64 (discrete)
                or (B, A) float (continuous).

        Returns:
            ``(action, log_prob, entropy, value)``: (B,) or (B, A); (B,); (B,); (B,).

        Trap: when ``action`` is given, evaluate *it* (that is how the update recomputes
        the log-probabilities of the stored actions under the new policy); the entropy
        is one number per sample, (B,), for continuous actions too.
        """
        # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#ActorCritic)
        message = "m09.ActorCritic.get_action_and_value: not implemented yet"
        raise NotImplementedError(message)


# --8<-- [end:ActorCritic]


# --8<-- [start:ppo_update]
def ppo_update(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    config: Any,
    generator: torch.Generator,
) -> dict[str, float]:
    """One PPO update: epochs of shuffled minibatches over a flattened rollout.

    for epoch in 1..update_epochs:
        shuffle the B samples (torch.randperm with ``generator``)
        for each minibatch of ``minibatch_size`` (the last may be smaller):
            r = exp(log pi_new(a|s) - log pi_old(a|s))                     (m03)
            A = normalize_advantages(A_minibatch)  if config.norm_adv        (m02)
            loss = ppo_loss(clipped_surrogate_loss(A, r, clip_coef),        (m04, m05)
                            value_loss(V_new, V_old, R, clip_coef, clip_vloss, vf_coef),
                            entropy_loss(H, ent_coef))
            step: zero_grad, backward, clip_grad_norm_(max_grad_norm), optimizer.step
        stop early if should_stop_early(mean k3 KL of the epoch, target_kl)  (m07)

    Source: Schulman et al. (2017), algorithm 1; the details of CleanRL's ``ppo.py``
    (Huang et al., 2022, details 6-11).

    Args:
        agent: has ``get_action_and_value(obs, action)`` returning (action, log_prob,
            entropy, value), like ``ActorCritic``, and ``parameters()``.
        optimizer: over ``agent.parameters()``.
        batch: flat tensors from the rollout, all with leading size B: ``obs`` (B, ...),
            ``actions`` (B,) or (B, A), ``log_probs`` (B,), ``advantages`` (B,),
            ``returns`` (B,), ``values`` (B,). They are data: the update detaches them.
        config: reads ``update_epochs``, ``minibatch_size``, ``clip_coef``,
            ``norm_adv``, ``clip_vloss``, ``vf_coef``, ``ent_coef``, ``max_grad_norm``,
            ``target_kl`` (None: no early stopping).
        generator: a CPU ``torch.Generator`` that alone decides the minibatch order, so
            an update is reproducible.

    Returns:
        Diagnostics as Python floats: ``policy_loss``, ``value_loss`` (vf_coef applied),
        ``entropy``, ``clip_fraction`` (means over every minibatch step), ``approx_kl``
        (the mean k3 estimate of the last epoch run, the number early stopping looked
        at), ``explained_variance`` (of the rollout's values for its returns) and
        ``epochs`` (how many epochs ran).

    Trap: normalise the advantages of each *minibatch*, and then use the normalised
    ones; include the last, smaller minibatch; clip the gradient norm between
    ``backward`` and ``step``. A minibatch of a single sample keeps its advantage as it
    is (the standard deviation of one number is undefined).
    """
    # YOUR CODE HERE (see docs/modules/m09_ppo_agent.md#ppo_update)
    raise NotImplementedError("m09.ppo_update: not implemented yet")


# --8<-- [end:ppo_update]
