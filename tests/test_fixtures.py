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


def test_every_mistake_has_code_and_every_code_a_mistake():
    from solutions import mistakes

    for module in MODULES:
        catalogue = {(c.function, m.name) for c in engine.load_checks(module) for m in c.mistakes}
        assert set(mistakes.entries(module.name)) == catalogue, module.id


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_stored_mistake_outputs_are_reproduced(module):
    """Each known case stores the output of every mistake that returns on it."""
    reference = engine.reference(module)
    checks = {c.function: c for c in engine.load_checks(module)}
    for case in fixtures.load(module):
        check = checks[case["function"]]
        assert "mistakes" in case, ("run: ppo-course fixtures " + module.id, case["name"])
        fresh = fixtures.mistakes_on(check, resolve_probe(case["probe"]), case["inputs"], reference)
        assert set(fresh) == set(case["mistakes"]), case["name"]
        for name, value in fresh.items():
            problem = compare(case["mistakes"][name], value, check.rtol, check.atol)
            assert problem is None, (case["function"], case["name"], name, problem)


def test_public_cases_name_mistakes_without_their_code(monkeypatch):
    """Where solutions/ is absent, the stored outputs still name a mistake on known cases,
    and hidden cases and properties name none."""
    from tests.helpers import run_in_process

    module = engine.graded_modules()[0]
    check = engine.load_checks(module)[0]
    reference = engine.reference(module)
    mistake = check.mistakes[0]
    wrong = engine.mistake_namespace(check, mistake, reference)
    monkeypatch.setattr(engine, "_mistake_code", lambda: None)
    assert engine.mistake_namespace(check, mistake, reference) is None
    result = run_in_process(check, wrong)
    known = {d.name for c in result.cases if c.case.kind == "known" for d in c.diagnoses}
    other = {d.name for c in result.cases if c.case.kind != "known" for d in c.diagnoses}
    assert mistake.name in known
    assert not other


@pytest.mark.parametrize("module", MODULES, ids=[m.id for m in MODULES])
def test_stored_property_values_are_reproduced_by_their_oracles(module):
    """Properties with ``expect=stored(...)`` read values that the instructor's oracles give."""
    from autograder.fixtures import Stored

    table = fixtures.oracles(module)
    for check in engine.load_checks(module):
        for prop in check.properties:
            if not isinstance(prop.expect, Stored):
                continue
            assert prop.expect.name == prop.name, "run bind_stored on CHECKS"
            if prop.expect.oracle == fixtures.REFERENCE:
                expected = fixtures.reference_value(check, prop, engine.reference(module))
            else:
                expected = table[prop.expect.oracle](prop.inputs())
            stored = prop.expect(prop.inputs())
            rtol = check.rtol if prop.rtol is None else prop.rtol
            atol = check.atol if prop.atol is None else prop.atol
            assert compare(expected, stored, rtol, atol) is None, (check.id, prop.name)
