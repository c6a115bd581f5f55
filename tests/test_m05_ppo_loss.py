"""m05's reference: the single-file implementations' numbers, the bug of Lightning's PPO
example (quoted in the original notes), and a few optimisation steps on a tiny
actor-critic."""

from __future__ import annotations

import pytest
import torch

from course.impl import Implementation

IMPL = Implementation("solutions")
M01 = IMPL.module("m01")
M05 = IMPL.module("m05")


def _minibatch(seed: int, B: int = 16) -> dict:
    g = torch.Generator().manual_seed(seed)
    old_log_probs = -torch.rand(B, generator=g) * 2.0
    returns = torch.randn(B, generator=g) * 2.0
    values = returns + torch.randn(B, generator=g)
    return {
        "new_log_probs": old_log_probs + torch.randn(B, generator=g) * 0.3,
        "entropy": torch.rand(B, generator=g),
        "new_values": values + torch.randn(B, generator=g) * 0.5,
        "batch": {
            "log_probs": old_log_probs,
            "advantages": torch.randn(B, generator=g) * 3.0 + 1.0,
            "values": values,
            "returns": returns,
        },
    }


def cleanrl_losses(mb, clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv):
    """One minibatch's losses as CleanRL's ppo.py computes them."""
    batch = mb["batch"]
    ratio = (mb["new_log_probs"] - batch["log_probs"]).exp()
    mb_advantages = batch["advantages"]
    if norm_adv:
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()
    newvalue = mb["new_values"]
    if clip_vloss:
        v_loss_unclipped = (newvalue - batch["returns"]) ** 2
        v_clipped = batch["values"] + torch.clamp(newvalue - batch["values"], -clip_coef, clip_coef)
        v_loss_clipped = (v_clipped - batch["returns"]) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        v_loss = 0.5 * ((newvalue - batch["returns"]) ** 2).mean()
    entropy_loss = mb["entropy"].mean()
    loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
    return loss, pg_loss, v_loss, entropy_loss


@pytest.mark.parametrize("clip_vloss", [False, True])
@pytest.mark.parametrize("norm_adv", [False, True])
def test_agrees_with_the_single_file_implementations(clip_vloss, norm_adv):
    mb = _minibatch(1)
    out = M05.training_step_loss(
        mb["new_log_probs"], mb["entropy"], mb["new_values"], mb["batch"],
        0.2, 0.01, 0.5, clip_vloss, norm_adv,
    )  # fmt: skip
    loss, pg_loss, v_loss, entropy_mean = cleanrl_losses(mb, 0.2, 0.01, 0.5, clip_vloss, norm_adv)
    torch.testing.assert_close(out["loss"], loss)
    torch.testing.assert_close(out["pg_loss"], pg_loss)
    torch.testing.assert_close(out["v_loss"], 0.5 * v_loss)  # the course folds vf_coef in
    torch.testing.assert_close(out["ent_loss"], -0.01 * entropy_mean)


def lightning_policy_loss(mb, clip_coef, normalize_advantages):
    """The policy loss of Lightning's training step, bug included, written with the course's
    m04."""
    batch = mb["batch"]
    ratio = (mb["new_log_probs"] - batch["log_probs"]).exp()
    advantages = batch["advantages"]
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = IMPL.module("m04").clipped_surrogate_loss(batch["advantages"], ratio, clip_coef)
    return pg_loss


def test_lightnings_bug_shows_only_with_normalisation():
    mb = _minibatch(2)
    args = (mb["new_log_probs"], mb["entropy"], mb["new_values"], mb["batch"], 0.2, 0.01, 0.5)
    fixed_on = M05.training_step_loss(*args, True, True)["pg_loss"]
    fixed_off = M05.training_step_loss(*args, True, False)["pg_loss"]
    buggy_on = lightning_policy_loss(mb, 0.2, True)
    buggy_off = lightning_policy_loss(mb, 0.2, False)
    torch.testing.assert_close(buggy_off, fixed_off)
    torch.testing.assert_close(buggy_on, buggy_off)  # the flag does nothing in Lightning's step
    assert abs(float(fixed_on - buggy_on)) > 0.1


def test_step_uses_m04_and_leaves_the_batch_alone():
    assert M05.clipped_surrogate_loss is IMPL.module("m04").clipped_surrogate_loss
    mb = _minibatch(3)
    before = {k: v.clone() for k, v in mb["batch"].items()}
    M05.training_step_loss(
        mb["new_log_probs"], mb["entropy"], mb["new_values"], mb["batch"],
        0.2, 0.01, 0.5, True, True,
    )  # fmt: skip
    for key, value in before.items():
        assert torch.equal(mb["batch"][key], value), key


def test_clipped_value_loss_is_pessimistic():
    g = torch.Generator().manual_seed(4)
    for _ in range(20):
        returns = torch.randn(32, generator=g)
        old = returns + torch.randn(32, generator=g)
        new = old + torch.randn(32, generator=g)
        clipped = M05.value_loss(new, old, returns, 0.2, True, 0.5)
        plain = M05.value_loss(new, old, returns, 0.2, False, 0.5)
        assert float(clipped) >= float(plain)


def test_a_few_steps_lower_the_loss_of_a_tiny_actor_critic():
    torch.manual_seed(0)
    obs = torch.randn(64, 4)
    actions = torch.randint(0, 2, (64,))
    actor = torch.nn.Linear(4, 2)
    critic = torch.nn.Linear(4, 1)
    with torch.no_grad():
        logits = actor(obs)
        values = critic(obs).view(-1)
    batch = {
        "log_probs": M01.categorical_log_prob(logits, actions),
        "advantages": torch.randn(64),
        "values": values,
        "returns": values + torch.randn(64),
    }
    params = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(20):
        logits = actor(obs)
        out = M05.training_step_loss(
            M01.categorical_log_prob(logits, actions),
            M01.categorical_entropy(logits),
            critic(obs).view(-1),
            batch,
            0.2, 0.01, 0.5, True, True,
        )  # fmt: skip
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss"].item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
