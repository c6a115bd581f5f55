"""``ppo-course train``: one command for every algorithm of the course.

The trainers call the graded functions of the implementation chosen with ``--impl``, so a
student trains agents with their own code.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
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
    discrete_only: bool = False
    """The trainer handles discrete action spaces only."""
    unused: tuple[str, ...] = ()
    """Fields of ``config`` this algorithm does not use: not settable, not in the summary."""

    def settings(self, config: Any) -> dict[str, Any]:
        """The config's fields this algorithm uses, as plain data."""
        return {k: v for k, v in dataclasses.asdict(config).items() if k not in self.unused}


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
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        metavar="N",
        help="episodes of the final agent's evaluation (default 10; 0: none)",
    )
    parser.add_argument(
        "--env-backend",
        default="gymnasium",
        choices=["gymnasium", "torch"],
        help="gymnasium vector envs on the CPU (default), or m10's batched envs as tensors "
        "on the training device (CartPole-v1, Pendulum-v1; PPO)",
    )
    compiling = parser.add_mutually_exclusive_group()
    compiling.add_argument(
        "--compile",
        dest="compile",
        action="store_const",
        const="compile",
        default=None,
        help="with --env-backend torch: torch.compile the env functions, the policy's "
        "sampling and the minibatch loss, before the clock starts",
    )
    compiling.add_argument(
        "--cuda-graphs",
        dest="compile",
        action="store_const",
        const="cuda-graphs",
        help="with --env-backend torch --device cuda: as --compile, and replay the compiled "
        "kernels as CUDA graphs (torch.compile's reduce-overhead mode)",
    )
    parser.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="K",
        help="data-parallel training over K processes (torch.distributed; needs "
        "--env-backend torch). Under torchrun the world size comes from torchrun",
    )


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
    env_backend: str = "gymnasium",
    nproc: int = 1,
    eval_episodes: int | None = None,
    compile: str | None = None,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` with the graded functions of ``impl``; return the
    summary (also written to the run folder).

    With ``env_backend="torch"`` the environments are m10's batched tensors on the
    training device (:mod:`course.train.ppo_device`); ``nproc > 1`` runs that trainer in
    ``nproc`` processes with torch.distributed (:mod:`course.train.distributed`).

    Raises:
        UsageError: unknown algorithm or env, bad settings, missing implementation files,
            or a graded function the training needs that is not implemented yet.
    """
    from course.train import distributed

    options = {
        "env_id": env_id,
        "algo": algo,
        "impl": impl,
        "seed": seed,
        "total_steps": total_steps,
        "device": device,
        "threads": threads,
        "out": out,
        "settings": list(settings),
        "stop_when_solved": stop_when_solved,
        "progress": progress,
        "env_backend": env_backend,
        "eval_episodes": eval_episodes,
        "compile": compile,
    }
    prepare(**options, nproc=nproc)  # every usage error here, before any process starts
    if nproc < 1:
        from course.errors import UsageError

        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    if nproc > 1 and not distributed.launched_by_torchrun():
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "summary.json"
            try:
                distributed.spawn(nproc, _process_to_file, (options, str(target)))
            except Exception as exc:  # a process's error comes back as its traceback's text
                from course.errors import UsageError

                last = (str(exc).strip().splitlines() or ["unknown error"])[-1]
                raise UsageError(f"a training process failed: {last.split(': ', 1)[-1]}") from None
            return json.loads(target.read_text())
    return _process(options)


def prepare(**options: Any) -> tuple[Algorithm, Any, Any, Any]:
    """Check the options; return the algorithm, the implementation, the config and the
    device.

    Raises:
        UsageError: as :func:`run`.
    """
    import torch

    from course import impl as impl_loader
    from course.errors import UsageError
    from course.train.common import apply_overrides, resolve_device
    from course.train.guard import check_action_space, validate_config

    table = algorithms()
    algo_name = options["algo"] or default_algo()
    if algo_name not in table:
        raise UsageError(f"unknown algorithm {algo_name!r} (known: {', '.join(table)})")
    chosen = table[algo_name]
    on_device = options["env_backend"] == "torch"
    if on_device and algo_name != "ppo":
        raise UsageError(f"--env-backend torch trains ppo only, not {algo_name}")
    from course.train import distributed

    several = options.get("nproc", 1) > 1 or distributed.launched_by_torchrun()
    if several and not on_device:
        raise UsageError("--nproc needs --env-backend torch")
    compiling = options.get("compile")
    if compiling is not None and not on_device:
        raise UsageError(f"--{compiling} needs --env-backend torch")
    if compiling is not None:
        from course.train.ppo_device import make_minibatch_loss

        if make_minibatch_loss is None:
            raise UsageError(
                f"--{compiling} compiles the course's device update, which this "
                "copy of the course does not have (it is the instructor's)"
            )
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            raise UsageError(
                f"--{compiling}: torch.compile does not work with this Python and torch "
                f"(Python {sys.version.split()[0]}, torch {torch.__version__}); train without it"
            )
    try:
        implementation = impl_loader.Implementation(options["impl"])
        for module in chosen.modules + (("m10",) if on_device else ()):
            implementation.module(module)
    except impl_loader.ImplError as exc:
        raise UsageError(str(exc)) from None
    env_id = options["env_id"]
    from course.envs import mujoco_missing

    missing = mujoco_missing(env_id)
    if missing is not None:
        raise UsageError(missing)
    if on_device:
        from course.batched_envs import BATCHED_ENVS

        if env_id not in BATCHED_ENVS:
            known = ", ".join(BATCHED_ENVS)
            raise UsageError(f"--env-backend torch has no {env_id!r} (it has {known})")
    defaults = {**chosen.base, **chosen.defaults.get(env_id, {})}
    if on_device:
        from course.train.ppo_device import DEVICE_DEFAULTS

        defaults.update(DEVICE_DEFAULTS.get(env_id, {}))
    config = chosen.config(**defaults)
    try:
        config = apply_overrides(config, list(options["settings"]), exclude=chosen.unused)
        if options["total_steps"] is not None:
            config = dataclasses.replace(config, total_steps=options["total_steps"])
        validate_config(config)
        if getattr(config, "statistics", "course") == "m11":
            if on_device:
                raise ValueError(
                    "statistics=m11 works with the gymnasium backend; m10's batched "
                    "envs keep their own statistics on the device"
                )
            implementation.module("m11")
        if options.get("eval_episodes") is not None and options["eval_episodes"] < 0:
            raise ValueError(f"--eval-episodes must be 0 or more, got {options['eval_episodes']}")
        if options["threads"] < 1:
            raise ValueError(f"--threads must be at least 1, got {options['threads']}")
        if not on_device:
            check_action_space(env_id, chosen)
        torch_device = resolve_device(options["device"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except impl_loader.ImplError as exc:
        raise UsageError(str(exc)) from None
    if compiling == "cuda-graphs" and torch_device.type != "cuda":
        raise UsageError(
            "--cuda-graphs needs a CUDA device (--device cuda): CUDA graphs are "
            "recordings of CUDA kernels; on the CPU, --compile"
        )
    if torch_device.type == "cpu":
        torch.set_num_threads(max(1, options["threads"]))
    return chosen, implementation, config, torch_device


def _process_to_file(options: dict[str, Any], target: str) -> None:
    summary = _process(options)
    if summary is not None:
        Path(target).write_text(json.dumps(summary))


def _process(options: dict[str, Any]) -> dict[str, Any] | None:
    """One training process: the whole run, or one rank of a data-parallel one (rank 0
    writes the run folder and returns the summary, the others return None)."""
    import torch

    from course.envs import make_vector_env
    from course.errors import UsageError
    from course.runlog import RunLog
    from course.train import distributed
    from course.train.common import seed_everything
    from course.train.guard import report_failure, save_and_evaluate

    chosen, implementation, config, torch_device = prepare(**options)
    env_id, seed, on_device = options["env_id"], options["seed"], options["env_backend"] == "torch"
    if distributed.launched_by_torchrun():
        if torch_device.type == "cuda":
            import os

            torch_device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(torch_device)
        distributed.init_from_environment(torch_device)
    rank, world = distributed.rank(), distributed.world_size()
    seed_everything(seed + 1000 * rank)
    if on_device:
        from course.batched_envs import make_batched_env
        from course.train.ppo_device import train_on_device

        try:  # the batched envs are the implementation's m10 code
            envs = make_batched_env(
                env_id, config.num_envs, torch_device, seed + 1000 * rank, implementation
            )
        except NotImplementedError as exc:
            raise UsageError(_not_implemented_message(exc, implementation.label)) from None
        except Exception as exc:
            report_failure(exc, implementation)
        train = functools.partial(train_on_device, compile=options.get("compile"))
    else:
        envs = make_vector_env(env_id, config.num_envs, seed)  # the id was checked by prepare
        envs.reset(seed=seed)
        train = chosen.train

    algo_name = chosen.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(options["out"] or f"runs/{env_id}-{algo_name}-s{seed}-{stamp}")
    header = {
        "env": env_id,
        "algo": algo_name,
        "seed": seed,
        "impl": implementation.label,
        "device": str(torch_device),
        "env_backend": options["env_backend"],
        "world_size": world,
        "compile": options.get("compile"),
        "config": chosen.settings(config),
    }
    if rank == 0:
        log = RunLog(
            folder,
            header,
            SOLVED_THRESHOLDS.get(env_id),
            config.total_steps,
            config.num_envs * world,
            progress=options["progress"],
        )
    else:
        log = _SilentLog(header)
    steps, evaluation, clean = 0, None, False
    try:
        steps = train(envs, implementation, config, torch_device, log, options["stop_when_solved"])
        log.stop_clock()
        if rank == 0 and log.agent is not None:
            evaluation = save_and_evaluate(log, folder, header, implementation, options)
        clean = True
    except NotImplementedError as exc:
        log.discard()
        raise UsageError(_not_implemented_message(exc, implementation.label)) from None
    except (KeyboardInterrupt, UsageError):
        log.discard()
        raise
    except Exception as exc:  # the implementation's code: anything can happen
        log.discard()
        report_failure(exc, implementation)
    finally:
        envs.close()
        distributed.close(clean)
    if rank != 0:
        return None
    summary = log.close(steps, evaluation)
    summary["folder"] = str(folder)
    return summary


class _SilentLog:
    """The run log of a process other than rank 0: it records nothing."""

    solved = False

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header

    agent = None

    def restart_clock(self) -> None: ...

    def warm_up(self, what: str = "") -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def keep_agent(self, *args: Any) -> None: ...

    def stop_clock(self) -> None: ...

    def step(self, *args: Any) -> None: ...

    def log(self, *args: Any) -> None: ...

    def discard(self) -> None: ...


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
        env_backend=args.env_backend,
        nproc=args.nproc,
        compile=args.compile,
        eval_episodes=args.eval_episodes,
    )
    if summary is None:  # a process other than rank 0 under torchrun
        return 0
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
    if summary.get("eval_episodes"):
        print(
            f"final agent: mean return {summary['eval_mean_return']} "
            f"(std {summary['eval_std_return']}) over {summary['eval_episodes']} evaluation "
            f"episodes. Watch it: ppo-course play {folder} --gif {folder / 'agent.gif'}",
            file=sys.stdout,
        )
    return 0
