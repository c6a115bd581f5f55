"""A mutation run: generate the mutants of a module, grade each in the pool, classify.

Statuses of a mutant:

* ``killed``: a public case (a known output or a property) fails;
* ``hidden-only``: every public case passes and a hidden case fails: a gap, since the
  public cases alone must decide (a student's own check would pass it);
* ``survived``: every case passes and the mutant is not in the list of equivalents;
* ``equivalent``: every case passes and the reviewed list says why no check can tell.

A mutant that runs past its time limit or kills its worker counts as killed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from autograder.mutation import equivalents, grading, operators, pool
from autograder.mutation.operators import Mutant
from course.modules import Module

STATUSES = ("killed", "hidden-only", "survived", "equivalent")
MIN_LIMIT = 10.0
"""The least time limit per mutant, in seconds."""


@dataclass
class Result:
    mutant: Mutant
    status: str
    check: str = ""
    case: str = ""
    message: str = ""
    hidden_seeds: list[int] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        m = self.mutant
        return {
            "module": m.module,
            "function": m.function,
            "qualname": m.qualname,
            "kind": m.kind,
            "line": m.line,
            "before": m.before,
            "after": m.after,
            "occurrence": m.occurrence,
            "status": self.status,
            "check": self.check,
            "case": self.case,
            "message": self.message,
            "hidden_seeds": self.hidden_seeds,
            "reason": self.reason,
        }


@dataclass
class ModuleRun:
    module: Module
    functions: list[str]
    results: list[Result]
    stale: list[equivalents.Entry]
    seconds: float
    limit: float

    def by_function(self) -> dict[str, dict[str, int]]:
        table = {f: dict.fromkeys(STATUSES, 0) for f in self.functions}
        for r in self.results:
            table.setdefault(r.mutant.function, dict.fromkeys(STATUSES, 0))[r.status] += 1
        return table

    @property
    def failing(self) -> list[Result]:
        """The results that need work: unlisted survivors and hidden-only kills."""
        return [r for r in self.results if r.status in ("survived", "hidden-only")]


def score(counts: dict[str, int]) -> float | None:
    """Killed over the mutants that are not equivalent (None when there are none)."""
    total = sum(counts.values()) - counts.get("equivalent", 0)
    return None if total == 0 else counts["killed"] / total


def mutants_of(
    module: Module, functions: list[str] | None = None
) -> tuple[list[Mutant], list[str]]:
    """The mutants of ``module``'s graded functions (those named, when given), and the
    functions they cover.

    Raises:
        KeyError: a named function has no check in the module.
    """
    from course import paths

    graded = grading.checked_functions(module)
    if functions:
        unknown = [f for f in functions if f not in graded]
        if unknown:
            raise KeyError(
                f"{module.id} has no graded function {unknown[0]!r} (graded: {', '.join(graded)})"
            )
        graded = [f for f in graded if f in functions]
    source = (paths.SOLUTIONS_DIR / module.filename).read_text()
    return operators.generate(module.id, source, graded), graded


def run_module(
    module: Module,
    functions: list[str] | None = None,
    seeds: tuple[int, ...] = (1,),
    jobs: int = 2,
    limit: float | None = None,
    mutants: list[Mutant] | None = None,
    equivalents_root=None,
    progress=None,
) -> ModuleRun:
    """Grade every mutant of ``module`` (or the ``mutants`` given, a subset) and classify
    them.

    Args:
        seeds: the hidden seeds whose cases run (a mutant is ``hidden-only`` when one of
            them kills it and no public case does).
        limit: seconds per mutant (default: four times the reference's time, at least
            :data:`MIN_LIMIT`).
        progress: called with each :class:`Result` as it is ready.

    Raises:
        KeyError: a named function has no check.
        equivalents.EquivalentsError: the module's list of equivalents cannot be read.
        RuntimeError: the reference itself fails a case (the checks are not sound).
    """
    generated, covered = mutants_of(module, functions)
    entries = equivalents.load(module.id, equivalents_root)
    prepared = grading.prepare(module, seeds)
    return grade_mutants(
        prepared,
        generated if mutants is None else mutants,
        covered,
        entries,
        jobs=jobs,
        limit=limit,
        generated=generated,
        progress=progress,
    )


def grade_mutants(
    prepared: grading.Prepared,
    mutants: list[Mutant],
    functions: list[str],
    entries: list[equivalents.Entry],
    jobs: int = 2,
    limit: float | None = None,
    generated: list[Mutant] | None = None,
    progress=None,
) -> ModuleRun:
    """Grade ``mutants`` of ``prepared``'s module in a pool of ``jobs`` workers.

    ``functions`` are the functions the run covers and ``generated`` every mutant of
    them (default: ``mutants``): an entry of the list of equivalents that names none of
    those is stale."""
    import torch

    torch.set_num_threads(1)
    started = time.monotonic()
    generated = mutants if generated is None else generated
    # The reference, graded like a mutant: it must pass every case, and its time sets
    # the time limit.
    clock = time.monotonic()
    baseline = grading.grade_source(prepared, functions[0] if functions else "", prepared.source)
    reference_seconds = time.monotonic() - clock
    if baseline["outcome"] != "survived":
        raise RuntimeError(
            f"the reference of {prepared.module.id} fails {baseline['check']} / "
            f"{baseline['case']}: {baseline['message']}"
        )
    if limit is None:
        limit = max(MIN_LIMIT, 4 * reference_seconds)

    def task(index: int) -> dict[str, Any]:
        mutant = mutants[index]
        return grading.grade_source(prepared, mutant.function, mutant.apply(prepared.source))

    matched, stale = equivalents.match(generated, entries, set(functions))
    listed = {generated[i].key: e for i, e in matched.items()}
    results: list[Result | None] = [None] * len(mutants)
    for index, raw in pool.run_tasks(task, len(mutants), jobs, lambda _: limit):
        result = _classify(mutants[index], raw, listed)
        results[index] = result
        if progress is not None:
            progress(result)
    return ModuleRun(
        prepared.module,
        functions,
        [r for r in results if r is not None],
        stale,
        time.monotonic() - started,
        limit,
    )


def sample(mutants: list[Mutant], size: int) -> list[Mutant]:
    """``size`` of the mutants, in their order: those whose identity hashes lowest, so the
    sample is the same on every run, and a new operator or an edit elsewhere in the file
    changes it only where a new mutant hashes lower."""
    import hashlib

    def rank(mutant: Mutant) -> bytes:
        return hashlib.sha256(repr((mutant.module, *mutant.key)).encode()).digest()

    chosen = set(sorted(range(len(mutants)), key=lambda i: rank(mutants[i]))[:size])
    return [m for i, m in enumerate(mutants) if i in chosen]


def _classify(mutant: Mutant, raw: dict[str, Any], listed: dict) -> Result:
    """The status of a mutant from its worker's verdict. A listed mutant keeps the list's
    reason, so that one listed yet killed can be reported."""
    outcome = raw.get("outcome")
    entry = listed.get(mutant.key)
    reason = entry.reason if entry is not None else ""
    if outcome in ("timeout", "crash", "error"):
        by = {"timeout": "time limit", "crash": "crash", "error": "error"}[outcome]
        return Result(mutant, "killed", by, "", raw.get("message", ""), reason=reason)
    if outcome == "killed":
        return Result(mutant, "killed", raw["check"], raw["case"], raw["message"], reason=reason)
    if outcome == "hidden":
        seeds = raw["hidden_seeds"]
        return Result(
            mutant, "hidden-only", raw["check"], raw["case"], raw["message"], seeds, reason
        )
    if entry is not None:
        return Result(mutant, "equivalent", reason=reason)
    return Result(mutant, "survived")
