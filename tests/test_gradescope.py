"""The Gradescope autograder: the zip's layout, and run_autograder in a simulated /autograder.

The zip is unpacked into a temporary root standing in for ``/autograder``
(``$PPO_COURSE_AUTOGRADER_ROOT``), and ``run_autograder`` grades a correct, a wrong, a stub
and a hostile submission with the sandboxed grader (about 10 s each; the wrong and stub
submissions are marked slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import sandbox
from course import gradescope, paths, settings
from course.modules import BY_ID
from tests import malformed

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = pytest.mark.xdist_group("gradescope")

MODULES = [BY_ID["m01"], BY_ID["m06"]]
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("gradescope")
    settings_file = base / "settings.json"
    made, _ = settings.create(settings_file)
    archive = gradescope.build(base / "autograder.zip", MODULES, settings_path=settings_file)
    return {"zip": archive, "seed": made.hidden_seed, "base": base}


def test_the_zip_follows_gradescopes_layout(autograder):
    with zipfile.ZipFile(autograder["zip"]) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read(gradescope.CONFIG))
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", gradescope.CONFIG} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert "course/pyproject.toml" in names and "course/solutions/m06_gae.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith("instructor.json")]
    assert config == {"modules": ["m01", "m06"], "hidden_seed": autograder["seed"]}
    assert "bubblewrap" in setup and "pip install /autograder/source/course" in setup


def _root(autograder, tmp_path: Path, files: dict[str, str], folder: str = "") -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(autograder["zip"]) as zf:
        zf.extractall(root / "source")
    submission = root / "submission" / folder
    submission.mkdir(parents=True)
    for name, text in files.items():
        (submission / name).write_text(text)
    return root


def _run(root: Path) -> dict:
    env = dict(os.environ)
    env[gradescope.ROOT_ENV] = str(root)
    env["PPO_COURSE_AUTOGRADER_PYTHON"] = sys.executable
    done = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    _check_format(data)
    return data


def _check_format(data: dict) -> None:
    """The fields of Gradescope's results.json that the autograder writes."""
    assert isinstance(data["score"], float | int) and isinstance(data["execution_time"], int)
    assert data["output_format"] == "md" and isinstance(data["output"], str)
    assert data["visibility"] in VISIBILITY and data["stdout_visibility"] in VISIBILITY
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITY
        assert 0 <= test["score"] <= test["max_score"]
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6


def _sources(*names: str) -> dict[str, str]:
    return {n: (paths.SOLUTIONS_DIR / n).read_text() for n in names}


FILES = ("m01_policy_gradient.py", "m06_gae.py")


def test_a_correct_submission_in_a_folder_scores_full_marks(autograder, tmp_path):
    data = _run(_root(autograder, tmp_path, _sources(*FILES), folder="exercises"))
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) == 15
    hidden = [t for t in data["tests"] if "hidden" in t["name"]]
    public = [t for t in data["tests"] if "public" in t["name"]]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)
    assert public and all(t["visibility"] == "visible" for t in public)
    assert str(autograder["seed"]) not in json.dumps(data)


@pytest.mark.slow
def test_a_wrong_and_a_stub_submission(autograder, tmp_path):
    files = _sources(*FILES)
    marked = files["m06_gae.py"]
    line = "deltas = rewards + gamma * not_terminated * next_values - values"
    assert marked.count(line) == 1
    # Drop the time-limit bootstrap: the catalogued "no-time-limit-bootstrap" mistake.
    files["m06_gae.py"] = marked.replace(line, line.replace("not_terminated", "not_done"))
    wrong = _run(_root(autograder, tmp_path / "wrong", files))
    gae = [t for t in wrong["tests"] if t["name"].startswith("m06")]
    # Graded as grade grades: a wrong concept loses most of m06's points; m01 keeps all
    # of its own.
    assert sum(t["score"] for t in gae) < 3
    m01 = [t for t in wrong["tests"] if t["name"].startswith("m01")]
    assert sum(t["score"] for t in m01) == sum(t["max_score"] for t in m01) == 9
    stubs = {n: (paths.EXERCISES_DIR / n).read_text() for n in FILES}
    stub = _run(_root(autograder, tmp_path / "stub", stubs))
    assert stub["score"] == 0
    assert "not implemented" in json.dumps(stub)


