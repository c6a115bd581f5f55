"""The catalogued mistakes of m02: wrong versions of its graded functions."""

from __future__ import annotations

import torch


def advantages_not_detached(returns, values):
    return returns - values


def advantages_reversed(returns, values):
    return values.detach() - returns


def normalize_biased_std(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / (advantages.std(unbiased=False) + eps)


def normalize_eps_in_sqrt(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / torch.sqrt(advantages.var() + eps)


def normalize_no_centering(advantages, eps=1e-8):
    return advantages / (advantages.std() + eps)


def normalize_no_eps(advantages, eps=1e-8):
    return (advantages - advantages.mean()) / advantages.std()


def mse_no_half(values, returns):
    return ((values - returns) ** 2).mean()


def mse_sum(values, returns):
    return 0.5 * ((values - returns) ** 2).sum()


def mse_detached(values, returns):
    return 0.5 * ((values.detach() - returns) ** 2).mean()


def ev_over_predictions(values, returns):
    var_values = values.var()
    if var_values == 0:
        return float("nan")
    return float(1.0 - (returns - values).var() / var_values)


def ev_zero_when_constant(values, returns):
    var_returns = returns.var()
    if var_returns == 0:
        return 0.0
    return float(1.0 - (returns - values).var() / var_returns)


def ev_no_one_minus(values, returns):
    var_returns = returns.var()
    if var_returns == 0:
        return float("nan")
    return float((returns - values).var() / var_returns)


def ev_mixed_variances(values, returns):
    var_returns = returns.var(unbiased=False)
    if var_returns == 0:
        return float("nan")
    return float(1.0 - (returns - values).var() / var_returns)


def advantages_normalised(returns, values):
    advantages = returns - values.detach()
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def advantages_mean_return_baseline(returns, values):
    return returns - returns.mean()


def mse_huber(values, returns):
    return torch.nn.functional.smooth_l1_loss(values, returns)


WRONG = {
    ("advantages_from_baseline", "no-detach"): advantages_not_detached,
    ("advantages_from_baseline", "reversed"): advantages_reversed,
    ("normalize_advantages", "biased-std"): normalize_biased_std,
    ("normalize_advantages", "eps-in-sqrt"): normalize_eps_in_sqrt,
    ("normalize_advantages", "no-centering"): normalize_no_centering,
    ("normalize_advantages", "no-eps"): normalize_no_eps,
    ("value_mse_loss", "no-half"): mse_no_half,
    ("value_mse_loss", "sum"): mse_sum,
    ("value_mse_loss", "detached-values"): mse_detached,
    ("explained_variance", "over-predictions"): ev_over_predictions,
    ("explained_variance", "zero-when-constant"): ev_zero_when_constant,
    ("explained_variance", "no-one-minus"): ev_no_one_minus,
    ("explained_variance", "mixed-variances"): ev_mixed_variances,
    ("advantages_from_baseline", "normalised"): advantages_normalised,
    ("advantages_from_baseline", "mean-return-baseline"): advantages_mean_return_baseline,
    ("value_mse_loss", "huber"): mse_huber,
}

DERIVED = {}
