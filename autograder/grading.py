"""Grade a submission: every check of the selected modules, each module on its own.

Shared by ``ppo-course check``, ``ppo-course grade`` and ``pytest autograder``.

The cases (known outputs, hidden cases with their expected values, properties) are built
once, on the trusted side, by :func:`prepare`; grading many submissions reuses them, so
the expected values never depend on the order or the number of jobs. A composite function
(a check with ``uses``) is graded, where the reference is installed, on the reference's
versions of the earlier functions it calls: its hidden cases and properties run in a
second worker whose copy of the submission has the reference's files for those modules,
so a mistake in an earlier exercise costs its points once. What that worker returns is
shown to the student as a verdict only (see ``CaseResult.private``). Where every earlier
module the function uses passed all its checks in the same run, the student's own
versions are used and no second worker starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from autograder.core import Case, Check
from autograder.engine import (
    ModuleResult,
    build_cases,
    hidden_seed,
    load_checks,
    reference,
    run_check,
)
from autograder.runner import DEFAULT_MEMORY_MB, IsolatedExecutor
from course import paths
from course.modules import BY_ID, Module

Prepared = dict[str, list[tuple[Check, list[Case], list[str]]]]


def prepare(modules: list[Module], seed: int | None, timeout: float | None = None) -> Prepared:
    """The checks and cases of ``modules``: ``{module id: [(check, cases, notes), ...]}``.

    Hidden cases need the reference and a seed; without them the notes say so."""
    prepared: Prepared = {}
    for module in modules:
        reference_ns = reference(module)
        entries = []
        for check in load_checks(module):
            if timeout is not None:
                check = dataclasses.replace(check, timeout=timeout)
            cases, notes = build_cases(check, reference_ns, seed)
            entries.append((check, cases, notes))
        prepared[module.id] = entries
    return prepared


def reference_overlay(uses: set[str]) -> dict[str, bytes] | None:
    """The reference's files of the modules in ``uses``, or None where any is missing."""
    overlay = {}
    for module_id in sorted(uses):
        path = paths.SOLUTIONS_DIR / BY_ID[module_id].filename
        if not path.is_file():
            return None
        overlay[path.name] = path.read_bytes()
    return overlay


def grade_folder(
    folder: Path,
    modules: list[Module],
    seed: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    timeout: float | None = None,
    on_check: Callable | None = None,
    *,
    for_grade: bool = False,
    sandboxed: bool = False,
    prepared: Prepared | None = None,
    submission_timeout: float | None = None,
    executor: IsolatedExecutor | None = None,
    device: str = "cpu",
) -> list[ModuleResult]:
    """Grade the submission in ``folder`` on ``modules``, isolated in a worker process.

    Args:
        seed: the hidden cases' seed (default: :func:`autograder.engine.hidden_seed`).
        timeout: overrides every check's time limit, in seconds.
        on_check: called with each :class:`CheckResult` as it is ready (progress).
        for_grade: score as ``ppo-course grade`` does (hidden cases and properties only).
        sandboxed: run the submission's code under bubblewrap (``sandbox.py``).
        prepared: cases from :func:`prepare` (built here when not given).
        submission_timeout: wall-clock seconds for the whole submission; what is left
            when they are spent is reported as not run.
        executor: a worker already started on ``folder`` (closed here when done).
        device: where the cases run (``cuda`` for ``check --device cuda``; the expected
            values are computed on the CPU all the same).
    """
    import time

    seed = hidden_seed() if seed is None else seed
    until = None if submission_timeout is None else time.monotonic() + submission_timeout
    results = []
    # The worker starts first, so that its start-up overlaps the building of the cases.
    if executor is None:
        executor = IsolatedExecutor(folder, memory_mb=memory_mb, sandboxed=sandboxed, device=device)
    with executor:
        if prepared is None:
            prepared = prepare(modules, seed, timeout)
        for module in modules:
            result = ModuleResult(module)
            reference_ns = reference(module)
            entries = prepared[module.id]
            uses = {m for check, _, _ in entries for m in check.uses}
            # An earlier module that passed every one of its checks in this run is, by
            # every check, the reference's equal: no second worker is needed for it.
            needed = uses - {r.module.id for r in results if r.passed}
            overlay = reference_overlay(uses) if needed and reference_ns is not None else None
            deps: IsolatedExecutor | None = None
            try:
                for check, cases, notes in entries:
                    route = None
                    if overlay is not None and check.uses:
                        if deps is None:
                            deps = IsolatedExecutor(
                                folder,
                                memory_mb=memory_mb,
                                sandboxed=sandboxed,
                                overlay=overlay,
                                device=executor.device,
                            )
                        route = _router(executor, deps)
                    check_result = run_check(
                        check,
                        executor,
                        reference_ns,
                        seed,
                        cases,
                        for_grade=for_grade,
                        executor_for=route,
                        until=until,
                    )
                    check_result.notes.extend(notes)
                    result.checks.append(check_result)
                    if on_check:
                        on_check(check_result)
            finally:
                if deps is not None:
                    deps.close()
            failure = executor.import_error(module)
            if failure is not None:
                result.error = failure.message
            results.append(result)
    return results


def _router(own: IsolatedExecutor, deps: IsolatedExecutor) -> Callable[[Case], IsolatedExecutor]:
    """Known outputs run on the student's own earlier functions (the self-check a student
    also sees at home); hidden cases and properties on the reference's."""

    def route(case: Case) -> IsolatedExecutor:
        return own if case.kind == "known" else deps

    return route
