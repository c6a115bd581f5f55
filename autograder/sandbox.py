"""The trust boundary of grading, and the sandbox that enforces it.

**The grader (trusted) never executes, imports or unpickles anything a submission
produced; the submission (untrusted) sees nothing but its own copy and the public inputs
of its cases.** Everything on this side of the boundary lives in the grader's process:
the reference solutions, the hidden seed and the hidden cases' expected values, the
catalogue of mistakes, the comparison and the scoring, the grade sheet and the feedback.
Everything a submission's code touches runs in a worker process (``worker.py``) that:

* runs under bubblewrap (``bwrap``): a read-only view of the system (``/usr``, the Python
  installation and its site-packages, a copy of the course's public code: ``course/`` and
  ``autograder/``), the submission's own files read-only, a small private writable
  folder, ``/tmp`` and ``/dev/shm`` (tmpfs, size-capped; every other place is
  read-only, the root and ``/dev`` included), no network, its own PID, IPC and UTS
  namespaces, a new session, and ``--die-with-parent``, so nothing it starts outlives its
  grading. The reference solutions, the instructor's settings, other submissions, the
  grade sheet and the feedback folder are not mounted: they do not exist in there;
* limits itself before it imports the submission: address space, CPU time, open files,
  file size, no core dumps, and a seccomp filter that forbids creating processes and
  reaching into other processes (``ptrace``; the sandbox's first process, bubblewrap,
  which has neither the filter nor the limits, is hidden from ``/proc`` too);
* is killed by the grader when a check's wall-clock limit or the submission's limit is
  spent;
* sends back plain data only (``wire.py``: JSON, tensors as dtype, shape and raw bytes),
  which the grader decodes and validates. Facts are established on the grader's side:
  whether inputs were modified is decided by comparing the bytes the grader sent with the
  bytes of the inputs after the call; the comparison with expected values, the diagnosis
  and the score never run in the worker, so patching torch or the autograder in there
  can only change what the submission itself reports.

What the worker can still do is lie about its own outputs, which is what any submission
does by computing a wrong answer; it cannot see an expected value of a hidden case, and
it cannot reach anything of the grader's or another student's.

Where bubblewrap is missing or user namespaces are off, :func:`unavailable` says why;
``ppo-course grade`` then refuses unless ``--no-sandbox`` is given (the sheet says so).
A student's own ``ppo-course check`` runs the same worker without the sandbox.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course import paths, settings

CODE_MOUNT = "/opt/ppo-course"
HOME = "/home/student"
SUBMISSION_MOUNT = f"{HOME}/submission"
WORK_MOUNT = f"{HOME}/work"
SCRATCH_MB = 32
"""The size of each of the two writable folders (``/tmp`` and the working folder)."""
SHM_MB = 1
"""The size of ``/dev/shm``. Every other place in the sandbox is read-only, so a worker
can hold at most ``2 * SCRATCH_MB + SHM_MB`` of the host's shared memory in files."""
_EMPTY = 4096  # the size of the read-only tmpfs that hides a folder


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    Attributes:
        memory_mb: the budget of the data size (the heap and private writable mappings)
            and of the address space, beyond what the worker has mapped when it applies
            the limits, torch imported (0: none).
        cpu_s: CPU seconds over the worker's whole life (0: none).
        nofile: open files.
        fsize_mb: largest file it may write.
    """

    memory_mb: int = 512
    cpu_s: int = 900
    nofile: int = 256
    fsize_mb: int = 16


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """None when the sandbox works here, else a one-line reason."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        probe = subprocess.run(
            [
                bwrap,
                "--unshare-all",
                "--unshare-user",
                "--die-with-parent",
                *_system_binds(),
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"bubblewrap cannot create a sandbox here ({reason}); are user namespaces on?"
    return None


# ----------------------------------------------------------------------------- the code


@functools.lru_cache(maxsize=1)
def staged_code() -> Path:
    """A private copy of the course's public code (``course/`` and ``autograder/``, Python
    files only), made once per grading process and removed at exit. The worker imports
    the course from here, so that nothing else of the instructor's tree is reachable."""
    root = Path(tempfile.mkdtemp(prefix=f"ppo-course-grade-{os.getpid()}-code-"))
    atexit.register(shutil.rmtree, root, True)
    for package in ("course", "autograder"):
        source = paths.ROOT / package
        for path in source.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            target = root / package / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    root.chmod(0o755)
    return root


def boot_code(code_dir: str, arguments: list[str]) -> list[str]:
    """``python -I -B -c ...``: start the worker from ``code_dir`` with ``arguments``."""
    text = (
        f"import sys; sys.path.insert(0, {code_dir!r}); "
        f"from autograder.worker import main; main({arguments!r})"
    )
    return [sys.executable, "-I", "-B", "-c", text]


# ----------------------------------------------------------------------------- bubblewrap


def _system_binds() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    for name in ("ld.so.cache", "ld.so.conf", "localtime"):
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _python_roots() -> list[Path]:
    """The folders of the Python installation and its environment that must be visible."""
    roots: list[Path] = []
    for raw in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        path = Path(raw).resolve()
        if str(path) != "/usr" and not str(path).startswith("/usr/"):
            roots.append(path)
    executable = Path(sys.executable)
    roots.append(executable.parent)
    roots.append(executable.resolve().parent)
    unique: list[Path] = []
    for path in sorted(set(roots), key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(u) for u in unique) and str(path) not in ("/usr", "/"):
            unique.append(path)
    return unique


def _masks(roots: list[Path]) -> list[str]:
    """Hide anything of the instructor's that lies inside a mounted folder: a copy of the
    solutions installed in site-packages, the settings file."""
    hidden: list[str] = []
    candidates = [Path(p) / "solutions" for p in sys.path if p]
    for path in candidates:
        if path.is_dir() and any(path.resolve().is_relative_to(r) for r in roots):
            hidden += _empty(str(path.resolve()))
    secret = settings.settings_path().resolve()
    if secret.exists() and any(secret.is_relative_to(r) for r in roots):
        hidden += _empty(str(secret.parent))
    return hidden


def _empty(folder: str) -> list[str]:
    """Hide ``folder`` behind an empty, read-only tmpfs."""
    return ["--size", str(_EMPTY), "--tmpfs", folder, "--remount-ro", folder]


def command(submission: Path, worker_args: list[str], reply_fd: int) -> list[str]:
    """The bubblewrap command that runs the worker on ``submission`` (a folder of the
    grader's, mounted read-only)."""
    roots = _python_roots()
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grader",
        *_system_binds(),
        # /tmp first: the Python environment may live under /tmp, and a later tmpfs
        # would hide it.
        "--size",
        str(SCRATCH_MB * 1024 * 1024),
        "--tmpfs",
        "/tmp",
    ]
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    args += _masks(roots)
    args += [
        "--ro-bind",
        str(staged_code()),
        CODE_MOUNT,
        "--size",
        str(_EMPTY * 16),
        "--tmpfs",
        HOME,
        "--ro-bind",
        str(submission),
        SUBMISSION_MOUNT,
        "--size",
        str(SCRATCH_MB * 1024 * 1024),
        "--tmpfs",
        WORK_MOUNT,
        "--remount-ro",
        HOME,
        "--proc",
        "/proc",
        # The sandbox's first process (bubblewrap) is out of the worker's reach: its
        # /proc entry (its memory, its file descriptors) is hidden, and the filter
        # refuses ptrace (seccomp.py).
        *_empty("/proc/1"),
        "--dev",
        "/dev",
        "--size",
        str(SHM_MB * 1024 * 1024),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        # The root is a tmpfs bubblewrap makes for the mount points: read-only too.
        "--remount-ro",
        "/",
        "--chdir",
        WORK_MOUNT,
        "--clearenv",
        "--setenv",
        "HOME",
        WORK_MOUNT,
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "MPLCONFIGDIR",
        "/tmp",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "MKL_NUM_THREADS",
        "1",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
    ]
    arguments = [*worker_args, "--submission", SUBMISSION_MOUNT, "--reply-fd", str(reply_fd)]
    return args + boot_code(CODE_MOUNT, arguments)


def plain_command(submission: Path, worker_args: list[str], reply_fd: int) -> list[str]:
    """The same worker without the sandbox (a student's own ``check``, ``--no-sandbox``)."""
    arguments = [*worker_args, "--submission", str(submission), "--reply-fd", str(reply_fd)]
    return boot_code(str(staged_code()), arguments)


def worker_env(workdir: Path) -> dict[str, str]:
    """The environment of an unsandboxed worker: as little of the grader's as works."""
    # (the library path and the visible devices: what ``check --device cuda`` needs to
    # find the GPU's driver)
    names = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")
    keep = {k: v for k, v in os.environ.items() if k in names}
    keep.update(
        HOME=str(workdir),
        TMPDIR=str(workdir),
        MPLCONFIGDIR=str(workdir),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    return keep
