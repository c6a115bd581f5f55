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


def _train_cli(tmp_path, *args: str):
    return run_cli(
        "train", *args, "--out", "run", "--no-progress", "--eval-episodes", "1", cwd=tmp_path
    )


def _one_line(done) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_an_exception_in_the_students_code_is_one_line_naming_function_and_line(tmp_path):
    broken = "def discounted_returns(rewards, dones, gamma):\n    return rewards[:, 10**6]\n"
    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": broken}})
    source = (folder / "m01_policy_gradient.py").read_text().splitlines()
    line = source.index("    return rewards[:, 10**6]") + 1
    done = _train_cli(tmp_path, "CartPole-v1", "--algo", "reinforce", "--impl", str(folder))
    message = _one_line(done)
    assert "m01.discounted_returns" in message and "IndexError" in message
    assert f"m01_policy_gradient.py line {line}: return rewards[:, 10**6]" in message
    assert not (tmp_path / "run").exists()


def test_a_wrongly_shaped_result_stops_training_with_one_line(tmp_path):
    scalar = "def discounted_returns(rewards, dones, gamma):\n    return rewards.sum()\n"
    folder = make_submission(tmp_path / "sub", {"m01": {"discounted_returns": scalar}})
    done = _train_cli(tmp_path, "CartPole-v1", "--algo", "reinforce", "--impl", str(folder))
    message = _one_line(done)
    assert "training stopped" in message and "ppo-course check" in message
    assert not (tmp_path / "run").exists()


def _usage_error_in_process(capsys, *args: str) -> str:
    """``ppo-course train ARGS`` in this process (no training starts): its one-line error."""
    from course.cli import EXIT_USAGE, main

    assert main(["train", *args, "--no-progress", "--out", "never"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(
    ("setting", "name"),
    [
        ("num_envs=0", "num_envs"),
        ("minibatch_size=0", "minibatch_size"),
        ("lr=-0.001", "lr"),
        ("gamma=1.5", "gamma"),
        ("clip_coef=0", "clip_coef"),
        ("ent_coef=-0.01", "ent_coef"),
    ],
)
def test_out_of_range_settings_are_usage_errors(tmp_path, monkeypatch, capsys, setting, name):
    monkeypatch.chdir(tmp_path)
    message = _usage_error_in_process(
        capsys, "CartPole-v1", "--impl", "solutions", "--set", setting
    )
    assert message.startswith(f"ppo-course train: error: {name} must be ")
    assert not (tmp_path / "never").exists()


#: For each type a setting can have: a value that is not of that type, and the words the
#: message uses for the type.
_NOT_OF_TYPE = {
    "int": ("1.5", "an integer"),
    "float": ("fast", "a number"),
    "bool": ("maybe", "true or false"),
    "float | None": ("fast", "a number or none"),
    "typing.Literal['course', 'm11']": ("numpy", "one of course, m11"),
}


def _every_setting() -> list[tuple[str, str, str]]:
    """``(algo, setting, declared type)`` for every settable field of every trainer."""
    import dataclasses
    import typing

    from course.train import algorithms

    found = []
    for name, algo in algorithms().items():
        hints = typing.get_type_hints(algo.config)
        for field in dataclasses.fields(algo.config):
            if field.name not in algo.unused:
                kind = hints[field.name]
                label = (
                    kind.__name__
                    if isinstance(kind, type)
                    else str(kind).replace("NoneType", "None")
                )
                found.append((name, field.name, label))
    return found


def test_every_setting_type_has_a_wrong_value_case():
    assert {kind for _, _, kind in _every_setting()} <= set(_NOT_OF_TYPE)


@pytest.mark.parametrize(("algo", "key", "kind"), _every_setting())
def test_a_value_of_the_wrong_type_names_the_setting_its_type_and_the_value(
    tmp_path, monkeypatch, capsys, algo, key, kind
):
    monkeypatch.chdir(tmp_path)
    given, words = _NOT_OF_TYPE[kind]
    message = _usage_error_in_process(
        capsys, "CartPole-v1", "--algo", algo, "--impl", "solutions", "--set", f"{key}={given}"
    )
    assert message == f"ppo-course train: error: --set {key} takes {words}, got {given!r}"
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("num_steps=2e3", 2000),
        ("total_steps=200_000", 200_000),
        ("target_kl=none", None),
        ("target_kl=0.02", 0.02),
        ("anneal_lr=off", False),
        ("lr=1e-3", 1e-3),
    ],
)
def test_values_of_the_right_type_are_taken(setting, value):
    from course.train.common import apply_overrides
    from course.train.ppo import PPOConfig

    key = setting.partition("=")[0]
    assert getattr(apply_overrides(PPOConfig(), [setting]), key) == value


@pytest.mark.parametrize("algo", ["reinforce", "reinforce-baseline", "trpo"])
def test_a_continuous_env_is_refused_by_the_discrete_algorithms(
    tmp_path, monkeypatch, capsys, algo
):
    monkeypatch.chdir(tmp_path)
    message = _usage_error_in_process(capsys, "Pendulum-v1", "--algo", algo, "--impl", "solutions")
    assert f"--algo {algo} needs discrete actions" in message and "Box" in message
    assert not (tmp_path / "never").exists()


def test_reinforce_lists_and_takes_only_the_settings_it_uses(tmp_path):
    done = _train_cli(
        tmp_path,
        "CartPole-v1",
        "--algo",
        "reinforce",
        "--impl",
        "solutions",
        "--total-steps",
        "500",
        "--summary",
        "s.json",
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "s.json").read_text())["config"]
    assert {"num_envs", "gamma", "lr", "hidden"} <= set(config)
    assert not {"baseline", "vf_lr", "vf_iters", "normalize_advantages"} & set(config)
    refused = _train_cli(
        tmp_path, "CartPole-v1", "--algo", "reinforce", "--impl", "solutions", "--set", "vf_lr=0.1"
    )
    assert "does not use 'vf_lr'" in _one_line(refused)
    baseline = _train_cli(
        tmp_path,
        "CartPole-v1",
        "--algo",
        "reinforce-baseline",
        "--impl",
        "solutions",
        "--total-steps",
        "500",
        "--summary",
        "b.json",
    )
    assert baseline.returncode == 0, baseline.stderr
    config = json.loads((tmp_path / "b.json").read_text())["config"]
    assert {"vf_lr", "vf_iters", "normalize_advantages"} <= set(config)
    assert "baseline" not in config


def test_the_torch_backend_reports_the_students_error_in_one_line(tmp_path):
    broken = (
        "def compute_gae(rewards, values, next_values, terminated, truncated, gamma, lam):\n"
        "    return rewards.reshape(7, -1)\n"
    )
    modules = {f"m{i:02d}": {} for i in range(1, 11)}
    folder = make_submission(tmp_path / "sub", {**modules, "m06": {"compute_gae": broken}})
    done = _train_cli(
        tmp_path,
        "CartPole-v1",
        "--env-backend",
        "torch",
        "--impl",
        str(folder),
        "--total-steps",
        "2048",
    )
    message = _one_line(done)
    assert "m06.compute_gae" in message and "RuntimeError" in message
    assert "m06_gae.py line" in message and "rewards.reshape(7, -1)" in message
    assert not (tmp_path / "run").exists()
