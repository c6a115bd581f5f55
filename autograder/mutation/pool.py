"""A pool of forked workers that run many tasks each, with a time limit per task.

The parent prepares everything a task needs (the mutants, the cases and their expected
values) before the workers fork, so a task is only an index: a worker receives indices
and sends back small results (plain dicts). A task that runs past its time limit, or
that kills its worker, is answered by the pool itself (``{"outcome": "timeout"}`` or
``{"outcome": "crash"}``) and the worker is replaced; the other tasks go on.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

Task = Callable[[int], dict[str, Any]]

MEMORY_MB = 2048
"""Address space a worker may add to what it has when it forks: a mutant that asks for
more (an off-by-one that makes a huge tensor) fails its case instead of the machine."""


def _limit_memory(memory_mb: int) -> None:
    import resource

    from autograder.worker import baseline

    value = baseline()[1] + memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(resource.RLIMIT_AS, (value, hard))


def _serve(task: Task, conn: Connection) -> None:
    import torch

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    _limit_memory(MEMORY_MB)
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        try:
            result = task(index)
        except BaseException as exc:  # a task must not take its worker down quietly
            result = {"outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
        conn.send(result)


class _Worker:
    def __init__(self, task: Task) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(task, child), daemon=True)
        self.process.start()
        child.close()
        self.index: int | None = None
        self.deadline = 0.0

    def give(self, index: int, limit: float) -> None:
        self.index = index
        self.deadline = time.monotonic() + limit
        self.conn.send(index)

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.conn.send(None)
            except OSError:
                kill = True
        if kill:
            self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_tasks(
    task: Task, count: int, jobs: int, limit: Callable[[int], float]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run ``task(0)`` .. ``task(count - 1)`` in ``jobs`` forked workers; yield
    ``(index, result)`` as each finishes (in any order). ``limit(index)`` is the task's
    time limit in seconds."""
    pending = list(range(count))
    pending.reverse()
    workers = [_Worker(task) for _ in range(max(1, min(jobs, count)))]
    idle = list(workers)
    busy: list[_Worker] = []
    try:
        while pending or busy:
            while idle and pending:
                worker = idle.pop()
                index = pending.pop()
                worker.give(index, limit(index))
                busy.append(worker)
            now = time.monotonic()
            soonest = min(w.deadline for w in busy)
            ready = wait([w.conn for w in busy], timeout=max(0.0, soonest - now))
            for worker in list(busy):
                result = None
                if worker.conn in ready:
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):
                        result = {"outcome": "crash", "message": "the worker died"}
                elif time.monotonic() >= worker.deadline:
                    result = {"outcome": "timeout", "message": "ran past the time limit"}
                if result is None:
                    continue
                busy.remove(worker)
                index = worker.index
                if result.get("outcome") in ("crash", "timeout"):
                    worker.stop(kill=True)
                    workers.remove(worker)
                    worker = _Worker(task)
                    workers.append(worker)
                idle.append(worker)
                yield index, result
    finally:
        for worker in workers:
            worker.stop(kill=bool(busy))
