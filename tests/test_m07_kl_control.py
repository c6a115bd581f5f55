"""m07's reference: the penalty's gradient, the adaptive beta in a feedback loop, and the
early-stopping rule of the single-file implementations."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from course.impl import Implementation

M07 = Implementation("solutions").module("m07")


def test_penalty_gradient_at_the_old_policy_is_the_surrogates():
    """At theta = theta_old the KL is at its minimum (gradient 0), so the penalised
    objective has the plain surrogate's gradient, whatever beta."""
    g = torch.Generator().manual_seed(0)
    old_logits = torch.randn(8, 3, generator=g)
    actions = torch.randint(0, 3, (8,), generator=g)
    advantages = torch.randn(8, generator=g)
    grads = []
    for beta in (0.0, 10.0):
        logits = old_logits.clone().requires_grad_(True)
        log_probs = torch.log_softmax(logits, -1).gather(-1, actions[:, None]).squeeze(-1)
        old_log_probs = torch.log_softmax(old_logits, -1).gather(-1, actions[:, None]).squeeze(-1)
        ratio = torch.exp(log_probs - old_log_probs)
        kl = kl_divergence(Categorical(logits=old_logits), Categorical(logits=logits)).mean()
        M07.kl_penalty_objective(ratio, advantages, kl, beta).backward()
        grads.append(logits.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_adaptive_beta_brings_the_kl_into_the_band():
    """A toy update whose KL falls as the penalty grows: KL = 0.3 / beta. From beta = 1
    (KL 0.3, far above a 0.01 target) the rule doubles beta until the KL is in the band,
    then leaves it alone."""
    target, beta = 0.01, 1.0
    history = []
    for _ in range(12):
        kl = 0.3 / beta
        history.append((beta, kl))
        beta = M07.update_kl_beta(beta, kl, target)
        assert isinstance(beta, float)
    final_beta, final_kl = history[-1]
    assert target / 1.5 <= final_kl <= target * 1.5
    assert [b for b, _ in history[-4:]] == [final_beta] * 4


@pytest.mark.parametrize("kl", [0.0, 0.005, 0.0099, 0.01, 0.0101, 0.02, 0.1])
@pytest.mark.parametrize("target_kl", [None, 0.01, 0.02])
def test_early_stopping_is_cleanrls_rule(kl, target_kl):
    expected = target_kl is not None and kl > target_kl
    for value in (kl, torch.tensor(kl, dtype=torch.float64)):
        answer = M07.should_stop_early(value, target_kl)
        assert type(answer) is bool
        assert answer == expected


def test_early_stopping_in_a_loop_stops_after_the_epoch_that_crosses():
    """As in CleanRL: the check runs after each epoch, on the last minibatch's KL."""
    kls_after_epoch = [0.002, 0.006, 0.011, 0.02]
    epochs_run = 0
    for kl in kls_after_epoch:
        epochs_run += 1
        if M07.should_stop_early(torch.tensor(kl), 0.01):
            break
    assert epochs_run == 3
