"""The catalogued mistakes of m03: wrong versions of its graded functions."""

from __future__ import annotations

import math

import torch


def ratio_inverted(new_log_probs, old_log_probs):
    return torch.exp(old_log_probs.detach() - new_log_probs)


def ratio_not_detached(new_log_probs, old_log_probs):
    return torch.exp(new_log_probs - old_log_probs)


def ratio_of_probabilities(new_log_probs, old_log_probs):
    return new_log_probs.exp() / old_log_probs.detach().exp()


def surrogate_negated(ratio, advantages):
    return -(ratio * advantages).mean()


def surrogate_sum(ratio, advantages):
    return (ratio * advantages).sum()


def surrogate_log_ratio(ratio, advantages):
    return (torch.log(ratio) * advantages).mean()


def kl_swapped(old_logits, new_logits):
    new_log_p = torch.log_softmax(new_logits, dim=-1)
    old_log_p = torch.log_softmax(old_logits, dim=-1)
    return (new_log_p.exp() * (new_log_p - old_log_p)).sum(dim=-1)


def kl_log_of_softmax(old_logits, new_logits):
    p = torch.softmax(old_logits, dim=-1)
    q = torch.softmax(new_logits, dim=-1)
    return (p * (torch.log(p) - torch.log(q))).sum(dim=-1)


def kl_unnormalised_logits(old_logits, new_logits):
    p = torch.softmax(old_logits, dim=-1)
    return (p * (old_logits - new_logits)).sum(dim=-1)


def kl_mean_over_actions(old_logits, new_logits):
    old_log_p = torch.log_softmax(old_logits, dim=-1)
    new_log_p = torch.log_softmax(new_logits, dim=-1)
    return (old_log_p.exp() * (old_log_p - new_log_p)).mean(dim=-1)


def approx_kl_swapped(old_log_probs, new_log_probs):
    log_ratio = old_log_probs - new_log_probs
    return (-log_ratio).mean(), (torch.exp(log_ratio) - 1.0 - log_ratio).mean()


def approx_kl_k2(old_log_probs, new_log_probs):
    log_ratio = new_log_probs - old_log_probs
    return (-log_ratio).mean(), (0.5 * log_ratio**2).mean()


def approx_kl_k1_sign(old_log_probs, new_log_probs):
    log_ratio = new_log_probs - old_log_probs
    return log_ratio.mean(), (torch.exp(log_ratio) - 1.0 - log_ratio).mean()


