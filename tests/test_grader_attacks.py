"""Attacks on the grader itself (``tests/grader_attacks.py``), each graded alone under the
sandbox: the attack's goal fails, the student is still graded, and the report a student
reads holds nothing it should not."""

from __future__ import annotations

import json
import re

import pytest

from autograder import engine, report, runner, sandbox
from autograder.grading import grade_folder
from course import paths
from course.modules import lookup
from tests import grader_attacks

pytestmark = pytest.mark.skipif(
    sandbox.unavailable() is not None, reason=f"no sandbox here: {sandbox.unavailable()}"
)

SEED = 20261202
M01 = lookup("m01")


def grade(tmp_path, source: str, executor: runner.IsolatedExecutor | None = None, **options):
    folder = tmp_path / "submission"
    folder.mkdir(exist_ok=True)
    (folder / M01.filename).write_text(source)
    if executor is not None:
        executor = executor(folder)
    return grade_folder(
        folder,
        [M01],
        seed=SEED,
        for_grade=True,
        sandboxed=True,
        executor=executor,
        **options,
    )


def scores(results) -> dict[str, float]:
    return {c.check.function: c.score for c in results[0].checks}


def full_marks(results) -> dict[str, float]:
    return {c.check.function: c.max_score for c in results[0].checks}


def student_view(results) -> str:
    """Everything a student reads: the report and Gradescope's results."""
    text = report.render(results, view=report.STUDENT)
    return text + "\n" + json.dumps(report.gradescope(results, view=report.STUDENT))


def told(results, word: str) -> dict:
    """The JSON a submission put after ``word`` in an exception message it raised."""
    found = re.search(word + r" (\{.*?\})(?:\n|\")", report.render(results))
    assert found, report.render(results)
    return json.loads(found[1])


def test_the_memory_limit_follows_the_measured_baseline(tmp_path, monkeypatch):
    """A worker that holds 700 MB more once torch is imported (as the CUDA build of torch
    does) still grades the reference at full marks: the budget is on top of it."""
    source = (paths.SOLUTIONS_DIR / M01.filename).read_text()
    monkeypatch.setattr(runner.IsolatedExecutor, "ballast_mb", 700)
    started = []

    def executor(folder):
        started.append(runner.IsolatedExecutor(folder, sandboxed=True))
        return started[0]

    results = grade(tmp_path, source, executor=executor)
    assert scores(results) == full_marks(results), report.render(results)
    assert started[0].baseline_mb >= 700 + 100, started[0].baseline_mb


def test_a_forged_reply_about_the_inputs_gains_nothing(tmp_path):
    """The submission zeroes its input and makes the worker report the inputs as they
    were: the second call on the same inputs gives it away."""
    results = grade(tmp_path, grader_attacks.FORGED_REPLY)
    got = scores(results)
    assert got["discounted_returns"] == 0.0, report.render(results)
    assert "called a second time with the same inputs" in report.render(results)
    for function, possible in full_marks(results).items():
        if function != "discounted_returns":
            assert got[function] == possible, function


def test_hidden_inputs_never_reach_the_student(tmp_path):
    """Every function raises with the first value of every call's input so far; what the
    student reads holds the public inputs and none of the hidden ones."""
    results = grade(tmp_path, grader_attacks.EXFILTRATE)
    shown = student_view(results)
    hidden = [c for r in results[0].checks for c in r.cases if c.case.kind == "hidden"]
    public = [c for r in results[0].checks for c in r.cases if c.case.kind == "known"]
    assert hidden and public
    first = next(iter(public[0].case.inputs.values())).flatten()[0].item()
    assert repr(first) in shown  # the channel works: public inputs come through
    for case_result in hidden:
        value = next(iter(case_result.case.inputs.values())).flatten()[0].item()
        assert repr(value) not in shown, case_result.case.name
        assert case_result.failure is not None
    # The instructor's report shows what the hidden cases raised, with their inputs.
    assert "seen" in report.render(results).split("(hidden case)")[1]


def test_the_sandbox_holds_little_of_the_hosts_shared_memory(tmp_path):
    """Files fill what is writable: /tmp and the working folder, 32 MB each, and 1 MB of
    /dev/shm; the root, /dev and the home folder are read-only."""
    results = grade(tmp_path, grader_attacks.FILL_WRITABLE)
    wrote = told(results, "wrote")
    assert wrote.get("/tmp", 0) >= 16, wrote  # the filling works
    assert sum(wrote.values()) <= 2 * sandbox.SCRATCH_MB + sandbox.SHM_MB + 4, wrote
    assert all(v <= sandbox.SCRATCH_MB for v in wrote.values()), wrote
    for place in ("/", "/dev", "/proc/1", "/home/student"):
        assert place not in wrote, wrote
    assert scores(results)["discounted_returns"] == full_marks(results)["discounted_returns"]


def test_no_other_process_can_be_traced_or_read(tmp_path):
    results = grade(tmp_path, grader_attacks.PTRACE)
    attempts = told(results, "attempts")
    assert attempts and all(outcome != "ok" for outcome in attempts.values()), attempts
    assert "ptrace attach 1" in attempts
    assert scores(results)["discounted_returns"] == full_marks(results)["discounted_returns"]


def test_a_flood_of_replies_is_refused_and_the_report_stays_small(tmp_path):
    results = grade(tmp_path, grader_attacks.REPLY_FLOOD)
    got = scores(results)
    for function in ("discounted_returns", "categorical_log_prob", "categorical_entropy"):
        assert got[function] == 0.0, function
    assert got["policy_gradient_loss"] == full_marks(results)["policy_gradient_loss"]
    full = report.render(results)
    assert "larger than the grader accepts" in full
    assert len(full) < 100_000 and len(student_view(results)) < 100_000


def test_a_tensor_on_the_meta_device_fails_its_case_and_is_shown(tmp_path):
    results = grade(tmp_path, grader_attacks.META)
    got = scores(results)
    assert got["discounted_returns"] == 0.0 and got["policy_gradient_loss"] == 0.0
    assert got["categorical_entropy"] == full_marks(results)["categorical_entropy"]
    full = report.render(results)
    assert "returned a tensor on the meta device, which holds no values" in full
    student_view(results)  # renders


def test_a_meta_tensor_is_shown_as_what_it_is_in_process():
    """Where the code runs in the grader's own process (nbgrader's test cells), a meta
    tensor fails its case and is shown, too."""
    import torch

    from tests.helpers import check_of, run_in_process

    check = check_of("m01", "categorical_entropy")
    reference = engine.reference(check.module)
    namespace = engine.override(
        reference, categorical_entropy=lambda logits: torch.zeros(logits.shape[0]).to("meta")
    )
    result = run_in_process(check, namespace)
    assert not any(c.passed for c in result.cases if c.case.kind == "known")
    text = report.render([engine.ModuleResult(check.module, [result])])
    assert "on the meta device (no values)" in text


def test_a_slow_student_is_cut_at_its_time_limit(tmp_path):
    """Right code that sleeps past the check's time limit: that check times out, its
    other cases are not run, and the other functions keep their points."""
    source = grader_attacks.SLOW.replace("{DELAY}", "30")
    results = grade(tmp_path, source, timeout=3)
    check = next(c for c in results[0].checks if c.check.function == "discounted_returns")
    assert check.status == "timed out" and check.score == 0.0
    assert "did not finish within" in report.render(results)
    got = scores(results)
    for function, possible in full_marks(results).items():
        if function != "discounted_returns":
            assert got[function] == possible, function
