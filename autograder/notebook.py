"""The notebook front end: grade functions defined in a notebook, inside its own kernel.

nbgrader runs a notebook's test cells in the student's kernel, so the check runs here, in
process, on the notebook's globals. A test cell reads::

    from autograder.notebook import check
    check("m01.discounted_returns", globals())

It prints the feedback (the same text as ``ppo-course check``) and returns the points
earned, which nbgrader takes as partial credit. Nothing is written to stderr: nbgrader
gives zero points to a test cell that writes there.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

from autograder.engine import (
    InProcessExecutor,
    build_cases,
    graded_modules,
    hidden_seed,
    load_checks,
    reference,
    run_check,
)
from autograder.report import check_feedback
from course.modules import lookup


def _find(check_id: str):
    module_id, _, function = check_id.partition(".")
    try:
        module = lookup(module_id)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    for candidate in load_checks(module):
        if candidate.function == function:
            return candidate
    known = ", ".join(c.id for m in graded_modules() for c in load_checks(m))
    raise ValueError(f"no check named {check_id!r} (known: {known})")


def check(check_id: str, namespace: dict[str, Any] | Any, quiet: bool = False) -> float:
    """Grade one function of ``namespace`` (a notebook's ``globals()``); return the points.

    Args:
        check_id: ``"m01.discounted_returns"``.
        namespace: where the function is defined: a dict (``globals()``) or an object.
        quiet: print only the one-line summary.
    """
    found = _find(check_id)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        reference_ns = reference(found.module)
        seed = hidden_seed()
        cases, notes = build_cases(found, reference_ns, seed)
        result = run_check(found, InProcessExecutor(namespace), reference_ns, seed, cases)
    mark = "passed" if result.passed else result.status
    print(f"{found.id}: {result.score:g} / {result.max_score:g} points ({mark})")
    if not quiet and not result.passed:
        print(check_feedback(result))
    for note in notes:
        print(f"note: {note}")
    return result.score
