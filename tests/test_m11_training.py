"""m11 in training: PPO on gymnasium's MuJoCo tasks with the implementation's running
statistics, saved frozen in ``agent.pt``; one-line errors without MuJoCo or without an
off-screen OpenGL. The MuJoCo tests skip where the ``[mujoco]`` extra is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from course import paths
from course.errors import UsageError
from course.modules import MODULES
from tests.test_isolation import run_cli

needs_mujoco = pytest.mark.skipif(
    importlib.util.find_spec("mujoco") is None, reason="needs the [mujoco] extra"
)

# A short Hopper run: two rollouts of 1024 steps, one epoch of 128-sample minibatches.
SHORT = [
    "--total-steps",
    "2048",
    "--set",
    "num_steps=1024",
    "--set",
    "update_epochs=1",
    "--set",
    "minibatch_size=128",
]


def _train(cwd, *extra: str, impl: str = "solutions"):
    return run_cli(
        "train",
        "Hopper-v5",
        "--impl",
        impl,
        "--out",
        "run",
        "--no-progress",
        "--eval-episodes",
        "2",
        *extra,
        cwd=cwd,
    )


def test_without_mujoco_training_says_what_to_install(monkeypatch):
    from course import train

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mujoco" else real(name, *a)
    )
    with pytest.raises(UsageError) as caught:
        train.prepare(
            env_id="Hopper-v5",
            algo=None,
            impl="solutions",
            seed=1,
            total_steps=None,
            device="cpu",
            threads=1,
            out=None,
            settings=[],
            stop_when_solved=True,
            progress=False,
            env_backend="gymnasium",
            eval_episodes=None,
            compile=None,
        )
    message = str(caught.value)
    assert "\n" not in message
    assert 'pip install -e ".[mujoco]"' in message and "Hopper-v5" in message


def test_statistics_settings_are_checked(tmp_path):
    done = run_cli(
        "train",
        "CartPole-v1",
        "--impl",
        "solutions",
        "--set",
        "statistics=numpy",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "--set statistics takes one of course, m11" in done.stderr
    done = run_cli(
        "train",
        "CartPole-v1",
        "--impl",
        "solutions",
        "--set",
        "scale_rewards=true",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "scale_rewards needs statistics=m11" in done.stderr
    assert "Traceback" not in done.stderr


@needs_mujoco
def test_hopper_trains_with_m11_and_saves_the_statistics_frozen(tmp_path):
    done = _train(tmp_path, *SHORT)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    config = summary["config"]
    # The PPO paper's Table 3, with m11's statistics
    assert (config["num_steps"], config["lr"], config["gamma"], config["gae_lambda"]) == (
        1024,
        3e-4,
        0.99,
        0.95,
    )
    assert config["statistics"] == "m11" and config["normalize_obs"] and config["scale_rewards"]
    record = torch.load(tmp_path / "run" / "agent.pt", map_location="cpu", weights_only=True)
    norm = record["obs_norm"]
    assert norm["mean"].shape == (11,) and norm["var"].shape == (11,)
    assert (norm["clip"], norm["eps"]) == (10.0, 1e-8)
    # Hopper's observations (height about 1.25, angles, velocities) were seen and counted.
    assert 1.0 < float(norm["mean"][0]) < 1.5 and bool((norm["var"] > 0).all())
    assert norm["var"].max() < 1e3
    # The evaluation plays with these statistics, frozen: two plays give the same returns
    from course import play

    policy = play.load_policy(record)
    first, _ = play.play(policy, 1, seed=5)
    again, _ = play.play(policy, 1, seed=5)
    assert first == again
    assert torch.equal(policy.record["obs_norm"]["mean"], norm["mean"])


@needs_mujoco
def test_hopper_with_an_unfinished_m11_names_it(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for module in MODULES:
        source = paths.SOLUTIONS_DIR / module.filename
        if module.id == "m11":
            source = paths.EXERCISES_DIR / module.filename
        shutil.copy(source, folder / module.filename)
    done = _train(tmp_path, *SHORT, impl=str(folder))
    assert done.returncode == 2
    assert "needs m11.RunningMeanStd" in done.stderr and "not implemented yet" in done.stderr
    assert "Traceback" not in done.stderr


@needs_mujoco
def test_a_gif_without_an_off_screen_opengl_is_one_line(tmp_path):
    done = _train(
        tmp_path,
        "--total-steps",
        "64",
        "--set",
        "num_steps=64",
        "--set",
        "minibatch_size=64",
        "--set",
        "update_epochs=1",
    )
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(NO_COLOR="1", MUJOCO_GL="glfw")  # glfw needs a display: there is none here
    done = subprocess.run(
        [sys.executable, "-m", "course.cli", "play", "run", "--gif", "a.gif"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "MUJOCO_GL=osmesa" in errors[0] and "libosmesa6" in errors[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "a.gif").exists()


def _random_returns(episodes: int, seed: int) -> list[float]:
    import gymnasium as gym

    env = gym.make("Hopper-v5")
    env.action_space.seed(seed)
    returns = []
    env.reset(seed=seed)
    for _ in range(episodes):
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        env.reset()
    env.close()
    return returns


@pytest.mark.slow
@needs_mujoco
def test_the_reference_learns_to_hop(tmp_path):
    """60k steps (30 rollouts of the paper's 2048): far from the paper's million, far
    enough from a random policy."""
    done = run_cli(
        "train",
        "Hopper-v5",
        "--impl",
        "solutions",
        "--out",
        "run",
        "--no-progress",
        "--total-steps",
        "61440",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    random_mean = float(np.mean(_random_returns(10, seed=1)))
    assert summary["eval_mean_return"] > 5 * random_mean, (summary["eval_mean_return"], random_mean)