HOSTILE = """
import json, os, pathlib

# Try to write a perfect results.json, then to find the hidden seed and show it.
roots = [os.environ.get("PPO_COURSE_AUTOGRADER_ROOT", ""), "/autograder"]
for root in roots:
    try:
        results = pathlib.Path(root, "results")
        results.mkdir(parents=True, exist_ok=True)
        (results / "results.json").write_text(json.dumps({"score": 1000, "tests": []}))
    except OSError:
        pass
found = [pathlib.Path(r, "source", "autograder.json") for r in roots]
try:
    found += list(pathlib.Path(os.environ.get("TMPDIR", "/tmp")).glob("**/autograder.json"))
except OSError:
    pass
for path in found:
    try:
        seed = path.read_text()
    except OSError:
        continue
    raise RuntimeError("the seed: " + " ".join(seed.split()))  # it would show in the feedback
"""


def test_a_hostile_submission_is_graded_safely(autograder, tmp_path):
    files = {"m01_policy_gradient.py": HOSTILE + (paths.EXERCISES_DIR / FILES[0]).read_text()}
    data = _run(_root(autograder, tmp_path, files))
    assert data["score"] == 0
    text = json.dumps(data)
    assert str(autograder["seed"]) not in text and "the seed:" not in text


def test_no_submission_gets_a_clear_message(autograder, tmp_path):
    root = _root(autograder, tmp_path, {"notes.txt": "nothing"})
    data = gradescope.run(root)
    _check_format(data)
    assert data["score"] == 0 and "No `.py` file" in data["output"]


