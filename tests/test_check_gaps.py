"""Wrong versions that once got through: each is caught by the public cases (known outputs
and properties), whatever the hidden seed, and correct variants still pass."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical, Normal

from autograder import engine
from course.modules import BY_ID
from tests.helpers import run_in_process

SEEDS = (1, 7, 1234, 99991)


def _check(module_id: str, function: str):
    module = BY_ID[module_id]
    return next(c for c in engine.load_checks(module) if c.function == function)


def _public_failures(check, namespace, seed):
    result = run_in_process(check, namespace, seed=seed)
    return result, [c for c in result.cases if c.case.kind != "hidden" and not c.passed]


# ----------------------------------------------------------------------------- m09 sampling


def _actor_critic(sample):
    reference = engine.reference(BY_ID["m09"])

    class ActorCritic(reference.ActorCritic):
        def get_action_and_value(self, obs, action=None):
            if action is None:
                action = sample(self, self.actor(obs))
            return super().get_action_and_value(obs, action)

    return engine.override(reference, ActorCritic=ActorCritic)


def _categorical_or_normal(agent, out):
    if agent.continuous:
        return Normal(out, agent.log_std.exp().expand_as(out)).sample()
    return Categorical(logits=out).sample()


def _greedy(agent, out):
    return out if agent.continuous else out.argmax(-1)


def _unit_noise(agent, out):
    if agent.continuous:
        return out + torch.randn_like(out)
    return Categorical(logits=out).sample()


def _clipped(agent, out):
    if agent.continuous:
        return (out + agent.log_std.exp() * torch.randn_like(out)).clamp(-2.0, 2.0)
    return Categorical(logits=out).sample()


def _log_std_once(agent, out):
    # exp(log_std) applied twice: a spread of exp(exp(log_std))
    if agent.continuous:
        return out + agent.log_std.exp().exp() * torch.randn_like(out)
    return Categorical(logits=out).sample()


def _softmax_over_batch(agent, out):
    if agent.continuous:
        return Normal(out, agent.log_std.exp()).sample()
    return torch.multinomial(torch.softmax(out, dim=0), 1).squeeze(-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_correct_sampler_written_differently_passes(seed):
    check = _check("m09", "ActorCritic")
    result = run_in_process(check, _actor_critic(_categorical_or_normal), seed=seed)
    assert result.passed, [(c.case.name, c.mismatch) for c in result.cases if not c.passed]


@pytest.mark.parametrize(
    "sample", [_greedy, _unit_noise, _clipped, _log_std_once, _softmax_over_batch]
)
@pytest.mark.parametrize("seed", SEEDS)
def test_wrong_sampling_is_caught_by_the_public_cases(sample, seed):
    check = _check("m09", "ActorCritic")
    result, failing = _public_failures(check, _actor_critic(sample), seed)
    assert any("sample" in c.case.name for c in failing), [c.case.name for c in failing]
    assert result.score < check.points


# ----------------------------------------------------------------------------- m02 inputs


def _numpy_explained_variance(values, returns):
    import numpy as np

    v, g = values.numpy(), returns.numpy()
    var = float(np.var(g, ddof=1))
    return float("nan") if var == 0 else float(1.0 - np.var(g - v, ddof=1) / var)


def _float32_normalize(advantages, eps=1e-8):
    a = advantages.float()
    return (a - a.mean()) / (a.std() + eps)


def _float32_advantages(returns, values):
    return (returns - values).detach().float()


def _float32_value_loss(values, returns):
    return 0.5 * ((values.float() - returns.float()) ** 2).mean()


def _squeezed_value_loss(values, returns):
    # .squeeze() then indexing a batch of one: a 0-d tensor has no length
    error = (values - returns).squeeze()
    return 0.5 * sum(e**2 for e in error) / len(error)


@pytest.mark.parametrize(
    ("function", "wrong"),
    [
        ("explained_variance", _numpy_explained_variance),
        ("normalize_advantages", _float32_normalize),
        ("advantages_from_baseline", _float32_advantages),
        ("value_mse_loss", _float32_value_loss),
        ("value_mse_loss", _squeezed_value_loss),
    ],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_inputs_as_in_training_are_caught_by_the_public_cases(function, wrong, seed):
    check = _check("m02", function)
    namespace = engine.override(engine.reference(check.module), **{function: wrong})
    result, failing = _public_failures(check, namespace, seed)
    assert any(c.case.kind == "known" for c in failing), [c.case.name for c in failing]
    assert result.score < check.points


# ----------------------------------------------------------------------------- m09 inputs


def _first_axis_agent():
    import gymnasium as gym

    reference = engine.reference(BY_ID["m09"])

    class ActorCritic(reference.ActorCritic):
        def __init__(self, observation_space, action_space, hidden=64):
            flat = gym.spaces.Box(-1.0, 1.0, (observation_space.shape[0],))
            super().__init__(flat, action_space, hidden)

    return engine.override(reference, ActorCritic=ActorCritic)


def test_an_obs_dim_from_the_first_axis_is_caught_by_the_public_cases():
    check = _check("m09", "ActorCritic")
    for seed in SEEDS:
        result, failing = _public_failures(check, _first_axis_agent(), seed)
        assert any("observation space" in c.case.name for c in failing)
        assert result.score < check.points


def _update_variant(change):
    reference = engine.reference(BY_ID["m09"])

    def ppo_update(agent, optimizer, batch, config, generator):
        return change(reference, agent, optimizer, batch, config, generator)

    return engine.override(reference, ppo_update=ppo_update)


def _normalises_a_lone_sample(ref, agent, optimizer, batch, config, generator):
    """The reference without its size test: every minibatch is normalised, one sample
    included (its std is nan)."""
    import types

    def surrogate(advantages, ratio, clip_coef):
        if config.norm_adv:
            advantages = ref.normalize_advantages(advantages)
        return ref.clipped_surrogate_loss(advantages, ratio, clip_coef)

    fn = ref.ppo_update
    patched = types.FunctionType(
        fn.__code__, {**fn.__globals__, "clipped_surrogate_loss": surrogate}, fn.__name__
    )
    plain = types.SimpleNamespace(**{**vars(config), "norm_adv": False})
    return patched(agent, optimizer, batch, plain, generator)


def _centres_in_the_callers_dict(ref, agent, optimizer, batch, config, generator):
    # Per-minibatch normalisation does not see a shift, so only the caller notices.
    if config.norm_adv:
        batch["advantages"] = batch["advantages"] - batch["advantages"].mean()
    return ref.ppo_update(agent, optimizer, batch, config, generator)


@pytest.mark.parametrize(
    ("change", "case"),
    [
        (_normalises_a_lone_sample, "one sample"),
        (_centres_in_the_callers_dict, ""),
    ],
)
def test_update_gaps_are_caught_by_the_public_cases(change, case):
    check = _check("m09", "ppo_update")
    namespace = _update_variant(change)
    for seed in SEEDS[:2]:
        result, failing = _public_failures(check, namespace, seed)
        assert any(case in c.case.name for c in failing), [c.case.name for c in failing]
        if change is _centres_in_the_callers_dict:
            assert any(c.failure is not None and c.failure.kind == "mutated" for c in failing)
        assert result.score < check.points


# ----------------------------------------------------------------------------- m06 flags


def _added_flags_gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    """GAE with done = terminated + truncated: right for bools, 2 for float flags that
    coincide."""
    not_term = 1.0 - terminated.to(rewards.dtype)
    not_done = 1.0 - (terminated + truncated).to(rewards.dtype)
    deltas = rewards + gamma * not_term * next_values - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


@pytest.mark.parametrize("seed", SEEDS)
def test_added_float_flags_are_caught_by_the_public_cases(seed):
    check = _check("m06", "compute_gae")
    namespace = engine.override(engine.reference(check.module), compute_gae=_added_flags_gae)
    result, failing = _public_failures(check, namespace, seed)
    assert any("together" in c.case.name for c in failing), [c.case.name for c in failing]
    assert result.score < check.points


# ----------------------------------------------------------------------------- batches of one


def _squeezed_log_prob(logits, actions):
    return torch.log_softmax(logits, -1).gather(-1, actions.long().unsqueeze(-1)).squeeze()


def _squeezed_sample(agent, out):
    if agent.continuous:
        return out + agent.log_std.exp() * torch.randn_like(out)
    return torch.multinomial(torch.softmax(out, -1), 1).squeeze()


@pytest.mark.parametrize("seed", SEEDS)
def test_squeeze_bugs_are_caught_by_the_public_cases(seed):
    check = _check("m01", "categorical_log_prob")
    wrong = engine.override(engine.reference(check.module), categorical_log_prob=_squeezed_log_prob)
    _, failing = _public_failures(check, wrong, seed)
    assert any("batch of one" in c.case.name for c in failing)
    check = _check("m09", "ActorCritic")
    _, failing = _public_failures(check, _actor_critic(_squeezed_sample), seed)
    assert any("one observation" in c.case.name for c in failing)


# ----------------------------------------------------------------------------- devices


def _returns_on_the_cpu(rewards, dones, gamma):
    T, N = rewards.shape
    returns = torch.zeros(T, N)  # no device=: the CPU, whatever the rewards' device
    running = torch.zeros(N)
    for t in reversed(range(T)):
        running = rewards[t] + gamma * (1.0 - dones[t].float()) * running
        returns[t] = running
    return returns


def _gae_on_the_cpu(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    advantages, returns = engine.reference(BY_ID["m06"]).compute_gae(
        rewards, values, next_values, terminated, truncated, gamma, gae_lambda
    )
    buffer = torch.zeros(*rewards.shape)
    buffer.copy_(advantages)
    return buffer, returns


@pytest.mark.parametrize(
    ("module_id", "function", "wrong"),
    [("m01", "discounted_returns", _returns_on_the_cpu), ("m06", "compute_gae", _gae_on_the_cpu)],
)
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_a_buffer_made_without_device_is_caught_by_the_public_cases(
    module_id, function, wrong, seed
):
    check = _check(module_id, function)
    namespace = engine.override(engine.reference(check.module), **{function: wrong})
    result, failing = _public_failures(check, namespace, seed)
    names = [c.case.name for c in failing]
    assert "property: makes its buffers on the inputs' device" in names
    assert result.score < check.points
