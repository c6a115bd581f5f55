"""benchmarks/gpu.py runs and writes its table and plot; torch.compile changes a step by no
more than rounding, and no episode end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from course.batched_envs import BatchedCartPole
from course.impl import Implementation

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", ROOT / "benchmarks/gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_raw_benchmark_writes_table_and_plot(tmp_path):
    bench = _benchmark()
    out, table, plot = tmp_path / "r.json", tmp_path / "t.md", tmp_path / "p.png"
    args = ["--quick", "--no-training", "--max-n", "64", "--max-sync", "16"]
    args += ["--out", str(out), "--table", str(table), "--plot", str(plot)]
    assert bench.main(args) == 0
    text = table.read_text()
    assert "torch cpu (steps/s)" in text and "gymnasium numpy (steps/s)" in text
    assert "| 64 |" in text and "Measured on" in text
    assert plot.stat().st_size > 1000


@pytest.mark.slow
def test_compiled_envs_give_the_same_numbers_as_eager():
    bench = _benchmark()
    impl = Implementation("solutions")
    try:
        # the dynamics only: each compilation takes tens of seconds on a small CPU
        compiled = bench.compiled_functions(impl, ("cartpole_step",))
        probe = BatchedCartPole(4, seed=0, impl=compiled)
        probe.reset()
        probe.step(torch.zeros(4, dtype=torch.int64))
    except Exception as exc:  # no compiler, or an unsupported platform
        pytest.skip(f"torch.compile does not work here: {type(exc).__name__}")
    eager = BatchedCartPole(32, seed=1, impl=impl)
    fast = BatchedCartPole(32, seed=1, impl=compiled)
    torch.testing.assert_close(eager.reset()[0], fast.reset()[0], rtol=0, atol=0)
    g = torch.Generator().manual_seed(2)
    for _ in range(60):
        actions = torch.randint(0, 2, (32,), generator=g)
        # The compiled step from the same states: equal up to rounding. (Along two separate
        # trajectories a rounding difference grows, as it does in any chaotic system, so
        # the trajectories are compared by their episode ends.)
        state = eager.state.clone()
        torch.testing.assert_close(
            compiled.cartpole_step(state, actions),
            impl.module("m10").cartpole_step(state, actions),
            rtol=1e-6,
            atol=1e-6,
        )
        a, b = eager.step(actions), fast.step(actions)
        assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
