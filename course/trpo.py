"""TRPO's second-order machinery for a categorical policy (given code, not graded).

The graded pieces of m03 (the ratio, the surrogate, the KL, conjugate gradient and the
line search) come from the implementation chosen at run time, through
:class:`TrpoFunctions`; this file only wires them together:

1. g = grad of the surrogate L(theta) at theta_old (the vanilla policy gradient);
2. x ~ F^-1 g by conjugate gradient, where F v is the Hessian of the mean
   KL(pi_old || pi_theta) times v, computed by double backpropagation (never forming F);
3. the full step sqrt(2 delta / x.F x) * x, which reaches KL = delta under the quadratic
   model of the KL;
4. a backtracking line search that measures the real surrogate and KL.

Source: Schulman et al. (2015), "Trust Region Policy Optimization", section 6 and
appendix C; Spinning Up's TRPO and OpenAI Baselines' ``trpo_mpi`` follow the same steps.

Shapes: B batch, A actions, P parameters (flattened).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def flat_params(module: nn.Module) -> torch.Tensor:
    """All parameters of ``module`` as one detached (P,) vector."""
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def set_flat_params(module: nn.Module, flat: torch.Tensor) -> None:
    """Copy a (P,) vector into the parameters of ``module``, in ``parameters()`` order."""
    offset = 0
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            p.copy_(flat[offset : offset + n].view_as(p))
            offset += n
    if offset != flat.numel():
        raise ValueError(f"expected {offset} values, got {flat.numel()}")


def flat_grad(
    output: torch.Tensor, params: Iterable[torch.Tensor], create_graph: bool = False
) -> torch.Tensor:
    """The gradient of a scalar ``output`` with respect to ``params``, as one (P,) vector
    (zeros for parameters it does not depend on)."""
    params = list(params)
    grads = torch.autograd.grad(
        output, params, create_graph=create_graph, retain_graph=True, allow_unused=True
    )
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


# --8<-- [start:fisher_vector_product]
def fisher_vector_product(
    policy: nn.Module,
    obs: torch.Tensor,
    categorical_kl: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    damping: float = 0.1,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function v -> (F + damping * I) v, for the policy at its current parameters.

    F is the Hessian of the mean KL(pi_old || pi_theta) over the states ``obs``, taken
    at theta = theta_old, where it equals the Fisher information matrix of the policy.
    With k(theta) the mean KL and its gradient d(theta) (built once, with a graph), each
    product is one more backward pass: F v = grad_theta (d(theta) . v). F is P x P and
    never formed.

    Args:
        policy: maps (B, obs_dim) observations to (B, A) logits.
        obs: (B, obs_dim) the states of the batch.
        categorical_kl: the implementation's ``categorical_kl(old_logits, new_logits)``;
            it must be twice differentiable in ``new_logits``.
        damping: added times v, so F + damping * I is safely positive definite (F is
            only positive semi-definite, and is estimated from a finite batch).

    Returns:
        ``matvec``: (P,) -> (P,), without gradient.
    """
    params = list(policy.parameters())
    logits = policy(obs)  # (B, A)
    # KL(pi_old || pi_theta) with pi_old fixed: zero at theta_old, and so is its
    # gradient; its Hessian there is the Fisher matrix.
    mean_kl = categorical_kl(logits.detach(), logits).mean()
    kl_grad = flat_grad(mean_kl, params, create_graph=True)  # (P,), carries a graph

    def matvec(vector: torch.Tensor) -> torch.Tensor:
        product = flat_grad(kl_grad.dot(vector.detach()), params)  # (P,)
        return product.detach() + damping * vector.detach()

    return matvec


# --8<-- [end:fisher_vector_product]


@dataclass(frozen=True)
class TrpoFunctions:
    """The graded functions a TRPO update calls, from one implementation."""

    categorical_log_prob: Callable[..., torch.Tensor]
    probability_ratio: Callable[..., torch.Tensor]
    surrogate_objective: Callable[..., torch.Tensor]
    categorical_kl: Callable[..., torch.Tensor]
    approx_kl: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    conjugate_gradient: Callable[..., torch.Tensor]
    backtracking_line_search: Callable[..., tuple[bool, torch.Tensor]]

    @classmethod
    def from_impl(cls, impl: Any) -> TrpoFunctions:
        """Take them from an implementation (``course.impl.Implementation``): m01's
        log-probability, the rest from m03."""
        m01, m03 = impl.module("m01"), impl.module("m03")
        return cls(
            categorical_log_prob=m01.categorical_log_prob,
            probability_ratio=m03.probability_ratio,
            surrogate_objective=m03.surrogate_objective,
            categorical_kl=m03.categorical_kl,
            approx_kl=m03.approx_kl,
            conjugate_gradient=m03.conjugate_gradient,
            backtracking_line_search=m03.backtracking_line_search,
        )


