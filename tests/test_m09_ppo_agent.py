"""m09: the reference update agrees with the single-file implementations' loop, the hidden
updates exercise every part of it, an update that writes into the caller's batch scores
nothing, and the PPO trainer runs and solves CartPole-v1, Acrobot-v1 and Pendulum-v1."""

from __future__ import annotations

import copy
import json
import types

import gymnasium as gym
import pytest
import torch
from torch.distributions import Categorical

from autograder.checks.m09_ppo_agent import update_probe
from autograder.engine import (
    InProcessExecutor,
    _generator,
    load_checks,
    override,
    reference,
    run_check,
)
from course.modules import BY_ID
from tests.test_isolation import run_cli

M09 = BY_ID["m09"]


def cleanrl_style_update(agent, optimizer, b, cfg, generator):
    """The update loop of CleanRL's ppo.py, written out independently (with the course's
    minibatch_size, remainder minibatch and per-epoch KL check)."""
    size = b["obs"].shape[0]
    for _ in range(cfg.update_epochs):
        order = torch.randperm(size, generator=generator)
        kls = []
        for start in range(0, size, cfg.minibatch_size):
            mb = order[start : start + cfg.minibatch_size]
            logits = agent.actor(b["obs"][mb])
            dist = Categorical(logits=logits)
            newlogprob, entropy = dist.log_prob(b["actions"][mb]), dist.entropy()
            newvalue = agent.critic(b["obs"][mb]).view(-1)
            logratio = newlogprob - b["log_probs"][mb]
            ratio = logratio.exp()
            with torch.no_grad():
                kls.append(((ratio - 1) - logratio).mean().item())
            adv = b["advantages"][mb]
            if cfg.norm_adv and len(mb) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 0.8, 1.2)).mean()
            v_unclipped = (newvalue - b["returns"][mb]) ** 2
            v_clipped = b["values"][mb] + torch.clamp(newvalue - b["values"][mb], -0.2, 0.2)
            v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b["returns"][mb]) ** 2).mean()
            loss = pg_loss - cfg.ent_coef * entropy.mean() + v_loss * cfg.vf_coef
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()
        if cfg.target_kl is not None and sum(kls) / len(kls) > cfg.target_kl:
            break


@pytest.mark.parametrize("target_kl", [None, 0.002])
def test_reference_update_matches_the_single_file_loop(target_kl):
    ref = reference(M09)
    env = gym.make("CartPole-v1")
    torch.manual_seed(0)
    agent = ref.ActorCritic(env.observation_space, env.action_space, hidden=16)
    twin = copy.deepcopy(agent)
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(37, 4, generator=g)
    with torch.no_grad():
        actions, log_probs, _, values = agent.get_action_and_value(obs)
    batch = {
        "obs": obs,
        "actions": actions,
        "log_probs": log_probs,
        "values": values,
        "advantages": torch.randn(37, generator=g),
        "returns": values + torch.randn(37, generator=g),
    }
    cfg = types.SimpleNamespace(
        update_epochs=4,
        minibatch_size=8,
        clip_coef=0.2,
        norm_adv=True,
        clip_vloss=True,
        vf_coef=0.5,
        ent_coef=0.01,
        max_grad_norm=0.5,
        target_kl=target_kl,
    )
    opt_a = torch.optim.Adam(agent.parameters(), lr=3e-3, eps=1e-5)
    opt_b = torch.optim.Adam(twin.parameters(), lr=3e-3, eps=1e-5)
    stats = ref.ppo_update(agent, opt_a, batch, cfg, torch.Generator().manual_seed(5))
    cleanrl_style_update(twin, opt_b, batch, cfg, torch.Generator().manual_seed(5))
    for p, q in zip(agent.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    assert stats["epochs"] == (4 if target_kl is None else stats["epochs"])
    if target_kl is not None:
        assert stats["epochs"] < 4 and stats["approx_kl"] > target_kl


def _ppo_update_check():
    return next(c for c in load_checks(M09) if c.function == "ppo_update")


def test_every_hidden_update_has_a_remainder_and_several_steps_and_clips(monkeypatch):
    """The hidden updates exercise the whole loop, whatever the seed: B is not a multiple
    of minibatch_size (a smaller last minibatch to include), there are at least two
    minibatches (zero_grad and per-minibatch normalisation matter), and the gradient norm
    passes max_grad_norm on some step of the reference's update (clipping acts)."""
    check = _ppo_update_check()
    norms = []

    def recording(parameters, max_norm, *args, **kwargs):
        total = original(parameters, max_norm, *args, **kwargs)
        norms.append((float(total), float(max_norm)))
        return total

    original = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    ref = reference(M09)
    for seed in range(1, 13):
        for name, case in check.hidden[0].draw(_generator(seed, check)):
            size, minibatch = case["batch"]["obs"].shape[0], case["config"]["minibatch_size"]
            assert size % minibatch != 0 and size > minibatch, (seed, name)
            norms.clear()
            update_probe(ref, "ppo_update", copy.deepcopy(case))
            assert any(total > limit for total, limit in norms), (seed, name, norms)


def _writes_into_batch(how: str):
    ref = reference(M09)

    def ppo_update(agent, optimizer, batch, config, generator):
        if how == "rebinds a key":
            batch["advantages"] = batch["advantages"] - batch["advantages"].mean()
        elif how == "changes a tensor in place":
            batch["advantages"].sub_(batch["advantages"].mean())
        else:
            batch["normalised"] = batch["advantages"] / batch["advantages"].std()
        return ref.ppo_update(agent, optimizer, batch, config, generator)

    return override(ref, ppo_update=ppo_update)


@pytest.mark.parametrize("how", ["rebinds a key", "changes a tensor in place", "adds a key"])
def test_writing_into_the_callers_batch_scores_nothing(how):
    """The batch dict belongs to the rollout: an update that writes into it fails every
    hidden case as a change of its input, so it scores nothing in grade."""
    check = _ppo_update_check()
    for seed in (1, 2):
        result = run_check(check, InProcessExecutor(_writes_into_batch(how)), reference(M09), seed)
        result.for_grade = True
        hidden = [c for c in result.cases if c.case.kind == "hidden"]
        assert hidden and all(c.failure is not None for c in hidden)
        assert all(c.failure.kind == "mutated" for c in hidden)
        assert result.score == 0.0


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_ppo_smoke(tmp_path, env_id):
    done = run_cli(
        "train",
        env_id,
        "--impl",
        "solutions",
        "--total-steps",
        "4096",
        "--out",
        "run",
        "--summary",
        "s.json",
        "--no-progress",
        "--set",
        "num_steps=128",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    for key in (
        "env",
        "seed",
        "impl",
        "total_steps",
        "wall_seconds",
        "solved",
        "solved_at_steps",
        "solved_at_seconds",
        "final_mean_return",
    ):
        assert key in summary
    assert summary["algo"] == "ppo"  # the default algorithm
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in (
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "entropy",
        "policy_loss",
        "value_loss",
        "learning_rate",
    ):
        assert column in header


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env_id", "seed"),
    [
        ("CartPole-v1", 1),
        ("CartPole-v1", 2),
        ("CartPole-v1", 3),
        ("Acrobot-v1", 1),
        ("Pendulum-v1", 1),
    ],
)
def test_ppo_solves(tmp_path, env_id, seed):
    done = run_cli(
        "train",
        env_id,
        "--impl",
        "solutions",
        "--seed",
        str(seed),
        "--summary",
        "s.json",
        "--out",
        "run",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["solved"] is True, summary
    assert summary["solved_at_steps"] <= summary["total_steps"]
