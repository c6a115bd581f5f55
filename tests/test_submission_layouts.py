"""Submissions as they arrive: loose files, one folder deeper, notebooks, missing files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.submission import notebook_code, stage
from course import paths
from course.modules import BY_ID

M01 = BY_ID["m01"]


def _notebook(path: Path, code: str) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# m01\n"]},
        {"cell_type": "code", "metadata": {}, "source": ["%matplotlib inline\nimport torch\n"]},
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade": False, "solution": True, "grade_id": "a"}},
            "source": code.splitlines(keepends=True),
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade": True, "solution": False, "points": 3}},
            "source": ["assert False, 'a test cell is never part of the graded code'\n"],
        },
    ]
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_notebook_code_keeps_the_students_cells_and_drops_tests_and_magics(tmp_path):
    source = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    code = notebook_code(_notebook(tmp_path / "m01_policy_gradient.ipynb", source))
    assert "# %matplotlib inline" in code
    assert "never part of the graded code" not in code
    assert "def discounted_returns" in code
    compile(code, "m01", "exec")


def test_a_submission_one_folder_deeper_and_notebooks_are_staged(tmp_path):
    inner = tmp_path / "export" / "alice_12345" / "m01"
    inner.mkdir(parents=True)
    source = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    _notebook(inner / "m01_policy_gradient.ipynb", source)
    staged, notes = stage(tmp_path / "export", tmp_path / "staged", [M01])
    assert notes == []
    assert (staged / M01.filename).is_file()


def test_a_broken_notebook_is_a_note_not_a_crash(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "m01_policy_gradient.ipynb").write_text("{ not json")
    staged, notes = stage(folder, tmp_path / "staged", [M01])
    assert notes == ["m01_policy_gradient.ipynb is not a readable notebook"]
    assert not (staged / M01.filename).exists()


def test_grading_a_notebook_and_a_nested_submission(tmp_path):
    subs = tmp_path / "subs"
    source = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    (subs / "nb").mkdir(parents=True)
    _notebook(subs / "nb" / "m01_policy_gradient.ipynb", source)
    (subs / "nested" / "work").mkdir(parents=True)
    shutil.copyfile(paths.SOLUTIONS_DIR / M01.filename, subs / "nested" / "work" / M01.filename)
    (subs / "empty").mkdir()
    args = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        str(subs),
        "--modules",
        "m01",
        "--out",
        str(tmp_path / "g.csv"),
        "--hidden-seed",
        "3",
        "--quiet",
    ]
    from autograder import sandbox

    if sandbox.unavailable():
        args.append("--no-sandbox")
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert rows["nb"]["m01"] == rows["(possible)"]["m01"]
    assert rows["nested"]["m01"] == rows["(possible)"]["m01"]
    assert float(rows["empty"]["m01"]) == 0.0
    assert "has no m01_policy_gradient.py" in rows["empty"]["problems"]
