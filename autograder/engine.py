"""Build the cases of a check, run them on an implementation, score and diagnose.

Every front end (``ppo-course check``, ``ppo-course grade``, ``pytest autograder`` and
nbgrader's test cells) goes through :func:`run_check`; none re-implements a comparison.
"""

from __future__ import annotations

import hashlib
import importlib
import types
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from autograder import fixtures as fixture_files
from autograder.core import (
    NO_VALUE,
    Case,
    CaseResult,
    Check,
    CheckResult,
    Failure,
    Mistake,
    Outcome,
    resolve_probe,
    run_probe_in_process,
)
from autograder.values import Mismatch, compare
from course import impl as impl_loader
from course import paths
from course.modules import MODULES, Module
from course.settings import HIDDEN_SEED_ENV  # noqa: F401  (re-exported)

# ----------------------------------------------------------------------------- discovery


def load_checks(module: Module) -> list[Check]:
    """The checks of a module, from ``autograder/checks/<module.name>.py``.

    Raises:
        KeyError: the module has no checks yet.
    """
    try:
        source = importlib.import_module(f"autograder.checks.{module.name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"autograder.checks.{module.name}":
            raise KeyError(f"module {module.id} has no checks yet") from None
        raise
    return list(source.CHECKS)


def graded_modules() -> list[Module]:
    """The modules that have checks, in course order."""
    return [m for m in MODULES if (paths.AUTOGRADER_DIR / "checks" / m.filename).is_file()]


_REFERENCE_CACHE: dict[str, Any] = {}


def reference(module: Module) -> Any | None:
    """The reference implementation of a module, or None where ``solutions/`` is absent."""
    if module.id not in _REFERENCE_CACHE:
        if not (paths.SOLUTIONS_DIR / module.filename).is_file():
            return None
        loaded = impl_loader.Implementation("solutions")
        _REFERENCE_CACHE[module.id] = loaded.module(module)
    return _REFERENCE_CACHE[module.id]


def hidden_seed() -> int | None:
    """The course's hidden seed (see :func:`course.settings.hidden_seed`)."""
    from course import settings

    return settings.hidden_seed()


def _generator(seed: int, check: Check) -> torch.Generator:
    mixed = hashlib.sha256(f"{seed}/{check.id}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(mixed[:6], "big"))


# ----------------------------------------------------------------------------- cases


def override(namespace: Any, **functions: Any) -> types.SimpleNamespace:
    """A namespace like ``namespace`` with some names replaced (for mistakes)."""
    base = dict(vars(namespace)) if namespace is not None else {}
    base.update(functions)
    return types.SimpleNamespace(**base)


def build_cases(
    check: Check, reference_ns: Any | None, seed: int | None, fixture_cases=None
) -> tuple[list[Case], list[str]]:
    """All the cases of ``check``: known outputs, hidden (if a reference and a seed are
    available), properties. Returns the cases and notes for the report."""
    notes: list[str] = []
    if fixture_cases is None:
        fixture_cases = fixture_files.load(check.module)
    cases: list[Case] = []
    for raw in fixture_cases:
        if raw["function"] != check.function:
            continue
        cases.append(
            Case(
                check,
                raw["name"],
                "known",
                raw["inputs"],
                probe=resolve_probe(raw["probe"]),
                expected=raw["expected"],
                note=raw.get("note", ""),
            )
        )
    if check.hidden:
        if reference_ns is None or seed is None:
            notes.append("hidden cases run where the reference solutions are installed")
        else:
            generator = _generator(seed, check)
            for hidden in check.hidden:
                for name, inputs in hidden.draw(generator):
                    outcome = run_probe_in_process(
                        hidden.probe, reference_ns, check.function, inputs
                    )
                    if not isinstance(outcome, Outcome):
                        raise RuntimeError(
                            f"the reference failed on hidden case {check.id}/{name}: "
                            f"{outcome.message}"
                        )
                    cases.append(
                        Case(
                            check,
                            f"hidden: {name}",
                            "hidden",
                            inputs,
                            probe=hidden.probe,
                            expected=outcome.value,
                            note=hidden.note,
                            weight=hidden.weight,
                        )
                    )
    for prop in check.properties:
        inputs = prop.inputs()
        expected = prop.expect(inputs) if prop.expect is not None else NO_VALUE
        cases.append(
            Case(
                check,
                f"property: {prop.name}",
                "property",
                inputs,
                probe=prop.probe,
                expected=expected,
                predicate=prop.predicate,
                note=prop.note,
                rtol=prop.rtol,
                atol=prop.atol,
                weight=prop.weight,
                core=prop.core,
            )
        )
    return cases, notes


def _mistake_code() -> Any | None:
    """The package ``solutions/mistakes`` (the code of the catalogued mistakes), loaded by
    file, or None where it is not installed (a student's copy of the course)."""
    global _MISTAKE_CODE
    if _MISTAKE_CODE is None:
        init = paths.SOLUTIONS_DIR / "mistakes" / "__init__.py"
        if not init.is_file():
            return None
        import importlib.util
        import sys

        spec = importlib.util.spec_from_file_location("_ppo_solutions_mistakes", init)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = loaded
        spec.loader.exec_module(loaded)
        _MISTAKE_CODE = loaded
    return _MISTAKE_CODE


_MISTAKE_CODE: Any | None = None


def mistake_namespace(check: Check, mistake: Mistake, reference_ns: Any | None):
    """The reference with ``check``'s function replaced by ``mistake`` (None where the
    mistake's code, under ``solutions/mistakes/``, or the reference it needs is absent)."""
    code = _mistake_code()
    if code is None:
        return None
    wrong = code.build(check.module.name, check.function, mistake.name, reference_ns)
    if wrong is None:
        return None
    return override(reference_ns, **{check.function: wrong})


def diagnose(case: Case, received: Any, reference_ns: Any | None) -> list[Mistake]:
    """The catalogued mistakes whose output on this case matches what was received.

    On a known case the mistakes' outputs stored in the fixture file are compared, so no
    mistake code is needed; on hidden cases and properties the mistakes run, where their
    code is installed."""
    found = []
    rtol, atol = case.tolerances
    stored = None
    if case.kind == "known":
        stored = fixture_files.mistake_outputs(case.check.module, case.check.function, case.name)
    for mistake in case.check.mistakes:
        if stored is not None:
            if mistake.name not in stored:
                continue
            value = stored[mistake.name]
        else:
            value = _mistake_output(case, mistake, reference_ns)
            if value is _FAILED:
                continue
        try:
            matches = compare(value, received, rtol, atol) is None
        except Exception:  # a received value of a shape no mistake has
            matches = False
        if matches:
            found.append(mistake)
    return found


_FAILED = object()


def _mistake_output(case: Case, mistake: Mistake, reference_ns: Any | None) -> Any:
    """What ``mistake`` returns on ``case`` (computed once per case: the cases of a run
    are shared by every submission), or ``_FAILED``."""
    cache = case.__dict__.setdefault("_mistake_outputs", {})
    if mistake.name not in cache:
        namespace = mistake_namespace(case.check, mistake, reference_ns)
        outcome = (
            None
            if namespace is None
            else run_probe_in_process(case.probe, namespace, case.check.function, case.inputs)
        )
        cache[mistake.name] = outcome.value if isinstance(outcome, Outcome) else _FAILED
    return cache[mistake.name]


# ----------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Runs probes on one implementation (in this process or in a worker)."""

    def start(self, check: Check) -> Failure | None: ...

    def run(self, case: Case, timeout: float) -> Outcome | Failure: ...


class InProcessExecutor:
    """Runs probes here, on a namespace (a module, or a notebook's globals)."""

    def __init__(self, namespace: Any, student_files=()) -> None:
        if isinstance(namespace, dict):
            namespace = types.SimpleNamespace(**namespace)
        self.namespace = namespace
        self.student_files = tuple(student_files)

    def start(self, check: Check) -> Failure | None:
        if not hasattr(self.namespace, check.function):
            return Failure("missing", f"no `{check.function}` is defined")
        return None

    def run(self, case: Case, timeout: float) -> Outcome | Failure:
        return run_probe_in_process(
            case.probe, self.namespace, case.check.function, case.inputs, self.student_files
        )


# ----------------------------------------------------------------------------- running


_STOPPING = {
    "crash": "the process running the code died on an earlier case",
    "timeout": "an earlier case used up the check's time limit",
}


def run_check(
    check: Check,
    executor: Executor,
    reference_ns: Any | None = None,
    seed: int | None = None,
    cases: list[Case] | None = None,
    for_grade: bool = False,
    executor_for: Any = None,
    until: float | None = None,
    spent: float = 0.0,
    private: bool = False,
) -> CheckResult:
    """Run every case of ``check`` and diagnose the failures.

    Args:
        for_grade: score as ``ppo-course grade`` does (see :class:`CheckResult`).
        executor_for: ``executor_for(case)`` gives the executor of a case when some cases
            run elsewhere (a composite function's graded cases, on the reference's earlier
            functions); None runs every case on ``executor``.
        until: a ``time.monotonic()`` deadline for the whole submission; cases after it
            are not run.
        spent: seconds of the check's time limit already used (by its other cases, run
            earlier in another worker).
        private: a student sees only the verdicts of these cases (they run where the
            hidden cases' inputs or the reference's earlier functions are).
    """
    notes: list[str] = []
    if cases is None:
        cases, notes = build_cases(check, reference_ns, seed)
    result = CheckResult(check, notes=notes, for_grade=for_grade)
    privately = private
    problem = executor.start(check)
    if problem is not None:
        result.error = problem
        return result
    import time

    began = time.monotonic()
    deadline = began + check.timeout - spent
    why = f"the check's {check.timeout:g} s time limit was spent"
    if until is not None and until < deadline:
        deadline = until
        why = "the submission's time limit was spent"
    stopped: Failure | None = None
    started: set[int] = set()
    for case in cases:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.cases.append(
                CaseResult(
                    case,
                    False,
                    failure=Failure("not_run", why),
                )
            )
            continue
        if stopped is not None:
            result.cases.append(CaseResult(case, False, failure=stopped))
            continue
        runner = executor if executor_for is None else executor_for(case)
        private = privately or runner is not executor
        known = [c for c in result.cases if c.case.kind == "known"]
        if (
            private
            and known
            and all(c.failure is not None and c.failure.kind == "not_implemented" for c in known)
        ):
            # The function itself is a stub: no need to start the other worker to see it.
            result.cases.append(CaseResult(case, False, failure=known[0].failure, private=True))
            continue
        unfinished = next(
            (c.failure for c in known if c.failure is not None and c.failure.kind == "needs"),
            None,
        )
        if private and unfinished is not None:
            # An earlier function it calls is not implemented yet: every case fails with
            # that module's message, as on a copy of the course without the reference.
            result.cases.append(CaseResult(case, False, failure=unfinished))
            continue
        if private and id(runner) not in started:
            started.add(id(runner))
            problem = runner.start(check)
            if problem is not None:
                result.cases.append(CaseResult(case, False, failure=problem, private=True))
                continue
        outcome = runner.run(case, remaining)
        if isinstance(outcome, Failure):
            result.cases.append(CaseResult(case, False, failure=outcome, private=private))
            if outcome.kind in _STOPPING:
                stopped = Failure("not_run", _STOPPING[outcome.kind])
            continue
        mismatch = _judge(case, outcome.value)
        if mismatch is None and outcome.repeated and _judge(case, outcome.again) is not None:
            failure = Failure(
                "mutated",
                f"{case.check.function} gave another result when called a second time with "
                "the same inputs: it changes its inputs in place (or keeps state from one "
                "call to the next); compute new tensors instead",
                printed=outcome.printed,
            )
            result.cases.append(CaseResult(case, False, failure=failure, private=private))
            continue
        printed = outcome.printed
        if mismatch is None:
            result.cases.append(
                CaseResult(
                    case, True, received=outcome.value, private=private, outcome_printed=printed
                )
            )
            continue
        result.cases.append(
            CaseResult(
                case,
                False,
                received=outcome.value,
                mismatch=mismatch,
                diagnoses=diagnose(case, outcome.value, reference_ns),
                private=private,
                outcome_printed=printed,
            )
        )
    result.contradicted = _contradicted(result, reference_ns)
    result.elapsed = time.monotonic() - began
    return result


def _contradicted(result: CheckResult, reference_ns: Any | None) -> set[str]:
    """The mistakes that give the received output on every failing case but fail a case
    the code passed (a mistake that fails more cases than the code is not what it does).
    Only mistakes whose output on the passing case is known are ruled out."""
    failing = [c for c in result.cases if not c.passed]
    if not failing or any(c.mismatch is None for c in failing):
        return set()
    candidates = set.intersection(*({d.name for d in c.diagnoses} for c in failing))
    out = set()
    for mistake in (m for m in result.check.mistakes if m.name in candidates):
        for case_result in (c for c in result.cases if c.passed):
            case = case_result.case
            if case.kind == "known":
                stored = fixture_files.mistake_outputs(
                    case.check.module, case.check.function, case.name
                )
                value = stored.get(mistake.name, _FAILED) if stored is not None else _FAILED
            else:
                value = _mistake_output(case, mistake, reference_ns)
            if value is _FAILED:
                continue
            try:
                fails = case.judge(value) is not None
            except Exception:  # an output of a shape no case expects
                fails = True
            if fails:
                out.add(mistake.name)
                break
    return out


def _judge(case: Case, received: Any) -> Mismatch | None:
    try:
        return case.judge(received)
    except Exception as exc:  # a received value of a shape no check expected
        return Mismatch(f"the output could not be judged ({type(exc).__name__}: {exc})")


@dataclass
class ModuleResult:
    module: Module
    checks: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # a usage problem: missing file, file that does not import

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 2)

    @property
    def max_score(self) -> float:
        return float(sum(c.max_score for c in self.checks))

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)
