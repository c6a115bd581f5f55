"""What a student reads: one report per broken file, printing that explains a time-out,
module names as students type them."""

from __future__ import annotations

import pytest

from autograder import engine
from tests.submissions import make_submission
from tests.test_isolation import run_cli

FLOOD = """
def discounted_returns(rewards, dones, gamma):
    while True:
        print("still here", rewards.shape)
"""


def test_a_file_that_does_not_import_is_reported_once(tmp_path):
    folder = make_submission(tmp_path / "sub", {"m01": "def broken(:\n    pass\n"})
    done = run_cli("check", "m1", "--impl", str(folder), "--no-color")
    assert done.returncode == 2, done.stderr
    assert done.stdout.count("m01_policy_gradient.py does not import") == 1, done.stdout
    assert "line 1" in done.stdout


def test_a_time_out_after_a_flood_of_prints_says_so(tmp_path):
    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": FLOOD}})
    done = run_cli("check", "1", "--impl", str(folder), "--no-color", "--timeout", "3")
    assert done.returncode == 1
    assert "printing that much is what made it slow" in done.stdout, done.stdout[-3000:]


def test_what_a_failing_function_printed_is_shown(tmp_path):
    noisy_wrong = """
def policy_gradient_loss(log_probs, weights):
    print("my loss debug line")
    return (log_probs * weights).mean()
"""
    folder = make_submission(tmp_path / "sub", {"m01": {"policy_gradient_loss": noisy_wrong}})
    done = run_cli("check", "m01", "--impl", str(folder), "--no-color")
    assert done.returncode == 1
    assert "| my loss debug line" in done.stdout


def test_a_timeout_that_is_not_positive_is_a_usage_error():
    done = run_cli("check", "m01", "--timeout", "0")
    assert done.returncode == 2
    assert "positive" in done.stderr


def test_a_syntax_error_in_an_imported_file_is_placed_in_that_file(tmp_path):
    """m09 imports m03: a syntax error in m03 is reported at its own line, not at m09's
    import of it."""
    from course import paths
    from course.modules import lookup

    changes: dict = {m: {} for m in ("m01", "m02", "m04", "m05", "m06", "m07", "m08", "m09")}
    lines = (paths.SOLUTIONS_DIR / lookup("m03").filename).read_text().splitlines()
    broken_at = next(i for i, line in enumerate(lines) if line.startswith("def ")) + 1
    lines[broken_at - 1] = lines[broken_at - 1].replace("(", "((", 1)
    changes["m03"] = "\n".join(lines) + "\n"
    folder = make_submission(tmp_path / "sub", changes)
    done = run_cli("check", "m09", "--impl", str(folder), "--no-color")
    assert done.returncode == 2, done.stderr
    assert f"in m03_trust_region.py, line {broken_at}:" in done.stdout, done.stdout
    assert "m09_ppo_agent.py line" not in done.stdout and "(line " not in done.stdout


def test_a_function_that_needs_an_unfinished_module_fails_every_case_with_its_message(tmp_path):
    """m05's training step calls m04's clipped loss: with m04 a stub, every case and
    property fails with m04's message, as the page says, even where the reference could
    stand in for it; once m04 runs, the graded cases run on the reference's m04."""
    import json

    from course import paths
    from tests.helpers import results_by_check

    stub_m04 = (paths.EXERCISES_DIR / "m04_ppo_clip.py").read_text()
    folder = make_submission(tmp_path / "sub", {"m04": stub_m04, "m05": {}})
    out = tmp_path / "results.json"
    done = run_cli("check", "m05", "--impl", str(folder), "--no-color", "--json", str(out))
    assert done.returncode == 1, done.stderr
    step = results_by_check(out)["m05.training_step_loss"]
    assert step["score"] == 0, step
    assert "calls m04.clipped_surrogate_loss, which is not implemented yet" in step["output"]
    assert "cases failed." in step["output"]
    first = step["output"].split(" cases failed.")[0].split(" of ")
    assert first[0] == first[1], step["output"]
    assert json.loads(out.read_text())["tests"][0]["score"] > 0  # value_loss is its own


@pytest.mark.parametrize("module_id", [m.id for m in engine.graded_modules()])
def test_the_reference_prints_nothing_but_its_scores(module_id):
    """A clean reference is checked in silence: no warning of a check file, no library's
    message, nothing on stderr."""
    done = run_cli("check", module_id, "--impl", "solutions", "--no-color")
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stderr == "", done.stderr
    assert "all checks pass" in done.stdout
