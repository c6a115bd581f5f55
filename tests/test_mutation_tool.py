"""The mutation tool itself (``autograder/mutation``), on small sample modules: the operators
make the kinds of edit they promise, a weak check lets a mutant survive and the run says
so, a hanging mutant is stopped by the time limit, the list of equivalents is read and
its stale entries found, and the output does not depend on the run."""

from __future__ import annotations

import textwrap

import pytest
import torch

from autograder import engine
from autograder.core import Check, Hidden, Property
from autograder.mutation import equivalents, grading, operators
from autograder.mutation.__main__ import main, print_text
from autograder.mutation.run import grade_mutants, mutants_of, sample
from course.modules import Module

SAMPLE = textwrap.dedent(
    '''
    import torch

    UNIT = 1.0


    def helper(x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return x + 1
        ### END SOLUTION


    def graded(x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
        """Not mutated: the docstring, 0.5."""
        scale = 0.5
        ### BEGIN SOLUTION
        y = y + 1.0
        total = torch.zeros_like(x) + x * UNIT + torch.zeros_like(x[0])
        for i in range(n):
            total = total + x[i:].sum(dim=-1, keepdim=True)
        if n < 3 and not torch.is_grad_enabled() and y is not None:
            total.clamp(min=0.0)
        total[..., 0] = 0.0
        out = (x - y.detach()).mean(dim=0) * 0.5 * float(n) + total.clone().squeeze(-1)[-1]
        return out.abs()
        ### END SOLUTION
    '''
)


def _kinds(mutants):
    return {m.kind for m in mutants}


def _edits(mutants):
    return {(m.kind, m.before, m.after) for m in mutants}


TAIL = "not torch.is_grad_enabled() and y is not None"
OUT = "(x - y.detach()).mean(dim=0) * 0.5"


def test_operators_make_every_kind_of_edit():
    mutants = operators.generate("m99", SAMPLE, ["graded"])
    assert _kinds(mutants) == set(operators.KINDS)
    edits = _edits(mutants)
    for expected in [
        ("boundary", f"n < 3 and {TAIL}", f"n <= 3 and {TAIL}"),
        ("comparison", f"n < 3 and {TAIL}", f"n >= 3 and {TAIL}"),
        ("logic", "y is not None", "y"),
        ("cast", f"{OUT} * float(n)", f"{OUT} * n"),
        ("constant", "n < 3", "n < 4"),
        ("detach", "x - y.detach()", "x - y"),
        ("detach", "", "x = x.detach()"),
        ("dim", "(x - y.detach()).mean(dim=0)", "(x - y.detach()).mean(dim=-1)"),
        ("squeeze", "total.clone().squeeze(-1)", "total.clone().squeeze()"),
        ("squeeze", "x[i:].sum(dim=-1, keepdim=True)", "x[i:].sum(dim=-1, keepdim=False)"),
        ("cast", "", "y = y.float()"),
        ("cast", "torch.zeros_like(x)", "torch.zeros_like(x, dtype=torch.float32)"),
        ("cast", "return out.abs()", "return out.abs().float()"),
        ("sign", "x - y.detach()", "y.detach() - x"),
        ("arithmetic", "x - y.detach()", "x + y.detach()"),
        ("reduction", "(x - y.detach()).mean(dim=0)", "(x - y.detach()).sum(dim=0)"),
        ("reduction", "total.clamp(min=0.0)", "total.clamp(max=0.0)"),
        ("off-by-one", "range(n)", "range(n - 1)"),
        ("off-by-one", "range(n)", "range(n + 1)"),
        ("off-by-one", "x[i:].sum", "x[i + 1:].sum"),
        ("off-by-one", "total.clone().squeeze(-1)[-1]", "total.clone().squeeze(-1)[-2]"),
        ("in-place", "y = y + 1.0", "y += 1.0"),
        ("in-place", "total.clone()", "total"),
        ("in-place", "total.clamp(min=0.0)", "total.clamp_(min=0.0)"),
        ("constant", f"{OUT}", f"{OUT[:-1]}6"),
        ("constant", "total.clamp(min=0.0)", "total.clamp(min=0.1)"),
        ("dropped-statement", "total.clamp(min=0.0)", "pass"),
        ("logic", "not torch.is_grad_enabled()", "torch.is_grad_enabled()"),
    ]:  # fmt: skip
        assert expected in edits, expected
    # Each mutant is one edit that compiles, and none is the original program.
    for mutant in mutants:
        compile(mutant.apply(SAMPLE), "<mutant>", "exec")
        assert mutant.apply(SAMPLE) != SAMPLE


