"""Fixture files: the known numeric outputs of every graded function, one file per module.

``autograder/fixtures/mNN_name.json`` holds, for each case, its function, name, note,
source (``hand`` for values worked out by hand, ``reference`` for values the reference
produced and a person reviewed), the probe that runs it, the inputs and the expected
output. ``ppo-course fixtures`` writes them from the case definitions in
``autograder/checks/``; the tests fail when the reference no longer reproduces them.
"""

from __future__ import annotations

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


def generate(module: Module, checks: list[Check], reference: Any) -> dict[str, Any]:
    """The fixture file's content: hand values as written, the rest from ``reference``.

    Raises:
        RuntimeError: when the reference fails on a case (a bug in the course).
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
                }
            )
    return {
        "format": FORMAT,
        "module": module.name,
        "written_by": "ppo-course fixtures",
        "cases": cases,
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
        cases.append(case)
    return cases


def find(module: Module, function: str, name: str) -> dict[str, Any]:
    """One fixture case by function and name (for the docs).

    Raises:
        KeyError: when there is no such case.
    """
    for case in load(module):
        if case["function"] == function and case["name"] == name:
            return case
    raise KeyError(f"no fixture {module.name}/{function}/{name}")
