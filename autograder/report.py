"""What students and instructors read: the terminal report and Gradescope's results.json."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from autograder.core import NO_VALUE, CaseResult, CheckResult
from autograder.engine import ModuleResult
from autograder.values import show

MAX_CASES_SHOWN = 3


class Style:
    """ANSI colours when writing to a terminal that wants them."""

    def __init__(self, enabled: bool, unicode: bool = True) -> None:
        self.enabled = enabled
        self.ok = "✓" if unicode else "+"
        self.bad = "✗" if unicode else "x"

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    @classmethod
    def for_stream(cls, stream: Any = None) -> Style:
        import os

        stream = stream or sys.stdout
        tty = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
        encoding = (getattr(stream, "encoding", None) or "").lower()
        return cls(bool(tty), unicode="utf" in encoding)


PLAIN = Style(False)


def clean(text: str) -> str:
    """Text a submission produced (what it printed, an exception's message, a value it
    returned) as it may be shown on a terminal or written to a report: control
    characters other than the line break escaped (no terminal escape sequences), and
    what is not valid UTF-8 (lone surrogates) escaped."""
    if text.isprintable():
        return text
    return "\n".join(
        "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line)
        for line in text.encode("utf-8", "backslashreplace").decode("utf-8").split("\n")
    )


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _inputs(case_result: CaseResult) -> str:
    parts = [f"{name} = {show(value)}" for name, value in case_result.case.inputs.items()]
    return "\n".join(parts)


FULL = "full"
STUDENT = "student"

_VERDICTS = {
    "not_implemented": "not implemented",
    "needs": "needs an earlier exercise",
    "exception": "raised an exception",
    "mutated": "modified an input in place",
    "timeout": "timed out",
    "crash": "the process running it died",
    "unsendable": "returned a value the grader cannot read",
    "missing": "missing",
    "import": "does not import",
    "not_run": "not run",
}


def _verdict(case_result: CaseResult) -> str:
    if case_result.passed:
        return "passed"
    if case_result.failure is not None:
        return _VERDICTS.get(case_result.failure.kind, "failed")
    return "wrong output"


def _printed(case_result: CaseResult) -> list[str]:
    text = case_result.printed
    if not text:
        return []
    lines = text.splitlines()[:8]
    more = " (first lines)" if len(text.splitlines()) > 8 or len(text) >= 2000 else ""
    return [f"  your code printed{more}:", *[f"    | {clean(line[:160])}" for line in lines]]


@dataclass
class Naming:
    """What the feedback of one check may say about the catalogued mistakes.

    ``likely``: the mistakes whose catalogued output reproduces the student's output on
    every failing case; only these are named. ``explained``: for every mistake that
    reproduces some failing cases, how many; ``failing``: how many cases failed."""

    likely: set[str] = field(default_factory=set)
    explained: dict[str, int] = field(default_factory=dict)
    failing: int = 0
    contradicted: set[str] = field(default_factory=set)


def naming(result: CheckResult) -> Naming:
    """The misconceptions one check's feedback may name (see :class:`Naming`).

    A mistake is named only when its output reproduces the student's on every failing
    case, and it passes the cases the student passes (``CheckResult.contradicted``). A
    failing case that returned no value to compare (it raised, timed out, was not run)
    blocks every name: no mistake is known to explain it."""
    failing = [c for c in result.cases if not c.passed]
    explained: dict[str, int] = {}
    for case_result in failing:
        for name in {d.name for d in case_result.diagnoses}:
            explained[name] = explained.get(name, 0) + 1
    likely: set[str] = set()
    if failing and all(c.mismatch is not None for c in failing):
        likely = {name for name, count in explained.items() if count == len(failing)}
    contradicted = likely & result.contradicted
    return Naming(likely - contradicted, explained, len(failing), contradicted)


def explaining_every_failure(result: CheckResult) -> set[str]:
    """The names of the catalogued mistakes that explain every failing case of ``result``
    (see :func:`naming`): only these are named as the likely misconception."""
    return naming(result).likely


def _misconceptions(
    case_result: CaseResult, named: Naming | None, explain: bool = True
) -> list[str]:
    """The misconception lines of one case: the mistakes that explain every failure first,
    then, as "possibly", those that explain only some, with how many. Without ``named``
    (one case seen alone) nothing is named as likely."""
    named = named or Naming(failing=1, explained={m.name: 1 for m in case_result.diagnoses})
    lines = []
    likely = [m for m in case_result.diagnoses if m.name in named.likely]
    maybe = [m for m in case_result.diagnoses if m not in likely]
    for mistake in likely:
        lines.append(f"  likely misconception: {mistake.title}.")
        if explain:
            lines.append(_indent(mistake.explanation, "    "))
    for mistake in maybe:
        count = named.explained.get(mistake.name, 1)
        total = max(named.failing, count)
        cases = "case" if total == 1 else "cases"
        but = ", but fails a case your code passes" if mistake.name in named.contradicted else ""
        lines.append(
            f"  possibly: {mistake.title} (it gives your output on {count} of the {total} "
            f"failing {cases}{but})."
        )
    return lines


def case_feedback(case_result: CaseResult, view: str = FULL, named: Naming | None = None) -> str:
    """Everything a student needs to understand one failing case.

    With ``view="student"`` (what ``ppo-course grade`` gives students), a hidden case, or a
    case run on the reference's earlier functions, shows its name, its verdict and the
    likely misconception only: its inputs, expected values and what the code returned or
    printed go to the instructor's report. ``named``: what the check's feedback may name
    (:func:`naming`); without it, a match is only a "possibly"."""
    case = case_result.case
    kind = {"known": "known output", "hidden": "hidden case", "property": "property"}[case.kind]
    lines = [f'case "{case.name}" ({kind})']
    if view == STUDENT and (case.kind == "hidden" or case_result.private):
        lines[0] += f": {_verdict(case_result)}"
        lines.extend(_misconceptions(case_result, named, explain=False))
        return "\n".join(lines)
    if case.note:
        lines.append(f"  what it checks: {case.note}")
    lines.extend(_printed(case_result))
    if case_result.failure is not None:
        lines.append(_indent(clean(case_result.failure.describe()), "  "))
        if case_result.failure.kind in ("exception", "timeout", "crash", "mutated", "unsendable"):
            lines.append("  inputs:")
            lines.append(_indent(_inputs(case_result), "    "))
        return "\n".join(lines)
    lines.append("  inputs:")
    lines.append(_indent(_inputs(case_result), "    "))
    if case.expected is not NO_VALUE:
        lines.append(f"  expected: {show(case.expected)}")
    lines.append(f"  received: {clean(show(case_result.received))}")
    mismatch = case_result.mismatch
    if mismatch is not None:
        lines.append(f"  problem:  {mismatch.message}")
        if mismatch.max_diff is not None:
            rtol, atol = case.tolerances
            lines.append(
                f"  largest difference: {mismatch.max_diff:.3g} (tolerance rtol={rtol:g}, "
                f"atol={atol:g})"
            )
    lines.extend(_misconceptions(case_result, named))
    return "\n".join(lines)


def check_feedback(result: CheckResult, view: str = FULL) -> str:
    """The feedback for one check: empty when it passed."""
    check = result.check
    if result.passed:
        return ""
    if result.error is not None:
        return f"{clean(result.error.describe())}\n(docs: {check.docs})"
    if result.status == "not implemented":
        return (
            f"{check.function} is not implemented yet: replace the `raise NotImplementedError` "
            f"in {check.module.filename}.\n(docs: {check.docs})"
        )
    failing = [c for c in result.cases if not c.passed]
    named = naming(result)
    lines = [f"{len(failing)} of {len(result.cases)} cases failed."]
    if result.for_grade:  # the cases that carry the points first
        failing.sort(key=lambda c: c.case.kind == "known")
    verdict_only: list[CaseResult] = []
    if view == STUDENT:
        verdict_only = [c for c in failing if c.case.kind == "hidden" or c.private]
        failing = [c for c in failing if c not in verdict_only]
    not_run = [c for c in failing if c.failure is not None and c.failure.kind == "not_run"]
    failing = [c for c in failing if c not in not_run]
    shown: list[CaseResult] = []
    repeats: dict[str, int] = {}
    rest: list[CaseResult] = []
    for case_result in failing:
        failure = case_result.failure
        key = f"{failure.message}\n{failure.line}" if failure is not None else None
        if key is not None and key in repeats:
            repeats[key] += 1
        elif len(shown) < MAX_CASES_SHOWN:
            shown.append(case_result)
            if key is not None:
                repeats[key] = 0
        else:
            rest.append(case_result)
    for case_result in shown:
        lines.append(case_feedback(case_result, view, named))
        failure = case_result.failure
        if failure is not None and repeats.get(f"{failure.message}\n{failure.line}"):
            count = repeats[f"{failure.message}\n{failure.line}"]
            lines.append(f"  (the same on {count} more case{'s' if count > 1 else ''})")
    if rest:
        names = ", ".join(f'"{c.case.name}"' for c in rest)
        lines.append(f"... and {len(rest)} more: {names}")
    for case_result in verdict_only:
        lines.append(case_feedback(case_result, view, named))
    if not_run:
        count = len(not_run)
        lines.append(
            f"{count} more case{'s were' if count > 1 else ' was'} not run: "
            f"{not_run[0].failure.message}"
        )
    lines.append(f"(docs: {check.docs})")
    return "\n".join(lines)


def _points(value: float) -> str:
    return f"{value:g}"


def module_table(result: ModuleResult, style: Style = PLAIN) -> str:
    module = result.module
    lines = [style.bold(f"{module.id}  {module.title}")]
    width = max([len(c.check.function) for c in result.checks] + [10])
    for check_result in result.checks:
        mark = style.green(style.ok) if check_result.passed else style.red(style.bad)
        points = f"{_points(check_result.score):>5} / {_points(check_result.max_score):<3}"
        status = check_result.status
        if check_result.passed:
            detail = f"passed ({len(check_result.cases)} cases)"
        elif status == "failed":
            failed = sum(not c.passed for c in check_result.cases)
            detail = f"failed ({failed} of {len(check_result.cases)} cases)"
        else:
            detail = status
        lines.append(f"  {mark} {check_result.check.function:<{width}}  {points} {detail}")
    total = f"{_points(result.score):>5} / {_points(result.max_score):<3}"
    lines.append(f"    {'total':<{width}}  {total}")
    return "\n".join(lines)


def render(results: list[ModuleResult], style: Style = PLAIN, view: str = FULL) -> str:
    """The full terminal report: a table per module, then the details of every failure."""
    out = [""]
    for result in results:
        out.append(module_table(result, style))
        out.append("")
    # A file that does not import (or is missing) is reported once, not once per function.
    broken = [r for r in results if r.checks and all(c.error is not None for c in r.checks)]
    failures = [
        c
        for r in results
        if r not in broken
        for c in r.checks
        if not c.passed and c.status != "not implemented"
    ]
    if failures or broken:
        out.append(style.bold("What went wrong"))
        out.append("")
        for result in broken:
            error = result.checks[0].error
            out.append(style.bold(f"{result.module.id} ({result.module.filename})"))
            out.append(
                _indent(f"{clean(error.describe())}\n(docs: docs/{result.module.docs_page})", "  ")
            )
            out.append("")
        for check_result in failures:
            out.append(style.bold(check_result.check.id))
            out.append(_indent(check_feedback(check_result, view), "  "))
            out.append("")
    for result in results:
        todo = [c.check.function for c in result.checks if c.status == "not implemented"]
        if todo:
            out.append(
                f"Not implemented yet in {result.module.filename}: {', '.join(todo)}\n"
                f"  (docs: docs/{result.module.docs_page})"
            )
    if any(c.status == "not implemented" for r in results for c in r.checks):
        out.append("")
    notes = sorted({n for r in results for c in r.checks for n in c.notes})
    for note in notes:
        out.append(style.dim(f"note: {note}"))
    score = sum(r.score for r in results)
    possible = sum(r.max_score for r in results)
    summary = ", ".join(f"{r.module.id} {_points(r.score)}/{_points(r.max_score)}" for r in results)
    verdict = style.green("all checks pass") if all(r.passed for r in results) else ""
    out.append(
        style.bold(f"Score: {_points(round(score, 2))} / {_points(possible)}")
        + f"  ({summary}){'  ' + verdict if verdict else ''}"
    )
    return "\n".join(out)


def gradescope(results: list[ModuleResult], view: str = FULL) -> dict[str, Any]:
    """Gradescope's results.json: ``score`` and one test per check."""
    tests = []
    for result in results:
        for check_result in result.checks:
            feedback = check_feedback(check_result, view)
            summary = check_result.check.summary
            output = feedback or f"passed all {len(check_result.cases)} cases"
            tests.append(
                {
                    "name": f"{check_result.check.id}" + (f": {summary}" if summary else ""),
                    "score": check_result.score,
                    "max_score": check_result.max_score,
                    "status": "passed" if check_result.passed else "failed",
                    "output": output,
                }
            )
    score = round(sum(t["score"] for t in tests), 2)
    return {"score": score, "tests": tests}