def test_collect_submission_looks_into_one_folder(tmp_path):
    (tmp_path / "sub" / "exercises").mkdir(parents=True)
    (tmp_path / "sub" / "exercises" / "m01_policy_gradient.py").write_text("x = 1\n")
    (tmp_path / "sub" / "exercises" / "m05_ppo_loss.ipynb").write_text("{}")
    staged = gradescope.collect_submission(
        tmp_path / "sub", tmp_path / "out", [BY_ID["m01"], BY_ID["m05"]]
    )
    assert staged.files == ["m01_policy_gradient.py"]
    assert staged.notes == ["m05_ppo_loss.ipynb is not a readable notebook"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m01_policy_gradient.py"]


def _solutions_in_the_bundle(root: Path) -> Path:
    found = root / "source" / "course" / "solutions"
    assert (found / "m01_policy_gradient.py").is_file()
    return found


def test_a_link_to_the_bundles_solutions_is_not_followed(autograder, tmp_path):
    """An upload whose module file is a link to the reference in the bundle, and one whose
    folder is a link to the bundle's solutions: both are refused, and said so."""
    files = _root(autograder, tmp_path / "file", {})
    solutions = _solutions_in_the_bundle(files)
    for name in FILES:
        (files / "submission" / name).symlink_to(solutions / name)
    folder = _root(autograder, tmp_path / "folder", {})
    (folder / "submission" / "exercises").symlink_to(_solutions_in_the_bundle(folder))
    for root in (files, folder):
        data = _run(root)
        assert data["score"] == 0 and data["tests"] == []
        assert "is a link and was not followed" in data["output"]
    # A link next to real files: the real files are graded, the link is not.
    mixed = _root(autograder, tmp_path / "mixed", _sources(FILES[1]))
    (mixed / "submission" / FILES[0]).symlink_to(_solutions_in_the_bundle(mixed) / FILES[0])
    data = _run(mixed)
    m01 = [t for t in data["tests"] if t["name"].startswith("m01")]
    m06 = [t for t in data["tests"] if t["name"].startswith("m06")]
    assert sum(t["score"] for t in m01) == 0 and "does not exist" not in json.dumps(m01)
    assert sum(t["score"] for t in m06) == sum(t["max_score"] for t in m06) == 6
    assert f"{FILES[0]} is a link and was not followed" in data["output"]


READER = """
import pathlib
# Import the reference from the bundle, where the grader keeps it.
_found = pathlib.Path({path!r})
exec(compile(_found.read_text(), str(_found), "exec"))
"""


@pytest.mark.skipif(sandbox.unavailable() is not None, reason="needs the sandbox")
def test_the_worker_cannot_read_the_bundles_solutions(autograder, tmp_path):
    root = _root(autograder, tmp_path, {})
    reference = _solutions_in_the_bundle(root) / FILES[0]
    (root / "submission" / FILES[0]).write_text(READER.format(path=str(reference)))
    data = _run(root)
    assert data["score"] == 0
    assert "No such file or directory" in json.dumps(data)


def test_a_correct_notebook_submission_scores_full_marks(autograder, tmp_path):
    """A notebook (the m01 notebook with the reference in its answer cells) is graded like
    the .py file: its test cells are left out, its code is the module."""
    pytest.importorskip("jupytext")
    import nbformat

    from course import notebooks

    nb = notebooks.notebook(BY_ID["m01"])
    root = _root(autograder, tmp_path, {})
    nbformat.write(nb, str(root / "submission" / "m01_policy_gradient.ipynb"))
    data = _run(root)
    m01 = [t for t in data["tests"] if t["name"].startswith("m01")]
    assert sum(t["score"] for t in m01) == sum(t["max_score"] for t in m01) == 9
    script = gradescope.notebook_script(root / "submission" / "m01_policy_gradient.ipynb")
    assert "check(" not in script and "def discounted_returns" in script


def _graded(hidden_passes: bool, error: str | None = None):
    """m01 graded as if every public case and property passed, and the hidden cases all
    passed or all failed (built from the real cases, no code run)."""
    from autograder.core import CaseResult, CheckResult
    from autograder.engine import ModuleResult
    from autograder.grading import prepare
    from autograder.outcomes import Failure

    result = ModuleResult(BY_ID["m01"], error=error)
    for check, cases, _ in prepare([BY_ID["m01"]], seed=12345)["m01"]:
        if error:
            failure = Failure("import", error)
            result.checks.append(CheckResult(check, error=failure, for_grade=True))
            continue
        outcomes = []
        for case in cases:
            if case.kind == "hidden" and not hidden_passes:
                outcomes.append(CaseResult(case, passed=False, failure=Failure("exception", "x")))
            else:
                outcomes.append(CaseResult(case, passed=True))
        result.checks.append(CheckResult(check, cases=outcomes, for_grade=True))
    return [result]


def _seen_before_publication(data: dict) -> str:
    visible = [t for t in data["tests"] if t["visibility"] == "visible"]
    return json.dumps([data["output"], visible], sort_keys=True)


def test_nothing_seen_before_publication_depends_on_the_hidden_cases():
    passing = gradescope.results_json(_graded(True), 3.0, ["m01_policy_gradient.py"])
    failing = gradescope.results_json(_graded(False), 3.0, ["m01_policy_gradient.py"])
    for data in (passing, failing):
        _check_format(data)
    assert passing["score"] == 9 and failing["score"] == 0  # the points do depend on them
    assert _seen_before_publication(passing) == _seen_before_publication(failing)
    for data in (passing, failing):
        carrying = [t for t in data["tests"] if t["max_score"] > 0]
        assert carrying and all(t["visibility"] == "after_published" for t in carrying)


def _table(markdown: str) -> list[list[str]]:
    import re

    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [re.split(r"(?<!\\)\|", line.strip())[1:-1] for line in lines]


def test_an_error_row_fits_the_summary_table():
    error = "m01_policy_gradient.py does not import: SyntaxError | `x` <b>\nline 3"
    data = gradescope.results_json(_graded(True, error=error), 1.0, ["m01_policy_gradient.py"])
    _check_format(data)
    table = _table(data["output"])
    assert len(table) == 3 and len({len(row) for row in table}) == 1, table
    assert "SyntaxError" in table[2][-1] and "<b>" not in data["output"]


def _run_here(root: Path) -> dict:
    """``run_autograder``'s work, in this process: results.json must be written."""
    data = gradescope.run(root)
    assert json.loads((root / "results" / "results.json").read_text()) == data
    _check_format(data)
    return data


@pytest.mark.parametrize("kind", sorted(malformed.FILES))
def test_a_malformed_upload_gets_a_result_that_says_why(autograder, tmp_path, kind):
    build, note = malformed.FILES[kind]
    root = _root(autograder, tmp_path, {}, folder="exercises")
    build(root / "submission" / "exercises")
    data = _run_here(root)
    assert data["score"] == 0 and note in data["output"]


def _m01_points(data: dict) -> float:
    return sum(t["score"] for t in data["tests"] if t["name"].startswith("m01"))


@pytest.mark.parametrize("kind", [*sorted(malformed.FILE_NAMES), "folder_name", "odd_cells"])
def test_an_honest_upload_under_a_hostile_name_scores_full_marks(autograder, tmp_path, kind):
    root = _root(autograder, tmp_path, {})
    upload = root / "submission"
    if kind == "folder_name":
        upload = upload / os.fsdecode(b"=cmd|x\n\xff")
        upload.mkdir()
    if kind == "odd_cells":
        (upload / malformed.NOTEBOOK).write_text(malformed.notebook(malformed.ODD_CELLS))
    else:
        name = os.fsdecode(malformed.FILE_NAMES.get(kind, b"m01_policy_gradient.py"))
        (upload / name).write_text(malformed.reference())
    data = _run_here(root)
    assert _m01_points(data) == 9
    listed = data["output"].splitlines()[0]
    assert listed.startswith("Graded files: m01") and "\n" not in listed
