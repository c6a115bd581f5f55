"""``ppo-course check --device``: every case's inputs go to the device, the probes build
their networks there, and a function that returns a tensor elsewhere fails its case.

A GPU is not needed to see where tensors go: the ``meta`` device (tensors with a shape and
a device but no values) is a second device on any machine, and mixing it with the CPU
raises the same "not on the expected device" error as mixing CUDA with the CPU. The
end-to-end run on CUDA is skipped where there is none."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch

from autograder import engine
from autograder.core import Case, Outcome, clone_inputs, set_case_device, to_device
from autograder.runner import IsolatedExecutor
from course.modules import lookup
from tests.helpers import check_of, results_by_check
from tests.submissions import make_submission

MODULES = [m.id for m in engine.graded_modules()]

#: What torch says when a computation mixes devices.
MIXED = ("not on the expected device", "Expected all tensors to be on the same device")


def _devices(value, found: set[str]) -> set[str]:
    if isinstance(value, torch.Tensor):
        found.add(value.device.type)
    elif isinstance(value, dict):
        for v in value.values():
            _devices(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _devices(v, found)
    return found


def test_every_probe_keeps_to_the_cases_device():
    """Every case of every check, run on the reference with its inputs on the meta
    device: no probe mixes in a tensor or a network of its own left on the CPU, and what
    comes back is on the meta device. A case whose code needs values (``.item()``,
    ``torch.equal``) stops there on meta and says nothing; most cases run through."""
    ran, mixed, strays = 0, [], []
    for module_id in MODULES:
        module = lookup(module_id)
        reference = engine.reference(module)
        built = [(c, engine.build_cases(c, reference, 1)[0]) for c in engine.load_checks(module)]
        set_case_device("meta")
        try:
            for check, cases in built:
                for case in cases:
                    inputs = clone_inputs(to_device(case.inputs, torch.device("meta")))
                    torch.manual_seed(0)
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            value = case.probe(reference, check.function, inputs)
                    except Exception as exc:  # what it raised is the verdict
                        if any(text in str(exc) for text in MIXED):
                            mixed.append(f"{check.id} / {case.name}: {exc}")
                        continue
                    ran += 1
                    if _devices(value, set()) - {"meta"}:
                        strays.append(f"{check.id} / {case.name}: {_devices(value, set())}")
        finally:
            set_case_device("cpu")
    assert mixed == []
    assert strays == []
    assert ran >= 250, ran  # most cases ran all the way through on meta


DEVICE_OF = """
def discounted_returns(rewards, dones, gamma):
    return str(rewards.device) + " " + str(dones.device)
"""
CPU_RESULT = """
def discounted_returns(rewards, dones, gamma):
    import torch
    return torch.zeros(rewards.shape)
"""
ON_DEVICE = """
def discounted_returns(rewards, dones, gamma):
    return rewards * gamma
"""


def _run_on(folder, device: str, inputs: dict):
    check = check_of("m01", "discounted_returns")
    with IsolatedExecutor(folder, device=device) as executor:
        assert executor.start(check) is None
        return executor.run(Case(check, "a case", "known", inputs), timeout=60)


def _inputs() -> dict:
    return {"rewards": torch.ones(3, 2), "dones": torch.zeros(3, 2), "gamma": 0.9}


@pytest.mark.parametrize(
    ("code", "device", "verdict"),
    [
        (DEVICE_OF, "meta", "meta meta"),
        (DEVICE_OF, "cpu", "cpu cpu"),
        (ON_DEVICE, "meta", "a meta tensor"),
        (CPU_RESULT, "meta", "returned a tensor on cpu, where its inputs are on meta"),
        (CPU_RESULT, "cpu", "a cpu tensor"),
    ],
)
def test_the_worker_moves_the_inputs_and_checks_where_the_outputs_are(
    tmp_path, code, device, verdict
):
    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": code}})
    outcome = _run_on(folder, device, _inputs())
    if verdict.startswith("returned"):  # a failure of its own case
        assert not isinstance(outcome, Outcome), outcome
        assert verdict in outcome.message and "device=x.device" in outcome.message
    elif verdict.startswith("a "):  # a tensor, on this device
        assert isinstance(outcome, Outcome), outcome
        assert isinstance(outcome.value, torch.Tensor)
        assert outcome.value.device.type == verdict.split()[1]
    else:  # the devices the function saw its inputs on
        assert isinstance(outcome, Outcome), outcome
        assert outcome.value == verdict


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "meta"], "--device: a meta tensor holds no values to compare"),
        (["--device", "gpu0"], "--device: 'gpu0' is not a device (cpu, cuda, cuda:1, ...)"),
        (["--device", "cuda", "--sandbox"], "the sandbox exposes no accelerator"),
    ],
)
def test_a_device_that_cannot_be_used_is_a_usage_error(tmp_path, args, message):
    result = _cli("check", "m01", "--impl", "solutions", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_says_so_in_one_line(tmp_path):
    result = _cli("check", "m01", "--impl", "solutions", "--device", "cuda", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("ppo-course check: error: --device cuda: not available here")
    assert len(result.stderr.strip().splitlines()) == 1


CPU_BUFFER = """
def discounted_returns(rewards, dones, gamma):
    import torch
    returns = torch.zeros(rewards.shape)  # no device=: on a GPU this is on the CPU
    running = torch.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - dones[t].to(rewards.dtype)) * running
        returns[t] = running
    return returns
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_reference_gets_full_marks_and_a_cpu_buffer_fails(tmp_path):
    result = _cli(
        "check", "--impl", "solutions", "--device", "cuda", "--json", "r.json", cwd=tmp_path
    )
    report = json.loads((tmp_path / "r.json").read_text())
    failed = [t["name"] for t in report["tests"] if t["status"] != "passed"]
    assert result.returncode == 0 and failed == [], (failed, result.stdout[-3000:])
    assert "on cuda" in result.stdout.splitlines()[0]

    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": CPU_BUFFER}})
    _cli("check", "m01", "--impl", str(folder), "--device", "cuda", "--json", "s.json",
         cwd=tmp_path)  # fmt: skip
    tests = results_by_check(tmp_path / "s.json")
    assert tests["m01.discounted_returns"]["status"] == "failed"
    assert tests["m01.categorical_entropy"]["status"] == "passed"
