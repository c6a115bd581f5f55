"""Every file and name of a submission is untrusted input: a class holding one malformed
submission of each kind (``tests/malformed.py``) is graded with one job and with two,
every student gets a row, the honest ones their usual score, and the sheet is safe to
open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.bulk import EXIT_OK, FORMULA, grade_submissions, sheet_cell
from autograder.submission import collect, notebook_code, shown
from tests.malformed import FILE_NAMES, FILES, M01, NAMES, NOTEBOOK, build_class, notebook

SEED = 20261202


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("malformed")
    students = build_class(root / "subs")
    runs = {}
    for jobs in (1, 2):
        sheet = root / f"grades-{jobs}.csv"
        feedback = root / f"feedback-{jobs}"
        code = grade_submissions(
            root / "subs",
            [M01],
            out=sheet,
            feedback=feedback,
            seed=SEED,
            timeout=20,
            jobs=jobs,
            sandboxed=sandbox.unavailable() is None,
            progress=False,
        )
        runs[jobs] = {"code": code, "sheet": sheet, "feedback": feedback}
    return {"students": students, "runs": runs}


def _rows(sheet: Path) -> dict[str, dict[str, str]]:
    text = sheet.read_bytes().decode("utf-8")  # valid UTF-8, whatever the names
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}


def _cell(name: str) -> str:
    return sheet_cell(shown(name, 255))


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_student_gets_a_row_and_honest_scores_are_unchanged(graded, jobs):
    run = graded["runs"][jobs]
    assert run["code"] == EXIT_OK
    rows = _rows(run["sheet"])
    full = float(rows["(possible)"]["total"])
    assert full == float(M01_POINTS())
    assert len(rows) == len(graded["students"]) + 1
    for name, kind in graded["students"].items():
        row = rows[_cell(name)]
        if kind == "full":
            assert float(row["total"]) == full, (name, row)
        elif kind == "stub":
            assert float(row["total"]) == 0, (name, row)
        elif kind == "escapes":  # three of m01's four functions are the reference's
            assert 0 < float(row["total"]) < full, (name, row)
        else:
            note = FILES[kind][1]
            assert float(row["total"]) == 0, (name, row)
            assert note in row["problems"], (name, row)


def M01_POINTS() -> int:
    from autograder.engine import load_checks

    return sum(check.points for check in load_checks(M01))


def test_one_job_and_two_give_the_same_sheet(graded):
    assert graded["runs"][1]["sheet"].read_bytes() == graded["runs"][2]["sheet"].read_bytes()


def test_names_are_written_safely(graded):
    rows = _rows(graded["runs"][1]["sheet"])
    for cells in rows.values():
        for value in cells.values():
            assert not value.startswith(FORMULA), value
            assert "\n" not in value and "\x1b" not in value
    for raw in NAMES.values():
        name = os.fsdecode(raw)
        assert _cell(name) in rows
        # the feedback folder keeps the student's own name, byte for byte
        assert (graded["runs"][1]["feedback"] / name / "report.txt").is_file()
    assert rows['\'=HYPERLINK("evil.example","click")']
    assert rows["student-\\xff\\xfe-\\xc3"] and rows["eve\\nmallory"]


@pytest.mark.parametrize("kind", sorted(FILES))
def test_each_malformed_file_is_a_note_never_a_crash(tmp_path, kind):
    build, note = FILES[kind]
    folder = tmp_path / "student"
    folder.mkdir()
    build(folder)
    staged = collect(folder, tmp_path / "staged", [M01])
    assert staged.files == [] and not (tmp_path / "staged" / M01.filename).exists()
    assert len(staged.notes) == 1 and note in staged.notes[0]
    assert "\n" not in staged.notes[0]


@pytest.mark.parametrize("kind", sorted(FILE_NAMES))
def test_a_hostile_file_name_is_graded_and_shown_safely(tmp_path, kind):
    folder = tmp_path / "student"
    folder.mkdir()
    raw = FILE_NAMES[kind]
    (folder / os.fsdecode(raw)).write_text("x = 1\n")
    staged = collect(folder, tmp_path / "staged", [M01])
    assert (tmp_path / "staged" / M01.filename).read_text() == "x = 1\n"
    assert staged.files == [raw.decode("utf-8", "backslashreplace").replace("\n", "\\n")]


def test_cells_of_odd_types_are_skipped(tmp_path):
    from tests.malformed import ODD_CELLS

    path = tmp_path / NOTEBOOK
    path.write_text(notebook(ODD_CELLS))
    code = notebook_code(path)
    compile(code, "m01", "exec")
    assert "def discounted_returns" in code and "raise SystemExit" not in code
    assert "x = 1" in code and "y = 2" in code


def test_text_a_submission_produced_is_shown_escaped(graded):
    folder = graded["runs"][1]["feedback"] / "x_escapes"
    for name in ("report.txt", "instructor.txt", "results.json"):
        text = (folder / name).read_bytes().decode("utf-8")
        assert "\x1b" not in text and "\r" not in text and "\x07" not in text, name
    report = (folder / "report.txt").read_text()
    assert "\\x1b[31m" in report and "\\ud800" in report and "=HYPERLINK(1)" in report
