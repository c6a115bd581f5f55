"""Student code runs in a worker process: hangs, crashes, exceptions, prints, file writes,
global state and unsendable values fail their own check only, and nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import results_by_check
from tests.submissions import make_submission

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = pytest.mark.xdist_group("isolation")

HANG = """
def discounted_returns(rewards, dones, gamma):
    while True:
        pass
"""
EXIT = """
def categorical_log_prob(logits, actions):
    import os
    os._exit(3)
"""
NOISY_BUT_RIGHT = """
def categorical_entropy(logits):
    import torch
    print("debugging " * 5000)
    with open("scratch.txt", "w") as f:
        f.write("a student's file")
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)
"""
RAISES = """
def policy_gradient_loss(log_probs, weights):
    scale = 2.0
    raise ValueError(f"boom {scale}")
"""
GENERATOR = """
def advantages_from_baseline(returns, values):
    return (r - v for r, v in zip(returns, values.detach()))
"""
IN_PLACE = """
def normalize_advantages(advantages, eps=1e-8):
    advantages -= advantages.mean()
    return advantages / (advantages.std() + eps)
"""
GLOBAL_STATE = """
def discounted_returns(rewards, dones, gamma):
    import torch
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    torch.set_grad_enabled(False)  # left behind for whatever runs next
    torch.set_default_dtype(torch.float64)
    return returns
"""


def low_open_files_limit() -> None:
    """The common default of ``ulimit -n``: grading must fit in it."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        preexec_fn=low_open_files_limit,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One submission with a different failure in almost every function, graded once."""
    root = tmp_path_factory.mktemp("isolation")
    folder = make_submission(
        root / "sub",
        {
            "m01": {
                "discounted_returns": HANG,
                "categorical_log_prob": EXIT,
                "categorical_entropy": NOISY_BUT_RIGHT,
                "policy_gradient_loss": RAISES,
            },
            "m02": {
                "advantages_from_baseline": GENERATOR,
                "normalize_advantages": IN_PLACE,
            },
        },
    )
    cwd = root / "cwd"
    cwd.mkdir()
    before = {p.name for p in folder.iterdir()}
    done = run_cli(
        "check", "m01", "m02", "--impl", str(folder), "--json", "r.json", "--timeout", "4", cwd=cwd
    )
    tests = results_by_check(cwd / "r.json")
    return {"done": done, "tests": tests, "folder": folder, "before": before, "cwd": cwd}


def test_failed_checks_exit_with_1(graded):
    assert graded["done"].returncode == 1, graded["done"].stderr


def test_a_hanging_function_times_out(graded):
    test = graded["tests"]["m01.discounted_returns"]
    assert test["score"] == 0
    assert "did not finish within" in test["output"]


def test_a_function_that_kills_the_interpreter_fails_alone(graded):
    test = graded["tests"]["m01.categorical_log_prob"]
    assert test["score"] == 0
    assert "died (exit code 3)" in test["output"]


def test_printing_and_writing_files_do_not_matter(graded):
    test = graded["tests"]["m01.categorical_entropy"]
    assert test["status"] == "passed"
    assert {p.name for p in graded["folder"].iterdir()} == graded["before"]
    assert not (graded["cwd"] / "scratch.txt").exists()


def test_an_exception_names_the_students_line(graded):
    output = graded["tests"]["m01.policy_gradient_loss"]["output"]
    assert "policy_gradient_loss raised ValueError: boom 2.0" in output
    assert 'raise ValueError(f"boom {scale}")' in output
    assert "m01_policy_gradient.py" in output


def test_a_value_that_cannot_be_sent_back_is_explained(graded):
    output = graded["tests"]["m02.advantages_from_baseline"]["output"]
    assert "cannot read back" in output


def test_modifying_an_input_is_reported(graded):
    output = graded["tests"]["m02.normalize_advantages"]["output"]
    assert "modified its input `advantages` in place" in output


