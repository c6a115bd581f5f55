"""m03: the reference agrees with torch, the given TRPO code is right, and TRPO learns."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from autograder.core import CORE_CAP
from course import cli
from course.impl import Implementation
from course.trpo import (
    TrpoFunctions,
    fisher_vector_product,
    flat_params,
    set_flat_params,
    trpo_update,
)
from tests.helpers import grade_version, with_a_cpu_buffer


@pytest.fixture(scope="module")
def m03():
    return Implementation("solutions").module("m03")


@pytest.fixture(scope="module")
def fns():
    return TrpoFunctions.from_impl(Implementation("solutions"))


def _tiny_policy(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))


@pytest.mark.parametrize(("B", "A", "scale"), [(1, 2, 1.0), (7, 3, 3.0), (16, 6, 10.0)])
def test_categorical_kl_agrees_with_torch_distributions(m03, B, A, scale):
    g = torch.Generator().manual_seed(B * 100 + A)
    old = torch.randn(B, A, generator=g) * scale
    new = torch.randn(B, A, generator=g) * scale
    expected = kl_divergence(Categorical(logits=old), Categorical(logits=new))
    torch.testing.assert_close(m03.categorical_kl(old, new), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [2, 5, 12])
def test_conjugate_gradient_agrees_with_a_dense_solve(m03, n):
    g = torch.Generator().manual_seed(n)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    matrix = m @ m.T + 0.5 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x = m03.conjugate_gradient(lambda v: matrix @ v, b, iters=3 * n, tol=1e-20)
    torch.testing.assert_close(x, torch.linalg.solve(matrix, b), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_fisher_vector_product_is_the_hessian_of_the_mean_kl(m03, damping):
    policy = _tiny_policy()
    obs = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    theta_old = flat_params(policy)
    with torch.no_grad():
        old_logits = policy(obs)
    shapes = [(name, p.shape) for name, p in policy.named_parameters()]

    def mean_kl(theta: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in shapes:
            params[name] = theta[offset : offset + shape.numel()].view(shape)
            offset += shape.numel()
        logits = torch.func.functional_call(policy, params, (obs,))
        return m03.categorical_kl(old_logits, logits).mean()

    hessian = torch.autograd.functional.hessian(mean_kl, theta_old)  # (P, P)
    vector = torch.randn(theta_old.numel(), generator=torch.Generator().manual_seed(2))
    fvp = fisher_vector_product(policy, obs, m03.categorical_kl, damping)
    torch.testing.assert_close(
        fvp(vector), hessian @ vector + damping * vector, rtol=1e-4, atol=1e-6
    )
    # At theta_old the KL's Hessian is the Fisher matrix E[grad log pi grad log pi^T].
    fisher = torch.zeros_like(hessian)
    for s in range(obs.shape[0]):
        probs = torch.softmax(old_logits[s], -1)
        for a in range(probs.numel()):
            policy.zero_grad()
            torch.log_softmax(policy(obs[s : s + 1]), -1)[0, a].backward()
            score = torch.cat([p.grad.reshape(-1) for p in policy.parameters()])
            fisher += probs[a] * torch.outer(score, score) / obs.shape[0]
    torch.testing.assert_close(hessian, fisher, rtol=1e-4, atol=1e-6)


def test_flat_params_round_trip():
    policy = _tiny_policy()
    theta = flat_params(policy)
    set_flat_params(policy, theta + 1.0)
    torch.testing.assert_close(flat_params(policy), theta + 1.0)
    with pytest.raises(ValueError):
        set_flat_params(policy, torch.zeros(theta.numel() + 1))


def test_trpo_update_stays_in_the_trust_region_and_improves(fns):
    torch.manual_seed(0)
    policy = _tiny_policy(3)
    g = torch.Generator().manual_seed(4)
    obs = torch.randn(64, 3, generator=g)
    with torch.no_grad():
        actions = Categorical(logits=policy(obs)).sample()
        old_logits = policy(obs)
    advantages = torch.randn(64, generator=g)
    stats = trpo_update(policy, obs, actions, advantages, fns, max_kl=0.01)
    assert stats["accepted"] == 1.0
    assert 0 < stats["kl"] <= 0.01
    assert stats["surrogate_improvement"] > 0
    with torch.no_grad():
        kl = fns.categorical_kl(old_logits, policy(obs)).mean()
    assert float(kl) == pytest.approx(stats["kl"])


def test_trpo_update_with_a_zero_gradient_leaves_the_policy(fns):
    policy = _tiny_policy(5)
    obs = torch.randn(8, 3, generator=torch.Generator().manual_seed(6))
    before = flat_params(policy)
    stats = trpo_update(policy, obs, torch.zeros(8, dtype=torch.long), torch.zeros(8), fns)
    assert stats["accepted"] == 0.0
    torch.testing.assert_close(flat_params(policy), before)


def test_trpo_smoke_writes_every_run_file(tmp_path):
    code = cli.main(
        [
            "train", "CartPole-v1", "--algo", "trpo", "--impl", "solutions",
            "--total-steps", "2048", "--set", "num_steps=128", "--set", "vf_epochs=1",
            "--out", str(tmp_path / "run"), "--summary", str(tmp_path / "s.json"),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    run = tmp_path / "run"
    for name in ("metrics.csv", "episodes.csv", "curve.png", "summary.json", "config.json"):
        assert (run / name).is_file(), name
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["algo"] == "trpo" and summary["total_steps"] == 2048
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 2  # 2048 steps = 2 updates of 8 envs x 128 steps
    expected = {"kl", "approx_kl_k3", "surrogate_improvement", "accepted", "explained_variance"}
    assert expected <= set(rows[0])
    for row in rows:
        assert 0 <= float(row["kl"]) <= 0.01


def test_policy_drift_keeps_growing():
    from course.figures.m03_policy_drift import MAX_KL, drift

    data = drift(epochs=8)
    kl = data["kl"]
    assert kl[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(kl))
    assert kl[-1] > MAX_KL >= data["trpo"][0]


@pytest.mark.slow
def test_trpo_solves_cartpole(tmp_path):
    code = cli.main(
        [
            "train", "CartPole-v1", "--algo", "trpo", "--impl", "solutions", "--seed", "1",
            "--out", str(tmp_path / "run"), "--summary", str(tmp_path / "s.json"),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["solved"], summary
    assert summary["final_mean_return"] >= 475


# ---- inputs as they arrive in training, and buffers on the inputs' device


def _numpy_ratio(new_log_probs, old_log_probs):
    return torch.from_numpy(np.exp(new_log_probs.numpy() - old_log_probs.numpy()))


def _numpy_surrogate(ratio, advantages):
    return torch.tensor((ratio.numpy() * advantages.numpy()).mean())


def _numpy_kl(old_logits, new_logits):
    old = torch.log_softmax(old_logits, -1).numpy()
    new = torch.log_softmax(new_logits.detach(), -1).numpy()
    return torch.from_numpy((np.exp(old) * (old - new)).sum(-1))


@pytest.mark.parametrize(
    ("function", "version"),
    [
        ("probability_ratio", _numpy_ratio),
        ("surrogate_objective", _numpy_surrogate),
        ("categorical_kl", _numpy_kl),
    ],
)
@pytest.mark.parametrize("seed", (1, 2, 3))
def test_a_version_without_the_gradient_loses_most_points(function, version, seed):
    torch.set_num_threads(1)
    result = grade_version("m03", function, version, seed)
    assert result.score <= round(result.max_score * CORE_CAP, 2)


@pytest.mark.parametrize("function", ["conjugate_gradient", "backtracking_line_search"])
def test_a_buffer_made_without_device_costs_the_device_property(function):
    result = grade_version("m03", function, with_a_cpu_buffer("m03", function), 1)
    failing = [c.case.name for c in result.cases if not c.passed]
    assert failing == ["property: makes its buffers on the inputs' device"]
