"""Run a submission's code in a worker process, sandboxed or not, and read back plain data.

The worker (``worker.py``) imports torch once and serves many probes; it is replaced only
when a probe kills or hangs it. It works on a private copy of the submission. The grader
side here sends each case's inputs as plain data, reads the reply with a deadline,
decodes it (``wire.py``), and decides on its own whether the inputs were modified. See
``sandbox.py`` for the trust boundary.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import sandbox as sandbox_mod
from autograder.outcomes import MAX_REPLY_BYTES, Failure, Outcome, probe_ref

if TYPE_CHECKING:
    from autograder.core import Case, Check
    from course.modules import Module

DEFAULT_MEMORY_MB = 512
"""What a submission may allocate, in MB, beyond what its worker holds once torch is
imported (measured in each worker, so that any build of torch leaves the same room)."""
STARTUP_TIMEOUT = 120.0
MAX_FILE_BYTES = 2 * 1024 * 1024  # a submission file larger than this is not graded
SCRATCH_PREFIX = "ppo-course-grade-"


def clean_stale_scratch() -> None:
    """Remove the scratch folders of grading processes that no longer run (a run killed
    with SIGKILL cannot clean up after itself)."""
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{SCRATCH_PREFIX}*"):
        pid = path.name.removeprefix(SCRATCH_PREFIX).split("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass


def reset_torch_state() -> None:
    """Undo global changes an earlier submission's code may have made (default dtype,
    autograd mode), so that every case starts from the same state."""
    import torch

    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Live:
    """Every worker process alive in this grader, so that an interrupt can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = threading.Event()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill(proc)


LIVE = _Live()


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


class WorkerStopped(Exception):
    """The grader is being interrupted: no new worker starts."""


