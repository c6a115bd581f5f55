"""What a check is: cases, evidence, mistakes, results and scoring.

A :class:`Check` grades one function from three kinds of evidence:

* known outputs: the cases of the module's fixture file (``autograder/fixtures/``), some
  worked out by hand, the rest produced by the reference and reviewed;
* hidden cases: inputs drawn at grading time from a seed the student does not know, the
  expected outputs computed by the reference (only where ``solutions/`` is present);
* properties that need no reference: identities, agreement with ``torch.distributions``,
  gradients, shapes and dtypes, inputs left unmodified.

A case runs a *probe* on the implementation under test. A probe is a plain function of
``(namespace, function, inputs)`` that calls the student's code and returns raw values
(a tensor, a number, a dict of facts). Probes run wherever the student's code runs (in
an isolated worker process, or in a notebook's kernel); the comparison and the scoring
always happen here, in the grader.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from autograder.outcomes import Failure, Outcome, probe_ref  # noqa: F401  (re-exported)
from autograder.values import Mismatch, compare
from course.modules import Module

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-6
FLOAT64_RTOL = 1e-10
FLOAT64_ATOL = 1e-12
"""The tolerances of a float64 case: float64 rounding (about 1e-16) is far inside them,
a float32 cast anywhere in the computation (about 1e-7) is far outside."""


class _NoValue:
    """Marks "no expected value" (a case judged by a predicate, or a hand value not given)."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

Probe = Callable[[Any, str, dict[str, Any]], Any]
Predicate = Callable[[Any, dict[str, Any]], "str | None"]


# ----------------------------------------------------------------------------- probes


class InputMutated(Exception):
    """The function under test changed one of its input tensors in place."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(value.requires_grad) if value.is_leaf else copy
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return value


def clone_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Deep copies of the tensors in ``inputs``, nested dicts, lists and tuples included
    (other values are shared)."""
    return {key: _clone(value) for key, value in inputs.items()}


