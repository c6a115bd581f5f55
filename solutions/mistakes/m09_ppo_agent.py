"""The catalogued mistakes of m09: wrong versions of its graded functions."""

from __future__ import annotations

import builtins
import math
import types
from typing import Any

import torch
from torch import nn


def derive_bias_untouched(ref: Any):
    def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
        kept = layer.bias.detach().clone()
        ref.layer_init(layer, std, bias_const)
        with torch.no_grad():
            layer.bias.copy_(kept)
        return layer

    return layer_init


def derive_no_gain(ref: Any):
    def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
        return ref.layer_init(layer, 1.0, bias_const)

    return layer_init


def derive_returns_nothing(ref: Any):
    def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
        ref.layer_init(layer, std, bias_const)

    return layer_init


def derive_reaches_zero(ref: Any):
    def linear_annealing(optimizer, update, num_updates, initial_lr):
        return ref.linear_annealing(optimizer, update + 1, num_updates, initial_lr)

    return linear_annealing


def derive_first_group_only(ref: Any):
    def linear_annealing(optimizer, update, num_updates, initial_lr):
        others = [group["lr"] for group in optimizer.param_groups[1:]]
        lr = ref.linear_annealing(optimizer, update, num_updates, initial_lr)
        for group, old in zip(optimizer.param_groups[1:], others, strict=True):
            group["lr"] = old
        return lr

    return linear_annealing


def derive_returns_initial(ref: Any):
    def linear_annealing(optimizer, update, num_updates, initial_lr):
        ref.linear_annealing(optimizer, update, num_updates, initial_lr)
        return initial_lr

    return linear_annealing


def derive_value_not_squeezed(ref: Any):
    class ActorCritic(ref.ActorCritic):
        def get_value(self, obs):
            return super().get_value(obs).unsqueeze(-1)

    return ActorCritic


def derive_ignores_action(ref: Any):
    class ActorCritic(ref.ActorCritic):
        def get_action_and_value(self, obs, action=None):
            return super().get_action_and_value(obs, None)

    return ActorCritic


def derive_swapped_head_gains(ref: Any):
    class ActorCritic(ref.ActorCritic):
        def __init__(self, observation_space, action_space, hidden=64):
            super().__init__(observation_space, action_space, hidden)
            ref.layer_init(self.actor[4], std=1.0)
            ref.layer_init(self.critic[4], std=0.01)

    return ActorCritic


def _sampling_wrongly(ref: Any, sample):
    """An agent that evaluates as the reference does but samples with ``sample(agent, out)``
    (``out`` the actor's output for the observations)."""

    class ActorCritic(ref.ActorCritic):
        def __init__(self, observation_space, action_space, hidden=64):
            super().__init__(observation_space, action_space, hidden)
            self.space = action_space

        def get_action_and_value(self, obs, action=None):
            if action is None:
                action = sample(self, self.actor(obs))
            return super().get_action_and_value(obs, action)

    return ActorCritic


def derive_greedy_action(ref: Any):
    def sample(agent, out):
        if agent.continuous:
            return out + agent.log_std.exp() * torch.randn_like(out)
        return out.argmax(-1)

    return _sampling_wrongly(ref, sample)


def derive_mean_as_action(ref: Any):
    def sample(agent, out):
        if agent.continuous:
            return out
        return torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)

    return _sampling_wrongly(ref, sample)


def derive_unit_noise(ref: Any):
    def sample(agent, out):
        if agent.continuous:
            return out + torch.randn_like(out)
        return torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)

    return _sampling_wrongly(ref, sample)


def derive_clipped_sample(ref: Any):
    def sample(agent, out):
        if agent.continuous:
            low = torch.as_tensor(agent.space.low, dtype=out.dtype)
            high = torch.as_tensor(agent.space.high, dtype=out.dtype)
            return torch.clamp(out + agent.log_std.exp() * torch.randn_like(out), low, high)
        return torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)

    return _sampling_wrongly(ref, sample)


