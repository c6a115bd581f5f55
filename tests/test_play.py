"""Every run saves its final agent and evaluates it; ``ppo-course play`` watches it."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_isolation import run_cli


def _train(tmp_path, *extra: str, env: str = "CartPole-v1", algo: str = "ppo"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    done = run_cli(
        "train",
        env,
        "--algo",
        algo,
        "--impl",
        "solutions",
        "--out",
        "run",
        "--no-progress",
        "--eval-episodes",
        "3",
        *extra,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / "run", json.loads((tmp_path / "run" / "summary.json").read_text())


def _check_agent_file(run, algo: str, env: str) -> dict:
    record = torch.load(run / "agent.pt", map_location="cpu", weights_only=True)
    assert record["algo"] == algo and record["env"] == env and record["impl"] == "solutions"
    assert record["state_dict"] and all(torch.is_tensor(v) for v in record["state_dict"].values())
    assert record["config"]["hidden"] == record["hidden"]
    return record


@pytest.mark.parametrize(
    ("algo", "env", "backend", "steps"),
    [
        ("ppo", "CartPole-v1", "gymnasium", "2048"),
        ("ppo", "CartPole-v1", "torch", "2048"),
        ("ppo", "Pendulum-v1", "gymnasium", "2048"),
        ("reinforce", "CartPole-v1", "gymnasium", "1000"),
        ("trpo", "CartPole-v1", "gymnasium", "2048"),
    ],
)
def test_every_run_saves_and_evaluates_its_agent(tmp_path, algo, env, backend, steps):
    run, summary = _train(
        tmp_path, "--total-steps", steps, "--env-backend", backend, env=env, algo=algo
    )
    record = _check_agent_file(run, algo, env)
    assert (record["obs_norm"] is not None) == summary["config"].get("normalize_obs", False)
    assert summary["eval_episodes"] == 3 and len(summary["eval_returns"]) == 3
    returns = torch.tensor(summary["eval_returns"], dtype=torch.float64)
    assert summary["eval_mean_return"] == pytest.approx(returns.mean().item(), abs=0.01)
    assert summary["eval_std_return"] == pytest.approx(returns.std(correction=0).item(), abs=0.01)
    # the evaluation sits next to the training criterion
    keys = list(summary)
    assert keys.index("eval_mean_return") == keys.index("final_mean_return") + 3


def test_evaluation_is_deterministic_and_play_replays_it(tmp_path):
    first, summary = _train(tmp_path / "a", "--total-steps", "2048")
    _, again = _train(tmp_path / "b", "--total-steps", "2048")
    assert summary["eval_returns"] == again["eval_returns"]

    done = run_cli("play", str(first), "--episodes", "2", "--gif", "agent.gif", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("episode")]
    printed = [float(line.rsplit(" ", 1)[1]) for line in lines]
    assert printed == pytest.approx(summary["eval_returns"][:2], abs=0.005)

    from PIL import Image

    # one frame after every step of both episodes (CartPole pays 1 a step), plus each
    # episode's first frame
    rendered = int(sum(printed)) + 2
    assert f"{rendered} frames: agent.gif" in done.stdout
    with Image.open(tmp_path / "agent.gif") as gif:
        assert gif.format == "GIF" and gif.width == 300
        # Pillow merges consecutive frames that are identical once scaled down
        assert rendered // 2 < gif.n_frames <= rendered


def test_play_refuses_a_folder_without_an_agent(tmp_path):
    done = run_cli("play", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "has no agent.pt" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
