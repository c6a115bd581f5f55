"""Grading a class is safe: hostile submissions lose only their own points, nothing of the
grader's or another student's changes, nothing outlives the run, and the sheet is the same
whatever the number of jobs. Run under ``ulimit -n 1024``."""

from __future__ import annotations

import csv
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from autograder import sandbox, wire
from autograder.bulk import part_name
from course import paths
from tests.hostile import ATTACKS, fixture_lookup

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = [
    pytest.mark.xdist_group("sandbox"),
    pytest.mark.skipif(
        sandbox.unavailable() is not None, reason=f"no sandbox here: {sandbox.unavailable()}"
    ),
]

MODULES = ["m01", "m04", "m05"]
ALL_M01 = [
    "discounted_returns",
    "categorical_log_prob",
    "categorical_entropy",
    "policy_gradient_loss",
]
SEED = "20261201"


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def grade(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``ppo-course grade ARGS`` in a new process; the result's ``pid`` is that process's."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "grade", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=_low_fd_limit,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    done.pid = proc.pid
    return done


def reference_copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for path in paths.SOLUTIONS_DIR.glob("m[0-9][0-9]_*.py"):
        shutil.copyfile(path, folder / path.name)
    return folder


def read_sheet(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def tree_digest(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip) or not path.is_file():
            continue
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def scratch_folders(pid: int | None = None) -> set[Path]:
    """The grader's scratch folders (named ``ppo-course-grade-<pid>-...``): those of the
    grading process ``pid``, or of any (other tests may be grading at the same time)."""
    import re

    number = str(pid) if pid is not None else r"\d+"
    pattern = re.compile(rf"ppo-course-grade-{number}-")
    return {p for p in Path(tempfile.gettempdir()).iterdir() if pattern.match(p.name)}


def stray_processes(marker: str) -> list[str]:
    found = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if marker in line and "ps -eo" not in line]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    sheet = root / "grades.csv"
    feedback = root / "feedback"
    marker = f"ppo-hostile-{uuid.uuid4().hex[:8]}"
    reference_copy(subs / "alice")
    wrong = reference_copy(subs / "wrong_m04")
    text = (wrong / "m04_ppo_clip.py").read_text()
    assert "torch.max(" in text
    (wrong / "m04_ppo_clip.py").write_text(text.replace("torch.max(", "torch.min(", 1))
    stub = subs / "stub"
    stub.mkdir()
    for path in paths.EXERCISES_DIR.glob("m[0-9][0-9]_*.py"):
        shutil.copyfile(path, stub / path.name)
    other = subs / "alice" / "m01_policy_gradient.py"
    for name, source in {**ATTACKS, "fixture_lookup": None}.items():
        folder = reference_copy(subs / f"x_{name}")
        if source is None:
            source = fixture_lookup(paths.FIXTURES_DIR / "m01_policy_gradient.json")
        else:
            source = source.format(
                OTHER=str(other), SHEET=str(sheet), FEEDBACK=str(feedback), MARKER=marker
            )
        (folder / "m01_policy_gradient.py").write_text(source)
    before = tree_digest(root, skip=(feedback, sheet))
    scratch_before = scratch_folders()
    started = time.monotonic()
    done = grade(
        str(subs),
        "--modules",
        *MODULES,
        "--out",
        str(sheet),
        "--feedback",
        str(feedback),
        "--jobs",
        "2",
        "--hidden-seed",
        SEED,
        "--timeout",
        "10",
        "--quiet",
    )
    elapsed = time.monotonic() - started
    # every scratch folder of a run is named after its grading process
    scratch_left = scratch_folders(done.pid) - scratch_before
    return {
        "scratch_left": scratch_left,
        "root": root,
        "subs": subs,
        "sheet": sheet,
        "feedback": feedback,
        "done": done,
        "rows": read_sheet(sheet) if sheet.exists() else {},
        "before": before,
        "marker": marker,
        "elapsed": elapsed,
    }


def test_every_student_is_graded_and_the_run_succeeds(graded_class):
    done = graded_class["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    rows = graded_class["rows"]
    assert set(rows) == {"(possible)", "alice", "wrong_m04", "stub"} | {
        f"x_{n}" for n in [*ATTACKS, "fixture_lookup"]
    }
    assert "hidden seed 20261201; sandboxed" in rows["(possible)"]["problems"]


def test_honest_and_stub_students_get_their_own_scores(graded_class):
    rows = graded_class["rows"]
    possible = rows["(possible)"]
    for module in MODULES:
        assert rows["alice"][module] == possible[module]
        assert float(rows["stub"][module]) == 0.0


def test_a_mistake_costs_its_points_once(graded_class):
    rows = graded_class["rows"]
    possible = rows["(possible)"]
    assert float(rows["wrong_m04"]["m04"]) < float(possible["m04"])
    # m05's training step calls m04's clipped loss: graded on the reference's m04.
    assert rows["wrong_m04"]["m05"] == possible["m05"]
    assert rows["wrong_m04"]["m01"] == possible["m01"]


# These attack the grader around otherwise correct code: they must not hurt anyone,
# and their correct functions keep their points.
HARMLESS = ("prints_10mb", "tamper_files", "detached_process")


@pytest.mark.parametrize("name", [*ATTACKS, "fixture_lookup"])
def test_a_hostile_submission_loses_only_its_own_points(graded_class, name):
    rows = graded_class["rows"]
    row = rows[f"x_{name}"]
    possible = rows["(possible)"]
    if name in HARMLESS:
        assert row["m01"] == possible["m01"], row
    else:
        assert float(row["m01"]) < float(possible["m01"]), row
    for module in ("m04", "m05"):
        if name in ("crash_at_import",):
            continue
        assert row[module] == possible[module], (module, row)


CHEATED = {
    "import_reference": ALL_M01,
    "fixture_lookup": ALL_M01,
    "unpickle_exploit": ["discounted_returns"],
    "patch_and_mutate": ["discounted_returns"],
}


def check_scores(feedback: Path, student: str) -> dict[str, float]:
    import json

    data = json.loads((feedback / student / "results.json").read_text())
    return {t["name"].split(":")[0]: t["score"] for t in data["tests"]}


@pytest.mark.parametrize("name", sorted(CHEATED))
def test_a_cheat_scores_nothing_on_what_it_cheated(graded_class, name):
    scores = check_scores(graded_class["feedback"], f"x_{name}")
    for function in CHEATED[name]:
        assert scores[f"m01.{function}"] == 0.0, (function, scores)


@pytest.mark.parametrize("name", ["syntax_error", "hang_at_import", "crash_at_import"])
def test_a_file_that_does_not_import_scores_nothing(graded_class, name):
    assert float(graded_class["rows"][f"x_{name}"]["m01"]) == 0.0


def test_nothing_outside_the_sheet_and_the_feedback_changes(graded_class):
    root = graded_class["root"]
    after = tree_digest(root, skip=(graded_class["feedback"], graded_class["sheet"]))
    assert after == graded_class["before"]
    assert not (graded_class["feedback"] / "results.json").exists()
    report = (graded_class["feedback"] / "alice" / "report.txt").read_text()
    assert "tampered" not in report


def test_no_code_of_the_submission_ran_in_the_grader(graded_class):
    marker = graded_class["marker"]
    assert not Path(marker).exists()
    assert not list(Path.cwd().glob(f"{marker}*"))


def test_nothing_outlives_the_run(graded_class):
    assert stray_processes(graded_class["marker"]) == []
    assert graded_class["scratch_left"] == set()


def test_hidden_details_reach_the_instructor_only(graded_class):
    student = (graded_class["feedback"] / "wrong_m04" / "report.txt").read_text().splitlines()
    instructor = (graded_class["feedback"] / "wrong_m04" / "instructor.txt").read_text()
    headers = [i for i, line in enumerate(student) if "(hidden case)" in line]
    assert headers, "the student sees the hidden cases' verdicts"
    for i in headers:
        assert student[i].rstrip().endswith(("wrong output", "raised an exception", "timed out"))
        following = student[i + 1] if i + 1 < len(student) else ""
        assert not following.strip().startswith(("inputs:", "expected:", "received:"))
    hidden_in_instructor = instructor.split("(hidden case)")[1]
    assert "expected:" in hidden_in_instructor.split('case "')[0]


def test_the_same_class_gives_the_same_sheet_with_one_job_and_resumes(graded_class, tmp_path):
    sheet = tmp_path / "again.csv"
    subs = graded_class["subs"]
    keep = ["alice", "wrong_m04", "stub", "x_prints_10mb", "x_patch_and_mutate"]
    small = tmp_path / "subs"
    for name in keep:
        shutil.copytree(subs / name, small / name)
    feedback = tmp_path / "fb"
    args = [
        str(small),
        "--modules",
        *MODULES,
        "--hidden-seed",
        SEED,
        "--timeout",
        "10",
        "--quiet",
    ]
    first = grade(*args, "--out", str(sheet), "--feedback", str(feedback), "--jobs", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    rows = read_sheet(sheet)
    for name in keep:
        assert rows[name] == graded_class["rows"][name]
    # A rerun grades nothing again and writes the same bytes.
    content = sheet.read_bytes()
    second = grade(*args, "--out", str(sheet), "--feedback", str(feedback), "--jobs", "2")
    assert second.returncode == 0
    assert f"({len(keep)} from an earlier run)" in second.stdout
    assert sheet.read_bytes() == content


def test_an_interrupted_run_stops_fast_and_resumes(tmp_path):
    subs = tmp_path / "subs"
    reference_copy(subs / "a_first")
    for name in ("b_slow", "c_slow"):
        folder = reference_copy(subs / name)
        (folder / "m01_policy_gradient.py").write_text(
            "import time\nwhile True:\n    time.sleep(0.1)\n"
        )
    sheet = tmp_path / "grades.csv"
    feedback = tmp_path / "fb"
    cmd = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        str(subs),
        "--modules",
        "m01",
        "--out",
        str(sheet),
        "--feedback",
        str(feedback),
        "--hidden-seed",
        SEED,
        # b_slow's import hangs: it is still within this limit when the run is interrupted
        # (a second after a_first is done), and the rerun waits it out for b and c
        "--timeout",
        "8",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    saved = feedback / ".parts" / part_name("a_first")
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - stopped_at < 10
    assert proc.returncode != 0
    rows = read_sheet(sheet)
    assert rows["a_first"]["m01"] == rows["(possible)"]["m01"]
    assert "not graded" in rows["b_slow"]["problems"]
    assert "interrupted" in err
    assert not list(Path(tempfile.gettempdir()).glob(f"ppo-course-grade-{proc.pid}-*"))
    # two at once: the jobs do not enter the key of a finished student's result
    again = subprocess.run([*cmd, "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "(1 from an earlier run)" in again.stdout
    rows = read_sheet(sheet)
    assert float(rows["b_slow"]["m01"]) == 0.0


def test_grade_refuses_without_a_seed(tmp_path):
    reference_copy(tmp_path / "subs" / "a")
    env = {k: v for k, v in os.environ.items() if k not in ("PPO_COURSE_HIDDEN_SEED",)}
    env["PPO_COURSE_SETTINGS"] = str(tmp_path / "none.json")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "course.cli",
            "grade",
            str(tmp_path / "subs"),
            "--out",
            str(tmp_path / "g.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert "no hidden seed" in done.stderr
    assert not (tmp_path / "g.csv").exists()


def test_wire_rejects_what_is_not_plain_data():
    import torch

    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(wire.loads(wire.dumps((tensor, {"a": 1.5}, [float("nan")])))[0], tensor)
    for bad in (
        '{"$tensor": "float32", "shape": [2], "device": "cpu", "bytes": "AAAA"}',
        '{"$tensor": "object", "shape": [1], "device": "cpu", "bytes": ""}',
        '{"__reduce__": 1}',
        '{"$float": "1e400"}',
    ):
        with pytest.raises(wire.WireError):
            wire.loads(bad)
    with pytest.raises(wire.WireError):
        wire.to_plain(object())
