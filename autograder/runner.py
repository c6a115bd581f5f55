"""Run a submission's code in a separate worker process, with time and memory limits.

The worker imports torch once and serves many probes; it is replaced only when a probe
kills or hangs it. It works on a private copy of the submission, in a scratch folder, with
its output thrown away, so a submission that hangs, crashes, prints, changes global state
or writes files cannot stop the other checks or change its own score. The worker only
returns raw values; the grader compares and scores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import traceback
from pathlib import Path
from typing import Any

from autograder.core import (
    Case,
    Check,
    Failure,
    Outcome,
    failure_from_exception,
    plain,
    probe_ref,
    resolve_probe,
    seed_everything,
)
from course.modules import Module

DEFAULT_MEMORY_MB = 4096
STARTUP_TIMEOUT = 180.0


# ----------------------------------------------------------------------------- the worker


def reset_torch_state() -> None:
    """Undo global changes an earlier submission's code may have made (default dtype,
    autograd mode), so that every case starts from the same state."""
    import torch

    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)


def _student_line(exc: BaseException, folder: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(folder)]
    if not frames:
        return ""
    frame = frames[-1]
    return f"line {frame.lineno} of {Path(frame.filename).name}: {(frame.line or '').strip()}"


def worker_main(conn: Any, folder: str, memory_bytes: int, workdir: str) -> None:
    """The worker's loop: ``load`` a module, ``run`` probes on it, until ``stop``."""
    import resource

    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.chdir(workdir)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from course import impl as impl_loader
    from course.modules import lookup

    namespace = None
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        if message[0] == "load":
            try:
                namespace = impl_loader.import_module(Path(folder), lookup(message[1]))
                conn.send(("ok",))
            except impl_loader.ImplError as exc:
                namespace = None
                conn.send(("import", str(exc)))
            continue
        _, ref, function, inputs = message
        reset_torch_state()
        seed_everything(0)
        try:
            value = plain(resolve_probe(ref)(namespace, function, inputs))
        except Exception as exc:
            failure = failure_from_exception(exc, function, _student_line(exc, folder))
            conn.send(("fail", failure.kind, failure.message, failure.line))
            continue
        try:
            conn.send(("ok", value))
        except Exception as exc:  # the value could not be pickled
            conn.send(
                (
                    "fail",
                    "unsendable",
                    f"{function} returned a value that cannot be read back: "
                    f"{type(exc).__name__}: {exc}",
                    "",
                )
            )


# ----------------------------------------------------------------------------- the parent


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class IsolatedExecutor:
    """Runs probes on a submission folder in a worker process.

    Args:
        folder: the submission (laid out like ``exercises/``). Its ``.py`` files are
            copied to a scratch folder first; the original is never touched.
        memory_mb: the worker's address-space limit (0 for none).
    """

    def __init__(self, folder: Path, memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="ppo-course-grade-"))
        self.folder = self._scratch / "submission"
        self.folder.mkdir()
        for path in Path(folder).glob("*.py"):
            shutil.copy2(path, self.folder / path.name)
        self.workdir = self._scratch / "work"
        self.workdir.mkdir()
        self.memory_bytes = memory_mb * 1024 * 1024
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None
        self._loaded: str | None = None
        self._import_failures: dict[str, Failure] = {}

    # worker life cycle ---------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        self._kill()
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, str(self.folder), self.memory_bytes, str(self.workdir)),
            daemon=True,
        )
        proc.start()
        child.close()
        if not parent.poll(STARTUP_TIMEOUT):
            proc.kill()
            raise RuntimeError("the grading worker did not start")
        try:
            parent.recv()
        except EOFError:
            raise RuntimeError(
                f"the grading worker died while starting ({_describe_exit(proc.exitcode)})"
            ) from None
        self._proc, self._conn, self._loaded = proc, parent, None

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
            self._conn.close()
        self._proc = self._conn = None
        self._loaded = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(("stop",))
                self._proc.join(2)
            except (OSError, ValueError):
                pass
        self._kill()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> IsolatedExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # the request/response exchange --------------------------------------------------
    def _exchange(self, message: tuple, timeout: float, what: str) -> tuple | Failure:
        self._ensure_worker()
        self._conn.send(message)
        if not self._conn.poll(max(timeout, 0.01)):
            self._kill()
            return Failure("timeout", f"{what} did not finish within {timeout:.3g} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self._kill()
            return Failure(
                "crash", f"the Python process running {what} died ({_describe_exit(code)})"
            )

    def _load(self, module: Module, timeout: float) -> Failure | None:
        if module.name in self._import_failures:
            return self._import_failures[module.name]
        if not (self.folder / module.filename).is_file():
            failure = Failure("missing", f"the submission has no {module.filename}")
            self._import_failures[module.name] = failure
            return failure
        reply = self._exchange(("load", module.id), timeout, f"importing {module.filename}")
        if isinstance(reply, Failure):
            failure = Failure("import", f"{module.filename} does not import: {reply.message}")
        elif reply[0] == "import":
            failure = Failure("import", reply[1])
        else:
            self._loaded = module.name
            return None
        self._import_failures[module.name] = failure
        return failure

    # Executor protocol ---------------------------------------------------------
    def start(self, check: Check) -> Failure | None:
        """Import a fresh copy of the check's module in the worker."""
        self._loaded = None
        return self._load(check.module, check.timeout)

    def run(self, case: Case, timeout: float) -> Outcome | Failure:
        module = case.check.module
        if self._loaded != module.name or self._proc is None or not self._proc.is_alive():
            problem = self._load(module, timeout)
            if problem is not None:
                return problem
        function = case.check.function
        reply = self._exchange(
            ("run", probe_ref(case.probe), function, case.inputs), timeout, function
        )
        if isinstance(reply, Failure):
            return reply
        if reply[0] == "ok":
            return Outcome(reply[1])
        _, kind, message, line = reply
        return Failure(kind, message, line)

    def import_error(self, module: Module) -> Failure | None:
        """The import failure of ``module`` met during this run, if any."""
        return self._import_failures.get(module.name)
