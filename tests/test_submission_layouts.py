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


# ----------------------------------------------------------------------------- nbgrader's layout


def _nbgrader_layout(root: Path, students: dict[str, dict[str, str]]) -> Path:
    """``root/<student>/<module id>/<module name>.ipynb``, as ``nbgrader collect`` writes
    ``submitted/``: one folder per assignment, one notebook in each."""
    for student, sources in students.items():
        for module_id, source in sources.items():
            module = BY_ID[module_id]
            folder = root / student / module.id
            folder.mkdir(parents=True)
            _notebook(folder / f"{module.name}.ipynb", source)
    return root


def test_every_assignment_folder_of_an_nbgrader_submission_is_staged(tmp_path):
    modules = [BY_ID[m] for m in ("m01", "m02", "m04")]
    sources = {m.id: (paths.SOLUTIONS_DIR / m.filename).read_text() for m in modules}
    root = _nbgrader_layout(tmp_path / "submitted", {"alice": sources})
    staged, notes = stage(root / "alice", tmp_path / "staged", modules)
    assert notes == []
    assert sorted(p.name for p in staged.iterdir()) == sorted(m.filename for m in modules)
    for module in modules:
        text = (staged / module.filename).read_text()
        assert text == notebook_code(root / "alice" / module.id / f"{module.name}.ipynb")


def test_an_assignment_folder_is_read_for_its_own_module(tmp_path):
    """A copy of m01's notebook left in m02's assignment folder does not replace the one in
    m01's folder."""
    m01 = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    root = _nbgrader_layout(tmp_path / "submitted", {"alice": {"m01": m01}})
    (root / "alice" / "m02").mkdir()
    _notebook(root / "alice" / "m02" / "m01_policy_gradient.ipynb", "def stale(): pass\n")
    staged, _ = stage(root / "alice", tmp_path / "staged", [M01])
    assert "def discounted_returns" in (staged / M01.filename).read_text()


def _grade(subs: Path, out: Path, *modules: str):
    args = [
        sys.executable, "-m", "course.cli", "grade", str(subs), "--modules", *modules,
        "--out", str(out), "--hidden-seed", "3", "--quiet",
    ]  # fmt: skip
    from autograder import sandbox

    if sandbox.unavailable():
        args.append("--no-sandbox")
    return subprocess.run(
        args, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}
    )


def test_grading_nbgrader_submitted_with_several_assignments_and_students(tmp_path):
    m01 = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    m02 = (paths.SOLUTIONS_DIR / BY_ID["m02"].filename).read_text()
    stub_m02 = (paths.EXERCISES_DIR / BY_ID["m02"].filename).read_text()
    subs = _nbgrader_layout(
        tmp_path / "submitted",
        {
            "alice": {"m01": m01, "m02": m02},
            "bob": {"m01": m01, "m02": stub_m02},
            "carol": {"m02": m02},
        },
    )
    done = _grade(subs, tmp_path / "g.csv", "m01", "m02")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    top = rows["(possible)"]
    assert float(top["m01"]) > 0 and float(top["m02"]) > 0
    assert (rows["alice"]["m01"], rows["alice"]["m02"]) == (top["m01"], top["m02"])
    assert rows["bob"]["m01"] == top["m01"] and float(rows["bob"]["m02"]) == 0.0
    assert float(rows["carol"]["m01"]) == 0.0 and rows["carol"]["m02"] == top["m02"]
    assert "has no m01_policy_gradient.py" in rows["carol"]["problems"]
    assert "has no" not in rows["alice"]["problems"] + rows["bob"]["problems"]


def test_a_class_with_nothing_gradable_exits_non_zero(tmp_path):
    subs = tmp_path / "subs"
    for student in ("alice", "bob"):
        (subs / student / "m01").mkdir(parents=True)
        (subs / student / "m01" / "notes.txt").write_text("nothing to grade\n")
    done = _grade(subs, tmp_path / "g.csv", "m01")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no submission" in done.stderr and M01.filename in done.stderr
    rows = {r["student"] for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert {"alice", "bob"} <= rows