def test_edits_that_are_equivalent_by_construction_are_not_made():
    edits = _edits(operators.generate("m99", SAMPLE, ["graded"]))
    afters = {after for _, _, after in edits}
    # ``total`` is a fresh local: ``total += ...`` changes no one's tensor.
    assert not any(a.startswith("total +=") for a in afters)
    # A factor of 1 (a module constant): ``x / UNIT`` and ``x`` are ``x * UNIT``.
    assert not any("x / UNIT" in a for a in afters)
    assert ("dropped-term", "x * UNIT", "x") not in edits
    # Only the shape of ``x[0]`` is read by ``zeros_like``.
    assert not any("x[1]" in a or "x[-1]" in a for a in afters)
    # ``out`` is read no more: ``out.abs_()`` changes nothing anyone sees.
    assert not any("abs_()" in a for a in afters)
    # The int argument is neither cast to float nor detached.
    assert not any(a in ("n = n.float()", "n = n.detach()") for a in afters)


def test_only_the_answer_regions_of_graded_functions_are_mutated():
    mutants = operators.generate("m99", SAMPLE, ["graded"])
    lines = SAMPLE.splitlines()
    begin = lines.index("    ### BEGIN SOLUTION", lines.index("def graded(x: torch.Tensor, "
                                                              "y: torch.Tensor, n: int) -> "
                                                              "torch.Tensor:"))  # fmt: skip
    assert all(m.function == "graded" and m.line > begin for m in mutants)
    assert not any("scale" in m.before or "docstring" in m.before for m in mutants)
    assert operators.generate("m99", SAMPLE, ["other"]) == []


def test_identities_do_not_depend_on_line_numbers_and_generation_is_deterministic():
    first = operators.generate("m99", SAMPLE, ["graded", "helper"])
    again = operators.generate("m99", SAMPLE, ["graded", "helper"])
    assert first == again
    shifted = operators.generate("m99", "# a comment\n\n" + SAMPLE, ["graded", "helper"])
    assert [m.key for m in shifted] == [m.key for m in first]
    assert [m.line for m in shifted] == [m.line + 2 for m in first]
    assert len({m.key for m in first}) == len(first)


# ----------------------------------------------------------------------------- grading

WEAK = textwrap.dedent(
    """
    import torch


    def above_one(x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return (x > 1.0).to(x.dtype)
        ### END SOLUTION


    def count_to(n: int) -> int:
        ### BEGIN SOLUTION
        i = 0
        while i < n:
            i += 1
        return i
        ### END SOLUTION
    """
)

MODULE = Module("m99", "m99_sample", "A sample module")


def _weak_checks(with_hidden_boundary: bool) -> list[Check]:
    def draw(generator):
        if not with_hidden_boundary:
            return [("away from 1", {"x": torch.tensor([0.25, 3.0])})]
        return [("on the boundary", {"x": torch.tensor([1.0, -2.0])})]

    clip = Check(
        MODULE,
        "above_one",
        points=1,
        hidden=[Hidden(draw)],
        # Weak on purpose: no input sits on the boundary x = 1.
        properties=[
            Property(
                "one value on each side",
                lambda: {"x": torch.tensor([0.5, 2.0], dtype=torch.float64)},
                expect=lambda inputs: torch.tensor([0.0, 1.0], dtype=torch.float64),
            )
        ],
    )
    count = Check(
        MODULE,
        "count_to",
        points=1,
        properties=[Property("counts to 3", lambda: {"n": 3}, expect=lambda inputs: 3)],
    )
    return [clip, count]


@pytest.fixture
def weak_module(tmp_path):
    (tmp_path / MODULE.filename).write_text(WEAK)
    return tmp_path


def _grade(folder, functions, with_hidden_boundary=False, entries=(), jobs=2, limit=5.0):
    checks = [c for c in _weak_checks(with_hidden_boundary) if c.function in functions]
    prepared = grading.prepare(MODULE, (1, 2), checks=checks, folder=folder, fixture_cases=[])
    mutants = operators.generate(MODULE.id, prepared.source, functions)
    return grade_mutants(prepared, mutants, functions, list(entries), jobs=jobs, limit=limit)


def _where(op: str) -> str:
    return f"(x {op} 1.0).to"


def _by_edit(run):
    return {(r.mutant.kind, r.mutant.before, r.mutant.after): r for r in run.results}


def test_a_weak_check_lets_a_boundary_mutant_survive_and_the_run_reports_it(weak_module):
    run = _grade(weak_module, ["above_one"])
    results = _by_edit(run)
    boundary = results[("boundary", _where(">"), _where(">="))]
    assert boundary.status == "survived"
    assert results[("comparison", _where(">"), _where("<="))].status == "killed"
    # The float64 input of the property catches the float32 cast of the input.
    assert results[("cast", "", "x = x.float()")].status == "killed"
    assert boundary in run.failing
    printed = _printed(run)
    assert "survived: solutions/m99_sample.py:" in printed
    assert "above_one [cast] inserted: x = x.float()" not in printed  # killed
    assert f"above_one [boundary] {_where('>')} -> {_where('>=')}" in printed


