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
