"""Feedback names a misconception only when its catalogued output reproduces the student's
output on every failing case (a failing case that raised blocks the name); a candidate that
explains only some is listed as "possibly", with how many cases it explains."""

from __future__ import annotations

import pytest
import torch

from autograder import engine, report
from course.modules import BY_ID
from tests.helpers import run_in_process


def _check(module_id: str, function: str):
    return next(c for c in engine.load_checks(BY_ID[module_id]) if c.function == function)


def _mistake_code(check, name):
    reference = engine.reference(check.module)
    mistake = next(m for m in check.mistakes if m.name == name)
    return engine.mistake_namespace(check, mistake, reference), mistake


def test_a_mistake_that_explains_every_failure_is_named():
    check = _check("m01", "discounted_returns")
    namespace, mistake = _mistake_code(check, "no-cut")
    result = run_in_process(check, namespace)
    assert "no-cut" in report.explaining_every_failure(result)
    text = report.check_feedback(result)
    assert f"likely misconception: {mistake.title}." in text
    assert "possibly" not in text


def test_a_mistake_that_explains_some_failures_only_is_a_possibility():
    check = _check("m01", "discounted_returns")
    no_cut, mistake = _mistake_code(check, "no-cut")
    reference = engine.reference(check.module)

    def discounted_returns(rewards, dones, gamma):
        # the no-cut mistake on several envs, another bug on one env
        if rewards.shape[-1] > 1:
            return no_cut.discounted_returns(rewards, dones, gamma)
        return 2.0 * reference.discounted_returns(rewards, dones, gamma)

    result = run_in_process(
        check, engine.override(reference, discounted_returns=discounted_returns)
    )
    matched = [c for c in result.cases if any(d.name == "no-cut" for d in c.diagnoses)]
    unmatched = [c for c in result.cases if not c.passed and c not in matched]
    assert matched and unmatched
    assert "no-cut" not in report.explaining_every_failure(result)
    text = report.check_feedback(result)
    assert "likely misconception" not in text
    failing = [c for c in result.cases if not c.passed]
    assert (
        f"possibly: {mistake.title} (it gives your output on {len(matched)} of the "
        f"{len(failing)} failing cases)." in text
    )


def test_a_failing_case_that_raises_blocks_the_name():
    check = _check("m01", "discounted_returns")
    no_cut, mistake = _mistake_code(check, "no-cut")
    reference = engine.reference(check.module)

    def discounted_returns(rewards, dones, gamma):
        # the no-cut mistake everywhere, except on one env, where it raises
        if rewards.shape[-1] == 1:
            raise IndexError("index 1 is out of bounds")
        return no_cut.discounted_returns(rewards, dones, gamma)

    result = run_in_process(
        check, engine.override(reference, discounted_returns=discounted_returns)
    )
    raised = [c for c in result.cases if c.failure is not None]
    matched = [c for c in result.cases if any(d.name == "no-cut" for d in c.diagnoses)]
    assert raised and matched
    assert all(c in matched for c in result.cases if not c.passed and c not in raised)
    assert report.explaining_every_failure(result) == set()
    text = report.check_feedback(result)
    assert "likely misconception" not in text
    assert f"possibly: {mistake.title}" in text


def test_a_mistake_that_fails_a_case_the_code_passes_is_not_named():
    """A conjugate gradient that tests the residual after its update: b = 0 gives
    0 / 0 = nan and runs every iteration, as a loop without a stopping test does, but on
    F = 3 I it stops after one product, where that mistake makes them all."""
    check = _check("m03", "conjugate_gradient")
    reference = engine.reference(check.module)
    no_early_stop = next(m for m in check.mistakes if m.name == "no-early-stop")

    def conjugate_gradient(matvec, b, iters=10, tol=1e-10):
        x = torch.zeros_like(b)
        r, p = b.clone(), b.clone()
        rr = r.dot(r)
        for _ in range(iters):
            product = matvec(p)
            alpha = rr / p.dot(product)
            x = x + alpha * p
            r = r - alpha * product
            new_rr = r.dot(r)
            if new_rr < tol:
                break
            p = r + (new_rr / rr) * p
            rr = new_rr
        return x

    result = run_in_process(
        check, engine.override(reference, conjugate_gradient=conjugate_gradient)
    )
    failing = [c for c in result.cases if not c.passed]
    assert failing and all(no_early_stop in c.diagnoses for c in failing)
    assert "no-early-stop" not in report.explaining_every_failure(result)
    text = report.check_feedback(result)
    assert "likely misconception" not in text
    assert f"possibly: {no_early_stop.title} (it gives your output on" in text
    assert "but fails a case your code passes" in text


def test_the_student_view_follows_the_same_rule():
    check = _check("m01", "discounted_returns")
    namespace, mistake = _mistake_code(check, "no-cut")
    result = run_in_process(check, namespace)
    text = report.check_feedback(result, view=report.STUDENT)
    assert f"likely misconception: {mistake.title}." in text


NAMED = {
    ("m06", "compute_gae"): [
        "bootstraps-terminal",
        "outputs-swapped",
        "loop-skips-last-step",
        "no-lambda",
    ],
    ("m04", "clipped_surrogate_loss"): ["clip-advantage"],
    ("m01", "discounted_returns"): ["loop-skips-last-step", "no-cut"],
    ("m02", "value_mse_loss"): ["detached-values"],
}


@pytest.mark.parametrize(
    ("module_id", "function", "name"),
    [(m, f, n) for (m, f), names in NAMED.items() for n in names],
)
def test_common_mistakes_are_named_in_the_feedback(module_id, function, name):
    check = _check(module_id, function)
    namespace, mistake = _mistake_code(check, name)
    for seed in (1, 2, 3):
        result = run_in_process(check, namespace, seed=seed)
        text = report.check_feedback(result)
        assert f"likely misconception: {mistake.title}." in text