def cg_no_residual_update(matvec, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual.dot(residual)
    for _ in range(iters):
        if residual_sq < tol:
            break
        product = matvec(direction)
        alpha = residual_sq / direction.dot(product)
        x = x + alpha * direction
        new_residual_sq = residual.dot(residual)
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


def cg_step_without_matrix(matvec, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual.dot(residual)
    for _ in range(iters):
        if residual_sq < tol:
            break
        product = matvec(direction)
        alpha = residual_sq / direction.dot(direction)
        x = x + alpha * direction
        residual = residual - alpha * product
        new_residual_sq = residual.dot(residual)
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


def cg_steepest_descent(matvec, b, iters=10, tol=1e-10):
    x = torch.zeros_like(b)
    residual = b.clone()
    residual_sq = residual.dot(residual)
    for _ in range(iters):
        if residual_sq < tol:
            break
        product = matvec(residual)
        alpha = residual_sq / residual.dot(product)
        x = x + alpha * residual
        residual = residual - alpha * product
        residual_sq = residual.dot(residual)
    return x


def derive_cg_no_early_stop(ref):
    """The reference with a tolerance no residual can fall below: it never stops early."""

    def conjugate_gradient(matvec, b, iters=10, tol=1e-10):
        return ref.conjugate_gradient(matvec, b, iters, -math.inf)

    return conjugate_gradient


def search_halves_first(
    evaluate, full_step, expected_improve, max_kl, max_backtracks=10, accept_ratio=0.1
):
    for k in range(1, max_backtracks + 1):
        fraction = 0.5**k
        step = fraction * full_step
        improvement, kl = (float(v) for v in evaluate(step))
        if (
            kl <= max_kl
            and improvement > 0
            and improvement >= accept_ratio * fraction * float(expected_improve)
        ):
            return True, step
    return False, torch.zeros_like(full_step)


def search_ignores_kl(
    evaluate, full_step, expected_improve, max_kl, max_backtracks=10, accept_ratio=0.1
):
    for k in range(max_backtracks):
        fraction = 0.5**k
        step = fraction * full_step
        improvement, _ = (float(v) for v in evaluate(step))
        if improvement > 0 and improvement >= accept_ratio * fraction * float(expected_improve):
            return True, step
    return False, torch.zeros_like(full_step)


def search_unscaled_expectation(
    evaluate, full_step, expected_improve, max_kl, max_backtracks=10, accept_ratio=0.1
):
    for k in range(max_backtracks):
        fraction = 0.5**k
        step = fraction * full_step
        improvement, kl = (float(v) for v in evaluate(step))
        if (
            kl <= max_kl
            and improvement > 0
            and improvement >= accept_ratio * float(expected_improve)
        ):
            return True, step
    return False, torch.zeros_like(full_step)


def search_keeps_last_step(
    evaluate, full_step, expected_improve, max_kl, max_backtracks=10, accept_ratio=0.1
):
    step = full_step
    for k in range(max_backtracks):
        fraction = 0.5**k
        step = fraction * full_step
        improvement, kl = (float(v) for v in evaluate(step))
        if (
            kl <= max_kl
            and improvement > 0
            and improvement >= accept_ratio * fraction * float(expected_improve)
        ):
            return True, step
    return False, step


def ratio_no_exp(new_log_probs, old_log_probs):
    return new_log_probs - old_log_probs.detach()


def surrogate_ratio_detached(ratio, advantages):
    return (ratio.detach() * advantages).mean()


def approx_kl_k3_no_minus_one(old_log_probs, new_log_probs):
    log_ratio = new_log_probs - old_log_probs
    return (-log_ratio).mean(), (log_ratio.exp() - log_ratio).mean()


WRONG = {
    ("probability_ratio", "inverted"): ratio_inverted,
    ("probability_ratio", "no-detach"): ratio_not_detached,
    ("probability_ratio", "exp-separately"): ratio_of_probabilities,
    ("surrogate_objective", "negated"): surrogate_negated,
    ("surrogate_objective", "sum"): surrogate_sum,
    ("surrogate_objective", "log-ratio"): surrogate_log_ratio,
    ("categorical_kl", "swapped"): kl_swapped,
    ("categorical_kl", "log-of-softmax"): kl_log_of_softmax,
    ("categorical_kl", "unnormalised-logits"): kl_unnormalised_logits,
    ("categorical_kl", "mean-over-actions"): kl_mean_over_actions,
    ("approx_kl", "swapped-log-ratio"): approx_kl_swapped,
    ("approx_kl", "k2-for-k3"): approx_kl_k2,
    ("approx_kl", "k1-sign"): approx_kl_k1_sign,
    ("conjugate_gradient", "no-residual-update"): cg_no_residual_update,
    ("conjugate_gradient", "step-without-matrix"): cg_step_without_matrix,
    ("conjugate_gradient", "steepest-descent"): cg_steepest_descent,
    ("backtracking_line_search", "halves-first"): search_halves_first,
    ("backtracking_line_search", "ignores-kl"): search_ignores_kl,
    ("backtracking_line_search", "unscaled-expected-improvement"): search_unscaled_expectation,
    ("backtracking_line_search", "keeps-last-step"): search_keeps_last_step,
    ("probability_ratio", "no-exp"): ratio_no_exp,
    ("surrogate_objective", "ratio-detached"): surrogate_ratio_detached,
    ("approx_kl", "k3-no-minus-one"): approx_kl_k3_no_minus_one,
}

DERIVED = {
    ("conjugate_gradient", "no-early-stop"): derive_cg_no_early_stop,
}