# --8<-- [start:trpo_update]
def trpo_update(
    policy: nn.Module,
    obs: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    fns: TrpoFunctions,
    max_kl: float = 0.01,
    damping: float = 0.1,
    cg_iters: int = 10,
    max_backtracks: int = 10,
    accept_ratio: float = 0.1,
) -> dict[str, float]:
    """One TRPO update of ``policy`` on a batch; returns diagnostics to log.

    Args:
        policy: maps (B, obs_dim) observations to (B, A) logits; updated in place.
        obs: (B, obs_dim) float, the states.
        actions: (B,) int64, the actions taken (sampled from the policy as it is now).
        advantages: (B,) float, without gradient.
        fns: the graded functions to use.
        max_kl: the trust region's radius delta on the mean KL(pi_old || pi_new).
        damping: see :func:`fisher_vector_product`.
        cg_iters: conjugate-gradient iterations.
        max_backtracks, accept_ratio: passed to the line search.

    Returns:
        ``kl`` (the exact mean KL after the update), ``approx_kl_k1``, ``approx_kl_k3``,
        ``surrogate_improvement``, ``expected_improvement``, ``accepted`` (1 or 0),
        ``step_fraction`` (the fraction of the full step taken) and ``grad_norm``.
    """
    params = list(policy.parameters())
    with torch.no_grad():
        old_logits = policy(obs)  # (B, A)
        old_log_probs = fns.categorical_log_prob(old_logits, actions)  # (B,)

    def surrogate() -> torch.Tensor:
        new_log_probs = fns.categorical_log_prob(policy(obs), actions)
        ratio = fns.probability_ratio(new_log_probs, old_log_probs)  # (B,)
        return fns.surrogate_objective(ratio, advantages)

    # 1. The gradient of the surrogate at theta_old: the vanilla policy gradient.
    objective = surrogate()
    gradient = flat_grad(objective, params)  # (P,)
    objective = float(objective.detach())

    # 2. The natural-gradient direction x ~ F^-1 g, from products F v only.
    fvp = fisher_vector_product(policy, obs, fns.categorical_kl, damping)
    direction = fns.conjugate_gradient(fvp, gradient, cg_iters)  # (P,)

    # 3. Scale it so that the quadratic model of the KL, 0.5 s.F s, equals max_kl.
    curvature = float(direction.dot(fvp(direction)))  # x.F x
    theta_old = flat_params(policy)
    if not curvature > 0 or not math.isfinite(curvature):
        return _no_step(gradient)
    full_step = math.sqrt(2.0 * max_kl / curvature) * direction  # (P,)
    expected_improve = float(gradient.dot(full_step))

    # 4. Line search on the real surrogate and the real KL.
    def evaluate(step: torch.Tensor) -> tuple[float, float]:
        set_flat_params(policy, theta_old + step)
        with torch.no_grad():
            improvement = float(surrogate()) - objective
            kl = float(fns.categorical_kl(old_logits, policy(obs)).mean())
        return improvement, kl

    accepted, step = fns.backtracking_line_search(
        evaluate, full_step, expected_improve, max_kl, max_backtracks, accept_ratio
    )
    set_flat_params(policy, theta_old + step)

    full_norm = full_step.norm()
    with torch.no_grad():
        new_logits = policy(obs)
        new_log_probs = fns.categorical_log_prob(new_logits, actions)
        k1, k3 = fns.approx_kl(old_log_probs, new_log_probs)
        kl = fns.categorical_kl(old_logits, new_logits).mean()
        improvement = float(surrogate()) - objective
    return {
        "kl": float(kl),
        "approx_kl_k1": float(k1),
        "approx_kl_k3": float(k3),
        "surrogate_improvement": improvement,
        "expected_improvement": expected_improve,
        "accepted": float(bool(accepted)),
        "step_fraction": float(step.norm() / full_norm) if full_norm > 0 else 0.0,
        "grad_norm": float(gradient.norm()),
    }


# --8<-- [end:trpo_update]


def _no_step(gradient: torch.Tensor) -> dict[str, float]:
    """Diagnostics of an update that could not propose a step (a zero gradient)."""
    return {
        "kl": 0.0,
        "approx_kl_k1": 0.0,
        "approx_kl_k3": 0.0,
        "surrogate_improvement": 0.0,
        "expected_improvement": 0.0,
        "accepted": 0.0,
        "step_fraction": 0.0,
        "grad_norm": float(gradient.norm()),
    }
