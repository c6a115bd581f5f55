"""Partial credit follows the rule on the conventions page, for every catalogued mistake.

Graded as ``ppo-course grade`` grades (hidden cases and properties carry the points), under
several hidden seeds:

* a mistake of kind ``"concept"`` (the idea of the function is wrong) keeps at most a third
  of the function's points: its hidden cases fail, or a core property does;
* a mistake of kind ``"edge"`` (a slip on one edge) loses points, but at most half of them:
  a property catches it, and the hidden cases it does not concern still pass.

The wrong versions are the instructor's (``solutions/mistakes/``), so this needs the
reference; each seed grades every mistake of every module once (about 30 s a seed).
"""

from __future__ import annotations

import pytest

from autograder import engine
from autograder.core import CORE_CAP
from solutions import mistakes
from tests.helpers import all_checks, grade_version

SEEDS = (1, 2, 3)


def _cases():
    for module, check in all_checks():
        for mistake in check.mistakes:
            yield pytest.param(module, check, mistake, id=f"{check.id}:{mistake.name}")


def _grade(module, check, mistake, seed: int):
    wrong = mistakes.build(module.name, check.function, mistake.name, engine.reference(module))
    assert wrong is not None, f"no code for {check.id}:{mistake.name}"
    return grade_version(module.id, check.function, wrong, seed)


def _describe(result) -> str:
    failing = [c.case.name for c in result.cases if not c.passed and c.case.kind != "known"]
    return f"{result.score} of {result.max_score}; failing: {failing}"


@pytest.mark.slow
@pytest.mark.parametrize(("module", "check", "mistake"), list(_cases()))
def test_each_mistake_costs_what_its_kind_says(module, check, mistake):
    for seed in SEEDS:
        result = _grade(module, check, mistake, seed)
        if mistake.kind == "concept":
            assert result.score <= round(check.points * CORE_CAP, 2), (
                f"seed {seed}: the concept mistake keeps too much: {_describe(result)}"
            )
        else:
            assert check.points / 2 <= result.score < check.points, (
                f"seed {seed}: an edge slip should lose some points and keep at least half: "
                f"{_describe(result)}"
            )


def test_the_kinds_are_known_words():
    kinds = {m.kind for _, check in all_checks() for m in check.mistakes}
    assert kinds <= {"concept", "edge"}
    assert "concept" in kinds and "edge" in kinds
