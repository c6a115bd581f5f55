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
    ### BEGIN SOLUTION
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    frac = 1.0 - (update - 1.0) / num_updates
    lr = frac * initial_lr
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
    ### END SOLUTION


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
        ### BEGIN SOLUTION
        obs_dim = int(np.prod(observation_space.shape))
        self.continuous = isinstance(action_space, gym.spaces.Box)
        shape = action_space.shape
        outputs = int(np.prod(shape)) if self.continuous else int(action_space.n)
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)),
            nn.Tanh(),
            layer_init(nn.Linear(hidden, outputs), std=0.01),
        )
        if self.continuous:
            self.log_std = nn.Parameter(torch.zeros(outputs))
        ### END SOLUTION

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) for a batch of observations.

        Args:
            obs: (B, obs_dim) float.

        Returns:
            (B,) float: the critic's output, its last dimension squeezed away.
        """
        ### BEGIN SOLUTION
        return self.critic(obs).squeeze(-1)
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        out = self.actor(obs)
        if self.continuous:
            log_std = self.log_std.expand_as(out)
            if action is None:
                action = out + torch.exp(log_std) * torch.randn_like(out)
            log_prob = gaussian_log_prob(out, log_std, action)
            entropy = gaussian_entropy(log_std)
        else:
            if action is None:
                action = torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)
            log_prob = categorical_log_prob(out, action)
            entropy = categorical_entropy(out)
        return action, log_prob, entropy, self.get_value(obs)
        ### END SOLUTION


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
    ### BEGIN SOLUTION
    data = {key: value.detach() for key, value in batch.items()}
    size = data["obs"].shape[0]
    sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
    steps = 0
    epochs = 0
    epoch_kl = 0.0
    for _ in range(config.update_epochs):
        order = torch.randperm(size, generator=generator).to(data["obs"].device)
        kls = []
        for start in range(0, size, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]
            _, new_log_probs, entropy, new_values = agent.get_action_and_value(
                data["obs"][idx], data["actions"][idx]
            )
            old_log_probs = data["log_probs"][idx]
            ratio = probability_ratio(new_log_probs, old_log_probs)
            advantages = data["advantages"][idx]
            if config.norm_adv and advantages.shape[0] > 1:
                advantages = normalize_advantages(advantages)
            pg_loss = clipped_surrogate_loss(advantages, ratio, config.clip_coef)
            v_loss = value_loss(
                new_values,
                data["values"][idx],
                data["returns"][idx],
                config.clip_coef,
                config.clip_vloss,
                config.vf_coef,
            )
            ent_loss = entropy_loss(entropy, config.ent_coef)
            loss = ppo_loss(pg_loss, v_loss, ent_loss)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                kls.append(approx_kl(old_log_probs, new_log_probs)[1].item())
                sums["clip_fraction"] += clip_fraction(ratio, config.clip_coef)
            sums["policy_loss"] += pg_loss.item()
            sums["value_loss"] += v_loss.item()
            sums["entropy"] += entropy.mean().item()
            steps += 1
        epochs += 1
        epoch_kl = sum(kls) / len(kls)
        if should_stop_early(epoch_kl, config.target_kl):
            break
    stats = {key: total / steps for key, total in sums.items()}
    stats["approx_kl"] = epoch_kl
    stats["explained_variance"] = explained_variance(data["values"], data["returns"])
    stats["epochs"] = float(epochs)
    return stats
    ### END SOLUTION


# --8<-- [end:ppo_update]
