"""A fixed sample of each module's mutants (``python -m autograder.mutation`` grades them
all): each one is killed by a public case or listed as equivalent, and the hidden seeds
1, 2 and 3 agree on which die, so that the public cases alone decide.

A module whose sample does not pass yet is marked ``xfail(strict=True)``: the mark has to
go (the test fails as "XPASS") once its checks kill the sample.

Slow: building every module's cases under three seeds and grading 80 mutants takes 20 s
to 2 minutes on two cores (``pytest -m slow tests/test_mutation_sample.py``)."""

from __future__ import annotations

import functools

import pytest

from autograder import engine
from autograder.mutation import run as mutation

SAMPLE_SIZE = 8
SEEDS = (1, 2, 3)

# Modules whose sample still has a survivor, or a mutant that only hidden cases kill.
NOT_KILLED_YET: dict[str, str] = {
    module: "sampled mutants survive: see python -m autograder.mutation " + module
    for module in ("m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10")
}
# Modules whose sample has a mutant that some hidden seeds kill and others do not.
SEEDS_DISAGREE_YET: dict[str, str] = {}


def _modules(pending: dict[str, str]) -> list:
    return [
        pytest.param(m, id=m.id, marks=pytest.mark.xfail(strict=True, reason=pending[m.id]))
        if m.id in pending
        else pytest.param(m, id=m.id)
        for m in engine.graded_modules()
    ]


@functools.cache
def _sample_run(module_id: str) -> mutation.ModuleRun:
    module = next(m for m in engine.graded_modules() if m.id == module_id)
    mutants, _ = mutation.mutants_of(module)
    return mutation.run_module(
        module, seeds=SEEDS, jobs=2, mutants=mutation.sample(mutants, SAMPLE_SIZE)
    )


def _describe(result: mutation.Result) -> str:
    m = result.mutant
    return f"{m.qualname} line {m.line} [{m.kind}] {m.before} -> {m.after}: {result.status}"


@pytest.mark.slow
@pytest.mark.parametrize("module", _modules(NOT_KILLED_YET))
def test_sampled_mutants_are_killed_by_public_cases_or_listed(module):
    run = _sample_run(module.id)
    assert len(run.results) == SAMPLE_SIZE
    open_ = [_describe(r) for r in run.results if r.status not in ("killed", "equivalent")]
    assert not open_, "\n".join(open_)


@pytest.mark.slow
@pytest.mark.parametrize("module", _modules(SEEDS_DISAGREE_YET))
def test_the_same_sampled_mutants_die_under_every_hidden_seed(module):
    run = _sample_run(module.id)
    disagree = [
        f"{_describe(r)}, killed under seeds {r.hidden_seeds} of {list(SEEDS)}"
        for r in run.results
        if r.hidden_seeds and sorted(r.hidden_seeds) != sorted(SEEDS)
    ]
    assert not disagree, "\n".join(disagree)
