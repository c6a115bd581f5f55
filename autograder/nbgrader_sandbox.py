"""nbgrader's autograde, as safe as ``ppo-course grade``.

``nbgrader autograde`` runs a student's notebook, test cells included, in a kernel, and
takes each test cell's score from what that cell printed. Run with the instructor's rights,
a student's cell could read the reference solutions and the hidden seed, write into the
course, or replace the checks so that every test cell prints full marks. The course's
``nbgrader_config.py`` (written by ``ppo-course notebooks``) calls :func:`configure`,
which changes two things:

* **The kernel runs in the grader's sandbox.** :class:`SandboxedKernelManager` starts
  every kernel under bubblewrap, as ``sandbox.py`` starts a grading worker: a read-only
  system and Python environment, a copy of the course's public code (``course/`` and
  ``autograder/``: no ``solutions/``), the notebook's folder read-only, a small private
  home and ``/tmp``, no network, its own PID namespace, dying with nbgrader, limited in CPU
  time, files and processes. The reference, the instructor's settings, the gradebook and
  the other students' notebooks do not exist in there. The kernel talks to nbgrader over
  Unix sockets in a folder of its own. The checks the test cells run in there are the
  public ones (there is no reference to draw hidden cases from): feedback for the
  student, worth nothing.
* **The score of each test cell comes from the sandboxed grader.** After the kernel has
  run the notebook, :class:`SandboxedGrades` grades the notebook's code (the cells
  ``ppo-course grade`` reads: every code cell but the test cells) exactly as
  ``ppo-course grade`` does, hidden cases included, and replaces each test cell's output
  with that check's score and the student's view of its feedback. What the kernel printed
  in a test cell is discarded: a patched checker in the kernel changes nothing.

Where the sandbox cannot run (no bubblewrap, user namespaces off), the kernel does not
start and autograde fails with the reason, rather than run a notebook unsandboxed.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from autograder import sandbox
from course import paths

KERNEL_HOME = sandbox.HOME
NOTEBOOK_MOUNT = f"{KERNEL_HOME}/notebook"
CONNECTION_MOUNT = f"{KERNEL_HOME}/.kernel.json"
KERNEL_MEMORY_MB = 4096
KERNEL_CPU_S = 1800
SUBMISSION_TIMEOUT_S = 900.0  # as ``ppo-course grade``'s default
_CHECK_CALL = re.compile(r"""check\(\s*["'](m\d\d)\.(\w+)["']""")


class SandboxError(RuntimeError):
    """The sandbox cannot run here; one line."""


def _socket_root() -> Path:
    # A Unix socket's path must be short: a folder in the system's temporary directory.
    root = Path(tempfile.gettempdir()) / f"ppo-course-kernels-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


@functools.lru_cache(maxsize=1)
def kernel_code() -> Path:
    """The course's public code the kernel imports: the grader's copy (``course/`` and
    ``autograder/``, Python files only), and the fixture files the test cells' public
    checks read (what every student has). Made once per process, removed at exit."""
    root = Path(tempfile.mkdtemp(prefix=f"ppo-course-kernel-{os.getpid()}-code-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(sandbox.staged_code(), root, dirs_exist_ok=True)
    fixtures = root / "autograder" / "fixtures"
    fixtures.mkdir(exist_ok=True)
    for path in (paths.AUTOGRADER_DIR / "fixtures").glob("*.json"):
        shutil.copyfile(path, fixtures / path.name)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def kernel_command(connection_file: str, cwd: str | None, sockets: Path) -> list[str]:
    """The bubblewrap command that starts an IPython kernel for ``connection_file``, with
    the notebook's folder ``cwd`` read-only and the kernel's sockets in ``sockets``."""
    reason = sandbox.unavailable()
    if reason is not None:
        raise SandboxError(f"the grading kernel needs the sandbox: {reason}")
    roots = sandbox._python_roots()
    scratch = str(sandbox.SCRATCH_MB * 1024 * 1024)
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grader",
        *sandbox._system_binds(),
        "--size",
        scratch,
        "--tmpfs",
        "/tmp",
    ]
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    args += sandbox._masks(roots)
    args += [
        "--ro-bind",
        str(kernel_code()),
        sandbox.CODE_MOUNT,
        "--size",
        scratch,
        "--tmpfs",
        KERNEL_HOME,
        "--ro-bind",
        str(Path(connection_file).resolve()),
        CONNECTION_MOUNT,
        "--bind",
        str(sockets),
        str(sockets),
    ]
    workdir = KERNEL_HOME
    if cwd:
        args += ["--ro-bind", str(Path(cwd).resolve()), NOTEBOOK_MOUNT]
        workdir = NOTEBOOK_MOUNT
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--chdir",
        workdir,
        "--clearenv",
        "--setenv",
        "HOME",
        KERNEL_HOME,
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
        "MPLBACKEND",
        "Agg",
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
    boot = (
        f"import sys; sys.path.insert(0, {sandbox.CODE_MOUNT!r}); "
        "from autograder.nbgrader_sandbox import run_kernel; run_kernel()"
    )
    # (parent handle 1: no polling for a parent that is outside the PID namespace, and no
    # banner for a terminal)
    kernel = ["-f", CONNECTION_MOUNT, "--IPKernelApp.parent_handle=1"]
    return [*args, sys.executable, "-I", "-B", "-c", boot, *kernel]


def run_kernel() -> None:
    """Inside the sandbox: limit this process, then serve as an IPython kernel."""
    import resource

    limits = {
        resource.RLIMIT_CPU: KERNEL_CPU_S,
        resource.RLIMIT_NOFILE: 256,
        resource.RLIMIT_FSIZE: 16 * 2**20,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_DATA: KERNEL_MEMORY_MB * 2**20,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
    from autograder.seccomp import forbid_new_processes

    forbid_new_processes()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run under bubblewrap (see the module docstring),
    over Unix sockets in a folder made for each kernel."""

    _sockets: Path | None = None

    async def _async_pre_start_kernel(self, **kw: Any):
        self._sockets = Path(tempfile.mkdtemp(prefix="k", dir=_socket_root()))
        self.transport = "ipc"
        self.ip = str(self._sockets / "kernel")
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        assert self._sockets is not None
        cwd = self._launch_args.get("cwd") if self._launch_args else None
        return kernel_command(self.connection_file, cwd, self._sockets)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None


def _grade_cells(nb) -> list[tuple[Any, str]]:
    """The autograded test cells of ``nb`` and the function each one checks."""
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            match = _CHECK_CALL.search(cell.source)
            if match:
                found.append((cell, match[2]))
    return found


def _output(text: str, score: float) -> list[dict]:
    return [
        {"output_type": "stream", "name": "stdout", "text": text},
        {
            "output_type": "execute_result",
            "execution_count": None,
            "metadata": {},
            "data": {"text/plain": repr(float(score))},
        },
    ]


class SandboxedGrades(Preprocessor):
    """Score every test cell with the sandboxed grader of ``ppo-course grade``."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        from autograder.grading import grade_folder
        from autograder.report import STUDENT, check_feedback
        from autograder.submission import _module_for, notebook_code

        cells = _grade_cells(nb)
        if not cells:
            return nb, resources
        name = resources.get("nbgrader", {}).get("notebook") or resources.get("unique_key", "")
        module = _module_for(Path(str(name)))
        if module is None:
            raise SandboxError(f"the notebook {name!r} is not a module of the course")
        reason = sandbox.unavailable()
        if reason is not None:
            raise SandboxError(f"grading the notebook needs the sandbox: {reason}")
        from autograder.engine import hidden_seed

        seed = hidden_seed()
        if seed is None:
            raise SandboxError(
                "no hidden seed: create the course settings (ppo-course release) or set "
                "$PPO_COURSE_HIDDEN_SEED"
            )
        with tempfile.TemporaryDirectory(prefix="ppo-course-nbgrade-") as scratch:
            notebook = Path(scratch) / f"{module.name}.ipynb"
            notebook.write_text(nbformat.writes(nb), encoding="utf-8")
            staged = Path(scratch) / "staged"
            staged.mkdir()
            try:
                code = notebook_code(notebook)
            except ValueError as exc:
                results, problem = [], str(exc)
            else:
                (staged / module.filename).write_text(code, encoding="utf-8")
                results = grade_folder(
                    staged,
                    [module],
                    seed=seed,
                    for_grade=True,
                    sandboxed=True,
                    submission_timeout=SUBMISSION_TIMEOUT_S,
                )
                problem = results[0].error
        by_function = {c.check.function: c for r in results for c in r.checks}
        for cell, function in cells:
            result = by_function.get(function)
            if result is None:
                text = f"{module.id}.{function}: not graded ({problem or 'no such check'})\n"
                cell.outputs = [nbformat.from_dict(o) for o in _output(text, 0.0)]
                continue
            mark = "passed" if result.passed else result.status
            text = f"{result.check.id}: {result.score:g} / {result.max_score:g} points ({mark})\n"
            if problem:
                text += f"{problem}\n"
            if not result.passed:
                text += check_feedback(result, view=STUDENT) + "\n"
            cell.outputs = [nbformat.from_dict(o) for o in _output(text, result.score)]
        return nb, resources


def configure(c) -> None:
    """Make an nbgrader configuration ``c`` autograde in the sandbox (module docstring)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import SaveAutoGrades

    c.Execute.kernel_manager_class = SandboxedKernelManager
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps.insert(steps.index(SaveAutoGrades), SandboxedGrades)
    c.Autograde.autograde_preprocessors = steps
