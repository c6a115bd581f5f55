"""nbgrader end to end, with the real nbgrader commands, in one course folder per session.

``ppo-course notebooks`` writes the course; ``generate_assignment`` releases every
module (one call). The slow tests then run the whole exchange on m05 (release, three
students fetch and submit: correct, one wrong function, untouched; collect, autograde,
generate_feedback, export), autograde a correct notebook of every module, and show that
a notebook which patches the autograder gets its true score from ``ppo-course grade``.
Every nbgrader command must succeed without printing a warning.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine import graded_modules
from course import notebooks
from course.modules import BY_ID

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = pytest.mark.xdist_group("nbgrader")

NBGRADER = Path(sys.executable).with_name("nbgrader")
if not NBGRADER.exists():
    pytest.skip("the nbgrader command is not installed", allow_module_level=True)

STUDENTS = ("alice", "bob", "carol")  # correct, one wrong function, untouched


HIDDEN_SEED = 918273645  # the course's secret in these tests: no output may show it


def nbgrader(*args: str, cwd: Path, timeout: int = 900) -> str:
    """Run an nbgrader command; fail on a non-zero exit or any warning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPO_COURSE")}
    env["PPO_COURSE_HIDDEN_SEED"] = str(HIDDEN_SEED)
    done = subprocess.run(
        [str(NBGRADER), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    warnings = [line for line in output.splitlines() if "WARNING" in line or "Warning" in line]
    assert not warnings, "\n".join(warnings[:10])
    return output


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nbgrader") / "course"
    notebooks.write_course(folder, graded_modules())
    nbgrader("generate_assignment", "*", cwd=folder)
    return folder


def _cells(path: Path) -> dict[str, str]:
    nb = nbformat.read(str(path), as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "nbgrader" in c.metadata
    }


def fill(released: Path, source: Path, target: Path, replace: dict[str, str] | None = None):
    """The released notebook with every answer cell taken from the source notebook (the
    reference), except the cells of ``replace`` (grade id -> new source)."""
    answers = _cells(source)
    nb = nbformat.read(str(released), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = (replace or {}).get(meta["grade_id"], answers[meta["grade_id"]])
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


def grades(course: Path) -> dict[tuple[str, str], tuple[float, float]]:
    nbgrader("export", cwd=course)
    rows = csv.DictReader((course / "grades.csv").open())
    return {
        (r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"])) for r in rows
    }


def test_the_course_folder_is_complete(course):
    config = (course / "nbgrader_config.py").read_text()
    assert f"c.CourseDirectory.course_id = {notebooks.COURSE_ID!r}" in config
    assert f"c.CourseDirectory.root = {str(course.resolve())!r}" in config
    assert f"c.Exchange.root = {str(course.resolve() / 'exchange')!r}" in config
    assert (course / "exchange").is_dir()
    student = (course / "student" / "nbgrader_config.py").read_text()
    assert "Exchange.root" in student and "CourseDirectory.root" not in student


def test_released_notebooks_hold_no_answers(course):
    from tests.test_release import normalise, solution_lines

    answers = solution_lines()
    for module in graded_modules():
        released = course / "release" / module.id / f"{module.name}.ipynb"
        nb = nbformat.read(str(released), as_version=4)
        text = "\n".join(normalise(x) for c in nb.cells for x in c.source.splitlines())
        assert "### BEGIN SOLUTION" not in text
        leaked = [line for line in answers if line in text]
        assert not leaked, (module.id, leaked[:5])
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                assert "raise NotImplementedError()" in cell.source, cell.source


def test_a_module_that_builds_on_another_carries_its_functions_as_answer_cells(course):
    cells = _cells(course / "source" / "m05" / "m05_ppo_loss.ipynb")
    assert "m04_clipped_surrogate_loss" in cells
    nb = nbformat.read(str(course / "source" / "m05" / "m05_ppo_loss.ipynb"), as_version=4)
    meta = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
        for c in nb.cells
        if "nbgrader" in c.metadata
    }
    carried = meta["m04_clipped_surrogate_loss"]
    assert carried["solution"] and not carried["grade"] and not carried["locked"]
    assert "exercises." not in "\n".join(cells.values())


@pytest.mark.slow
def test_release_fetch_submit_collect_autograde_feedback_export(course, tmp_path):
    nbgrader("release_assignment", "m05", cwd=course)
    name = "m05_ppo_loss.ipynb"
    source = course / "source" / "m05" / name
    wrong = {"entropy_loss": _cells(source)["entropy_loss"].split("### BEGIN SOLUTION")[0]}
    # a wrong sign: the entropy *bonus* turned into a penalty
    wrong["entropy_loss"] += "return ent_coef * entropy.mean()\n"
    for student in STUDENTS:
        home = tmp_path / student
        home.mkdir()
        shutil.copy(course / "student" / "nbgrader_config.py", home / "nbgrader_config.py")
        nbgrader("fetch_assignment", "m05", cwd=home)
        fetched = home / "m05" / name
        assert "### BEGIN SOLUTION" not in fetched.read_text()
        if student == "alice":
            fill(fetched, source, fetched)
        elif student == "bob":
            fill(fetched, source, fetched, wrong)
        nbgrader("submit", "m05", f"--student={student}", cwd=home)
    # All the simulated students are this one OS user, which nbgrader's owner check (a
    # guard against a student submitting in another's name) would report.
    nbgrader("collect", "m05", "--ExchangeCollect.check_owner=False", cwd=course)
    for student in STUDENTS:
        assert (course / "submitted" / student / "m05" / name).is_file()
        nbgrader("db", "student", "add", student, cwd=course)
    nbgrader("autograde", "m05", cwd=course)
    nbgrader("generate_feedback", "m05", cwd=course)
    for student in STUDENTS:
        assert (course / "feedback" / student / "m05" / "m05_ppo_loss.html").is_file()
    table = grades(course)
    assert table[("m05", "alice")] == (8.0, 8.0)
    assert 0 < table[("m05", "bob")][0] < 8
    assert table[("m05", "carol")][0] == 0


@pytest.mark.slow
def test_a_correct_notebook_of_every_module_scores_full_marks(course):
    nbgrader("db", "student", "add", "reference", cwd=course)
    for module in graded_modules():
        name = f"{module.name}.ipynb"
        fill(
            course / "release" / module.id / name,
            course / "source" / module.id / name,
            course / "submitted" / "reference" / module.id / name,
        )
    nbgrader("autograde", "*", "--student=reference", cwd=course)
    table = grades(course)
    scores = {m.id: table[(m.id, "reference")] for m in graded_modules()}
    assert all(score == top > 0 for score, top in scores.values()), scores


PATCH = (
    "\nimport autograder.core\n"
    "autograder.core.Case.judge = lambda self, received: None  # every case passes\n"
)


@pytest.mark.slow
def test_a_notebook_that_patches_the_autograder_gets_its_true_score_from_grade(course, tmp_path):
    """Neither nbgrader's autograde nor ``ppo-course grade`` is fooled by the patch."""
    module = BY_ID["m05"]
    name = f"{module.name}.ipynb"
    source = course / "source" / "m05" / name
    cells = _cells(source)
    base = cells["entropy_loss"].split("### BEGIN SOLUTION")[0]
    wrong = {"entropy_loss": base + "return ent_coef * entropy.mean()\n"}
    patched = dict(wrong, value_loss=cells["value_loss"] + PATCH)
    for student, edits in (("honest", wrong), ("patcher", patched)):
        nbgrader("db", "student", "add", student, cwd=course)
        fill(
            course / "release" / "m05" / name,
            source,
            course / "submitted" / student / "m05" / name,
            edits,
        )
    nbgrader("autograde", "m05", "--student=honest", cwd=course)
    nbgrader("autograde", "m05", "--student=patcher", cwd=course)
    table = grades(course)
    # the scores of record come from the sandboxed grader, not from the patched kernel
    assert table[("m05", "patcher")] == table[("m05", "honest")]
    assert 0 < table[("m05", "honest")][0] < 8
    help_text = subprocess.run(
        [sys.executable, "-m", "course.cli", "grade", "--help"], capture_output=True, text=True
    ).stdout
    if "ipynb" not in help_text and "notebook" not in help_text:
        pytest.skip("ppo-course grade does not read notebook submissions yet")
    folder = tmp_path / "submitted"  # nbgrader's layout: <student>/<module>/<notebook>
    for student in ("honest", "patcher"):
        shutil.copytree(course / "submitted" / student, folder / student)
    sheet = tmp_path / "grades.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "course.cli",
            "grade",
            str(folder),
            "--out",
            str(sheet),
            "--hidden-seed",
            "11",
            "--modules",
            "m04",
            "m05",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert sheet.is_file(), done.stdout + done.stderr
    rows = {r["student"]: r for r in csv.DictReader(sheet.open())}
    score = {s: float(rows[s]["m05"]) for s in ("honest", "patcher")}
    assert score["patcher"] == score["honest"] < 8


HOSTILE = """
import os as _os
import pathlib as _pathlib

for _path in {reads!r}:
    try:
        _text = _pathlib.Path(_path).read_text(errors="replace")
        print("STOLEN", _path, _text[:80].replace("\\n", " "))
    except Exception as _exc:
        print("REFUSED", _path, type(_exc).__name__)
try:
    import solutions.m05_ppo_loss as _reference

    print("STOLEN import solutions", _reference.__file__)
except Exception as _exc:
    print("REFUSED import solutions", type(_exc).__name__)
print("SEED", _os.environ.get("PPO_COURSE_HIDDEN_SEED"))
for _path in {writes!r}:
    try:
        _pathlib.Path(_path).write_text("pwned")
        print("WROTE", _path)
    except Exception as _exc:
        print("REFUSED", _path, type(_exc).__name__)
"""


@pytest.mark.slow
def test_a_hostile_notebook_under_autograde_reaches_nothing_of_the_instructors(course):
    """An answer cell that reads the reference, the source notebook, the gradebook and the
    seed, writes into the course and the course folder, and patches the checks: under
    ``nbgrader autograde`` it reads and writes nothing, and scores what it is worth."""
    from course import paths

    module = BY_ID["m05"]
    name = f"{module.name}.ipynb"
    source = course / "source" / "m05" / name
    cells = _cells(source)
    wrong = {"entropy_loss": cells["entropy_loss"].split("### BEGIN SOLUTION")[0]}
    wrong["entropy_loss"] += "return ent_coef * entropy.mean()\n"
    reads = [
        str(paths.SOLUTIONS_DIR / module.filename),
        str(source.resolve()),
        str((course / "gradebook.db").resolve()),
        str(course.resolve() / "nbgrader_config.py"),
    ]
    planted = [paths.AUTOGRADER_DIR / "planted_by_a_notebook.py", course / "planted.txt"]
    attack = HOSTILE.format(reads=reads, writes=[str(p) for p in planted]) + PATCH
    hostile = dict(wrong, value_loss=cells["value_loss"] + attack)
    for student, edits in (("fair", wrong), ("hostile", hostile)):
        nbgrader("db", "student", "add", student, cwd=course)
        fill(
            course / "release" / "m05" / name,
            source,
            course / "submitted" / student / "m05" / name,
            edits,
        )
        nbgrader("autograde", "m05", f"--student={student}", cwd=course)
    nbgrader("generate_feedback", "m05", "--student=hostile", cwd=course)
    for path in planted:
        assert not path.exists(), f"the notebook wrote {path}"
    graded = nbformat.read(str(course / "autograded" / "hostile" / "m05" / name), as_version=4)
    printed = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in graded.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    refused = [line for line in printed.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == len(reads) + 1 + len(planted), printed[-3000:]
    assert "STOLEN" not in printed and "WROTE" not in printed, printed[-3000:]
    assert "SEED None" in printed
    html = (course / "feedback" / "hostile" / "m05" / "m05_ppo_loss.html").read_text()
    assert str(HIDDEN_SEED) not in html and str(HIDDEN_SEED) not in printed
    table = grades(course)
    assert table[("m05", "hostile")] == table[("m05", "fair")]
    assert 0 < table[("m05", "fair")][0] < 8


def test_the_course_config_autogrades_in_the_sandbox(course):
    from traitlets.config import Config

    from autograder import nbgrader_sandbox

    assert "configure(c)" in (course / "nbgrader_config.py").read_text()
    c = Config()
    nbgrader_sandbox.configure(c)
    assert c.Execute.kernel_manager_class is nbgrader_sandbox.SandboxedKernelManager
    steps = [s.__name__ for s in c.Autograde.autograde_preprocessors]
    assert steps.index("Execute") < steps.index("SandboxedGrades") < steps.index("SaveAutoGrades")


def test_the_grading_kernel_sees_no_solutions_and_writes_nothing(tmp_path):
    """The kernel nbgrader starts, driven directly: it runs code, in the sandbox."""
    import asyncio

    from autograder import nbgrader_sandbox, sandbox
    from course import paths, settings

    if sandbox.unavailable():
        pytest.skip(sandbox.unavailable())
    planted = paths.AUTOGRADER_DIR / "planted_by_a_kernel.py"
    code = (
        "import os\n"
        f"for p in [{str(paths.SOLUTIONS_DIR)!r}, {str(settings.settings_path())!r}]:\n"
        "    print(p, os.path.exists(p))\n"
        "try:\n"
        f"    open({str(planted)!r}, 'w').write('x')\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__)\n"
        "import autograder, solutions\n"
    )

    async def run() -> list[dict]:
        km = nbgrader_sandbox.SandboxedKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(tmp_path))
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=120)
            msg_id = client.execute(code)
            replies = []
            while True:
                message = await client.get_iopub_msg(timeout=120)
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                replies.append(message)
                state = message["content"].get("execution_state")
                if message["msg_type"] == "status" and state == "idle":
                    return replies
        finally:
            client.stop_channels()
            await km.shutdown_kernel(now=True)

    replies = asyncio.run(run())
    printed = "".join(m["content"].get("text", "") for m in replies if m["msg_type"] == "stream")
    errors = [m["content"]["ename"] for m in replies if m["msg_type"] == "error"]
    assert f"{paths.SOLUTIONS_DIR} False" in printed, printed
    assert f"{settings.settings_path()} False" in printed
    assert "refused" in printed and not planted.exists()
    assert errors == ["ModuleNotFoundError"], replies[-3:]  # autograder imports; solutions not
