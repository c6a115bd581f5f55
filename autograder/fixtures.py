"""Fixture files: the known numeric outputs of every graded function, one file per module.

``autograder/fixtures/mNN_name.json`` holds, for each case, its function, name, note,
source (``hand`` for values worked out by hand, ``reference`` for values the reference
produced and a person reviewed), the probe that runs it, the inputs, the expected output,
and ``mistakes``: the output of each catalogued mistake on the case (the mistakes that
raise are left out), so that feedback names a misconception on the public cases without
the mistakes' code, which stays with the reference under ``solutions/``.
``ppo-course fixtures`` writes them from the case definitions in ``autograder/checks/``
and the mistakes in ``solutions/mistakes/``; the tests fail when the reference or the
mistakes no longer reproduce them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

from autograder.core import NO_VALUE, Check, Outcome, probe_ref, run_probe_in_process
from autograder.values import decode, encode
from course import paths
from course.modules import Module

FORMAT = 1


def fixture_path(module: Module, folder: Path | None = None) -> Path:
    return (folder or paths.FIXTURES_DIR) / f"{module.name}.json"


def mistakes_on(check: Check, probe: Any, inputs: dict[str, Any], reference: Any) -> dict:
    """``{mistake name: output}`` of the check's catalogued mistakes on one case.

    Raises:
        RuntimeError: when the code of a mistake is not installed.
    """
    from autograder import engine

    outputs = {}
    for mistake in check.mistakes:
        namespace = engine.mistake_namespace(check, mistake, reference)
        if namespace is None:
            raise RuntimeError(f"the code of mistake {check.id}:{mistake.name} is not installed")
        outcome = run_probe_in_process(probe, namespace, check.function, inputs)
        if isinstance(outcome, Outcome):
            outputs[mistake.name] = outcome.value
    return outputs


def generate(module: Module, checks: list[Check], reference: Any) -> dict[str, Any]:
    """The fixture file's content: hand values as written, the rest from ``reference``,
    and each mistake's output.

    Raises:
        RuntimeError: when the reference fails on a case (a bug in the course), or the
            mistakes' code is not installed.
    """
    cases = []
    for check in checks:
        for fixture in check.fixtures:
            inputs = fixture.build_inputs()
            if fixture.expected is not NO_VALUE:
                expected = fixture.expected
            else:
                outcome = run_probe_in_process(fixture.probe, reference, check.function, inputs)
                if not isinstance(outcome, Outcome):
                    raise RuntimeError(
                        f"the reference failed on {check.id} / {fixture.name}: {outcome.message}"
                    )
                expected = outcome.value
            cases.append(
                {
                    "function": check.function,
                    "name": fixture.name,
                    "source": fixture.source,
                    "note": fixture.note,
                    "probe": probe_ref(fixture.probe),
                    "inputs": encode(inputs),
                    "expected": encode(expected),
                    "mistakes": encode(mistakes_on(check, fixture.probe, inputs, reference)),
                }
            )
    return {
        "format": FORMAT,
        "module": module.name,
        "written_by": "ppo-course fixtures",
        "cases": cases,
        "properties": stored_properties(module, checks, reference),
    }


def dumps(data: dict[str, Any]) -> str:
    """Stable, readable JSON: one case per block, short arrays kept on one line."""
    text = json.dumps(data, indent=1, allow_nan=False)
    return _compact_arrays(text) + "\n"


def _compact_arrays(text: str) -> str:
    """Fold innermost arrays of numbers onto single lines so a tensor reads as a grid."""
    import re

    pattern = re.compile(
        r"\[\s*((?:-?[\d.eE+-]+|\"-?(?:nan|inf)\"|true|false)"
        r"(?:,\s*(?:-?[\d.eE+-]+|\"-?(?:nan|inf)\"|true|false))*)\s*\]"
    )
    return pattern.sub(lambda m: "[" + ", ".join(s.strip() for s in m[1].split(",")) + "]", text)


def write(module: Module, checks: list[Check], reference: Any, folder: Path | None = None) -> Path:
    path = fixture_path(module, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(generate(module, checks, reference)))
    return path


def load(module: Module, folder: Path | None = None) -> list[dict[str, Any]]:
    """The module's fixture cases with inputs and expected values decoded (empty when the
    module has no fixture file)."""
    path = fixture_path(module, folder)
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    cases = []
    for raw in data["cases"]:
        case = dict(raw)
        case["inputs"] = decode(raw["inputs"])
        case["expected"] = decode(raw["expected"])
        if "mistakes" in raw:
            case["mistakes"] = decode(raw["mistakes"])
        cases.append(case)
    return cases


_MISTAKE_CACHE: dict[str, tuple[float, dict]] = {}


def mistake_outputs(module: Module, function: str, name: str) -> dict[str, Any] | None:
    """The stored outputs of the catalogued mistakes on one known case, or None when the
    fixture file stores none for it (cached per file until the file changes)."""
    path = fixture_path(module)
    if not path.is_file():
        return None
    stamp = path.stat().st_mtime_ns
    cached = _MISTAKE_CACHE.get(str(path))
    if cached is None or cached[0] != stamp:
        table = {(c["function"], c["name"]): c.get("mistakes") for c in load(module)}
        cached = (stamp, table)
        _MISTAKE_CACHE[str(path)] = cached
    return cached[1].get((function, name))


def find(module: Module, function: str, name: str) -> dict[str, Any]:
    """One fixture case by function and name (for the docs).

    Raises:
        KeyError: when there is no such case.
    """
    for case in load(module):
        if case["function"] == function and case["name"] == name:
            return case
    raise KeyError(f"no fixture {module.name}/{function}/{name}")


# ----------------------------------------------------------------------------- stored


@dataclasses.dataclass(frozen=True)
class Stored:
    """The ``expect`` of a property whose value comes from an oracle on the instructor's
    side (``ORACLES[oracle]`` in ``solutions/oracles/mNN_name.py``), stored in the fixture
    file under ``properties``. :func:`bind_stored` ties it to its check and property."""

    oracle: str
    module: Module | None = None
    function: str = ""
    name: str = ""

    def __call__(self, inputs: dict[str, Any]) -> Any:
        if self.module is None:
            raise RuntimeError(f"stored({self.oracle!r}) is not bound: end with bind_stored")
        value = property_expected(self.module, self.function, self.name)
        if value is NO_VALUE:
            raise RuntimeError(
                f"{fixture_path(self.module).name} stores no value for the property "
                f"{self.function} / {self.name} (run: ppo-course fixtures {self.module.id})"
            )
        return value


def stored(oracle: str) -> Stored:
    """``expect=stored("name")``: the value the oracle ``name`` gives, read from the file."""
    return Stored(oracle)


REFERENCE = "reference"
"""The oracle name of :func:`stored_reference`."""


def stored_reference() -> Stored:
    """``expect=stored_reference()``: what the property's probe returns on the reference
    (``solutions/``), read from the file. For a property that pins an edge of the contract
    the reference defines (float64 inputs, a batch of one, a value on a boundary) where no
    simpler oracle says more than the reference does."""
    return Stored(REFERENCE)


def reference_value(check: Check, prop: Any, reference: Any) -> Any:
    """The output of ``prop``'s probe on the reference.

    Raises:
        RuntimeError: the reference is absent or fails on the property (a bug in the course).
    """
    if reference is None:
        raise RuntimeError(f"{check.id}: the reference is not installed")
    outcome = run_probe_in_process(prop.probe, reference, check.function, prop.inputs())
    if not isinstance(outcome, Outcome):
        raise RuntimeError(f"the reference failed on {check.id} / {prop.name}: {outcome.message}")
    return outcome.value


def bind_stored(checks: list[Check]) -> list[Check]:
    """Tie every ``stored(...)`` expectation of ``checks`` to its check and property."""
    for check in checks:
        for prop in check.properties:
            if isinstance(prop.expect, Stored):
                prop.expect = dataclasses.replace(
                    prop.expect, module=check.module, function=check.function, name=prop.name
                )
    return checks


def oracles(module: Module) -> dict[str, Any]:
    """``ORACLES`` of ``solutions/oracles/<module>.py`` (empty where it is absent)."""
    path = paths.SOLUTIONS_DIR / "oracles" / module.filename
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"_ppo_oracles_{module.name}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return dict(loaded.ORACLES)


def stored_properties(
    module: Module, checks: list[Check], reference: Any = None
) -> list[dict[str, Any]]:
    """The stored expectations of the module's properties, computed by their oracles (or by
    ``reference``, for :func:`stored_reference`).

    Raises:
        RuntimeError: an oracle is missing (not installed, or not defined).
    """
    table = None
    out = []
    for check in checks:
        for prop in check.properties:
            if not isinstance(prop.expect, Stored):
                continue
            if prop.expect.oracle == REFERENCE:
                value = reference_value(check, prop, reference)
            else:
                if table is None:
                    table = oracles(module)
                if prop.expect.oracle not in table:
                    raise RuntimeError(f"{check.id}: no oracle {prop.expect.oracle!r} is installed")
                value = table[prop.expect.oracle](prop.inputs())
            out.append(
                {
                    "function": check.function,
                    "name": prop.name,
                    "oracle": prop.expect.oracle,
                    "expected": encode(value),
                }
            )
    return out


_PROPERTY_CACHE: dict[str, tuple[int, dict]] = {}


def property_expected(module: Module, function: str, name: str) -> Any:
    """The stored expectation of one property (NO_VALUE when the file stores none)."""
    path = fixture_path(module)
    if not path.is_file():
        return NO_VALUE
    stamp = path.stat().st_mtime_ns
    cached = _PROPERTY_CACHE.get(str(path))
    if cached is None or cached[0] != stamp:
        data = json.loads(path.read_text())
        table = {(p["function"], p["name"]): p["expected"] for p in data.get("properties", [])}
        cached = (stamp, table)
        _PROPERTY_CACHE[str(path)] = cached
    if (function, name) not in cached[1]:
        return NO_VALUE
    return decode(cached[1][(function, name)])
