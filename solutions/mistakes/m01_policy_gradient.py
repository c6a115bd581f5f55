"""The catalogued mistakes of m01: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def no_cut_at_dones(rewards, dones, gamma):
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def cut_with_next_done(rewards, dones, gamma):
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        next_not_done = not_done[t + 1] if t + 1 < rewards.shape[0] else torch.ones_like(running)
        running = rewards[t] + gamma * next_not_done * running
        returns[t] = running
    return returns


def accumulated_forward(rewards, dones, gamma):
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0]):
        running = rewards[t] + gamma * running
        returns[t] = running
        running = running * not_done[t]
    return returns


def last_reward_dropped(rewards, dones, gamma):
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = not_done[t] * (rewards[t] + gamma * running)
        returns[t] = running
    return returns


def log_of_softmax(logits, actions):
    return torch.log(torch.softmax(logits, dim=-1)).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def softmax_over_batch(logits, actions):
    return torch.log_softmax(logits, dim=0).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def raw_logits(logits, actions):
    return logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def probabilities(logits, actions):
    return torch.softmax(logits, dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def naive_entropy(logits):
    probs = torch.softmax(logits, dim=-1)
    return -(probs * torch.log(probs)).sum(dim=-1)


def entropy_no_minus(logits):
    log_probs = torch.log_softmax(logits, dim=-1)
    return (log_probs.exp() * log_probs).sum(dim=-1)


def entropy_over_batch(logits):
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=0)


def entropy_mean_over_actions(logits):
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).mean(dim=-1)


def pg_no_minus(log_probs, weights):
    return (log_probs * weights).mean()


def pg_sum(log_probs, weights):
    return -(log_probs * weights).sum()


def pg_probabilities(log_probs, weights):
    return -(log_probs.exp() * weights).mean()


def loop_skips_last_step(rewards, dones, gamma):
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0] - 1)):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    return returns


def pg_detached_log_probs(log_probs, weights):
    return -(log_probs.detach() * weights).mean()


WRONG = {
    ("discounted_returns", "no-cut"): no_cut_at_dones,
    ("discounted_returns", "next-done"): cut_with_next_done,
    ("discounted_returns", "forward"): accumulated_forward,
    ("discounted_returns", "drop-last-reward"): last_reward_dropped,
    ("discounted_returns", "loop-skips-last-step"): loop_skips_last_step,
    ("categorical_log_prob", "log-of-softmax"): log_of_softmax,
    ("categorical_log_prob", "softmax-dim"): softmax_over_batch,
    ("categorical_log_prob", "raw-logits"): raw_logits,
    ("categorical_log_prob", "probability"): probabilities,
    ("categorical_entropy", "zero-times-log-zero"): naive_entropy,
    ("categorical_entropy", "no-minus"): entropy_no_minus,
    ("categorical_entropy", "sum-over-batch"): entropy_over_batch,
    ("categorical_entropy", "mean-over-actions"): entropy_mean_over_actions,
    ("policy_gradient_loss", "no-minus"): pg_no_minus,
    ("policy_gradient_loss", "sum"): pg_sum,
    ("policy_gradient_loss", "probabilities"): pg_probabilities,
    ("policy_gradient_loss", "detached-log-probs"): pg_detached_log_probs,
}

DERIVED = {}
