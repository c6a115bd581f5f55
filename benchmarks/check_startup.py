"""Benchmark: what ``ppo-course check m01`` costs over a bare ``import torch``.

A student's check starts a worker (which imports torch and the student's file) while the
command itself imports torch and builds the cases, so torch's import is the floor under
any check. The two commands are run in turn, ``--repeats`` times each (interleaved, so
that a busy machine slows both alike), and the script prints the median wall time of
each, the difference, and the CPU seconds (user + system, of the process and its
children) that each took.

    python benchmarks/check_startup.py [--repeats 7] [--impl exercises] [--module m01]

``--impl exercises`` (the default) is a student's first run, on the stubs; ``--impl
solutions`` grades the reference, with its hidden cases.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The goal: a check costs at most this many seconds more than importing torch.
BUDGET_S = 0.7


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the command and everything it started) and exit status."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    return time.perf_counter() - started, _children_cpu() - cpu, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--impl", default="exercises")
    parser.add_argument("--module", default="m01")
    args = parser.parse_args()
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        f"ppo-course check {args.module}": [
            sys.executable,
            "-m",
            "course.cli",
            "check",
            args.module,
            "--impl",
            args.impl,
        ],
    }
    if args.impl == "solutions":
        commands[f"ppo-course check {args.module}"] += ["--hidden-seed", "1"]
    # one run of each first, unmeasured: the files are in the page cache for all of them
    for cmd in commands.values():
        timed(cmd)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            wall, cpu, status = timed(cmd)
            if status not in (0, 1):  # 1: some checks fail (the stubs)
                print(f"{name} exited with status {status}", file=sys.stderr)
                return 1
            walls[name].append(wall)
            cpus[name].append(cpu)
    width = max(len(name) for name in commands)
    for name in commands:
        print(
            f"{name:<{width}}  median {statistics.median(walls[name]):.2f} s wall "
            f"(min {min(walls[name]):.2f}, max {max(walls[name]):.2f}), "
            f"{statistics.median(cpus[name]):.2f} s CPU, {args.repeats} runs"
        )
    torch_s, check_s = (statistics.median(walls[name]) for name in commands)
    extra = check_s - torch_s
    verdict = "within" if extra <= BUDGET_S else "over"
    print(
        f"check - import torch: {extra:+.2f} s wall ({verdict} the {BUDGET_S} s budget); "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
