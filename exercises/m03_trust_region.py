# Exercise m03: The ratio objective and the trust region (TRPO).
# Replace every `raise NotImplementedError(...)` with your code, then run
#     ppo-course check m03
# Generated from solutions/m03_trust_region.py by `ppo-course build`:
# the signatures, docstrings and given code are the reference's.
"""Module m03: the ratio objective and the trust region (TRPO).

The policy gradient of m01 is only valid at the parameters that collected the data. To
take more than one small step per batch we need an objective that evaluates a *new*
policy on data from the *old* one: importance sampling gives the surrogate

    L(theta) = E_old[ r_theta(a|s) * A(s, a) ],   r_theta = pi_theta(a|s) / pi_old(a|s),

whose gradient at theta = theta_old is exactly the vanilla policy gradient. Far from
theta_old the surrogate stops being a good guide, so TRPO maximises it only inside a
trust region, E_s[ KL(pi_old || pi_theta) ] <= delta: a natural-gradient direction found
by conjugate gradient, then a backtracking line search that checks the constraint.

This module builds the pieces: the ratio, the surrogate, the exact and the sampled KL,
the conjugate-gradient solver and the line search. ``course/trpo.py`` assembles them
into a TRPO update.

Shapes: B batch, A actions, P parameters (the length of a flattened parameter vector).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


# --8<-- [start:probability_ratio]
def probability_ratio(
    new_log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
) -> torch.Tensor:
    """The importance ratio of the new policy to the one that collected the data.

    r_i = pi_theta(a_i|s_i) / pi_old(a_i|s_i)
        = exp(log pi_theta(a_i|s_i) - log pi_old(a_i|s_i))

    Source: Schulman et al. (2015), "Trust Region Policy Optimization", eq. (14);
    Schulman et al. (2017), "Proximal Policy Optimization Algorithms", section 3.

    Args:
        new_log_probs: (B,) float, log pi_theta(a_i|s_i) under the current parameters,
            carrying the gradient.
        old_log_probs: (B,) float, log pi_old(a_i|s_i), recorded when the data was
            collected.

    Returns:
        (B,) float, r_i > 0, differentiable with respect to ``new_log_probs`` only.

    Trap: the old policy is a constant: detach ``old_log_probs``, or the gradient also
    pushes the behaviour policy around. Subtract the log-probabilities and exponentiate
    once; ``exp(new) / exp(old)`` is 0 / 0 = nan for unlikely actions.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#probability_ratio)
    raise NotImplementedError("m03.probability_ratio: not implemented yet")


# --8<-- [end:probability_ratio]


