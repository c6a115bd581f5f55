"""The notebook front end: generated nbgrader notebooks, and their test cells grading in
the student's kernel through the same checks."""

from __future__ import annotations

import pytest

from autograder.engine import reference
from autograder.notebook import check
from course import impl
from course.modules import BY_ID

pytest.importorskip("jupytext")


def test_notebook_cells_follow_the_solution_file():
    from course.notebooks import notebook

    nb = notebook(BY_ID["m01"])
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    solutions = [m["grade_id"] for m in meta if m.get("solution")]
    tests = [(m["grade_id"], m["points"]) for m in meta if m.get("grade")]
    assert solutions == [
        "discounted_returns",
        "categorical_log_prob",
        "categorical_entropy",
        "policy_gradient_loss",
    ]
    assert tests == [
        ("test_discounted_returns", 3),
        ("test_categorical_log_prob", 2),
        ("test_categorical_entropy", 2),
        ("test_policy_gradient_loss", 2),
    ]
    text = "\n".join(c.source for c in nb.cells)
    assert text.count("### BEGIN SOLUTION") == 4 == text.count("### END SOLUTION")
    assert "--8<--" not in text
    assert 'check("m01.discounted_returns", globals())' in text


def test_in_process_check_scores_a_namespace(capsys):
    namespace = vars(reference(BY_ID["m01"]))
    assert check("m01.discounted_returns", dict(namespace)) == 3
    stubs = vars(impl.Implementation("exercises").module("m01"))
    assert check("m01.discounted_returns", dict(stubs)) == 0
    out = capsys.readouterr()
    assert "m01.discounted_returns: 3 / 3 points (passed)" in out.out
    assert "is not implemented yet" in out.out
    assert out.err == ""
    with pytest.raises(ValueError, match="no check named"):
        check("m01.nothing", {})