def copy_submission(folder: Path, target: Path, overlay: dict[str, bytes] | None = None) -> None:
    """Copy the ``.py`` files of ``folder`` (plain files, not links, not too large) into
    ``target``, then write ``overlay`` (file name to content) over them."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(folder).glob("*.py")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue
        shutil.copyfile(path, target / path.name)
    for name, content in (overlay or {}).items():
        (target / name).write_bytes(content)
    for path in target.iterdir():
        path.chmod(0o644)
    target.chmod(0o755)


class IsolatedExecutor:
    """Runs probes on a submission folder in a worker process.

    Args:
        folder: the submission (laid out like ``exercises/``). Its ``.py`` files are
            copied to a scratch folder first; the original is never touched.
        memory_mb: what the submission may allocate beyond the worker's own baseline (the
            memory it holds once torch is imported, measured by the worker; 0 for no
            limit).
        sandboxed: run the worker under bubblewrap (see ``sandbox.py``).
        overlay: files written over the copy (``{"m04_ppo_clip.py": b"..."}``): how a
            composite function is graded on the reference's earlier functions.
        cpu_s: the worker's CPU-time limit over its life.
        device: where the worker puts each case's inputs before the call (``cuda`` for a
            student's ``check --device cuda``); every tensor the function returns must
            then be on a device of that type.
    """

    ballast_mb = 0
    """Tests only: megabytes each worker maps before it measures its baseline, as a
    larger build of torch would (a class attribute, so every worker of a run has it)."""

    def __init__(
        self,
        folder: Path,
        memory_mb: int = DEFAULT_MEMORY_MB,
        sandboxed: bool = False,
        overlay: dict[str, bytes] | None = None,
        cpu_s: int = 900,
        device: str = "cpu",
    ) -> None:
        if sandboxed and device != "cpu":
            raise ValueError("the sandbox exposes no accelerator: use device='cpu'")
        self.device = device
        self._scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self._scratch.chmod(0o755)
        self.folder = self._scratch / "submission"
        copy_submission(Path(folder), self.folder, overlay)
        self.workdir = self._scratch / "work"
        self.workdir.mkdir()
        self.sandboxed = sandboxed
        self.limits = sandbox_mod.Limits(memory_mb=memory_mb, cpu_s=cpu_s)
        self.process_filter: bool | None = None
        self.baseline_mb: int | None = None
        self._proc: subprocess.Popen | None = None
        self._reply_fd: int | None = None
        self._buffer = bytearray()
        self._ready = False
        self._loaded: str | None = None
        self._import_failures: dict[str, Failure] = {}
        self._printed: dict[str, str] = {}
        self._spawn()

    # worker life cycle ---------------------------------------------------------
    def _spawn(self) -> None:
        if LIVE.stopping.is_set():
            raise WorkerStopped("grading was interrupted")
        read_fd, write_fd = os.pipe()
        worker_args = [
            "--memory-mb",
            str(self.limits.memory_mb),
            "--cpu-s",
            str(self.limits.cpu_s),
            "--nofile",
            str(self.limits.nofile),
            "--fsize-mb",
            str(self.limits.fsize_mb),
            "--device",
            self.device,
        ]
        if self.ballast_mb:
            worker_args += ["--ballast-mb", str(self.ballast_mb)]
        if self.sandboxed:
            cmd = sandbox_mod.command(self.folder, worker_args, write_fd)
            env = None
            cwd = None
        else:
            cmd = sandbox_mod.plain_command(self.folder, worker_args, write_fd)
            env = sandbox_mod.worker_env(self.workdir)
            cwd = self.workdir
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                start_new_session=True,
                env=env if env is not None else {},
                cwd=cwd,
            )
        finally:
            os.close(write_fd)
        LIVE.add(proc)
        self._proc, self._reply_fd, self._buffer = proc, read_fd, bytearray()
        self._ready, self._loaded = False, None

    def _ensure_worker(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._spawn()
        if self._ready:
            return
        line = self._read_line(time.monotonic() + STARTUP_TIMEOUT)
        if isinstance(line, Failure):
            code = self._proc.poll() if self._proc else None
            self._kill()
            raise RuntimeError(f"the grading worker did not start ({_describe_exit(code)})")
        try:
            hello = json.loads(line)
            self.process_filter = bool(hello.get("process_filter"))
            baseline = hello.get("baseline_mb")
            self.baseline_mb = baseline if isinstance(baseline, int) else None
        except (ValueError, AttributeError):
            self._kill()
            raise RuntimeError("the grading worker did not start (bad greeting)") from None
        self._ready = True

    def _kill(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            LIVE.discard(self._proc)
            for stream in (self._proc.stdin,):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass
        if self._reply_fd is not None:
            os.close(self._reply_fd)
        self._proc = self._reply_fd = None
        self._ready, self._loaded, self._buffer = False, None, bytearray()

    def close(self) -> None:
        # Killed, not asked to stop: the worker has nothing to save, and an interpreter
        # that has imported torch takes about a second to tear itself down.
        self._kill()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> IsolatedExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # the request/response exchange --------------------------------------------------
    def _read_line(self, deadline: float) -> bytes | Failure:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Failure("timeout", "")
            ready, _, _ = select.select([self._reply_fd], [], [], min(remaining, 0.5))
            if LIVE.stopping.is_set():
                return Failure("crash", "grading was interrupted")
            if not ready:
                continue
            chunk = os.read(self._reply_fd, 1 << 20)
            if not chunk:
                return Failure("crash", "")
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                self._buffer = bytearray()
                return Failure(
                    "unsendable",
                    f"the reply was larger than the grader accepts "
                    f"({MAX_REPLY_BYTES // (1024 * 1024)} MB)",
                )
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _exchange(self, message: dict, timeout: float, what: str) -> dict | Failure:
        self._ensure_worker()
        try:
            self._proc.stdin.write(json.dumps(message, allow_nan=False).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(what)
        deadline = time.monotonic() + max(timeout, 0.01)
        printing = 0
        while True:
            line = self._read_line(deadline)
            if isinstance(line, Failure) or not line.startswith(b'{"note":'):
                break
            # A progress note from the worker, not the reply.
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                printing = max(printing, int(json.loads(line).get("chars", 0)))
        if isinstance(line, Failure):
            if line.kind == "timeout":
                self._kill()
                message = f"{what} did not finish within {timeout:.3g} s"
                if printing:
                    message += (
                        f"; it had printed {printing / 1e6:.1f} million characters by then: "
                        "printing that much is what made it slow"
                    )
                return Failure("timeout", message)
            if line.kind == "unsendable":
                self._kill()
                return Failure("unsendable", f"{what}: {line.message}")
            return self._died(what, line.message)
        try:
            reply = json.loads(line)
            if not isinstance(reply, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):
            self._kill()
            return Failure("crash", f"the process running {what} sent something unreadable")
        return reply

    def _died(self, what: str, why: str = "") -> Failure:
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(5)
            except subprocess.TimeoutExpired:
                code = None
        self._kill()
        return Failure(
            "crash", why or f"the Python process running {what} died ({_describe_exit(code)})"
        )

    def _load(self, module: Module, timeout: float) -> Failure | None:
        if module.name in self._import_failures:
            return self._import_failures[module.name]
        if not (self.folder / module.filename).is_file():
            failure = Failure("missing", f"the submission has no {module.filename}")
            self._import_failures[module.name] = failure
            return failure
        request = {"op": "load", "module": module.id}
        reply = self._exchange(request, timeout, f"importing {module.filename}")
        if isinstance(reply, Failure):
            failure = Failure("import", f"{module.filename} does not import: {reply.message}")
        elif "import" in reply:
            failure = Failure("import", str(reply["import"])[:2000])
        else:
            self._loaded = module.name
            return None
        self._import_failures[module.name] = failure
        # A module that imports an earlier one that does not import fails with it: say so.
        for earlier in sibling_imports(self.folder / module.filename, module):
            problem = self._load(earlier, timeout)
            if problem is not None:
                why = "is missing" if problem.kind == "missing" else "does not import"
                # keep where the error is, when the import's own message placed it
                place = re.search(r" \(in [^()]+, line \d+.*\)$", failure.message)
                failure = Failure(
                    "import",
                    f"{module.filename} does not import: it needs {earlier.id} "
                    f"({earlier.filename}), which {why}" + (place.group(0) if place else ""),
                )
                self._import_failures[module.name] = failure
                break
        return failure

    # Executor protocol ---------------------------------------------------------
    def start(self, check: Check) -> Failure | None:
        """Import a fresh copy of the check's module in the worker."""
        self._loaded = None
        return self._load(check.module, check.timeout)

    def run(self, case: Case, timeout: float) -> Outcome | Failure:
        from autograder import wire

        module = case.check.module
        if self._loaded != module.name or self._proc is None or self._proc.poll() is not None:
            problem = self._load(module, timeout)
            if problem is not None:
                return problem
        function = case.check.function
        sent = case.plain_inputs()
        request = {"op": "run", "probe": probe_ref(case.probe), "function": function}
        request["inputs"] = sent
        # A hidden case's inputs are given twice: the points of ``grade`` rest on it.
        repeated = case.kind == "hidden"
        if repeated:
            request["again"] = True
        reply = self._exchange(request, timeout, function)
        if isinstance(reply, Failure):
            return reply
        printed = reply.get("printed") if isinstance(reply.get("printed"), str) else ""
        printed = printed[:4000]
        if "fail" in reply:
            kind = reply.get("fail")
            kind = kind if kind in _FAILURE_KINDS else "exception"
            return Failure(
                kind,
                str(reply.get("message", ""))[:2000],
                str(reply.get("line", ""))[:500],
                printed=printed,
            )
        if "value" not in reply or (repeated and "again" not in reply):
            return Failure("crash", f"the process running {function} sent an incomplete reply")
        try:
            value = wire.from_plain(reply["value"])
            again = wire.from_plain(reply["again"]) if repeated else None
        except wire.WireError as exc:
            return Failure(
                "unsendable", f"{function} returned a value the grader cannot read: {exc}"
            )
        elsewhere = _off_device(reply["value"], self.device) or (
            _off_device(reply["again"], self.device) if repeated else None
        )
        if elsewhere:
            if elsewhere.startswith("meta") and self.device != "meta":
                message = (
                    f"{function} returned a tensor on the meta device, which holds no "
                    "values (a shape and a dtype only): return the computed tensor, on "
                    "its inputs' device"
                )
            else:
                message = (
                    f"{function} returned a tensor on {elsewhere}, where its inputs are on "
                    f"{self.device}: make new tensors on the inputs' device "
                    "(torch.zeros_like(x), device=x.device) and move nothing to the CPU"
                )
            return Failure("exception", message, printed=printed)
        after = reply.get("after")
        if self.device != "cpu":  # the inputs went to the device: compare the values
            sent, after = _without_devices(sent), _without_devices(after)
        # (a meta tensor has no values: on the meta device, which only the tests use to
        # see where tensors go, there is nothing to compare)
        changed = changed_inputs(sent, after) if self.device != "meta" else []
        if changed:
            from autograder.core import InputMutated, failure_from_exception

            failure = failure_from_exception(InputMutated(changed), function)
            failure.printed = printed
            return failure
        return Outcome(value, printed=printed, again=again, repeated=repeated)

    def import_error(self, module: Module) -> Failure | None:
        """The import failure of ``module`` met during this run, if any."""
        return self._import_failures.get(module.name)


