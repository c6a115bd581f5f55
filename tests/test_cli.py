"""The ppo-course command: exit codes, the Gradescope JSON, stubs, usage errors, bulk
grading and the pytest front end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from autograder.engine import graded_modules
from tests.submissions import make_submission
from tests.test_isolation import run_cli

TWO = ["m01", "m02"]


def _tests(path):
    data = json.loads(path.read_text())
    return data, {t["name"].split(":")[0]: t for t in data["tests"]}


def test_solutions_get_full_marks(tmp_path):
    done = run_cli("check", *TWO, "--impl", "solutions", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    data, tests = _tests(tmp_path / "r.json")
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) > 0
    for name, test in tests.items():
        assert name.startswith(("m01.", "m02."))
        assert test["status"] == "passed"
        assert test["score"] == test["max_score"]
        assert set(test) == {"name", "score", "max_score", "status", "output"}
    assert "all checks pass" in done.stdout


def test_every_module_grades_within_1024_open_files(tmp_path):
    done = run_cli("check", "--impl", "solutions", "--hidden-seed", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "all checks pass" in done.stdout


def test_stubs_score_zero_and_say_not_implemented(tmp_path):
    done = run_cli("check", *TWO, "--impl", "exercises", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 1
    data, tests = _tests(tmp_path / "r.json")
    assert data["score"] == 0
    for test in tests.values():
        assert test["status"] == "failed"
        assert test["score"] == 0
        assert "is not implemented yet" in test["output"]
    assert "Traceback" not in done.stdout + done.stderr
    assert "Not implemented yet in m01_policy_gradient.py" in done.stdout


def test_default_is_every_graded_module_on_the_exercises(tmp_path):
    done = run_cli("check", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 1
    _, tests = _tests(tmp_path / "r.json")
    assert {name.split(".")[0] for name in tests} == {m.id for m in graded_modules()}


def test_one_wrong_function_loses_points_in_its_module_only(tmp_path):
    folder = make_submission(
        tmp_path / "sub",
        {
            "m01": {},
            "m02": {
                "value_mse_loss": """
                    def value_mse_loss(values, returns):
                        return ((values - returns) ** 2).mean()
                """
            },
        },
    )
    done = run_cli("check", *TWO, "--impl", str(folder), "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 1
    _, tests = _tests(tmp_path / "r.json")
    failed = [name for name, test in tests.items() if test["status"] == "failed"]
    assert failed == ["m02.value_mse_loss"]
    assert "likely misconception: the factor 0.5 is missing" in tests[failed[0]]["output"]
    assert "docs/modules/m02_value_baseline.md#value_mse_loss" in tests[failed[0]]["output"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "m99"], "unknown module 'm99'"),
        (["check", "m01", "--impl", "/no/such/folder"], "no such folder: /no/such/folder"),
        (["train", "CartPole-v1", "--algo", "nope", "--impl", "solutions"], "unknown algorithm"),
        (["train", "NoSuchEnv-v0", "--impl", "solutions"], "cannot make environment"),
        (["build", "m77"], "unknown module"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]


def test_a_missing_module_file_is_a_usage_error(tmp_path):
    folder = make_submission(tmp_path / "sub", {"m01": {}})
    done = run_cli("check", *TWO, "--impl", str(folder), "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the submission has no m02_value_baseline.py"
    _, tests = _tests(tmp_path / "r.json")
    assert tests["m01.discounted_returns"]["status"] == "passed"
    assert "the submission has no m02_value_baseline.py" in tests["m02.value_mse_loss"]["output"]


def test_grade_writes_a_sheet_and_feedback(tmp_path):
    root = tmp_path / "submissions"
    make_submission(root / "ada", {"m01": {}, "m02": {}})
    make_submission(root / "bo", {"m01": "def broken(:\n", "m02": None})
    done = run_cli(
        "grade",
        str(root),
        "--modules",
        *TWO,
        "--out",
        "grades.csv",
        "--feedback",
        "fb",
        "--jobs",
        "2",
        "--hidden-seed",
        "7",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["(possible)", "ada", "bo"]
    possible, ada, bo = rows
    assert float(ada["total"]) == float(possible["total"]) > 0
    assert float(bo["total"]) == 0
    assert "does not import" in bo["problems"] and "no m02_value_baseline.py" in bo["problems"]
    report = json.loads((tmp_path / "fb" / "bo" / "results.json").read_text())
    assert report["score"] == 0 and report["tests"]
    assert (tmp_path / "fb" / "ada" / "report.txt").read_text().count("✓") >= 8


def test_pytest_front_end(tmp_path):
    folder = make_submission(
        tmp_path / "sub",
        {
            "m01": {
                "policy_gradient_loss": """
            def policy_gradient_loss(log_probs, weights):
                return (log_probs * weights).mean()
        """
            }
        },
    )
    from course import paths

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(paths.AUTOGRADER_DIR),
            "--impl",
            str(folder),
            "--module",
            "m01",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",  # in this process: the course's test settings start a worker per core
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 1
    assert "1 failed, 3 passed" in done.stdout
    assert "the minus sign is missing" in done.stdout


def test_build_check_and_fixtures_check_are_up_to_date(tmp_path):
    assert run_cli("build", "--check", cwd=tmp_path).returncode == 0
    assert run_cli("fixtures", "m01", "m02", "--check", cwd=tmp_path).returncode == 0
