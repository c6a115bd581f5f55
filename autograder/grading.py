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

from autograder.core import Case, CaseResult, Check, CheckResult, Failure
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
    """Grade the submission in ``folder`` on ``modules``, isolated in worker processes.

    The public cases (known outputs and properties) of every module run first, in one
    worker; the hidden cases run after all of them, in another worker started for them
    (and the cases that run on the reference's earlier functions, in a third), so that no
    code that has seen a hidden case's inputs runs a public case, whose messages a
    student reads. A hidden case shows a student its verdict only.

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
    # The worker starts first, so that its start-up overlaps the building of the cases.
    if executor is None:
        executor = IsolatedExecutor(folder, memory_mb=memory_mb, sandboxed=sandboxed, device=device)

    def worker(overlay: dict[str, bytes] | None = None) -> IsolatedExecutor:
        return IsolatedExecutor(
            folder,
            memory_mb=memory_mb,
            sandboxed=sandboxed,
            overlay=overlay,
            device=executor.device,
        )

    started: list[IsolatedExecutor] = []

    def later() -> IsolatedExecutor:
        """The worker of the hidden cases, started when the first one is to run."""
        if not started:
            started.append(worker())
        return started[0]

    plans: list[_ModulePlan] = []
    import_errors: dict[str, Failure | None] = {}
    try:
        with executor:
            if prepared is None:
                prepared = prepare(modules, seed, timeout)
            plans = [_ModulePlan(m, prepared[m.id], for_grade, seed, until) for m in modules]
            public_passed: set[str] = set()
            for plan in plans:
                plan.run_public(executor, public_passed)
                if plan.public_passed:
                    public_passed.add(plan.module.id)
            import_errors = {m.name: executor.import_error(m) for m in modules}
        # The public worker is gone: what runs from here on may see the hidden inputs, and
        # a student sees no more than the verdicts of what it runs.
        passed: set[str] = set()
        for plan in plans:
            plan.run_later(later, worker, passed)
            if plan.result.passed:
                passed.add(plan.module.id)
            if on_check:
                for check_result in plan.result.checks:
                    on_check(check_result)
    finally:
        for running in started:
            running.close()
    results = []
    for plan in plans:
        failure = import_errors.get(plan.module.name)
        if failure is not None:
            plan.result.error = failure.message
        results.append(plan.result)
    return results


class _ModulePlan:
    """The grading of one module in two phases: its public cases in the public worker,
    then its hidden cases, in the worker of the hidden cases or, for a composite function
    whose earlier modules did not all pass, with its properties in a worker that has the
    reference's versions of them (whose results a student sees as verdicts only)."""

    def __init__(self, module: Module, entries, for_grade: bool, seed, until) -> None:
        self.module = module
        self.entries = entries
        self.for_grade, self.seed, self.until = for_grade, seed, until
        self.reference_ns = reference(module)
        self.result = ModuleResult(module)
        self.uses = {m for check, _, _ in entries for m in check.uses}
        self.overlay = reference_overlay(self.uses) if self.uses and self.reference_ns else None
        self.first: list[CheckResult] = []
        self.spent: list[float] = []
        self.deferred = False

    @property
    def public_passed(self) -> bool:
        return all(r.error is None and all(c.passed for c in r.cases) for r in self.first)

    def _deferred(self, check: Check, case: Case) -> bool:
        """Whether ``case`` waits for the second phase."""
        if case.kind == "hidden":
            return True
        return self.deferred and bool(check.uses) and case.kind != "known"

    def run_public(self, executor: IsolatedExecutor, public_passed: set[str]) -> None:
        # An earlier module that already fails a public case: the composite's properties
        # run on the reference's versions of it, later (a mistake costs its points once).
        self.deferred = self.overlay is not None and bool(self.uses - public_passed)
        for check, cases, _notes in self.entries:
            public = [c for c in cases if not self._deferred(check, c)]
            result = run_check(
                check,
                executor,
                self.reference_ns,
                self.seed,
                public,
                for_grade=self.for_grade,
                until=self.until,
            )
            self.first.append(result)
            self.spent.append(result.elapsed)

    def run_later(self, later, worker, passed: set[str]) -> None:
        # Every earlier module that passed all its checks is, by every check, the
        # reference's equal: the student's own versions are used then.
        on_reference = self.overlay is not None and bool(self.uses - passed)
        deps: IsolatedExecutor | None = None
        try:
            for (check, cases, notes), first, spent in zip(
                self.entries, self.first, self.spent, strict=True
            ):
                rest = [c for c in cases if self._deferred(check, c)]
                if on_reference and check.uses and not self.deferred:
                    # (the properties ran on the student's earlier functions, which then
                    # failed a hidden case: they run again, on the reference's)
                    rest = [c for c in cases if c.kind != "known"]
                second = None
                if rest and first.error is None:
                    stub = _stub_failure(first)
                    if stub is not None:
                        second = CheckResult(check, for_grade=self.for_grade)
                        second.cases = [
                            CaseResult(c, False, failure=stub, private=True) for c in rest
                        ]
                    else:
                        if on_reference and check.uses:
                            if deps is None:
                                deps = worker(self.overlay)
                            runner = deps
                        else:
                            runner = later()
                        second = run_check(
                            check,
                            runner,
                            self.reference_ns,
                            self.seed,
                            rest,
                            for_grade=self.for_grade,
                            until=self.until,
                            spent=spent,
                            private=True,
                        )
                merged = _merge(check, cases, first, second, self.for_grade)
                merged.notes.extend(notes)
                self.result.checks.append(merged)
        finally:
            if deps is not None:
                deps.close()


def _stub_failure(first: CheckResult) -> Failure | None:
    """The failure of a function that is a stub (every known case says so), or that needs
    an earlier module not implemented yet (a known case says so), else None."""
    known = [c for c in first.cases if c.case.kind == "known"]
    if known and all(c.failure is not None and c.failure.kind == "not_implemented" for c in known):
        return known[0].failure
    # An earlier function it calls is not implemented yet: every case fails with that
    # module's message, as on a copy of the course without the reference.
    return next(
        (c.failure for c in known if c.failure is not None and c.failure.kind == "needs"), None
    )


_LATER_IMPORT = Failure(
    "import", "the file did not import in the process that runs the hidden cases"
)


def _merge(check: Check, cases: list[Case], first: CheckResult, second, for_grade: bool):
    """One result of a check from its two phases, its cases in their usual order."""
    merged = CheckResult(check, notes=list(first.notes), for_grade=for_grade)
    merged.error = first.error
    if first.error is not None:
        return merged
    by_case = {id(r.case): r for r in first.cases}
    if second is not None:
        if second.error is not None:  # (its own words are not shown: it may have seen them)
            second.cases = [
                CaseResult(c, False, failure=_LATER_IMPORT, private=True)
                for c in cases
                if c.kind != "known" and id(c) not in by_case
            ]
        by_case.update({id(r.case): r for r in second.cases})
    merged.cases = [by_case[id(c)] for c in cases if id(c) in by_case]
    return merged
