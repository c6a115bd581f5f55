"""The trainers run with any implementation, write their run files, and learn."""

from __future__ import annotations

import csv
import json

import pytest

from tests.submissions import make_submission
from tests.test_isolation import run_cli


def test_reinforce_smoke_writes_every_run_file(tmp_path):
    done = run_cli(
        "train",
        "CartPole-v1",
        "--algo",
        "reinforce-baseline",
        "--impl",
        "solutions",
        "--total-steps",
        "3000",
        "--out",
        "run",
        "--summary",
        "s.json",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    for name in ("metrics.csv", "episodes.csv", "curve.png", "summary.json", "config.json"):
        assert (run / name).is_file(), name
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary == json.loads((run / "summary.json").read_text())
    assert summary["env"] == "CartPole-v1" and summary["algo"] == "reinforce-baseline"
    assert summary["impl"] == "solutions" and summary["seed"] == 1
    assert 3000 <= summary["total_steps"] < 3000 + 8 * 1000
    assert summary["solved"] is False and summary["solved_at_steps"] is None
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert rows and {"policy_loss", "entropy", "explained_variance", "value_loss"} <= set(rows[0])
    episodes = list(csv.DictReader((run / "episodes.csv").open()))
    assert len(episodes) == summary["episodes"] > 0


def test_training_with_an_unfinished_stub_says_what_is_missing(tmp_path):
    folder = make_submission(tmp_path / "sub", {"m01": {}})
    text = (folder / "m01_policy_gradient.py").read_text()
    text = text.replace(
        "    return -(log_probs * weights).mean()",
        '    raise NotImplementedError("m01.policy_gradient_loss: not implemented yet")',
    )
    (folder / "m01_policy_gradient.py").write_text(text)
    done = run_cli(
        "train",
        "CartPole-v1",
        "--algo",
        "reinforce",
        "--impl",
        str(folder),
        "--total-steps",
        "2000",
        "--out",
        "run",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "needs m01.policy_gradient_loss, which is not implemented yet" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # nothing half-written is left behind


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["reinforce", "reinforce-baseline"])
def test_reinforce_solves_cartpole(tmp_path, algo):
    done = run_cli(
        "train",
        "CartPole-v1",
        "--algo",
        algo,
        "--impl",
        "solutions",
        "--seed",
        "1",
        "--summary",
        "s.json",
        "--out",
        "run",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["solved"], summary
    assert summary["final_mean_return"] >= 475