def mutated(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the inputs whose values changed in place (compared as plain data: shape,
    dtype and raw bytes, nested containers included)."""
    from autograder import wire

    names = []
    for key, old in before.items():
        try:
            same = wire.to_plain(after[key]) == wire.to_plain(old)
        except (wire.WireError, KeyError):
            same = False
        if not same:
            names.append(key)
    return names


def call(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """The default probe: call ``function`` with the inputs in order.

    The executor hands a probe its own copy of the inputs and, after the probe, compares
    that copy with the originals, so an in-place change is caught on the grader's side."""
    fn = getattr(ns, function)
    return fn(*inputs.values())


def resolve_probe(ref: str) -> Probe:
    import importlib

    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def plain(value: Any) -> Any:
    """Detach tensors and move them to the CPU, recursively, so a value can be pickled and
    compared. Other values pass through."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":  # no values to copy: judged (and shown) as it is
            return value.detach()
        return value.detach().cpu().clone()
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- devices

_CASE_DEVICE = torch.device("cpu")


def set_case_device(device: str | torch.device) -> None:
    """Where the cases of this process run: the CPU, unless a student's ``ppo-course check
    --device cuda`` asked its worker for another (the worker's ``--device``)."""
    global _CASE_DEVICE
    _CASE_DEVICE = torch.device(device)


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with its tensors (in dicts, lists and tuples, at any depth) and modules on
    ``device``. A tensor that requires grad stays a leaf that requires grad, as it arrives
    from a network; other values pass through."""
    if isinstance(value, torch.Tensor):
        if value.device == device:
            return value
        moved = value.detach().to(device)
        return moved.requires_grad_(True) if value.requires_grad else moved
    if isinstance(value, torch.nn.Module):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def on_case_device(value: Any) -> Any:
    """``value`` moved to the device the cases run on (unchanged on the CPU): how a probe
    puts a network or a tensor of its own where the inputs are, as a training loop on that
    device would."""
    return value if _CASE_DEVICE.type == "cpu" else to_device(value, _CASE_DEVICE)


def seed_everything(seed: int = 0) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


# ----------------------------------------------------------------------------- evidence


@dataclass
class Fixture:
    """A case with a known output, stored in the module's fixture file.

    ``inputs`` is a dict or a function that builds it (deterministically). ``expected``
    is given for cases worked out by hand (the docs show them); otherwise the fixture
    command stores the reference's output.
    """

    name: str
    inputs: dict[str, Any] | Callable[[], dict[str, Any]]
    note: str = ""
    expected: Any = NO_VALUE
    probe: Probe = call

    def build_inputs(self) -> dict[str, Any]:
        return self.inputs() if callable(self.inputs) else dict(self.inputs)

    @property
    def source(self) -> str:
        return "hand" if self.expected is not NO_VALUE else "reference"


@dataclass
class Hidden:
    """Fresh cases at grading time: ``draw(generator)`` returns ``[(name, inputs), ...]``;
    the reference computes the expected outputs."""

    draw: Callable[[torch.Generator], list[tuple[str, dict[str, Any]]]]
    probe: Probe = call
    note: str = ""
    weight: float = 1.0


@dataclass
class Property:
    """A fact that needs no reference. Either ``expect(inputs)`` gives the value the probe
    must return, or ``predicate(received, inputs)`` returns a message when it fails."""

    name: str
    inputs: Callable[[], dict[str, Any]]
    note: str = ""
    expect: Callable[[dict[str, Any]], Any] | None = None
    predicate: Predicate | None = None
    probe: Probe = call
    rtol: float | None = None
    atol: float | None = None
    weight: float = 1.0
    core: bool = False
    """The property checks a part of the contract that no hidden case can compare with the
    reference (how actions are sampled, where gradients flow, how layers start): failing
    it is a wrong concept, and the function keeps at most :data:`CORE_CAP` of its points."""


CORE_CAP = 1 / 3
"""The share of its points a function keeps at most when it fails a core property."""


@dataclass
class Mistake:
    """A misconception students really have: its name, a title and an explanation.

    ``explanation`` says what is wrong and why, in a sentence or two; the feedback shows
    it when a student's output matches the mistake's. The wrong version itself is code
    that is one small edit from the answer, so it lives on the instructor's side, in
    ``solutions/mistakes/`` (see that package); the fixture files keep each mistake's
    output on the public cases, so that a student's own check names it there too.
    """

    name: str
    title: str
    explanation: str
    kind: str = "concept"
    """``"concept"``: the idea of the function is wrong, and the checks take most of its
    points (its hidden cases fail, or a core property does). ``"edge"``: a slip on one edge
    (a boundary included, a zero probability, an overflow), which costs a property's
    share and no more. ``tests/test_partial_credit.py`` holds every catalogued mistake to
    its kind, under several hidden seeds."""

    def __post_init__(self) -> None:
        if self.kind not in ("concept", "edge"):
            raise ValueError(f"mistake {self.name}: kind must be 'concept' or 'edge'")


@dataclass
class Check:
    """Grades one function (or class) of one module."""

    module: Module
    function: str
    points: int
    fixtures: list[Fixture] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    timeout: float = 20.0
    summary: str = ""
    uses: tuple[str, ...] = ()
    """Ids of the other modules whose graded functions this one calls (``("m04",)``).
    Where the reference is installed, ``ppo-course grade`` runs this check's graded cases
    on the reference's versions of those modules, so that a mistake in an earlier
    exercise costs its points once."""

    @property
    def id(self) -> str:
        return f"{self.module.id}.{self.function}"

    @property
    def docs(self) -> str:
        return f"docs/{self.module.docs_page}#{self.function}"


@dataclass
class Case:
    """One comparison: run ``probe`` on ``inputs``, compare with ``expected`` (or test
    ``predicate``)."""

    check: Check
    name: str
    kind: str  # "known", "hidden" or "property"
    inputs: dict[str, Any]
    probe: Probe = call
    expected: Any = NO_VALUE
    predicate: Predicate | None = None
    note: str = ""
    rtol: float | None = None
    atol: float | None = None
    weight: float = 1.0
    core: bool = False

    def plain_inputs(self) -> Any:
        """The inputs as plain data (``wire.py``), computed once: what a worker is sent,
        and what the inputs must still be after the call."""
        cached = self.__dict__.get("_plain_inputs")
        if cached is None:
            from autograder import wire

            cached = wire.to_plain(self.inputs)
            self.__dict__["_plain_inputs"] = cached
        return cached

    @property
    def tolerances(self) -> tuple[float, float]:
        rtol = self.check.rtol if self.rtol is None else self.rtol
        atol = self.check.atol if self.atol is None else self.atol
        return rtol, atol

    def judge(self, received: Any) -> Mismatch | None:
        # A received tensor keeps its requires_grad flag (a check may need to see it); the
        # grader's own arithmetic on it records no graph and reads values without warning.
        with torch.no_grad():
            if self.predicate is not None:
                message = self.predicate(received, self.inputs)
                return Mismatch(message) if message else None
            rtol, atol = self.tolerances
            return compare(self.expected, received, rtol, atol)


# ----------------------------------------------------------------------------- outcomes


def failure_from_exception(exc: BaseException, function: str, line: str = "") -> Failure:
    """Turn what a probe raised into a :class:`Failure` with a clear message."""
    # A stub's NotImplementedError names its exercise ("m04.f: not implemented yet") or,
    # as nbgrader writes stubs, says nothing. Any other one comes from a library (torch
    # raises it for an operation a device does not support) and is reported as raised.
    if isinstance(exc, NotImplementedError) and (
        not str(exc).strip() or re.match(r"m\d\d\.[\w.]+: not implemented yet", str(exc))
    ):
        named = re.match(r"(m\d\d)\.([\w.]+): not implemented yet", str(exc))
        if named and named[2].split(".")[0] != function.split(".")[0]:
            return Failure(
                "needs",
                f"{function} calls {named[1]}.{named[2]}, which is not implemented yet: "
                f"finish module {named[1]} first",
                line,
            )
        return Failure("not_implemented", f"{function} is not implemented yet", line)
    if isinstance(exc, InputMutated):
        names = ", ".join(f"`{n}`" for n in exc.names)
        return Failure(
            "mutated",
            f"{function} modified its input {names} in place; compute a new tensor instead "
            "(the caller still needs the original)",
            line,
        )
    if isinstance(exc, AttributeError) and f"'{function}'" in str(exc):
        return Failure("missing", f"your file defines no `{function}`")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{function} raised {type(exc).__name__}" + (f": {text}" if text else "")
    return Failure("exception", message, line)


TRUSTED_LOCK = threading.RLock()
"""Held while a probe runs in this process: probes use torch's global random state, so two
threads (``ppo-course grade --jobs``) must not interleave them."""


def run_probe_in_process(
    probe: Probe, namespace: Any, function: str, inputs: dict[str, Any], student_files=()
) -> Outcome | Failure:
    """Run a probe here, quietly, on a copy of the inputs, and capture what it returns or
    raises (an in-place change of the inputs is a failure)."""
    import traceback

    with TRUSTED_LOCK:
        seed_everything(0)
        sink = io.StringIO()
        try:
            args = clone_inputs(inputs)
            with (
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                value = probe(namespace, function, args)
            changed = mutated(inputs, args)
            if changed:
                raise InputMutated(changed)
            return Outcome(plain(value), printed=sink.getvalue()[:2000])
        except Exception as exc:
            line = ""
            frames = traceback.extract_tb(exc.__traceback__)
            mine = [f for f in frames if any(f.filename == str(s) for s in student_files)]
            if mine:
                last = mine[-1]
                line = f"line {last.lineno} of {last.filename}: {(last.line or '').strip()}"
            failure = failure_from_exception(exc, function, line)
            failure.printed = sink.getvalue()[:2000]
            return failure


# ----------------------------------------------------------------------------- results


@dataclass
class CaseResult:
    case: Case
    passed: bool
    received: Any = NO_VALUE
    mismatch: Mismatch | None = None
    failure: Failure | None = None
    diagnoses: list[Mistake] = field(default_factory=list)
    private: bool = False
    """Ran where the reference's earlier functions were present: a student sees only its
    verdict (what it received could carry the reference out)."""

    @property
    def printed(self) -> str:
        """What the code printed on this case (bounded), if anything."""
        return self.failure.printed if self.failure is not None else self.outcome_printed

    outcome_printed: str = ""


@dataclass
class CheckResult:
    check: Check
    cases: list[CaseResult] = field(default_factory=list)
    error: Failure | None = None  # the check could not run at all (missing file, import)
    notes: list[str] = field(default_factory=list)
    contradicted: set[str] = field(default_factory=set)
    """The catalogued mistakes that explain the failing cases but fail a case this code
    passes: whatever the code does, it is not that mistake, which is not named."""
    for_grade: bool = False
    """Scored as ``ppo-course grade`` scores: only hidden cases and properties carry
    points (the public known outputs are a self-check), and a function that passes none
    of its hidden cases scores nothing."""
    elapsed: float = 0.0
    """Seconds its cases took (the import of the module left out)."""

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def max_score(self) -> float:
        return float(self.check.points)

    def _weight(self, case: Case) -> float:
        return 0.0 if self.for_grade and case.kind == "known" else case.weight

    @property
    def score(self) -> float:
        """Points in proportion to the weight of the cases passed (a case weighs 1 unless
        it checks the heart of the exercise), at most a third of them when a core property
        fails; nothing if the check could not run."""
        if self.error is not None or not self.cases:
            return 0.0
        if self.for_grade:
            hidden = [c for c in self.cases if c.case.kind == "hidden"]
            if hidden and not any(c.passed for c in hidden):
                return 0.0
        total = sum(self._weight(c.case) for c in self.cases)
        if total == 0:
            return 0.0
        passed = sum(self._weight(c.case) for c in self.cases if c.passed)
        share = passed / total
        if any(c.case.core and not c.passed for c in self.cases):
            share = min(share, CORE_CAP)
        return round(self.check.points * share, 2)

    @property
    def status(self) -> str:
        """A short word for tables: ``passed``, ``not implemented``, ``failed``, ..."""
        if self.passed:
            return "passed"
        if self.error is not None:
            return {"import": "does not import", "missing": "missing"}.get(self.error.kind, "error")
        failures = [c.failure for c in self.cases if c.failure is not None]
        if (
            failures
            and all(f.kind == "not_implemented" for f in failures)
            and len(failures) == len(self.cases)
        ):
            return "not implemented"
        if any(f.kind == "timeout" for f in failures):
            return "timed out"
        if any(f.kind == "crash" for f in failures):
            return "crashed"
        return "failed"
