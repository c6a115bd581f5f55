"""The Gradescope autograder: the zip's layout, and run_autograder in a simulated /autograder.

The zip is unpacked into a temporary root standing in for ``/autograder``
(``$PPO_COURSE_AUTOGRADER_ROOT``), and ``run_autograder`` grades a correct, a wrong, a stub
and a hostile submission with the sandboxed grader (about 10 s each; the wrong and stub
submissions are marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course import gradescope, paths, settings
from course.modules import BY_ID

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
    names = gradescope.collect_submission(tmp_path / "sub", tmp_path / "out")
    assert names == ["m01_policy_gradient.py", "m05_ppo_loss.ipynb"]
    shutil.rmtree(tmp_path / "out")


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
