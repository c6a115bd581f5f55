"""Grade one mutant with its module's checks, in this process.

The cases are built once, before the workers fork (:func:`prepare`): the public ones
(known outputs and properties) and, for each hidden seed, the hidden ones with their
expected values from the reference. A mutant is graded by every check of its module
(the check of its own function first): it is *killed* when a public case fails, killed
*by hidden cases only* when every public case passes and a hidden one fails, and it
*survives* when every case passes. The mutated file replaces only its own module: the
modules it imports are the reference's.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import engine
from autograder.core import Case, Check, Outcome, run_probe_in_process
from autograder.values import Mismatch
from course import impl as impl_loader
from course import paths
from course.modules import Module


@dataclass
class CheckCases:
    check: Check
    public: list[Case]
    hidden: dict[int, list[Case]] = field(default_factory=dict)


@dataclass
class Prepared:
    """What grading a module's mutants needs, built before the workers fork."""

    module: Module
    source: str
    checks: list[CheckCases]
    seeds: tuple[int, ...]
    folder: Path = paths.SOLUTIONS_DIR
    """Where the module's siblings (the reference's other modules) are imported from."""

    def ordered(self, function: str) -> list[CheckCases]:
        """The checks, the one of ``function`` first."""
        own = [c for c in self.checks if c.check.function == function]
        return own + [c for c in self.checks if c.check.function != function]


def prepare(
    module: Module,
    seeds: tuple[int, ...],
    checks: list[Check] | None = None,
    folder: Path | None = None,
    fixture_cases: list | None = None,
) -> Prepared:
    """Build the cases of ``module``'s checks (default: its checks in ``autograder/checks``)
    under every seed, the expected values from the reference in ``folder`` (default:
    ``solutions/``)."""
    folder = folder or paths.SOLUTIONS_DIR
    path = folder / module.filename
    if not path.is_file():
        raise FileNotFoundError(f"no reference for {module.id}: {path} does not exist")
    source = path.read_text()
    reference = load_source(module, source, folder)
    prepared = []
    for check in engine.load_checks(module) if checks is None else checks:
        by_seed: dict[int, list[Case]] = {}
        public: list[Case] = []
        for n, seed in enumerate(seeds):
            cases, _ = engine.build_cases(check, reference, seed, fixture_cases)
            if n == 0:
                public = [c for c in cases if c.kind != "hidden"]
            by_seed[seed] = [c for c in cases if c.kind == "hidden"]
        prepared.append(CheckCases(check, public, by_seed))
    return Prepared(module, source, prepared, tuple(seeds), folder)


_PACKAGES: dict[Path, str] = {}


def load_source(module: Module, source: str, folder: Path | None = None) -> types.ModuleType:
    """``source`` executed as ``module`` of a private package over ``folder`` (default:
    ``solutions/``): its relative imports give the reference's other modules."""
    folder = folder or paths.SOLUTIONS_DIR
    if folder not in _PACKAGES:
        _PACKAGES[folder] = impl_loader.fresh_package(folder)
    package = _PACKAGES[folder]
    name = f"{package}.{module.name}"
    loaded = types.ModuleType(name)
    loaded.__file__ = str(folder / module.filename)
    loaded.__package__ = package
    code = compile(source, loaded.__file__, "exec")
    previous = sys.modules.get(name)
    sys.modules[name] = loaded
    try:
        exec(code, loaded.__dict__)
    except BaseException:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise
    return loaded


def _failed(case: Case, namespace: Any) -> str | None:
    """Why ``case`` fails on ``namespace`` (None when it passes)."""
    from autograder.runner import reset_torch_state

    reset_torch_state()
    outcome = run_probe_in_process(case.probe, namespace, case.check.function, case.inputs)
    if not isinstance(outcome, Outcome):
        return outcome.message
    try:
        mismatch = case.judge(outcome.value)
    except Exception as exc:
        mismatch = Mismatch(f"the output could not be judged ({type(exc).__name__})")
    return None if mismatch is None else (mismatch.message or "wrong value")


def grade_source(
    prepared: Prepared, function: str, source: str, seed: int | None = None
) -> dict[str, Any]:
    """Grade the module's file ``source`` (a mutant of ``function``).

    Returns ``{"outcome": "killed" | "hidden" | "survived", "check", "case", "message"}``;
    ``"hidden"`` means no public case fails and a hidden case of ``seed`` (default: every
    seed of ``prepared``) does, and ``"hidden_seeds"`` lists the seeds whose hidden cases
    kill it."""
    try:
        namespace = load_source(prepared.module, source, prepared.folder)
    except Exception as exc:
        return {"outcome": "killed", "check": "", "case": "import", "message": repr(exc)[:200]}
    ordered = prepared.ordered(function)
    for entry in ordered:
        for case in entry.public:
            why = _failed(case, namespace)
            if why is not None:
                return _verdict("killed", case, why)
    seeds = prepared.seeds if seed is None else (seed,)
    first: dict[str, Any] | None = None
    killing: list[int] = []
    for each in seeds:
        found = None
        for entry in ordered:
            for case in entry.hidden.get(each, []):
                why = _failed(case, namespace)
                if why is not None:
                    found = _verdict("hidden", case, why)
                    break
            if found:
                break
        if found is not None:
            killing.append(each)
            first = first or found
    if first is None:
        return {"outcome": "survived", "check": "", "case": "", "message": "", "hidden_seeds": []}
    first["hidden_seeds"] = killing
    return first


def _verdict(outcome: str, case: Case, why: str) -> dict[str, Any]:
    text = str(why).strip().splitlines()[0] if str(why).strip() else ""
    return {
        "outcome": outcome,
        "check": case.check.id,
        "case": case.name,
        "message": text[:200],
    }


def checked_functions(module: Module) -> list[str]:
    return [c.function for c in engine.load_checks(module)]