_SIBLING = re.compile(r"^[ \t]*from[ \t]+\.[ \t]*(\w*)[ \t]+import[ \t]+([^\n]+)", re.M)


def sibling_imports(path: Path, module: Module) -> list[Module]:
    """The other graded modules whose files ``path`` imports (``from .m02_value_baseline
    import ...``, ``from . import m02_value_baseline``), in the order of the file; read as
    text, never run."""
    from course.modules import MODULES

    try:
        with path.open("rb") as f:
            text = f.read(MAX_SOURCE_SCAN).decode("utf-8", errors="replace")
    except OSError:
        return []
    by_name = {m.name: m for m in MODULES}
    found: list[Module] = []
    for match in _SIBLING.finditer(text):
        names = [match[1]] if match[1] else re.findall(r"\w+", match[2])
        for name in names:
            other = by_name.get(name)
            if other is not None and other is not module and other not in found:
                found.append(other)
    return found


MAX_SOURCE_SCAN = 2 * 1024 * 1024

_FAILURE_KINDS = {
    "not_implemented",
    "exception",
    "mutated",
    "missing",
    "import",
    "timeout",
    "crash",
    "unsendable",
    "needs",
}


def _tensor_devices(plain: Any, depth: int = 0) -> list[str]:
    """The devices named by the tensors in a plain value (``wire.py``), in order."""
    if depth > 40:
        return []
    if isinstance(plain, dict):
        if "$tensor" in plain:
            return [plain["device"]] if isinstance(plain.get("device"), str) else []
        return [d for v in plain.values() for d in _tensor_devices(v, depth + 1)]
    if isinstance(plain, list):
        return [d for v in plain for d in _tensor_devices(v, depth + 1)]
    return []