def test_a_mutant_that_only_a_hidden_case_kills_is_a_gap(weak_module):
    run = _grade(weak_module, ["above_one"], with_hidden_boundary=True)
    boundary = _by_edit(run)[("boundary", _where(">"), _where(">="))]
    assert boundary.status == "hidden-only"
    assert boundary.hidden_seeds == [1, 2]
    assert boundary.case == "hidden: on the boundary"
    printed = _printed(run)
    assert "hidden only: solutions/m99_sample.py:" in printed
    assert "(killed by hidden: on the boundary under seeds 1, 2)" in printed


def test_a_hanging_mutant_is_killed_by_the_time_limit(weak_module):
    run = _grade(weak_module, ["count_to"], limit=1.0)
    hanging = _by_edit(run)[("dropped-statement", "i += 1", "pass")]
    assert hanging.status == "killed"
    assert hanging.check == "time limit"
    # ``i -= 1`` never ends either; the pool replaced each stopped worker and went on.
    assert _by_edit(run)[("arithmetic", "i += 1", "i -= 1")].check == "time limit"
    assert len(run.results) == len(operators.generate("m99", WEAK, ["count_to"]))
    assert _by_edit(run)[("comparison", "i < n", "i >= n")].status == "killed"


def test_a_mutant_that_asks_for_too_much_memory_fails_its_case_not_the_run(tmp_path):
    from autograder.mutation import pool

    def task(index: int) -> dict:
        if index == 0:
            torch.empty(3 * 1024**3, dtype=torch.uint8)  # 3 GiB: more than MEMORY_MB
        return {"outcome": "survived", "index": index}

    results = dict(pool.run_tasks(task, 3, jobs=1, limit=lambda _: 10.0))
    assert results[0]["outcome"] == "error" and "memory" in results[0]["message"].lower()
    assert [results[i]["index"] for i in (1, 2)] == [1, 2]


def _printed(run) -> str:
    import io

    out = io.StringIO()
    print_text(run, out)
    return out.getvalue()


# ----------------------------------------------------------------------------- equivalents


def _write(folder, text):
    path = folder / "m99.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_list_of_equivalents_names_mutants_and_its_stale_entries_are_reported(weak_module):
    root = weak_module / "equivalent_mutants"
    root.mkdir()
    _write(
        root,
        """
        [[mutant]]
        function = "above_one"
        kind = "boundary"
        before = "(x >   1.0)  .to"
        after = "(x >= 1.0).to"
        reason = "pretend: no case may sit on 1"

        [[mutant]]
        function = "above_one"
        kind = "constant"
        before = "(x > 1.0).to"
        after = "(x > 7.0).to"
        reason = "no longer generated"
        """,
    )
    entries = equivalents.load("m99", root)
    assert [e.before for e in entries] == [_where(">")] * 2  # whitespace collapsed
    run = _grade(weak_module, ["above_one"], entries=entries)
    boundary = _by_edit(run)[("boundary", _where(">"), _where(">="))]
    assert boundary.status == "equivalent"
    assert boundary.reason == "pretend: no case may sit on 1"
    assert boundary not in run.failing
    assert [e.after for e in run.stale] == [_where(">").replace("1.0", "7.0")]
    assert "stale entry in m99.toml: above_one [constant]" in _printed(run)


def test_an_entry_without_before_and_after_names_every_mutant_of_its_kind(weak_module):
    root = weak_module / "equivalent_mutants"
    root.mkdir()
    _write(
        root,
        """
        [[mutant]]
        function = "above_one"
        kind = "detach"
        reason = "pretend: no gradient flows here"

        [[mutant]]
        function = "above_one"
        kind = "in-place"
        reason = "no such mutant: stale"
        """,
    )
    run = _grade(weak_module, ["above_one"], entries=equivalents.load("m99", root))
    detached = [r for r in run.results if r.mutant.kind == "detach"]
    assert detached and all(r.status == "equivalent" for r in detached)
    assert [e.kind for e in run.stale] == ["in-place"]
    assert "stale entry in m99.toml: above_one [in-place] (every such mutant)" in _printed(run)