def derive_batched_log_std(ref: Any):
    class ActorCritic(ref.ActorCritic):
        def __init__(self, observation_space, action_space, hidden=64):
            super().__init__(observation_space, action_space, hidden)
            if self.continuous:
                self.log_std = nn.Parameter(torch.zeros(1, self.log_std.shape[0]))

        def get_action_and_value(self, obs, action=None):
            out = self.actor(obs)
            if not self.continuous:
                return super().get_action_and_value(obs, action)
            log_std = self.log_std.expand_as(out)
            if action is None:
                action = out + torch.exp(log_std) * torch.randn_like(out)
            module = __import__(type(self).__mro__[1].__module__, fromlist=["_"])
            log_prob = module.gaussian_log_prob(out, log_std, action)
            entropy = module.gaussian_entropy(log_std)
            return action, log_prob, entropy, self.get_value(obs)

    return ActorCritic


def _with_config(ref: Any, **changes: Any):
    def ppo_update(agent, optimizer, batch, config, generator):
        changed = types.SimpleNamespace(**{**vars(config), **changes})
        return ref.ppo_update(agent, optimizer, batch, changed, generator)

    return ppo_update


def derive_whole_batch_normalisation(ref: Any):
    def ppo_update(agent, optimizer, batch, config, generator):
        batch = dict(batch)
        if config.norm_adv:
            batch["advantages"] = ref.normalize_advantages(batch["advantages"])
        changed = types.SimpleNamespace(**{**vars(config), "norm_adv": False})
        return ref.ppo_update(agent, optimizer, batch, changed, generator)

    return ppo_update


def derive_skips_remainder(ref: Any):
    def whole_minibatches(start, stop=None, step=1):
        if stop is None:
            return builtins.range(start)
        return builtins.range(start, stop - (stop - start) % step, step)

    fn = ref.ppo_update
    namespace = {**fn.__globals__, "range": whole_minibatches}
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__)


class _KeepsGradients:
    """An optimiser whose zero_grad does nothing: gradients pile up step after step."""

    def __init__(self, optimizer):
        self._optimizer = optimizer

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._optimizer, name)


def derive_no_zero_grad(ref: Any):
    def ppo_update(agent, optimizer, batch, config, generator):
        return ref.ppo_update(agent, _KeepsGradients(optimizer), batch, config, generator)

    return ppo_update


def derive_xavier(ref: Any):
    def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
        nn.init.xavier_uniform_(layer.weight, gain=std)
        nn.init.constant_(layer.bias, bias_const)
        return layer

    return layer_init


def derive_compounding(ref: Any):
    def linear_annealing(optimizer, update, num_updates, initial_lr):
        frac = 1.0 - (update - 1.0) / num_updates
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * frac
        return optimizer.param_groups[0]["lr"]

    return linear_annealing


WRONG = {}

DERIVED = {
    ("layer_init", "bias-untouched"): derive_bias_untouched,
    ("layer_init", "no-gain"): derive_no_gain,
    ("layer_init", "returns-nothing"): derive_returns_nothing,
    ("linear_annealing", "reaches-zero"): derive_reaches_zero,
    ("linear_annealing", "first-group-only"): derive_first_group_only,
    ("linear_annealing", "returns-initial"): derive_returns_initial,
    ("ActorCritic", "value-not-squeezed"): derive_value_not_squeezed,
    ("ActorCritic", "ignores-action"): derive_ignores_action,
    ("ActorCritic", "swapped-gains"): derive_swapped_head_gains,
    ("ActorCritic", "batched-log-std"): derive_batched_log_std,
    ("ActorCritic", "greedy-action"): derive_greedy_action,
    ("ActorCritic", "mean-as-action"): derive_mean_as_action,
    ("ActorCritic", "unit-noise"): derive_unit_noise,
    ("ActorCritic", "clipped-sample"): derive_clipped_sample,
    ("ppo_update", "whole-batch-normalisation"): derive_whole_batch_normalisation,
    ("ppo_update", "raw-advantages"): lambda ref: _with_config(ref, norm_adv=False),
    ("ppo_update", "no-gradient-clipping"): lambda ref: _with_config(ref, max_grad_norm=math.inf),
    ("ppo_update", "skips-remainder"): derive_skips_remainder,
    ("ppo_update", "no-zero-grad"): derive_no_zero_grad,
    ("layer_init", "xavier"): derive_xavier,
    ("linear_annealing", "compounding"): derive_compounding,
}
