"""benchmarks/gpu.py runs and writes its table and plot; torch.compile changes a step by no
more than rounding, and no episode end."""

from __future__ import annotations

import importlib.util
import json
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
    # the command that measured, without the paths it wrote to
    assert "`python benchmarks/gpu.py --quick --no-training --max-n 64 --max-sync 16`" in text
    assert plot.stat().st_size > 1000


def test_training_setups_and_the_compiling_column(tmp_path):
    bench = _benchmark()
    labels = [label for label, _ in bench.training_setups(compile_=True, nproc=False)]
    assert labels[:3] == ["gymnasium (cpu)", "torch (cpu)", "torch (cpu, --compile)"]
    assert ("torch (cuda, --cuda-graphs)" in labels) == torch.cuda.is_available()
    assert "torch (cpu, --nproc 2)" in dict(bench.training_setups(compile_=False))
    row = {"env": "CartPole-v1", "seeds": 5, "solved": 5, "median_seconds_to_solve": 3.25}
    row |= {"median_steps_to_solve": 40000, "steps_per_second": 12000}
    machine = {"cpu": "a CPU", "cores": "2", "python": "3", "torch": "2", "date": "today"}
    training = [{**row, "setup": "torch (cpu)", "warmup_seconds": 0}]
    training.append({**row, "setup": "torch (cpu, --compile)", "warmup_seconds": 21.04})
    table = tmp_path / "t.md"
    bench.write_table({"raw": [], "training": training, "machine": machine}, table)
    lines = table.read_text().splitlines()
    assert lines[0].endswith("compiling (before the clock) |")
    assert lines[2].endswith("| 12,000 | |") and lines[3].endswith("| 12,000 | 21.0 s |")
    bench.write_table({"raw": [], "training": training[:1], "machine": machine}, table)
    assert "compiling" not in table.read_text()
    # --only keeps the setups that name one of its words: here none, so nothing is trained
    out = tmp_path / "r.json"
    assert bench.main(["--no-raw", "--only", "tpu", "--out", str(out), "--table", str(table)]) == 0
    assert json.loads(out.read_text())["training"] == []
    # --merge: one table from saved parts (a GPU session measures in two)
    raw = tmp_path / "raw.json"
    raw.write_text(
        json.dumps(
            {
                "machine": machine,
                "command": "python benchmarks/gpu.py --x",
                "raw": [{"N": 16, "torch cpu": 1e5}],
                "training": [],
            }
        )
    )
    part = {"machine": machine, "command": "python benchmarks/gpu.py --y", "raw": []}
    (tmp_path / "train.json").write_text(json.dumps({**part, "training": training}))
    merged, plot = tmp_path / "m.json", tmp_path / "m.png"
    args = ["--merge", str(raw), str(tmp_path / "train.json"), str(tmp_path / "absent.json")]
    args += ["--out", str(merged), "--table", str(table), "--plot", str(plot)]
    assert bench.main(args) == 0
    text = table.read_text()
    assert "| 16 | 1e5 |" in text and "torch (cpu, --compile)" in text
    assert "`python benchmarks/gpu.py --x` and `python benchmarks/gpu.py --y`" in text
    assert len(json.loads(merged.read_text())["training"]) == 2 and plot.stat().st_size > 1000


def test_the_cuda_rows_and_what_each_training_run_is_given(monkeypatch):
    """On a machine with CUDA (pretended: nothing runs on it here), the CUDA rows, the wide
    configuration on CartPole-v1 only; each run gets its setup's options and nothing else."""
    import course.train

    bench = _benchmark()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    setups = dict(bench.training_setups(compile_=True, nproc=False))
    assert [label for label in setups if "cuda" in label] == [
        "torch (cuda)",
        "torch (cuda, --compile)",
        "torch (cuda, --cuda-graphs)",
        "torch (cuda, 4096 envs)",
        "torch (cuda, 4096 envs, --cuda-graphs)",
    ]
    given = []

    def fake_run(env_id, **options):
        given.append((env_id, options))
        return {
            "solved": True,
            "solved_at_seconds": 1.0,
            "solved_at_steps": 10,
            "wall_seconds": 1.0,
            "total_steps": 10,
        }

    monkeypatch.setattr(course.train, "run", fake_run)
    wide = {"torch (cuda, 4096 envs)": setups["torch (cuda, 4096 envs)"]}
    rows = bench.training_rows(["CartPole-v1", "Pendulum-v1"], 1, list(wide.items()))
    assert [row["env"] for row in rows] == ["CartPole-v1"]  # its settings are CartPole's
    ((env_id, options),) = given
    assert env_id == "CartPole-v1" and "_env" not in options
    assert options["settings"][0] == "num_envs=4096" and options["device"] == "cuda"


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


def test_envs_chooses_the_tasks_and_refuses_one_without_a_batched_version(tmp_path, monkeypatch):
    bench = _benchmark()
    trained = []
    monkeypatch.setattr(
        bench, "training_rows", lambda envs, seeds, setups: trained.append(envs) or []
    )
    paths = ["--out", str(tmp_path / "r.json"), "--table", str(tmp_path / "t.md")]
    assert bench.main(["--no-raw", "--envs", "Pendulum-v1", *paths]) == 0
    assert bench.main(["--no-raw", "--pendulum", *paths]) == 0
    assert trained == [["Pendulum-v1"], ["CartPole-v1", "Pendulum-v1"]]
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--no-raw", "--envs", "CartPole-v1,Acrobot-v1", *paths])
    assert exit_.value.code == 2
