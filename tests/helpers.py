"""Helpers for the project's tests: every (module, check) pair, and in-process grading."""

from __future__ import annotations

from autograder import engine
from course.modules import Module


def all_checks() -> list[tuple[Module, object]]:
    return [(m, c) for m in engine.graded_modules() for c in engine.load_checks(m)]


def check_ids() -> list[str]:
    return [c.id for _, c in all_checks()]


def run_in_process(check, namespace, seed: int = 1234):
    """Grade ``namespace`` on ``check`` here (no worker), with hidden cases."""
    reference = engine.reference(check.module)
    return engine.run_check(check, engine.InProcessExecutor(namespace), reference, seed)
