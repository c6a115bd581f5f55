"""The checks themselves: the reference passes, the stubs score nothing, every catalogued
mistake is caught and named, and every check carries all kinds of evidence."""

from __future__ import annotations

import pytest

from autograder import engine
from course import impl
from tests.helpers import all_checks, assert_names_reproduce, check_ids, run_in_process

CHECKS = all_checks()
IDS = check_ids()
MISTAKES = [(c, m) for _, c in CHECKS for m in c.mistakes]
MISTAKE_IDS = [f"{c.id}:{m.name}" for c, m in MISTAKES]


@pytest.mark.parametrize(("module", "check"), CHECKS, ids=IDS)
def test_reference_passes_every_case(module, check):
    result = run_in_process(check, engine.reference(module))
    failing = [(c.case.name, c.failure or c.mismatch) for c in result.cases if not c.passed]
    assert result.passed, failing
    assert result.score == check.points


@pytest.mark.parametrize(("module", "check"), CHECKS, ids=IDS)
def test_stub_scores_nothing_and_says_not_implemented(module, check):
    stubs = impl.Implementation("exercises").module(module)
    result = run_in_process(check, stubs)
    assert result.score == 0
    assert result.status == "not implemented"
    assert all(c.failure.kind == "not_implemented" for c in result.cases)


@pytest.mark.parametrize(("check", "mistake"), MISTAKES, ids=MISTAKE_IDS)
def test_mistake_is_caught_and_named(check, mistake):
    reference = engine.reference(check.module)
    wrong = engine.mistake_namespace(check, mistake, reference)
    result = run_in_process(check, wrong)
    assert not result.passed, f"{mistake.name} passes every case of {check.id}"
    assert result.score < check.points
    named = {d.name for c in result.cases for d in c.diagnoses}
    assert mistake.name in named, f"no failing case names {mistake.name} (named: {named})"
    # What the feedback names as the likely misconception reproduces every failing case.
    assert_names_reproduce(check, result)


@pytest.mark.parametrize(("module", "check"), CHECKS, ids=IDS)
def test_check_has_every_kind_of_evidence(module, check):
    from autograder import fixtures

    known = [c for c in fixtures.load(module) if c["function"] == check.function]
    assert known, "no known outputs"
    assert any(c["source"] == "hand" for c in known), "no case worked out by hand"
    assert check.hidden, "no hidden cases"
    assert check.properties, "no properties"
    assert len(check.mistakes) >= 4, "fewer than four catalogued mistakes"
    assert check.summary, "no one-line summary"
    names = [m.name for m in check.mistakes]
    assert len(names) == len(set(names)), "mistake names repeat"


@pytest.mark.parametrize(("module", "check"), CHECKS, ids=IDS)
def test_hidden_cases_depend_on_the_seed(module, check):
    reference = engine.reference(module)
    first, _ = engine.build_cases(check, reference, seed=1)
    again, _ = engine.build_cases(check, reference, seed=1)
    other, _ = engine.build_cases(check, reference, seed=2)

    def hidden(cases):
        return [
            (c.name, {k: str(v) for k, v in c.inputs.items()}) for c in cases if c.kind == "hidden"
        ]

    assert hidden(first) == hidden(again)
    assert hidden(first) != hidden(other)


def test_every_graded_function_of_the_reference_is_checked(graded_modules):
    from course import paths, singlesource

    for module in graded_modules:
        source = (paths.SOLUTIONS_DIR / module.filename).read_text()
        exercises = {name.split(".")[0] for name in singlesource.exercise_names(source)}
        checked = {c.function for c in engine.load_checks(module)}
        assert exercises <= checked, f"{module.id}: unchecked exercises {exercises - checked}"


def test_a_library_not_implemented_error_is_not_a_stub():
    """torch raises NotImplementedError for an operation a device does not support (here
    on the ``meta`` device): that is a failure of the function, not an unfilled stub."""
    import torch

    from autograder.core import failure_from_exception

    try:
        torch.zeros(3, device="meta").nonzero()
    except NotImplementedError as exc:
        failure = failure_from_exception(exc, "discounted_returns", "line 3 of m01.py: x")
    assert failure.kind == "exception"
    assert failure.message.startswith("discounted_returns raised NotImplementedError: ")
    for stub in (NotImplementedError(), NotImplementedError("m01.f: not implemented yet")):
        assert failure_from_exception(stub, "f").kind == "not_implemented"
    needs = failure_from_exception(NotImplementedError("m04.g: not implemented yet"), "f")
    assert needs.kind == "needs"