# --8<-- [start:surrogate_objective]
def surrogate_objective(ratio: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """The importance-sampled surrogate objective, to maximise.

    L(theta) = (1/B) sum_i r_i(theta) * A_i

    At r = 1 (theta = theta_old) its gradient is
    (1/B) sum_i grad log pi_theta(a_i|s_i) * A_i, the vanilla policy gradient, because
    grad r = r * grad log pi_theta.

    Source: Kakade & Langford (2002), "Approximately optimal approximate reinforcement
    learning"; Schulman et al. (2015), "Trust Region Policy Optimization", eq. (14).

    Args:
        ratio: (B,) float, r_i from ``probability_ratio``, carrying the gradient.
        advantages: (B,) float, A_i, without gradient.

    Returns:
        A scalar (0-dim) tensor, an objective: larger is better.

    Trap: this is an objective, not a loss: no minus sign (negate it yourself where an
    optimiser minimises). And it weights the ratio, not the log of it: mean(log r * A)
    has the same gradient at r = 1 but a different value, and a different gradient
    everywhere else.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#surrogate_objective)
    raise NotImplementedError("m03.surrogate_objective: not implemented yet")


# --8<-- [end:surrogate_objective]


# --8<-- [start:categorical_kl]
def categorical_kl(old_logits: torch.Tensor, new_logits: torch.Tensor) -> torch.Tensor:
    """The exact KL divergence from the old categorical policy to the new, per state.

    KL(pi_old || pi_new) = sum_a pi_old(a) * (log pi_old(a) - log pi_new(a)),
    with pi = softmax(logits).

    Source: Kullback & Leibler (1951); the constraint of Schulman et al. (2015), "Trust
    Region Policy Optimization", eq. (12). Compare
    ``torch.distributions.kl_divergence``.

    Args:
        old_logits: (B, A) float, the logits of the policy that collected the data.
        new_logits: (B, A) float, the logits of the current policy.

    Returns:
        (B,) float, KL >= 0, zero where the two distributions are equal. The gradient
        flows into both arguments: a caller that needs the old policy fixed passes
        ``old_logits.detach()``.

    Trap: KL is not symmetric. TRPO's constraint is KL(old || new): the expectation is
    under the old policy, the one the data came from. Work with log-softmax: logits are
    only defined up to a constant per row, and ``log(softmax(...))`` gives
    0 * -inf = nan when a probability underflows.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#categorical_kl)
    raise NotImplementedError("m03.categorical_kl: not implemented yet")


# --8<-- [end:categorical_kl]


# --8<-- [start:approx_kl]
def approx_kl(
    old_log_probs: torch.Tensor, new_log_probs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sample estimates of KL(pi_old || pi_new), from the taken actions' log-probs.

    The actions a_i were sampled from pi_old. With
    log r_i = new_log_probs_i - old_log_probs_i and r_i = exp(log r_i):
        k1 = (1/B) sum_i -log r_i
        k3 = (1/B) sum_i (r_i - 1) - log r_i

    Both are unbiased; k3 has lower variance and every term is >= 0 (since
    x - 1 >= log x), while k1's terms (and even its mean) can be negative.

    Source: J. Schulman (2020), "Approximating KL Divergence",
    joschu.net/blog/kl-approx.html; PPO implementations log k3 as ``approx_kl``
    (CleanRL's ``ppo.py``).

    Args:
        old_log_probs: (B,) float, log pi_old(a_i|s_i), actions a_i sampled from pi_old.
        new_log_probs: (B,) float, log pi_new(a_i|s_i) of the same actions.

    Returns:
        A tuple (k1, k3) of two 0-dim float tensors. They are diagnostics: read them
        with ``.item()``, or compute them under ``torch.no_grad()``.

    Trap: the sign of log r. The estimators are for KL(old || new), an expectation under
    the old policy, so log r = new - old and k1 = mean(old - new). With
    log r = old - new, k1 changes sign and k3 is biased: that formula would estimate
    KL(new || old) only if the actions had been sampled from the new policy.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#approx_kl)
    raise NotImplementedError("m03.approx_kl: not implemented yet")


# --8<-- [end:approx_kl]


# --8<-- [start:conjugate_gradient]
def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int = 10,
    tol: float = 1e-10,
) -> torch.Tensor:
    """Solve F x = b for a symmetric positive-definite F, using only products F v.

    Start from x = 0, residual r = b, direction p = b. Then, while fewer than ``iters``
    products have been made and r.r >= tol:
        alpha = (r.r) / (p.F p);   x <- x + alpha p;   r <- r - alpha F p
        beta = (r_new.r_new) / (r.r);   p <- r_new + beta p

    In TRPO, F is the Fisher matrix (P x P, far too big to build) and b the policy
    gradient; ``matvec`` computes F v without ever forming F.

    Source: Hestenes & Stiefel (1952); Nocedal & Wright, *Numerical Optimization* (2nd
    ed.), algorithm 5.2; Schulman et al. (2015), "Trust Region Policy Optimization",
    appendix C.

    Args:
        matvec: a function v -> F v, (P,) -> (P,).
        b: (P,) float, the right-hand side.
        iters: the most products F v to make (each is one iteration).
        tol: stop as soon as the residual's squared norm r.r falls below ``tol``; this
            test comes before each product, so b = 0 returns zeros without any product.

    Returns:
        (P,) float, same dtype as ``b``: the approximate solution x ~ F^-1 b.

    Trap: keep the residual up to date (r <- r - alpha F p): it is both the stopping
    test and the next direction. And test it before dividing: once r.r is 0, p.F p is 0
    too, and alpha = 0 / 0 = nan.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#conjugate_gradient)
    raise NotImplementedError("m03.conjugate_gradient: not implemented yet")


# --8<-- [end:conjugate_gradient]


# --8<-- [start:backtracking_line_search]
def backtracking_line_search(
    evaluate: Callable[[torch.Tensor], tuple[float, float]],
    full_step: torch.Tensor,
    expected_improve: float,
    max_kl: float,
    max_backtracks: int = 10,
    accept_ratio: float = 0.1,
) -> tuple[bool, torch.Tensor]:
    """Shrink a proposed step until it improves the surrogate and stays in the region.

    For k = 0, 1, ..., max_backtracks - 1, with fraction f = 0.5^k and
    step = f * full_step:
        improvement, kl = evaluate(step)
        accept if  kl <= max_kl  and  improvement > 0
               and improvement >= accept_ratio * f * expected_improve.

    ``expected_improve`` is the improvement the linear model predicts for the full step,
    g . full_step; it shrinks in proportion to the step.

    Source: Schulman et al. (2015), "Trust Region Policy Optimization", appendix C;
    the line search of OpenAI Baselines' ``trpo_mpi`` and of Spinning Up's TRPO.

    Args:
        evaluate: a function step -> (improvement, kl): the change of the surrogate and
            the mean KL(pi_old || pi_new) for the parameters moved by ``step``
            (Python floats or 0-dim tensors).
        full_step: (P,) float, the step for fraction 1.
        expected_improve: the improvement predicted for ``full_step``.
        max_kl: the trust region's radius delta.
        max_backtracks: how many fractions to try, 1 first.
        accept_ratio: the share of the predicted improvement a step must achieve.

    Returns:
        ``(True, f * full_step)`` for the first fraction f accepted, or
        ``(False, torch.zeros_like(full_step))`` when none is: the parameters stay put.

    Trap: try the full step first (f = 1), and scale the expected improvement by the
    same fraction as the step. When every fraction fails, return a zero step, not the
    last one tried: that one was rejected.
    """
    # YOUR CODE HERE (see docs/modules/m03_trust_region.md#backtracking_line_search)
    raise NotImplementedError("m03.backtracking_line_search: not implemented yet")


# --8<-- [end:backtracking_line_search]
