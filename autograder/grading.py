"""Grade a submission: every check of the selected modules, each module on its own.

Shared by ``ppo-course check``, ``ppo-course grade`` and ``pytest autograder``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from autograder.engine import (
    ModuleResult,
    build_cases,
    hidden_seed,
    load_checks,
    reference,
    run_check,
)
from autograder.runner import DEFAULT_MEMORY_MB, IsolatedExecutor
from course.modules import Module


def grade_folder(
    folder: Path,
    modules: list[Module],
    seed: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    timeout: float | None = None,
    on_check: Callable | None = None,
) -> list[ModuleResult]:
    """Grade the submission in ``folder`` on ``modules``, isolated in a worker process.

    Args:
        seed: the hidden cases' seed (default: :func:`autograder.engine.hidden_seed`).
        timeout: overrides every check's time limit, in seconds.
        on_check: called with each :class:`CheckResult` as it is ready (progress).
    """
    seed = hidden_seed() if seed is None else seed
    results = []
    with IsolatedExecutor(folder, memory_mb=memory_mb) as executor:
        for module in modules:
            result = ModuleResult(module)
            reference_ns = reference(module)
            for check in load_checks(module):
                if timeout is not None:
                    check = dataclasses.replace(check, timeout=timeout)
                cases, notes = build_cases(check, reference_ns, seed)
                check_result = run_check(check, executor, reference_ns, seed, cases)
                check_result.notes.extend(notes)
                result.checks.append(check_result)
                if on_check:
                    on_check(check_result)
            failure = executor.import_error(module)
            if failure is not None:
                result.error = failure.message
            results.append(result)
    return results