def _off_device(plain: Any, device: str) -> str | None:
    """The first device in ``plain`` that is not of ``device``'s type (on the CPU, where
    every case runs unless a student asked for an accelerator, a tensor on the meta
    device, which holds no values, or on a GPU the inputs were not on)."""
    wanted = device.split(":")[0]
    for name in _tensor_devices(plain):
        if name.split(":")[0] != wanted:
            return name
    return None


def _without_devices(plain: Any, depth: int = 0) -> Any:
    """``plain`` with the devices of its tensors left out (their values are compared)."""
    if depth > 40:
        return plain
    if isinstance(plain, dict):
        return {
            k: _without_devices(v, depth + 1)
            for k, v in plain.items()
            if not (k == "device" and "$tensor" in plain)
        }
    if isinstance(plain, list):
        return [_without_devices(v, depth + 1) for v in plain]
    return plain


def changed_inputs(sent: Any, after: Any) -> list[str]:
    """Names of the inputs whose plain form after the call differs from what was sent
    (the grader's decision: a worker that reports nothing reports everything changed)."""
    if not (isinstance(sent, dict) and "$dict" in sent):
        return []
    before = sent["$dict"]
    if not (isinstance(after, dict) and isinstance(after.get("$dict"), dict)):
        return sorted(before)
    now = after["$dict"]
    return [name for name, value in before.items() if now.get(name) != value]
