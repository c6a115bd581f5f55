"""What ``ppo-course train`` refuses before it starts, and how it reports a failure of the
implementation's code once it has: always one line, never a traceback."""

from __future__ import annotations

import dataclasses
import math
import traceback
from pathlib import Path
from typing import Any

#: Constraints on the hyperparameters of every trainer: (test, what the value must be).
_AT_LEAST_ONE = (lambda v: v >= 1, "at least 1")
_POSITIVE = (lambda v: v > 0, "positive")
_NON_NEGATIVE = (lambda v: v >= 0, "zero or positive")
_UNIT = (lambda v: 0 <= v <= 1, "between 0 and 1")
_FRACTION = (lambda v: 0 < v <= 1, "in (0, 1]")
RULES: dict[str, tuple[Any, str]] = {
    "total_steps": _AT_LEAST_ONE,
    "num_envs": _AT_LEAST_ONE,
    "num_steps": _AT_LEAST_ONE,
    "minibatch_size": _AT_LEAST_ONE,
    "update_epochs": _AT_LEAST_ONE,
    "hidden": _AT_LEAST_ONE,
    "vf_iters": _AT_LEAST_ONE,
    "vf_epochs": _AT_LEAST_ONE,
    "vf_minibatches": _AT_LEAST_ONE,
    "cg_iters": _AT_LEAST_ONE,
    "max_backtracks": _AT_LEAST_ONE,
    "max_episode_steps": _AT_LEAST_ONE,
    "lr": _POSITIVE,
    "vf_lr": _POSITIVE,
    "adam_eps": _POSITIVE,
    "clip_coef": _POSITIVE,
    "max_grad_norm": _POSITIVE,
    "max_kl": _POSITIVE,
    "target_kl": _POSITIVE,
    "reward_scale": _POSITIVE,
    "ent_coef": _NON_NEGATIVE,
    "vf_coef": _NON_NEGATIVE,
    "damping": _NON_NEGATIVE,
    "gamma": _UNIT,
    "gae_lambda": _UNIT,
    "accept_ratio": _FRACTION,
}


#: Settings that take one of a few words.
CHOICES: dict[str, tuple[str, ...]] = {"statistics": ("course", "m11")}


def validate_config(config: Any) -> None:
    """Check every field of ``config`` that :data:`RULES` constrains (None passes: it
    means "off", as ``target_kl=None``).

    Raises:
        ValueError: one line naming the first setting out of range.
    """
    for name, words in CHOICES.items():
        value = getattr(config, name, words[0])
        if value not in words:
            raise ValueError(f"{name} must be one of {', '.join(words)}, got {value!r}")
    if getattr(config, "scale_rewards", False) and getattr(config, "statistics", "") != "m11":
        raise ValueError("scale_rewards needs statistics=m11: the reward scaler is m11's")
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name not in RULES or value is None or isinstance(value, bool):
            continue
        test, wanted = RULES[field.name]
        if not isinstance(value, int | float) or not math.isfinite(value) or not test(value):
            raise ValueError(f"{field.name} must be {wanted}, got {value!r}")


def check_action_space(env_id: str, algo: Any) -> None:
    """Refuse an env whose actions the algorithm cannot take (REINFORCE and TRPO here are
    written for discrete actions), and an env gymnasium does not know.

    Raises:
        ValueError: one line.
    """
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except Exception as exc:  # gymnasium's errors for unknown ids are long
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot make environment {env_id!r}: {first}") from None
    space = env.action_space
    env.close()
    if algo.discrete_only and not isinstance(space, gym.spaces.Discrete):
        raise ValueError(
            f"--algo {algo.name} needs discrete actions, and {env_id}'s are "
            f"{type(space).__name__}{tuple(getattr(space, 'shape', ()) or ())}: "
            "train it with --algo ppo"
        )


def _module_of(path: str) -> str:
    name = Path(path).name
    return name.split("_", 1)[0] if name[:1] == "m" and name[1:3].isdigit() else Path(path).stem


def _qualname(code: Any) -> str:
    return getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+


def implementation_error(exc: BaseException, folder: Path) -> str | None:
    """One line about an exception raised by the implementation in ``folder``: the graded
    function the trainer called, the line of the student's file where it failed, what went
    wrong. None when no frame of the traceback is in ``folder``.
    """
    root = Path(folder).resolve()
    frames = [
        (frame.f_code, lineno)
        for frame, lineno in traceback.walk_tb(exc.__traceback__)
        if Path(frame.f_code.co_filename).resolve().parent == root
    ]
    if not frames:
        return None
    (outer, _), (inner, line) = frames[0], frames[-1]
    called = f"{_module_of(outer.co_filename)}.{_qualname(outer)}"
    where = f"{Path(inner.co_filename).name} line {line}"
    import linecache

    source = linecache.getline(inner.co_filename, line).strip()
    if source:
        where += f": {source}"
    if inner is not outer:
        where += f" (in {_qualname(inner)})"
    what = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return f"training stopped in {called}: {what.rstrip(': ')}; at {where}"


def course_error(exc: BaseException) -> str:
    """One line about an exception in the course's own code while it ran a student's
    functions: most often what a graded function returned does not fit (a shape, a dtype)."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    where = f" (in {Path(last.filename).name} line {last.lineno})" if last else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"training stopped: {type(exc).__name__}: {text}{where}; a graded function probably "
        "returned a value of the wrong shape or type: ppo-course check tells which"
    )


def save_and_evaluate(log, folder: Path, header, implementation, options) -> dict[str, Any]:
    """Save the final agent to ``agent.pt`` and evaluate it (loaded back from the file)."""
    from course import play

    path = folder / play.AGENT_FILE
    agent = log.agent
    play.save_agent(path, agent["kind"], agent["net"], agent["normalizer"], header, implementation)
    episodes = options.get("eval_episodes")
    episodes = play.EVAL_EPISODES if episodes is None else episodes
    return play.evaluate(path, implementation, int(header["seed"]), episodes)


def report_failure(exc: Exception, implementation) -> None:
    """Raise a one-line UsageError for an exception of the implementation's code, or of the
    course's code running it; re-raise when the reference itself fails (a bug to see)."""
    from course.errors import UsageError

    message = implementation_error(exc, implementation.folder)
    if message is None and implementation.label != "solutions":
        message = course_error(exc)
    if message is None:
        raise exc
    raise UsageError(message) from None