def test_global_state_changes_do_not_leak_into_later_checks(tmp_path):
    # discounted_returns is right but switches autograd off and float64 on as it returns;
    # categorical_log_prob's gradient case runs later in the same worker and must not care.
    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": GLOBAL_STATE}})
    done = run_cli("check", "m01", "--impl", str(folder), "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 9


def test_every_check_is_reported(graded):
    assert len(graded["tests"]) == 8
    assert graded["tests"]["m02.explained_variance"]["score"] == 2


def test_grading_twice_gives_the_same_result(graded, tmp_path):
    again = run_cli(
        "check",
        "m01",
        "m02",
        "--impl",
        str(graded["folder"]),
        "--json",
        "r.json",
        "--timeout",
        "4",
        cwd=tmp_path,
    )
    assert again.returncode == 1
    second = results_by_check(tmp_path / "r.json")
    assert {k: v["score"] for k, v in second.items()} == {
        k: v["score"] for k, v in graded["tests"].items()
    }


SEGFAULT = """
def categorical_entropy(logits):
    import ctypes
    return ctypes.string_at(0)
"""
MEMORY_HOG = """
def policy_gradient_loss(log_probs, weights):
    import torch
    big = torch.ones(64, 1024, 1024, 1024)
    return -(log_probs * weights).mean() + big.sum() * 0
"""


def test_segfault_memory_limit_and_import_errors(tmp_path):
    folder = make_submission(
        tmp_path / "sub",
        {
            "m01": {"categorical_entropy": SEGFAULT, "policy_gradient_loss": MEMORY_HOG},
            "m02": "def broken(:\n    pass\n",
        },
    )
    done = run_cli(
        "check",
        "m01",
        "m02",
        "--impl",
        str(folder),
        "--json",
        "r.json",
        "--timeout",
        "10",
        "--memory-mb",
        "3000",
        cwd=tmp_path,
    )
    tests = results_by_check(tmp_path / "r.json")
    assert "killed by SIGSEGV" in tests["m01.categorical_entropy"]["output"]
    assert "policy_gradient_loss raised" in tests["m01.policy_gradient_loss"]["output"]
    assert tests["m01.discounted_returns"]["status"] == "passed"
    assert tests["m01.categorical_log_prob"]["status"] == "passed"
    for name in ("advantages_from_baseline", "explained_variance"):
        assert "does not import: SyntaxError" in tests[f"m02.{name}"]["output"]
    # A file that does not import is a usage error: exit code 2 and a one-line message.
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: m02_value_baseline.py does not import: SyntaxError")
    )


SHARED_MAPPING_HOG = """
def discounted_returns(rewards, dones, gamma):
    import mmap
    hog = mmap.mmap(-1, 1 << 30)  # shared and anonymous: not in the data size
    return rewards.clone()  # never reached while the limit holds
"""
HEAP_HOG = """
def categorical_entropy(logits):
    import torch
    hog = bytearray(1 << 30)
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)
"""
MODEST = """
def policy_gradient_loss(log_probs, weights):
    room = bytearray(100 << 20)  # well inside the limit
    return -(log_probs * weights).mean()
"""


def test_the_memory_limit_bounds_heap_and_shared_mappings_alike(tmp_path):
    """With ``--memory-mb 640``, a gigabyte is refused whether it is asked of the heap or
    as a shared anonymous mapping (which the data size does not count); 100 MB is fine."""
    folder = make_submission(
        tmp_path / "sub",
        {
            "m01": {
                "discounted_returns": SHARED_MAPPING_HOG,
                "categorical_entropy": HEAP_HOG,
                "policy_gradient_loss": MODEST,
            }
        },
    )
    run_cli("check", "m01", "--impl", str(folder), "--json", "r.json", "--memory-mb", "640",
            cwd=tmp_path)  # fmt: skip
    tests = results_by_check(tmp_path / "r.json")
    assert "discounted_returns raised OSError" in tests["m01.discounted_returns"]["output"]
    assert "categorical_entropy raised MemoryError" in tests["m01.categorical_entropy"]["output"]
    assert tests["m01.policy_gradient_loss"]["status"] == "passed"
    assert tests["m01.categorical_log_prob"]["status"] == "passed"
