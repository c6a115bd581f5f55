"""The catalogued mistakes of m05: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def value_loss_lightning(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef):
    if clip_vloss:
        predicted = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    else:
        predicted = new_values
    return vf_coef * torch.nn.functional.mse_loss(predicted, returns)


def value_loss_clipped_only(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef):
    if clip_vloss:
        predicted = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    else:
        predicted = new_values
    return vf_coef * 0.5 * ((predicted - returns) ** 2).mean()


def _value_loss_with(reduce, half, coef_power):
    def wrong(new_values, old_values, returns, clip_coef, clip_vloss, vf_coef):
        unclipped = (new_values - returns) ** 2
        if clip_vloss:
            clipped_values = old_values + torch.clamp(
                new_values - old_values, -clip_coef, clip_coef
            )
            squared = reduce(unclipped, (clipped_values - returns) ** 2)
        else:
            squared = unclipped
        return vf_coef**coef_power * half * squared.mean()

    return wrong


value_loss_min_for_max = _value_loss_with(torch.min, 0.5, 1)


value_loss_no_half = _value_loss_with(torch.max, 1.0, 1)


value_loss_vf_twice = _value_loss_with(torch.max, 0.5, 2)


value_loss_vf_forgotten = _value_loss_with(torch.max, 0.5, 0)


def entropy_wrong_sign(entropy, ent_coef):
    return ent_coef * entropy.mean()


def entropy_sum(entropy, ent_coef):
    return -ent_coef * entropy.sum()


def entropy_no_coef(entropy, ent_coef):
    return -entropy.mean()


def total_entropy_subtracted(pg_loss, v_loss, ent_loss):
    return pg_loss + v_loss - ent_loss


def total_value_subtracted(pg_loss, v_loss, ent_loss):
    return pg_loss - v_loss + ent_loss


def total_policy_negated(pg_loss, v_loss, ent_loss):
    return -pg_loss + v_loss + ent_loss


def _pg(advantages, ratio, eps):
    return torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - eps, 1 + eps)).mean()


def _vl(new, old, returns, eps, clip_vloss, vf_coef):
    squared = (new - returns) ** 2
    if clip_vloss:
        squared = torch.max(squared, (old + torch.clamp(new - old, -eps, eps) - returns) ** 2)
    return vf_coef * 0.5 * squared.mean()


def _losses(pg_loss, v_loss, ent_loss):
    return {
        "loss": pg_loss + ent_loss + v_loss,
        "pg_loss": pg_loss,
        "v_loss": v_loss,
        "ent_loss": ent_loss,
    }


def _normalised(advantages):
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def step_lightning_bug(
    new_log_probs,
    entropy,
    new_values,
    batch,
    clip_coef,
    ent_coef,
    vf_coef,
    clip_vloss,
    normalize_advantages,
):
    ratio = (new_log_probs - batch["log_probs"]).exp()
    advantages = batch["advantages"]
    if normalize_advantages:
        advantages = _normalised(advantages)
    pg_loss = _pg(batch["advantages"], ratio, clip_coef)
    v_loss = _vl(new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef)
    return _losses(pg_loss, v_loss, -ent_coef * entropy.mean())


def step_always_normalised(
    new_log_probs,
    entropy,
    new_values,
    batch,
    clip_coef,
    ent_coef,
    vf_coef,
    clip_vloss,
    normalize_advantages,
):
    ratio = (new_log_probs - batch["log_probs"]).exp()
    pg_loss = _pg(_normalised(batch["advantages"]), ratio, clip_coef)
    v_loss = _vl(new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef)
    return _losses(pg_loss, v_loss, -ent_coef * entropy.mean())


def step_inverted_ratio(
    new_log_probs,
    entropy,
    new_values,
    batch,
    clip_coef,
    ent_coef,
    vf_coef,
    clip_vloss,
    normalize_advantages,
):
    ratio = (batch["log_probs"] - new_log_probs).exp()
    advantages = batch["advantages"]
    if normalize_advantages:
        advantages = _normalised(advantages)
    pg_loss = _pg(advantages, ratio, clip_coef)
    v_loss = _vl(new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef)
    return _losses(pg_loss, v_loss, -ent_coef * entropy.mean())


def entropy_not_reduced(entropy, ent_coef):
    return -ent_coef * entropy


def total_value_halved(pg_loss, v_loss, ent_loss):
    return pg_loss + 0.5 * v_loss + ent_loss


def step_biased_std(
    new_log_probs,
    entropy,
    new_values,
    batch,
    clip_coef,
    ent_coef,
    vf_coef,
    clip_vloss,
    normalize_advantages,
):
    ratio = (new_log_probs - batch["log_probs"]).exp()
    advantages = batch["advantages"]
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std(unbiased=False) + 1e-8)
    pg_loss = _pg(advantages, ratio, clip_coef)
    v_loss = _vl(new_values, batch["values"], batch["returns"], clip_coef, clip_vloss, vf_coef)
    return _losses(pg_loss, v_loss, -ent_coef * entropy.mean())


WRONG = {
    ("value_loss", "lightning-value-loss"): value_loss_lightning,
    ("value_loss", "clipped-only"): value_loss_clipped_only,
    ("value_loss", "min-for-max"): value_loss_min_for_max,
    ("value_loss", "no-half"): value_loss_no_half,
    ("value_loss", "vf-coef-twice"): value_loss_vf_twice,
    ("value_loss", "vf-coef-forgotten"): value_loss_vf_forgotten,
    ("entropy_loss", "wrong-sign"): entropy_wrong_sign,
    ("entropy_loss", "sum"): entropy_sum,
    ("entropy_loss", "no-coef"): entropy_no_coef,
    ("ppo_loss", "entropy-subtracted"): total_entropy_subtracted,
    ("ppo_loss", "value-subtracted"): total_value_subtracted,
    ("ppo_loss", "policy-negated"): total_policy_negated,
    ("training_step_loss", "lightning-raw-advantages"): step_lightning_bug,
    ("training_step_loss", "always-normalised"): step_always_normalised,
    ("training_step_loss", "inverted-ratio"): step_inverted_ratio,
    ("entropy_loss", "not-reduced"): entropy_not_reduced,
    ("ppo_loss", "value-halved"): total_value_halved,
    ("training_step_loss", "biased-std"): step_biased_std,
}

DERIVED = {}