def test_a_listed_mutant_that_is_killed_is_reported(weak_module):
    root = weak_module / "equivalent_mutants"
    root.mkdir()
    _write(
        root,
        """
        [[mutant]]
        function = "above_one"
        kind = "comparison"
        before = "(x > 1.0).to"
        after = "(x <= 1.0).to"
        reason = "wrong: a check kills it"
        """,
    )
    run = _grade(weak_module, ["above_one"], entries=equivalents.load("m99", root))
    assert "listed as equivalent but killed: above_one [comparison]" in _printed(run)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[mutant]]\nfunction = 'f'\nkind = 'sign'\nbefore = 'a'\nafter = 'b'\n", "`reason`"),
        (
            "[[mutant]]\nfunction = 'f'\nkind = 'bogus'\nbefore = 'a'\nafter = 'b'\nreason = 'r'\n",
            "unknown kind 'bogus'",
        ),
        (
            "[[mutant]]\nfunction = 'f'\nkind = 'sign'\nbefore = 'a'\nafter = 'b'\nreason = ' '\n",
            "the reason is empty",
        ),
        ("[[mutant]\n", "not valid TOML"),
        (
            "[[mutant]]\nfunction = 'f'\nkind = 'sign'\nbefore = 'a'\nreason = 'r'\n",
            "give both `before` and `after`",
        ),
        ("[[other]]\n", "unknown table 'other'"),
    ],
)
def test_a_bad_list_of_equivalents_is_a_one_line_error(tmp_path, text, message):
    (tmp_path / "m99.toml").write_text(text)
    with pytest.raises(equivalents.EquivalentsError, match=message) as error:
        equivalents.load("m99", tmp_path)
    assert "\n" not in str(error.value)


def test_entry_text_round_trips_through_the_loader(tmp_path):
    mutant = operators.generate("m99", WEAK, ["above_one"])[0]
    (tmp_path / "m99.toml").write_text(equivalents.entry_text(mutant, 'a "quoted" reason'))
    (entry,) = equivalents.load("m99", tmp_path)
    assert entry.key == mutant.key
    assert entry.reason == 'a "quoted" reason'


@pytest.mark.parametrize("module", engine.graded_modules(), ids=lambda m: m.id)
def test_the_lists_of_equivalents_in_the_repository_load_and_none_is_stale(module):
    entries = equivalents.load(module.id)
    mutants, functions = mutants_of(module)
    matched, stale = equivalents.match(mutants, entries, set(functions))
    assert not stale, [e.describe() for e in stale]
    assert {e.key for e in entries} <= {e.key for e in matched.values()}


# ----------------------------------------------------------------------------- determinism


def test_the_results_do_not_depend_on_the_number_of_workers(weak_module):
    one = _grade(weak_module, ["above_one"], jobs=1)
    two = _grade(weak_module, ["above_one"], jobs=2)
    assert [r.as_dict() for r in one.results] == [r.as_dict() for r in two.results]
    strip = lambda text: text.split("\n", 1)[1]  # noqa: E731 (the first line has the time)
    assert strip(_printed(one)) == strip(_printed(two))


def test_the_sample_is_fixed_and_does_not_depend_on_lines_or_other_mutants():
    mutants = operators.generate("m99", SAMPLE, ["graded"])
    picked = sample(mutants, 5)
    assert len(picked) == 5 and len(set(picked)) == 5
    assert picked == sample(list(reversed(mutants)), 5)[::-1] == sample(mutants, 5)
    shifted = operators.generate("m99", "# a comment\n" + SAMPLE, ["graded"])
    assert [m.key for m in sample(shifted, 5)] == [m.key for m in picked]
    # A mutant that is not picked can go without changing the sample.
    others = [m for m in mutants if m not in picked]
    assert sample([m for m in mutants if m != others[0]], 5) == picked
    assert sample(mutants[:3], 5) == mutants[:3]


def test_the_command_rejects_an_unknown_function(capsys):
    assert main(["m04", "--function", "no_such_function"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no graded function 'no_such_function'" in err


def test_the_command_prints_the_score_per_function_and_exits_0_when_nothing_is_open(
    weak_module, monkeypatch, capsys
):
    from autograder.mutation import __main__ as command

    def killed_only(*args, **kwargs):
        run = _grade(weak_module, ["above_one"])
        run.results = [r for r in run.results if r.status == "killed"]
        return run

    monkeypatch.setattr(command, "run_module", killed_only)
    assert main(["m07"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("above_one"))
    assert row.split()[-1] == "100.0%"
    assert "0 to work on" in out


def test_the_command_exits_1_on_a_survivor_and_prints_it_as_json(weak_module, monkeypatch, capsys):
    import json

    from autograder.mutation import __main__ as command

    monkeypatch.setattr(
        command, "run_module", lambda *args, **kwargs: _grade(weak_module, ["above_one"])
    )
    assert main(["m07", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    (module,) = payload["modules"]
    survivors = [m for m in module["mutants"] if m["status"] == "survived"]
    assert ("boundary", _where(">"), _where(">=")) in [
        (m["kind"], m["before"], m["after"]) for m in survivors
    ]
    assert module["functions"]["above_one"]["survived"] == len(survivors)
