"""Fixture files: in sync with their definitions, and reproduced by the reference."""

from __future__ import annotations

import pytest

from autograder import engine, fixtures
from autograder.core import NO_VALUE, Outcome, resolve_probe, run_probe_in_process
from autograder.values import compare, decode, encode

MODULES = engine.graded_modules()


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_fixture_file_matches_its_definitions(module):
    """Same cases, same inputs, same hand values as the checks define."""
    stored = {(c["function"], c["name"]): c for c in fixtures.load(module)}
    defined = {}
    for check in engine.load_checks(module):
        for fixture in check.fixtures:
            defined[(check.function, fixture.name)] = (check, fixture)
    assert set(stored) == set(defined), "run: ppo-course fixtures " + module.id
    for key, (_, fixture) in defined.items():
        case = stored[key]
        assert encode(case["inputs"]) == encode(fixture.build_inputs()), key
        if fixture.expected is not NO_VALUE:
            assert case["source"] == "hand"
            assert encode(case["expected"]) == encode(decode(encode(fixture.expected))), key


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_reference_reproduces_the_known_outputs(module):
    reference = engine.reference(module)
    checks = {c.function: c for c in engine.load_checks(module)}
    for case in fixtures.load(module):
        check = checks[case["function"]]
        outcome = run_probe_in_process(
            resolve_probe(case["probe"]), reference, check.function, case["inputs"]
        )
        assert isinstance(outcome, Outcome), (case["name"], outcome)
        problem = compare(case["expected"], outcome.value, check.rtol, check.atol)
        assert problem is None, (case["function"], case["name"], problem)


def test_encoding_round_trips():
    import math

    import torch

    value = {
        "a": torch.tensor([[1.5, float("nan")], [float("inf"), -0.1]]),
        "b": torch.tensor([True, False]),
        "c": (1, 2.5, math.nan),
        "d": torch.tensor(3, dtype=torch.int64),
    }
    back = decode(encode(value))
    assert compare(value, back, 0, 0) is None
    assert encode(torch.tensor([0.1]))["data"] == [0.1]
