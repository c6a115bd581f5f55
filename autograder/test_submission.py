"""One test per check of the selected modules (see autograder/conftest.py)."""

from __future__ import annotations

import pytest

from autograder.engine import build_cases, reference, run_check
from autograder.report import check_feedback


def test_check(check, executor, hidden_seed):
    reference_ns = reference(check.module)
    cases, _ = build_cases(check, reference_ns, hidden_seed)
    result = run_check(check, executor, reference_ns, hidden_seed, cases)
    if not result.passed:
        pytest.fail(
            f"{check.id}: {result.score:g} / {result.max_score:g} points\n"
            + check_feedback(result),
            pytrace=False,
        )
