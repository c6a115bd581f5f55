"""Helpers for the project's tests: every (module, check) pair, and in-process grading."""

from __future__ import annotations

from pathlib import Path

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


def results_by_check(path) -> dict[str, dict]:
    """The tests of a ``--json`` results file, by check id (``m01.discounted_returns``)."""
    import json

    return {t["name"].split(":")[0]: t for t in json.loads(Path(path).read_text())["tests"]}


def check_of(module_id: str, function: str):
    """The check of ``function`` in module ``module_id``."""
    module = next(m for m in engine.graded_modules() if m.id == module_id)
    return next(c for c in engine.load_checks(module) if c.function == function)


def grade_version(module_id: str, function: str, version, seed: int):
    """Grade ``version`` of ``function``, the reference's functions around it, scored as
    ``ppo-course grade`` scores (hidden cases and properties only)."""
    check = check_of(module_id, function)
    namespace = engine.override(engine.reference(check.module), **{function: version})
    result = run_in_process(check, namespace, seed)
    result.for_grade = True
    return result


def with_a_cpu_buffer(module_id: str, function: str):
    """The reference's ``function``, but one that also makes a tensor without ``device=``
    (on a GPU it would land on the CPU): right values, one device slip."""
    import torch

    right = getattr(engine.reference(check_of(module_id, function).module), function)

    def version(*args, **kwargs):
        torch.zeros(2)  # a buffer made without device=
        return right(*args, **kwargs)

    return version


def assert_names_reproduce(check, result):
    """Every mistake the feedback names, run here, gives the received output on every
    failing case (computed afresh, not read from the fixture file)."""
    from autograder import report
    from autograder.core import Outcome, run_probe_in_process
    from autograder.values import compare

    reference = engine.reference(check.module)
    for name in report.explaining_every_failure(result):
        mistake = next(m for m in check.mistakes if m.name == name)
        namespace = engine.mistake_namespace(check, mistake, reference)
        for case_result in (c for c in result.cases if not c.passed):
            case = case_result.case
            assert case_result.failure is None, f"{name} named though {case.name} raised"
            outcome = run_probe_in_process(case.probe, namespace, check.function, case.inputs)
            assert isinstance(outcome, Outcome), f"{name} fails on {case.name}"
            rtol, atol = case.tolerances
            assert compare(outcome.value, case_result.received, rtol, atol) is None, (
                f"{name} is named but does not give the output on {case.name}"
            )
