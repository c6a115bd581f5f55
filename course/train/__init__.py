"""``ppo-course train``: one command for every algorithm of the course.

The trainers call the graded functions of the implementation chosen with ``--impl``, so a
student trains agents with their own code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.envs import SOLVED_THRESHOLDS


@dataclass(frozen=True)
class Algorithm:
    """A trainer: its config class, per-env defaults and the modules it calls."""

    name: str
    summary: str
    config: type
    defaults: dict[str, dict[str, Any]]
    modules: tuple[str, ...]
    train: Callable[..., int]
    base: dict[str, Any] = dataclasses.field(default_factory=dict)


def algorithms() -> dict[str, Algorithm]:
    """Every trainer in this package: each module ``course/train/<name>.py`` that defines
    ``ALGORITHMS`` (a list of :class:`Algorithm`) contributes its entries."""
    import importlib
    import pkgutil

    found: dict[str, Algorithm] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for algo in getattr(module, "ALGORITHMS", []):
            found[algo.name] = algo
    return found


#: ``ppo`` once its trainer exists, the first algorithm of the course until then.
PREFERRED_DEFAULTS = ("ppo", "reinforce")


def default_algo() -> str:
    table = algorithms()
    return next(name for name in PREFERRED_DEFAULTS if name in table)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env", help="a gymnasium id: CartPole-v1, Acrobot-v1, ...")
    parser.add_argument(
        "--algo",
        default=None,
        help="algorithm: " + ", ".join(algorithms()) + f" (default {default_algo()})",
    )
    parser.add_argument(
        "--impl",
        default="exercises",
        help="whose graded functions to use: exercises (default), solutions, or a folder",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--total-steps",
        type=int,
        default=None,
        metavar="N",
        help="environment steps at most (default: the algorithm's for the env)",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: fastest for small networks)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default runs/ENV-ALGO-sSEED-TIME)",
    )
    parser.add_argument("--summary", metavar="FILE", help="also write the run's summary JSON here")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="use the whole step budget even after the task is solved",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --set lr=0.001",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _not_implemented_message(exc: NotImplementedError, impl_label: str) -> str:
    text = str(exc)
    if ": not implemented yet" in text:
        name = text.split(":")[0]
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        name = frames[-1].name if frames else "a graded function"
    return (
        f"training with --impl {impl_label} needs {name}, which is not implemented yet: "
        "fill it in (ppo-course check shows what is left) or use --impl solutions"
    )


def run(
    env_id: str,
    algo: str | None = None,
    impl: str | Path = "exercises",
    seed: int = 1,
    total_steps: int | None = None,
    device: str = "auto",
    threads: int = 1,
    out: str | Path | None = None,
    settings: list[str] | tuple[str, ...] = (),
    stop_when_solved: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` with the graded functions of ``impl``; return the
    summary (also written to the run folder).

    Raises:
        UsageError: unknown algorithm or env, bad settings, missing implementation files,
            or a graded function the training needs that is not implemented yet.
    """
    import torch

    from course import impl as impl_loader
    from course.envs import make_vector_env
    from course.errors import UsageError
    from course.runlog import RunLog
    from course.train.common import apply_overrides, resolve_device, seed_everything

    table = algorithms()
    algo_name = algo or default_algo()
    if algo_name not in table:
        raise UsageError(f"unknown algorithm {algo_name!r} (known: {', '.join(table)})")
    chosen = table[algo_name]
    try:
        implementation = impl_loader.Implementation(impl)
        for module in chosen.modules:
            implementation.module(module)
    except impl_loader.ImplError as exc:
        raise UsageError(str(exc)) from None
    config = chosen.config(**{**chosen.base, **chosen.defaults.get(env_id, {})})
    try:
        config = apply_overrides(config, list(settings))
        if total_steps is not None:
            config = dataclasses.replace(config, total_steps=total_steps)
        torch_device = resolve_device(device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if torch_device.type == "cpu":
        torch.set_num_threads(max(1, threads))
    seed_everything(seed)
    try:
        envs = make_vector_env(env_id, config.num_envs, seed)
    except Exception as exc:  # gymnasium's errors for unknown ids are long
        raise UsageError(f"cannot make environment {env_id!r}: {exc}") from None
    envs.reset(seed=seed)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(out or f"runs/{env_id}-{algo_name}-s{seed}-{stamp}")
    header = {
        "env": env_id,
        "algo": algo_name,
        "seed": seed,
        "impl": implementation.label,
        "device": str(torch_device),
        "config": dataclasses.asdict(config),
    }
    log = RunLog(
        folder,
        header,
        SOLVED_THRESHOLDS.get(env_id),
        config.total_steps,
        config.num_envs,
        progress=progress,
    )
    steps = 0
    try:
        steps = chosen.train(envs, implementation, config, torch_device, log, stop_when_solved)
    except NotImplementedError as exc:
        log.discard()
        raise UsageError(_not_implemented_message(exc, implementation.label)) from None
    finally:
        envs.close()
    summary = log.close(steps)
    summary["folder"] = str(folder)
    return summary


def run_from_cli(args: argparse.Namespace) -> int:
    summary = run(
        args.env,
        algo=args.algo,
        impl=args.impl,
        seed=args.seed,
        total_steps=args.total_steps,
        device=args.device,
        threads=args.threads,
        out=args.out,
        settings=args.set,
        stop_when_solved=not args.keep_going,
        progress=not args.no_progress,
    )
    folder = Path(summary.pop("folder"))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")
    solved = "solved" if summary["solved"] else "not solved"
    at = (
        f" at {summary['solved_at_steps']} steps ({summary['solved_at_seconds']} s)"
        if summary["solved"]
        else ""
    )
    print(
        f"{args.env} {summary['algo']}: {solved}{at}; final mean return "
        f"{summary['final_mean_return']} after {summary['total_steps']} steps, "
        f"{summary['wall_seconds']} s. Curve: {folder / 'curve.png'}",
        file=sys.stdout,
    )
    return 0
